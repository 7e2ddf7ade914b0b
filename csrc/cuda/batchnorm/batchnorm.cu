// Batch norm kernels (batchnorm.h): per-(channel, chunk) partial statistics, per-channel
// in-order combination, and one elementwise pass to normalize (or form grad input).
#include <algorithm>
#include <cmath>

#include "cuda/batchnorm/batchnorm.h"
#include "cuda/cuda_check.h"
#include "cuda/runtime.h"
#include "cuda/scratch.h"
#include "cuda/stream.h"

namespace ember::cuda {

namespace {

#define EMBER_BN_HD __host__ __device__ __forceinline__

// A chunk's count, mean and sum of squared deviations from the mean.
struct Moments {
  double count, mean, m2;
};

// Chan et al.'s pairwise combination: exact in exact arithmetic, no cancellation.
EMBER_BN_HD Moments combine(const Moments& a, const Moments& b) {
  const double n = a.count + b.count;
  if (n == 0) return a;
  const double d = b.mean - a.mean;
  return {n, a.mean + d * (b.count / n), a.m2 + b.m2 + d * d * (a.count * b.count / n)};
}

// Value e of channel c in (n, C, S) layout. e < m = n S <= INT_MAX (the binding checks):
// a 32-bit division, where a 64-bit one would cost a subroutine call (and spills) per value.
EMBER_BN_HD int64_t bn_offset(int64_t e, int64_t c, int64_t C, int64_t S) {
  const uint32_t row = static_cast<uint32_t>(e) / static_cast<uint32_t>(S);
  return (static_cast<int64_t>(row) * C + c) * S + (e - static_cast<int64_t>(row) * S);
}

// The sum of v over the block, in a fixed tree order (blockDim.x == kBnThreads); every
// thread gets it.
__device__ __forceinline__ double block_sum(double v) {
  __shared__ double buf[kBnThreads];
  __syncthreads();  // buf may still be read from a previous call
  buf[threadIdx.x] = v;
  __syncthreads();
  for (int half = kBnThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) buf[threadIdx.x] += buf[threadIdx.x + half];
    __syncthreads();
  }
  return buf[0];
}

// Block (c, chunk): part[(c nchunks + chunk) 2 + {0, 1}] = the chunk's mean and m2.
template <typename T>
__global__ void __launch_bounds__(kBnThreads)
    stats_partial_kernel(const T* __restrict__ x, int64_t C, int64_t S, BnPlan p,
                         double* __restrict__ part) {
  const int64_t c = blockIdx.x, chunk = blockIdx.y;
  const int64_t e0 = chunk * p.chunk, e1 = min(p.m, e0 + p.chunk);
  double s = 0;
  for (int64_t e = e0 + threadIdx.x; e < e1; e += kBnThreads)
    s += static_cast<double>(x[bn_offset(e, c, C, S)]);
  // The reciprocal comes from the host: a division here is a slow-path call that spills.
  const double mean = block_sum(s) * (e1 - e0 == p.chunk ? p.inv_chunk : p.inv_last);
  double q = 0;
  for (int64_t e = e0 + threadIdx.x; e < e1; e += kBnThreads) {
    const double d = static_cast<double>(x[bn_offset(e, c, C, S)]) - mean;
    q += d * d;
  }
  const double m2 = block_sum(q);
  if (threadIdx.x == 0) {
    part[(c * p.nchunks + chunk) * 2] = mean;
    part[(c * p.nchunks + chunk) * 2 + 1] = m2;
  }
}

// One thread per channel: statistics (combined chunks, or the running ones in eval), the
// running update, save_mean / save_invstd and the affine map y = sa x + sb.
template <typename T>
__global__ void stats_finalize_kernel(int64_t C, BnPlan p, const double* __restrict__ part,
                                      bool training, double momentum, double eps,
                                      const T* __restrict__ weight, const T* __restrict__ bias,
                                      T* running_mean, T* running_var, T* __restrict__ save_mean,
                                      T* __restrict__ save_invstd, T* __restrict__ coef) {
  const int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (c >= C) return;
  double mean, var;
  if (training) {
    Moments acc{0, 0, 0};
    for (int k = 0; k < p.nchunks; ++k) {
      const int64_t e0 = k * p.chunk, e1 = min(p.m, e0 + p.chunk);
      const double* q = part + (c * p.nchunks + k) * 2;
      acc = combine(acc, Moments{static_cast<double>(e1 - e0), q[0], q[1]});
    }
    mean = acc.mean;
    var = p.m > 0 ? acc.m2 / static_cast<double>(p.m) : 0.0;
    if (running_mean)
      running_mean[c] =
          static_cast<T>((1.0 - momentum) * static_cast<double>(running_mean[c]) + momentum * mean);
    if (running_var) {
      const double unbiased = p.m > 1 ? var * static_cast<double>(p.m) / (p.m - 1) : var;
      running_var[c] = static_cast<T>((1.0 - momentum) * static_cast<double>(running_var[c]) +
                                      momentum * unbiased);
    }
  } else {
    mean = static_cast<double>(running_mean[c]);
    var = static_cast<double>(running_var[c]);
  }
  const double invstd = 1.0 / sqrt(var + eps);
  save_mean[c] = static_cast<T>(mean);
  save_invstd[c] = static_cast<T>(invstd);
  const double g = weight ? static_cast<double>(weight[c]) : 1.0;
  const double b = bias ? static_cast<double>(bias[c]) : 0.0;
  coef[2 * c] = static_cast<T>(g * invstd);
  coef[2 * c + 1] = static_cast<T>(b - mean * g * invstd);
}

template <typename T>
__global__ void affine_kernel(const T* __restrict__ x, const T* __restrict__ coef, int64_t C,
                              int64_t S, int64_t total, T* __restrict__ y) {
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t c = (e / S) % C;
    y[e] = x[e] * coef[2 * c] + coef[2 * c + 1];
  }
}

// Block (c, chunk): the chunk's sum of dy and, WithX, of dy (x - mean).
template <typename T, bool WithX>
__global__ void __launch_bounds__(kBnThreads)
    grad_partial_kernel(const T* __restrict__ gy, const T* __restrict__ x,
                        const T* __restrict__ save_mean, int64_t C, int64_t S, BnPlan p,
                        double* __restrict__ part) {
  const int64_t c = blockIdx.x, chunk = blockIdx.y;
  const int64_t e0 = chunk * p.chunk, e1 = min(p.m, e0 + p.chunk);
  const double mean = WithX ? static_cast<double>(save_mean[c]) : 0.0;
  double sdy = 0, sdyx = 0;
  for (int64_t e = e0 + threadIdx.x; e < e1; e += kBnThreads) {
    const int64_t off = bn_offset(e, c, C, S);
    const double dy = static_cast<double>(gy[off]);
    sdy += dy;
    if (WithX) sdyx += dy * (static_cast<double>(x[off]) - mean);
  }
  sdy = block_sum(sdy);
  if (WithX) sdyx = block_sum(sdyx);
  if (threadIdx.x == 0) {
    part[(c * p.nchunks + chunk) * 2] = sdy;
    part[(c * p.nchunks + chunk) * 2 + 1] = sdyx;
  }
}

// One thread per channel: the chunk sums added in order; gw, gb and dx = a dy + b x + c.
template <typename T>
__global__ void grad_finalize_kernel(int64_t C, BnPlan p, const double* __restrict__ part,
                                     bool training, const T* __restrict__ weight,
                                     const T* __restrict__ save_mean,
                                     const T* __restrict__ save_invstd, T* __restrict__ gw,
                                     T* __restrict__ gb, T* __restrict__ coef) {
  const int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (c >= C) return;
  double sdy = 0, sdyx = 0;
  for (int k = 0; k < p.nchunks; ++k) {
    sdy += part[(c * p.nchunks + k) * 2];
    sdyx += part[(c * p.nchunks + k) * 2 + 1];
  }
  if (gb) gb[c] = static_cast<T>(sdy);
  if (!save_invstd) return;  // channel_sum: the sum only
  const double invstd = static_cast<double>(save_invstd[c]);
  if (gw) gw[c] = static_cast<T>(sdyx * invstd);
  if (!coef) return;
  const double g = weight ? static_cast<double>(weight[c]) : 1.0;
  // gx = g invstd (dy - mean(dy) - (x - mean) invstd^2 mean(dy (x - mean))) in training,
  // g invstd dy in eval; written as a dy + b x + c (the CPU's form).
  const double ca = g * invstd;
  double cb = 0.0, cc = 0.0;
  if (training && p.m > 0) {
    cb = -ca * invstd * invstd * sdyx / static_cast<double>(p.m);
    cc = -ca * sdy / static_cast<double>(p.m) - cb * static_cast<double>(save_mean[c]);
  }
  coef[3 * c] = static_cast<T>(ca);
  coef[3 * c + 1] = static_cast<T>(cb);
  coef[3 * c + 2] = static_cast<T>(cc);
}

template <typename T>
__global__ void grad_input_kernel(const T* __restrict__ gy, const T* __restrict__ x,
                                  const T* __restrict__ coef, int64_t C, int64_t S, int64_t total,
                                  T* __restrict__ gx) {
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t c = (e / S) % C;
    gx[e] = gy[e] * coef[3 * c] + (x[e] * coef[3 * c + 1] + coef[3 * c + 2]);
  }
}

unsigned grid_for(int64_t n, int threads) {
  return static_cast<unsigned>(std::clamp<int64_t>((n + threads - 1) / threads, 1, 65536));
}

// One thread per channel (c <= INT_MAX: the grid needs no stride loop).
unsigned channel_blocks(int64_t c) { return static_cast<unsigned>((c + 127) / 128); }

// The (channel, chunk) grid of the partial kernels.
dim3 partial_grid(int64_t C, const BnPlan& p) {
  return dim3(static_cast<unsigned>(C), static_cast<unsigned>(p.nchunks));
}

}  // namespace

BnPlan bn_plan(int64_t n, int64_t s) {
  const int64_t m = n * s;
  if (m == 0) return {0, 1, 0, 1.0, 1.0};
  const int64_t chunk = std::max(kBnMinChunk, (m + kBnMaxChunks - 1) / kBnMaxChunks);
  const int64_t nchunks = (m + chunk - 1) / chunk, last = m - (nchunks - 1) * chunk;
  return {m, chunk, static_cast<int>(nchunks), 1.0 / static_cast<double>(chunk),
          1.0 / static_cast<double>(last)};
}

std::vector<double> bn_chunk_moments(const std::vector<double>& values, int64_t n, int64_t s) {
  const BnPlan p = bn_plan(n, s);
  Moments acc{0, 0, 0};
  for (int k = 0; k < p.nchunks; ++k) {
    const int64_t e0 = k * p.chunk, e1 = std::min(p.m, e0 + p.chunk);
    double sum = 0, q = 0;
    for (int64_t e = e0; e < e1; ++e) sum += values[e];
    const double mean = sum * (e1 - e0 == p.chunk ? p.inv_chunk : p.inv_last);
    for (int64_t e = e0; e < e1; ++e) q += (values[e] - mean) * (values[e] - mean);
    acc = combine(acc, Moments{static_cast<double>(e1 - e0), mean, q});
  }
  return {acc.mean, p.m > 0 ? acc.m2 / static_cast<double>(p.m) : 0.0};
}

template <typename T>
void batch_norm_forward(const cpu::BatchNormArgs& a, bool training, const T* x, const T* weight,
                        const T* bias, T* running_mean, T* running_var, T* y, T* save_mean,
                        T* save_invstd, int device) {
  const char* op = "ember.batch_norm";
  if (a.c == 0) return;
  const BnPlan p = bn_plan(a.n, a.s);
  DeviceGuard guard(device);
  Scratch part(device, training ? a.c * std::max(p.nchunks, 1) * 2 * sizeof(double) : 0);
  Scratch coef(device, a.c * 2 * sizeof(T));
  if (training && p.nchunks > 0) {
    stats_partial_kernel<T><<<partial_grid(a.c, p), kBnThreads, 0, current_stream()>>>(
        x, a.c, a.s, p, part.as<double>());
    EMBER_CUDA_CHECK_LAUNCH(op);
  }
  stats_finalize_kernel<T><<<channel_blocks(a.c), 128, 0, current_stream()>>>(
      a.c, p, part.as<double>(), training, a.momentum, a.eps, weight, bias, running_mean,
      running_var, save_mean, save_invstd, coef.as<T>());
  EMBER_CUDA_CHECK_LAUNCH(op);
  const int64_t total = a.n * a.c * a.s;
  if (total == 0) return;
  affine_kernel<T>
      <<<grid_for(total, 256), 256, 0, current_stream()>>>(x, coef.as<T>(), a.c, a.s, total, y);
  EMBER_CUDA_CHECK_LAUNCH(op);
}

template <typename T>
void batch_norm_backward(const cpu::BatchNormArgs& a, bool training, const T* gy, const T* x,
                         const T* weight, const T* save_mean, const T* save_invstd, T* gx, T* gw,
                         T* gb, int device) {
  const char* op = "ember.batch_norm";
  if (a.c == 0 || (!gx && !gw && !gb)) return;
  const BnPlan p = bn_plan(a.n, a.s);
  DeviceGuard guard(device);
  Scratch part(device, a.c * std::max(p.nchunks, 1) * 2 * sizeof(double));
  Scratch coef(device, gx ? a.c * 3 * sizeof(T) : 0);
  // Eval-mode grad input alone needs no sums (nchunks 0 would leave them 0 anyway).
  const bool sums = gw || gb || (gx && training);
  BnPlan q = p;
  if (!sums) q.nchunks = 0;
  if (q.nchunks > 0) {
    grad_partial_kernel<T, true><<<partial_grid(a.c, q), kBnThreads, 0, current_stream()>>>(
        gy, x, save_mean, a.c, a.s, q, part.as<double>());
    EMBER_CUDA_CHECK_LAUNCH(op);
  }
  grad_finalize_kernel<T><<<channel_blocks(a.c), 128, 0, current_stream()>>>(
      a.c, q, part.as<double>(), training, weight, save_mean, save_invstd, gw, gb,
      gx ? coef.as<T>() : nullptr);
  EMBER_CUDA_CHECK_LAUNCH(op);
  const int64_t total = a.n * a.c * a.s;
  if (!gx || total == 0) return;
  grad_input_kernel<T><<<grid_for(total, 256), 256, 0, current_stream()>>>(gy, x, coef.as<T>(), a.c,
                                                                           a.s, total, gx);
  EMBER_CUDA_CHECK_LAUNCH(op);
}

template <typename T>
void channel_sum(int64_t n, int64_t c, int64_t s, const T* x, T* out, int device) {
  const char* op = "ember.conv2d";
  if (c == 0) return;
  const BnPlan p = bn_plan(n, s);
  DeviceGuard guard(device);
  Scratch part(device, c * std::max(p.nchunks, 1) * 2 * sizeof(double));
  if (p.nchunks > 0) {
    grad_partial_kernel<T, false><<<partial_grid(c, p), kBnThreads, 0, current_stream()>>>(
        x, nullptr, nullptr, c, s, p, part.as<double>());
    EMBER_CUDA_CHECK_LAUNCH(op);
  }
  grad_finalize_kernel<T><<<channel_blocks(c), 128, 0, current_stream()>>>(
      c, p, part.as<double>(), false, nullptr, nullptr, nullptr, nullptr, out, nullptr);
  EMBER_CUDA_CHECK_LAUNCH(op);
}

#define EMBER_BN_INSTANTIATE(T)                                                             \
  template void batch_norm_forward<T>(const cpu::BatchNormArgs&, bool, const T*, const T*,  \
                                      const T*, T*, T*, T*, T*, T*, int);                   \
  template void batch_norm_backward<T>(const cpu::BatchNormArgs&, bool, const T*, const T*, \
                                       const T*, const T*, const T*, T*, T*, T*, int);      \
  template void channel_sum<T>(int64_t, int64_t, int64_t, const T*, T*, int);
EMBER_BN_INSTANTIATE(float)
EMBER_BN_INSTANTIATE(double)
#undef EMBER_BN_INSTANTIATE

}  // namespace ember::cuda
