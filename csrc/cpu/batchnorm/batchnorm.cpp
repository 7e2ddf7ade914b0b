// Batch normalization over x viewed as (n, c, s), forward and backward, one fused pass per
// step. A channel is one work item: its statistics are summed by one thread, row by row
// (rows = the n spatial runs of the channel) in a fixed order, each row by the ISA's
// fixed-order row kernel, rows combined in double. So results do not depend on the thread
// count. Training forward: two passes for the statistics (mean, then squared deviations:
// no cancellation) and one to normalize. Backward: one pass for the two sums, one for gx.
#include <cmath>

#include "core/parallel.h"
#include "cpu/batchnorm/batchnorm.h"

namespace ember::cpu {

const BatchNormTable& batchnorm_table() { return EMBER_ISA_TABLE(batchnorm_table); }

namespace {

// Rows shorter than this go through scalar loops (the row kernels' setup costs more).
constexpr int64_t kMinRow = 16;

template <typename T>
double row_sum(const T* x, int64_t s) {
  if constexpr (sizeof(T) == 4) {
    if (s >= kMinRow) return batchnorm_table().row_sum(x, s);
  }
  T acc = T(0);
  for (int64_t i = 0; i < s; ++i) acc += x[i];
  return acc;
}

template <typename T>
double row_sqdev(const T* x, int64_t s, T mean) {
  if constexpr (sizeof(T) == 4) {
    if (s >= kMinRow) return batchnorm_table().row_sqdev(x, s, mean);
  }
  T acc = T(0);
  for (int64_t i = 0; i < s; ++i) acc += (x[i] - mean) * (x[i] - mean);
  return acc;
}

template <typename T>
void row_dot2(const T* x, const T* dy, int64_t s, T mean, double* sdy, double* sdyx) {
  if constexpr (sizeof(T) == 4) {
    if (s >= kMinRow) {
      float a, b;
      batchnorm_table().row_dot2(x, dy, s, mean, &a, &b);
      *sdy += a;
      *sdyx += b;
      return;
    }
  }
  T a = T(0), b = T(0);
  for (int64_t i = 0; i < s; ++i) {
    a += dy[i];
    b += dy[i] * (x[i] - mean);
  }
  *sdy += a;
  *sdyx += b;
}

template <typename T>
void row_affine(const T* x, T* y, int64_t s, T a, T b) {
  if constexpr (sizeof(T) == 4) {
    if (s >= kMinRow) {
      batchnorm_table().row_affine(x, y, s, a, b);
      return;
    }
  }
  for (int64_t i = 0; i < s; ++i) y[i] = x[i] * a + b;
}

template <typename T>
void row_backward(const T* x, const T* dy, T* dx, int64_t s, T a, T b, T c) {
  if constexpr (sizeof(T) == 4) {
    if (s >= kMinRow) {
      batchnorm_table().row_bn_backward(x, dy, dx, s, a, b, c);
      return;
    }
  }
  for (int64_t i = 0; i < s; ++i) dx[i] = dy[i] * a + (x[i] * b + c);
}

// Channels per parallel piece: about kParallelGrain elements.
int64_t channel_chunk(int64_t per_channel) {
  const int64_t c = kParallelGrain / (per_channel > 0 ? per_channel : 1);
  return c > 1 ? c : 1;
}

}  // namespace

template <typename T>
void batch_norm_forward(const BatchNormArgs& a, bool training, const T* x, const T* weight,
                        const T* bias, T* running_mean, T* running_var, T* y, T* save_mean,
                        T* save_invstd) {
  const int64_t n = a.n, C = a.c, S = a.s, M = n * S;
  parallel_chunks(C, channel_chunk(M), 3 * M, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      double mean, var;
      if (training) {
        double acc = 0.0;
        for (int64_t i = 0; i < n; ++i) acc += row_sum(x + (i * C + c) * S, S);
        mean = M > 0 ? acc / static_cast<double>(M) : 0.0;
        double acc2 = 0.0;
        for (int64_t i = 0; i < n; ++i)
          acc2 += row_sqdev(x + (i * C + c) * S, S, static_cast<T>(mean));
        var = M > 0 ? acc2 / static_cast<double>(M) : 0.0;
        if (running_mean) {
          running_mean[c] = static_cast<T>(
              (1.0 - a.momentum) * static_cast<double>(running_mean[c]) + a.momentum * mean);
        }
        if (running_var) {
          const double unbiased = M > 1 ? var * static_cast<double>(M) / (M - 1) : var;
          running_var[c] = static_cast<T>((1.0 - a.momentum) * static_cast<double>(running_var[c]) +
                                          a.momentum * unbiased);
        }
      } else {
        mean = static_cast<double>(running_mean[c]);
        var = static_cast<double>(running_var[c]);
      }
      const double invstd = 1.0 / std::sqrt(var + a.eps);
      save_mean[c] = static_cast<T>(mean);
      save_invstd[c] = static_cast<T>(invstd);
      const double g = weight ? static_cast<double>(weight[c]) : 1.0;
      const double b = bias ? static_cast<double>(bias[c]) : 0.0;
      const T sa = static_cast<T>(g * invstd), sb = static_cast<T>(b - mean * g * invstd);
      for (int64_t i = 0; i < n; ++i)
        row_affine(x + (i * C + c) * S, y + (i * C + c) * S, S, sa, sb);
    }
  });
}

template <typename T>
void batch_norm_backward(const BatchNormArgs& a, bool training, const T* gy, const T* x,
                         const T* weight, const T* save_mean, const T* save_invstd, T* gx, T* gw,
                         T* gb) {
  const int64_t n = a.n, C = a.c, S = a.s, M = n * S;
  parallel_chunks(C, channel_chunk(M), 3 * M, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const T mean = save_mean[c];
      const double invstd = static_cast<double>(save_invstd[c]);
      double sdy = 0.0, sdyx = 0.0;
      if (gw || gb || (gx && training)) {
        for (int64_t i = 0; i < n; ++i)
          row_dot2(x + (i * C + c) * S, gy + (i * C + c) * S, S, mean, &sdy, &sdyx);
      }
      if (gw) gw[c] = static_cast<T>(sdyx * invstd);
      if (gb) gb[c] = static_cast<T>(sdy);
      if (!gx) continue;
      const double g = weight ? static_cast<double>(weight[c]) : 1.0;
      // gx = g invstd (dy - mean(dy) - (x - mean) invstd^2 mean(dy (x - mean))) in training,
      // g invstd dy in eval; written as a dy + b x + c.
      const double ca = g * invstd;
      double cb = 0.0, cc = 0.0;
      if (training && M > 0) {
        cb = -ca * invstd * invstd * sdyx / static_cast<double>(M);
        cc = -ca * sdy / static_cast<double>(M) - cb * static_cast<double>(mean);
      }
      for (int64_t i = 0; i < n; ++i)
        row_backward(x + (i * C + c) * S, gy + (i * C + c) * S, gx + (i * C + c) * S, S,
                     static_cast<T>(ca), static_cast<T>(cb), static_cast<T>(cc));
    }
  });
}

#define EMBER_BN_INSTANTIATE(T)                                                                  \
  template void batch_norm_forward<T>(const BatchNormArgs&, bool, const T*, const T*, const T*,  \
                                      T*, T*, T*, T*, T*);                                       \
  template void batch_norm_backward<T>(const BatchNormArgs&, bool, const T*, const T*, const T*, \
                                       const T*, const T*, T*, T*, T*);
EMBER_BN_INSTANTIATE(float)
EMBER_BN_INSTANTIATE(double)
#undef EMBER_BN_INSTANTIATE

}  // namespace ember::cpu
