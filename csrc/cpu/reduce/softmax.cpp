// Softmax / log_softmax over the last dimension, forward and backward: float32 through the
// per-ISA row kernels (reduce_kernels.cpp), float64 here. Rows are independent, so pieces
// of whole rows make the result the same for any thread count.
#include <cmath>
#include <limits>

#include "core/parallel.h"
#include "cpu/reduce/reduce.h"

namespace ember::cpu {
namespace {

constexpr int64_t kGrain = 16384;

void softmax_row_f64(const double* x, double* y, int64_t n, bool log) {
  // NaN anywhere makes the row NaN through the sum, so a plain max is enough; a row of
  // all -inf gives -inf - -inf = NaN, as in PyTorch.
  double m = -std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
  double sum = 0.0;
  if (log) {
    for (int64_t i = 0; i < n; ++i) sum += std::exp(x[i] - m);
    const double lse = std::log(sum);
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - m) - lse;
  } else {
    for (int64_t i = 0; i < n; ++i) {
      y[i] = std::exp(x[i] - m);
      sum += y[i];
    }
    const double inv = 1.0 / sum;
    for (int64_t i = 0; i < n; ++i) y[i] *= inv;
  }
}

void softmax_backward_row_f64(const double* y, const double* g, double* gi, int64_t n, bool log) {
  double s = 0.0;
  if (log) {
    for (int64_t i = 0; i < n; ++i) s += g[i];
    for (int64_t i = 0; i < n; ++i) gi[i] = g[i] - std::exp(y[i]) * s;
  } else {
    for (int64_t i = 0; i < n; ++i) s += g[i] * y[i];
    for (int64_t i = 0; i < n; ++i) gi[i] = y[i] * (g[i] - s);
  }
}

// rows x n split into pieces of whole rows.
template <typename Fn>
void for_rows(int64_t rows, int64_t n, Fn&& fn) {
  parallel_chunks(rows, kGrain / n > 0 ? kGrain / n : 1, n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) fn(i);
  });
}

// (rows, n) of a contiguous tensor viewed as rows of its last dimension (0-d: one value).
void rows_of(const TensorImpl& t, int64_t* rows, int64_t* n) {
  *n = t.shape.empty() ? 1 : t.shape.back();
  *rows = *n == 0 ? 0 : t.numel() / *n;
}

}  // namespace

void softmax(const TensorImpl& x, const TensorImpl& out, bool log) {
  int64_t rows, n;
  rows_of(x, &rows, &n);
  if (rows == 0) return;
  if (x.dtype == DType::Float32) {
    const SoftmaxRowF row = reduce_table().softmax[log ? 1 : 0];
    const float* xp = x.data_as<float>();
    float* yp = out.data_as<float>();
    for_rows(rows, n, [&](int64_t i) { row(xp + i * n, yp + i * n, n); });
  } else {
    const double* xp = x.data_as<double>();
    double* yp = out.data_as<double>();
    for_rows(rows, n, [&](int64_t i) { softmax_row_f64(xp + i * n, yp + i * n, n, log); });
  }
}

void softmax_backward(const TensorImpl& y, const TensorImpl& grad_out, const TensorImpl& grad_in,
                      bool log) {
  int64_t rows, n;
  rows_of(y, &rows, &n);
  if (rows == 0) return;
  if (y.dtype == DType::Float32) {
    const SoftmaxBackwardRowF row = reduce_table().softmax_backward[log ? 1 : 0];
    const float* yp = y.data_as<float>();
    const float* gp = grad_out.data_as<float>();
    float* gi = grad_in.data_as<float>();
    for_rows(rows, n, [&](int64_t i) { row(yp + i * n, gp + i * n, gi + i * n, n); });
  } else {
    const double* yp = y.data_as<double>();
    const double* gp = grad_out.data_as<double>();
    double* gi = grad_in.data_as<double>();
    for_rows(rows, n, [&](int64_t i) {
      softmax_backward_row_f64(yp + i * n, gp + i * n, gi + i * n, n, log);
    });
  }
}

}  // namespace ember::cpu
