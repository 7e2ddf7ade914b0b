// Softmax cross-entropy driver: target checks, dtype dispatch and threading around the
// per-ISA float32 row kernel (cross_entropy_kernels.cpp); float64 rows are plain C++
// here, bfloat16 rows are widened into float32 scratch rows.
#include "cpu/cross_entropy/cross_entropy.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/error.h"
#include "core/half.h"
#include "core/isa.h"
#include "core/parallel.h"

namespace ember::cpu {

const CrossEntropyTable& cross_entropy_table() { return EMBER_ISA_TABLE(cross_entropy_table); }

namespace {

constexpr int64_t kGrain = 16384;  // values of work per piece, roughly

int64_t rows_per_piece(int64_t c) { return kGrain / c > 0 ? kGrain / c : 1; }

int64_t target_at(const TensorImpl& t, int64_t i) {
  return t.dtype == DType::Int64 ? t.data_as<int64_t>()[i] : t.data_as<int32_t>()[i];
}

// The same loss and gradient in float64 (two plain passes).
double row_f64(const double* x, double* d, int64_t C, int64_t target, double eps) {
  double m = -std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j < C; ++j) m = (x[j] != x[j] || x[j] > m) ? x[j] : m;
  double s = 0.0, sx = 0.0;
  for (int64_t j = 0; j < C; ++j) {
    s += std::exp(x[j] - m);
    sx += x[j];
  }
  const double lse = m + std::log(s);
  const double off = eps / static_cast<double>(C);
  for (int64_t j = 0; j < C; ++j) d[j] = std::exp(x[j] - lse) - off;
  d[target] -= 1.0 - eps;
  double loss = lse - (1.0 - eps) * x[target];
  if (eps != 0.0) loss -= off * sx;
  return loss;
}

}  // namespace

int64_t cross_entropy_check_targets(const TensorImpl& target, int64_t classes, int64_t ignore_index,
                                    const char* op) {
  const int64_t n = target.numel();
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t t = target_at(target, i);
    if (t == ignore_index) continue;
    EMBER_CHECK(t >= 0 && t < classes, IndexError, op, ": target ", t, " at position ", i,
                " is out of range for ", classes, " classes (expected 0 <= target < ", classes,
                " or ignore_index ", ignore_index, ")");
    ++count;
  }
  return count;
}

double cross_entropy_forward(const TensorImpl& logits, const TensorImpl& target,
                             const TensorImpl& losses, const TensorImpl& dlogits,
                             int64_t ignore_index, double label_smoothing) {
  const int64_t N = logits.shape[0], C = logits.shape[1];
  if (N == 0) return 0.0;
  if (logits.dtype == DType::Float64) {
    const double* xp = logits.data_as<double>();
    double* dp = dlogits.data_as<double>();
    double* lp = losses.data_as<double>();
    parallel_chunks(N, rows_per_piece(C), C, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t t = target_at(target, r);
        if (t == ignore_index) {
          std::memset(dp + r * C, 0, sizeof(double) * C);
          lp[r] = 0.0;
        } else {
          lp[r] = row_f64(xp + r * C, dp + r * C, C, t, label_smoothing);
        }
      }
    });
    double total = 0.0;
    for (int64_t r = 0; r < N; ++r) total += lp[r];
    return total;
  }
  const CrossEntropyRowF row = cross_entropy_table().row;
  const float eps = static_cast<float>(label_smoothing);
  float* lp = losses.data_as<float>();
  if (logits.dtype == DType::Float32) {
    const float* xp = logits.data_as<float>();
    float* dp = dlogits.data_as<float>();
    parallel_chunks(N, rows_per_piece(C), C, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t t = target_at(target, r);
        if (t == ignore_index) {
          std::memset(dp + r * C, 0, sizeof(float) * C);
          lp[r] = 0.0f;
        } else {
          lp[r] = row(xp + r * C, dp + r * C, C, t, eps);
        }
      }
    });
  } else {
    const uint16_t* xp = logits.data_as<uint16_t>();
    uint16_t* dp = dlogits.data_as<uint16_t>();
    parallel_chunks(N, rows_per_piece(C), C, [&](int64_t r0, int64_t r1) {
      std::vector<float> xs(C), ds(C);
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t t = target_at(target, r);
        if (t == ignore_index) {
          std::memset(dp + r * C, 0, sizeof(uint16_t) * C);
          lp[r] = 0.0f;
          continue;
        }
        for (int64_t j = 0; j < C; ++j) xs[j] = bf16_to_float(xp[r * C + j]);
        lp[r] = row(xs.data(), ds.data(), C, t, eps);
        for (int64_t j = 0; j < C; ++j) dp[r * C + j] = float_to_bf16(ds[j]);
      }
    });
  }
  double total = 0.0;
  for (int64_t r = 0; r < N; ++r) total += lp[r];
  return total;
}

void cross_entropy_backward(const TensorImpl& dlogits, const TensorImpl& grad,
                            const TensorImpl& grad_in, double scale) {
  const int64_t N = dlogits.shape[0], C = dlogits.shape[1];
  if (N == 0 || C == 0) return;
  const bool per_row = grad.numel() != 1;
  if (dlogits.dtype == DType::Float64) {
    const double* dp = dlogits.data_as<double>();
    const double* gp = grad.data_as<double>();
    double* op = grad_in.data_as<double>();
    parallel_chunks(N, rows_per_piece(C), C, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const double s = gp[per_row ? r : 0] * scale;
        for (int64_t j = 0; j < C; ++j) op[r * C + j] = dp[r * C + j] * s;
      }
    });
    return;
  }
  const ScaleRowF srow = cross_entropy_table().scale;
  const float* gp = grad.data_as<float>();
  if (dlogits.dtype == DType::Float32) {
    const float* dp = dlogits.data_as<float>();
    float* op = grad_in.data_as<float>();
    parallel_chunks(N, rows_per_piece(C), C, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        srow(dp + r * C, static_cast<float>(gp[per_row ? r : 0] * scale), op + r * C, C);
    });
    return;
  }
  const uint16_t* dp = dlogits.data_as<uint16_t>();
  uint16_t* op = grad_in.data_as<uint16_t>();
  parallel_chunks(N, rows_per_piece(C), C, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float s = static_cast<float>(gp[per_row ? r : 0] * scale);
      for (int64_t j = 0; j < C; ++j)
        op[r * C + j] = float_to_bf16(bf16_to_float(dp[r * C + j]) * s);
    }
  });
}

}  // namespace ember::cpu
