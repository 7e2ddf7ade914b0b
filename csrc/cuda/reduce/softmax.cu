// Softmax / log_softmax over the last dimension, forward and backward: a warp or a block
// per row (row_plan). The forward folds the row into an online (max, sum of exp) state in
// one read, merges the states, then writes the row in a second read.
#include "cuda/cuda_check.h"
#include "cuda/reduce/block.cuh"
#include "cuda/reduce/combine.cuh"
#include "cuda/reduce/rows.h"
#include "cuda/stream.h"

namespace ember::cuda::rows {
namespace {

template <typename T>
__global__ void __launch_bounds__(max_row_threads<T>(), 1)
    softmax_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int64_t n, bool log,
                   int tpr, int rpb) {
  using Op = SoftmaxOp<T>;
  using S = typename Op::State;
  S* smem = state_smem<S, kWarp>();
  const int t = threadIdx.x % tpr;
  for (int64_t row = blockIdx.x * int64_t{rpb} + threadIdx.x / tpr; row < rows;
       row += int64_t{gridDim.x} * rpb) {
    const T* xr = x + row * n;
    T* yr = y + row * n;
    S st = Op::ident();
    for (int64_t j = t; j < n; j += tpr) st = Op::step(st, xr[j]);
    st = group_allreduce<Op>(st, smem, tpr);
    if (log) {
      const T lse = m_log(st.s);
      for (int64_t j = t; j < n; j += tpr) yr[j] = (xr[j] - st.m) - lse;
    } else {
      const T inv = T(1) / st.s;
      for (int64_t j = t; j < n; j += tpr) yr[j] = m_exp(xr[j] - st.m) * inv;
    }
  }
}

// softmax: gi = y * (g - sum(g * y)); log_softmax: gi = g - exp(y) * sum(g).
template <typename T>
__global__ void __launch_bounds__(max_row_threads<T>(), 1)
    softmax_backward_kernel(const T* __restrict__ y, const T* __restrict__ g, T* __restrict__ gi,
                            int64_t rows, int64_t n, bool log, int tpr, int rpb) {
  using Op = SumOp<T>;
  T* smem = state_smem<T, kWarp>();
  const int t = threadIdx.x % tpr;
  for (int64_t row = blockIdx.x * int64_t{rpb} + threadIdx.x / tpr; row < rows;
       row += int64_t{gridDim.x} * rpb) {
    const T* yr = y + row * n;
    const T* gr = g + row * n;
    T* out = gi + row * n;
    T s = T(0);
    for (int64_t j = t; j < n; j += tpr) s += log ? gr[j] : gr[j] * yr[j];
    s = group_allreduce<Op>(s, smem, tpr);
    for (int64_t j = t; j < n; j += tpr)
      out[j] = log ? gr[j] - m_exp(yr[j]) * s : yr[j] * (gr[j] - s);
  }
}

// (rows, n) of a tensor viewed as rows of its last dimension (0-d: one value).
void rows_of(const TensorImpl& t, int64_t* rows, int64_t* n) {
  *n = t.shape.empty() ? 1 : t.shape.back();
  *rows = *n == 0 ? 0 : t.numel() / *n;
}

template <typename T>
void softmax_typed(const TensorImpl& x, const TensorImpl& out, int64_t rows, int64_t n, bool log) {
  const RowPlan p = row_plan(rows, n, max_row_threads<T>());
  softmax_kernel<<<static_cast<unsigned>(p.grid), p.block, 0, current_stream()>>>(
      x.data_as<T>(), out.data_as<T>(), rows, n, log, p.threads_per_row, p.rows_per_block);
  EMBER_CUDA_CHECK_LAUNCH(log ? "ember.log_softmax" : "ember.softmax");
}

template <typename T>
void softmax_backward_typed(const TensorImpl& y, const TensorImpl& g, const TensorImpl& gi,
                            int64_t rows, int64_t n, bool log) {
  const RowPlan p = row_plan(rows, n, max_row_threads<T>());
  softmax_backward_kernel<<<static_cast<unsigned>(p.grid), p.block, 0, current_stream()>>>(
      y.data_as<T>(), g.data_as<T>(), gi.data_as<T>(), rows, n, log, p.threads_per_row,
      p.rows_per_block);
  EMBER_CUDA_CHECK_LAUNCH(log ? "ember.log_softmax_backward" : "ember.softmax_backward");
}

}  // namespace

void softmax(const TensorImpl& x, const TensorImpl& out, bool log) {
  int64_t rows, n;
  rows_of(x, &rows, &n);
  if (rows == 0) return;
  if (x.dtype == DType::Float32)
    softmax_typed<float>(x, out, rows, n, log);
  else
    softmax_typed<double>(x, out, rows, n, log);
}

void softmax_backward(const TensorImpl& y, const TensorImpl& grad_out, const TensorImpl& grad_in,
                      bool log) {
  int64_t rows, n;
  rows_of(y, &rows, &n);
  if (rows == 0) return;
  if (y.dtype == DType::Float32)
    softmax_backward_typed<float>(y, grad_out, grad_in, rows, n, log);
  else
    softmax_backward_typed<double>(y, grad_out, grad_in, rows, n, log);
}

}  // namespace ember::cuda::rows
