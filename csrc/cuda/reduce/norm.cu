// Layer norm / RMS norm over rows of n values, forward and backward. Forward: a warp or a
// block per row folds the row into a Welford state (RMS norm: a sum of squares), merges
// the states by a fixed tree, then writes y in a second read. Backward: the same per-row
// layout for dx; weight / bias gradients are column sums over fixed row chunks into
// partials, then the partials in chunk order (param_grad_plan): no atomics.
#include <algorithm>
#include <utility>

#include "core/half.h"
#include "cuda/allocator.h"
#include "cuda/cuda_check.h"
#include "cuda/reduce/block.cuh"
#include "cuda/reduce/combine.cuh"
#include "cuda/reduce/rows.h"
#include "cuda/stream.h"

namespace ember::cuda::rows {
namespace {

// weight / bias (or their gradients): A (float32 / float64) or bfloat16 values, or none.
template <typename A>
struct Param {
  const void* p;
  bool bf16;
  __device__ A at(int64_t j, A none) const {
    if (p == nullptr) return none;
    if (bf16) return static_cast<A>(bf16_to_float(static_cast<const uint16_t*>(p)[j]));
    return static_cast<const A*>(p)[j];
  }
};
template <typename A>
struct ParamOut {
  void* p;
  bool bf16;
  __device__ void store(int64_t j, A v) const {
    if (bf16)
      static_cast<uint16_t*>(p)[j] = float_to_bf16(static_cast<float>(v));
    else
      static_cast<A*>(p)[j] = v;
  }
};

template <typename A>
Param<A> param(const TensorImpl* t) {
  if (!t) return {nullptr, false};
  return {t->data(), t->dtype == DType::BFloat16};
}

// mean_out null: RMS norm.
template <typename T, typename A>
__global__ void __launch_bounds__(max_row_threads<A>(), 1)
    norm_forward_kernel(const T* __restrict__ x, Param<A> w, Param<A> b, T* __restrict__ y,
                        A* mean_out, A* __restrict__ rstd_out, int64_t rows, int64_t n, A eps,
                        int tpr, int rpb) {
  WelfordState<A>* wsm = state_smem<WelfordState<A>, kWarp>();
  A* ssm = state_smem<A, kWarp>();
  const int t = threadIdx.x % tpr;
  const bool rms = mean_out == nullptr;
  for (int64_t row = blockIdx.x * int64_t{rpb} + threadIdx.x / tpr; row < rows;
       row += int64_t{gridDim.x} * rpb) {
    const T* xr = x + row * n;
    T* yr = y + row * n;
    A mean = A(0), var;
    if (rms) {
      A ss = A(0);
      for (int64_t j = t; j < n; j += tpr) {
        const A v = widen<A>(xr[j]);
        ss += v * v;
      }
      var = group_allreduce<SumOp<A>>(ss, ssm, tpr) / static_cast<A>(n);
    } else {
      WelfordState<A> st = WelfordOp<A>::ident();
      for (int64_t j = t; j < n; j += tpr) st = WelfordOp<A>::step(st, widen<A>(xr[j]));
      st = group_allreduce<WelfordOp<A>>(st, wsm, tpr);
      mean = st.mean;
      var = st.m2 / static_cast<A>(n);
    }
    const A rstd = A(1) / m_sqrt(var + eps);
    if (t == 0) {
      if (!rms) mean_out[row] = mean;
      rstd_out[row] = rstd;
    }
    for (int64_t j = t; j < n; j += tpr)
      yr[j] = narrow<T>((widen<A>(xr[j]) - mean) * rstd * w.at(j, A(1)) + b.at(j, A(0)));
  }
}

// dx = rstd * (g*w - mean(g*w) - xhat * mean(g*w*xhat)); RMS norm (mean null) drops the
// mean(g*w) term.
template <typename T, typename A>
__global__ void __launch_bounds__(max_row_threads<A>(), 1)
    norm_dx_kernel(const T* __restrict__ g, const T* __restrict__ x, Param<A> w, const A* mean,
                   const A* __restrict__ rstd, T* __restrict__ dx, int64_t rows, int64_t n, int tpr,
                   int rpb) {
  Sum2<A>* smem = state_smem<Sum2<A>, kWarp>();
  const int t = threadIdx.x % tpr;
  for (int64_t row = blockIdx.x * int64_t{rpb} + threadIdx.x / tpr; row < rows;
       row += int64_t{gridDim.x} * rpb) {
    const T* gr = g + row * n;
    const T* xr = x + row * n;
    const A m = mean ? mean[row] : A(0), rs = rstd[row];
    Sum2<A> acc = Sum2Op<A>::ident();
    for (int64_t j = t; j < n; j += tpr) {
      const A gw = widen<A>(gr[j]) * w.at(j, A(1));
      acc.a += gw;
      acc.b += gw * (widen<A>(xr[j]) - m) * rs;
    }
    acc = group_allreduce<Sum2Op<A>>(acc, smem, tpr);
    const A a = mean ? acc.a / static_cast<A>(n) : A(0), c = acc.b / static_cast<A>(n);
    for (int64_t j = t; j < n; j += tpr) {
      const A xh = (widen<A>(xr[j]) - m) * rs;
      dx[row * n + j] = narrow<T>(rs * (widen<A>(gr[j]) * w.at(j, A(1)) - a - xh * c));
    }
  }
}

// Partials (chunks, n) of sum g * xhat (pw) and sum g (pb) over each chunk's rows; one
// task per (chunk, 32-column tile), blockDim (32, by) merged by a fixed tree.
template <typename T, typename A>
__global__ void __launch_bounds__(kMaxThreads, 1)
    norm_param_partial_kernel(const T* __restrict__ g, const T* __restrict__ x, const A* mean,
                              const A* __restrict__ rstd, A* pw, A* pb, int64_t rows, int64_t n,
                              int64_t chunk_rows, int64_t chunks, int64_t tiles) {
  Sum2<A>* sm = state_smem<Sum2<A>, kWarp * kWarp>();
  const int tx = threadIdx.x, ty = threadIdx.y, by = blockDim.y;
  for (int64_t task = blockIdx.x; task < chunks * tiles; task += gridDim.x) {
    const int64_t c = task / tiles, k = (task % tiles) * kWarp + tx;
    const int64_t r0 = c * chunk_rows, r1 = r0 + chunk_rows < rows ? r0 + chunk_rows : rows;
    Sum2<A> acc = Sum2Op<A>::ident();
    if (k < n) {
      for (int64_t r = r0 + ty; r < r1; r += by) {
        const A gv = widen<A>(g[r * n + k]);
        acc.a += gv * ((widen<A>(x[r * n + k]) - (mean ? mean[r] : A(0))) * rstd[r]);
        acc.b += gv;
      }
    }
    sm[ty * kWarp + tx] = acc;
    __syncthreads();
    for (int h = by / 2; h > 0; h /= 2) {
      if (ty < h)
        sm[ty * kWarp + tx] = Sum2Op<A>::combine(sm[ty * kWarp + tx], sm[(ty + h) * kWarp + tx]);
      __syncthreads();
    }
    if (ty == 0 && k < n) {
      if (pw) pw[c * n + k] = sm[tx].a;
      if (pb) pb[c * n + k] = sm[tx].b;
    }
    __syncthreads();  // the next task reuses sm
  }
}

template <typename A>
__global__ void __launch_bounds__(kFlatBlock, 1)
    sum_partials_kernel(const A* __restrict__ part, int64_t chunks, int64_t n, ParamOut<A> out) {
  for (int64_t k = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; k < n;
       k += int64_t{gridDim.x} * blockDim.x) {
    A s = part[k];
    for (int64_t c = 1; c < chunks; ++c) s += part[c * n + k];
    out.store(k, s);
  }
}

template <typename A>
const A* stat(const TensorImpl* t) {
  return t ? t->data_as<A>() : nullptr;
}

template <typename T, typename A>
void forward_typed(const TensorImpl& x, const TensorImpl* weight, const TensorImpl* bias,
                   const TensorImpl& y, const TensorImpl* mean, const TensorImpl& rstd,
                   int64_t rows, int64_t n, double eps) {
  const RowPlan p = row_plan(rows, n, max_row_threads<A>());
  norm_forward_kernel<T, A><<<static_cast<unsigned>(p.grid), p.block, 0, current_stream()>>>(
      x.data_as<T>(), param<A>(weight), param<A>(bias), y.data_as<T>(),
      mean ? mean->data_as<A>() : nullptr, rstd.data_as<A>(), rows, n, static_cast<A>(eps),
      p.threads_per_row, p.rows_per_block);
  EMBER_CUDA_CHECK_LAUNCH(mean ? "ember.layer_norm" : "ember.rms_norm");
}

template <typename T, typename A>
void backward_typed(const TensorImpl& grad_out, const TensorImpl& x, const TensorImpl* weight,
                    const TensorImpl* mean, const TensorImpl& rstd, const TensorImpl* grad_in,
                    const TensorImpl* grad_weight, const TensorImpl* grad_bias, int64_t rows,
                    int64_t n) {
  const char* name = mean ? "ember.layer_norm_backward" : "ember.rms_norm_backward";
  const T* g = grad_out.data_as<T>();
  const T* xp = x.data_as<T>();
  if (grad_in && rows > 0) {
    const RowPlan p = row_plan(rows, n, max_row_threads<A>());
    norm_dx_kernel<T, A><<<static_cast<unsigned>(p.grid), p.block, 0, current_stream()>>>(
        g, xp, param<A>(weight), stat<A>(mean), rstd.data_as<A>(), grad_in->data_as<T>(), rows, n,
        p.threads_per_row, p.rows_per_block);
    EMBER_CUDA_CHECK_LAUNCH(name);
  }
  if (!grad_weight && !grad_bias) return;
  const ParamGradPlan q = param_grad_plan(rows, n);
  const int dev = x.device().index;
  const size_t bytes = static_cast<size_t>(q.chunks * n) * sizeof(A);
  auto sw = grad_weight ? allocate_storage(dev, bytes) : nullptr;
  auto sb = grad_bias ? allocate_storage(dev, bytes) : nullptr;
  A* pw = sw ? static_cast<A*>(sw->data()) : nullptr;
  A* pb = sb ? static_cast<A*>(sb->data()) : nullptr;
  const int64_t tasks = std::min(q.chunks * q.tiles, kMaxGrid);
  norm_param_partial_kernel<T, A>
      <<<static_cast<unsigned>(tasks), dim3(kWarp, q.block_y), 0, current_stream()>>>(
          g, xp, stat<A>(mean), rstd.data_as<A>(), pw, pb, rows, n, q.chunk_rows, q.chunks,
          q.tiles);
  EMBER_CUDA_CHECK_LAUNCH(name);
  const auto blocks = static_cast<unsigned>(std::min(cdiv(n, kFlatBlock), kMaxGrid));
  for (const auto& [part, t] :
       {std::pair<A*, const TensorImpl*>{pw, grad_weight}, {pb, grad_bias}}) {
    if (!t) continue;
    sum_partials_kernel<A><<<blocks, kFlatBlock, 0, current_stream()>>>(
        part, q.chunks, n, ParamOut<A>{t->data(), t->dtype == DType::BFloat16});
    EMBER_CUDA_CHECK_LAUNCH(name);
  }
}

}  // namespace

void norm_forward(const TensorImpl& x, const TensorImpl* weight, const TensorImpl* bias,
                  const TensorImpl& y, const TensorImpl* mean, const TensorImpl& rstd, int64_t rows,
                  int64_t n, double eps) {
  if (rows == 0 || n == 0) return;
  if (x.dtype == DType::Float32)
    forward_typed<float, float>(x, weight, bias, y, mean, rstd, rows, n, eps);
  else if (x.dtype == DType::Float64)
    forward_typed<double, double>(x, weight, bias, y, mean, rstd, rows, n, eps);
  else
    forward_typed<BFloat16, float>(x, weight, bias, y, mean, rstd, rows, n, eps);
}

void norm_backward(const TensorImpl& grad_out, const TensorImpl& x, const TensorImpl* weight,
                   const TensorImpl* mean, const TensorImpl& rstd, const TensorImpl* grad_in,
                   const TensorImpl* grad_weight, const TensorImpl* grad_bias, int64_t rows,
                   int64_t n) {
  if (n == 0) return;
  if (x.dtype == DType::Float32)
    backward_typed<float, float>(grad_out, x, weight, mean, rstd, grad_in, grad_weight, grad_bias,
                                 rows, n);
  else if (x.dtype == DType::Float64)
    backward_typed<double, double>(grad_out, x, weight, mean, rstd, grad_in, grad_weight, grad_bias,
                                   rows, n);
  else
    backward_typed<BFloat16, float>(grad_out, x, weight, mean, rstd, grad_in, grad_weight,
                                    grad_bias, rows, n);
}

}  // namespace ember::cuda::rows
