// Fused softmax cross-entropy over (N, C) logits: a warp or a block per row folds the row
// into an online (max, sum of exp, sum of logits) state in one read, merges the states,
// then writes dlogits = softmax - smoothed one-hot in a second read. The targets are
// scanned on the device (a block-wide count and first bad position) and the loss total is
// one block's fixed-order float64 sum; both come back in one copy, the call's one wait.
#include <algorithm>
#include <cstring>
#include <type_traits>

#include "core/error.h"
#include "cuda/allocator.h"
#include "cuda/cuda_check.h"
#include "cuda/reduce/block.cuh"
#include "cuda/reduce/combine.cuh"
#include "cuda/reduce/rows.h"
#include "cuda/stream.h"

namespace ember::cuda::rows {
namespace {

constexpr int kBlock = kFlatBlock;  // the single-block kernels (target check, loss total)

struct TargetScan {
  int64_t count;  // targets that are not ignore_index
  int64_t bad;    // first position outside [0, C), or N
};
struct Results {  // what the call copies back
  TargetScan scan;
  double total;
};
struct TargetScanOp {
  using State = TargetScan;
  static __device__ State combine(State a, State b) {
    return {a.count + b.count, a.bad < b.bad ? a.bad : b.bad};
  }
};

template <typename I>
__global__ void __launch_bounds__(kBlock, 1)
    check_targets_kernel(const I* __restrict__ target, int64_t N, int64_t C, int64_t ignore,
                         TargetScan* out) {
  TargetScan* smem = state_smem<TargetScan, kWarp>();
  TargetScan st{0, N};
  for (int64_t i = threadIdx.x; i < N; i += kBlock) {
    const int64_t t = target[i];
    if (t == ignore) continue;
    if (t >= 0 && t < C)
      ++st.count;
    else if (i < st.bad)
      st.bad = i;
  }
  st = group_allreduce<TargetScanOp>(st, smem, kBlock);
  if (threadIdx.x == 0) *out = st;
}

template <typename T, typename A, typename I>
__global__ void __launch_bounds__(max_row_threads<A>(), 1)
    cross_entropy_kernel(const T* __restrict__ x, const I* __restrict__ target,
                         A* __restrict__ losses, T* __restrict__ d, int64_t N, int64_t C,
                         int64_t ignore, A eps, int tpr, int rpb) {
  // A bad target's row is computed as ignored (no read outside the row); the host raises.
  using Op = CeOp<A>;
  using S = typename Op::State;
  S* smem = state_smem<S, kWarp>();
  const int lane = threadIdx.x % tpr;
  const A off = eps / static_cast<A>(C);
  for (int64_t row = blockIdx.x * int64_t{rpb} + threadIdx.x / tpr; row < N;
       row += int64_t{gridDim.x} * rpb) {
    const T* xr = x + row * C;
    T* dr = d + row * C;
    const int64_t t = target[row];
    if (t == ignore || t < 0 || t >= C) {  // uniform over the row's group
      for (int64_t j = lane; j < C; j += tpr) dr[j] = narrow<T>(A(0));
      if (lane == 0) losses[row] = A(0);
      continue;
    }
    S st = Op::ident();
    for (int64_t j = lane; j < C; j += tpr) st = Op::step(st, widen<A>(xr[j]));
    st = group_allreduce<Op>(st, smem, tpr);
    const A lse = st.sm.m + m_log(st.sm.s);
    for (int64_t j = lane; j < C; j += tpr) {
      A v = m_exp(widen<A>(xr[j]) - lse) - off;
      if (j == t) v -= A(1) - eps;
      dr[j] = narrow<T>(v);
    }
    if (lane == 0) losses[row] = ce_loss(st, widen<A>(xr[t]), eps, C);
  }
}

template <typename A>
__global__ void __launch_bounds__(kBlock, 1)
    loss_total_kernel(const A* __restrict__ losses, int64_t N, double* out) {
  double* smem = state_smem<double, kWarp>();
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < N; i += kBlock) s += static_cast<double>(losses[i]);
  s = group_allreduce<SumOp<double>>(s, smem, kBlock);
  if (threadIdx.x == 0) *out = s;
}

// grad_in[i, j] = d[i, j] * s_i, s_i = grad[i or 0] * scale rounded to A as on the CPU.
template <typename T, typename A>
__global__ void __launch_bounds__(kFlatBlock, 1)
    scale_rows_kernel(const T* __restrict__ d, const A* __restrict__ grad, bool per_row,
                      double scale, T* __restrict__ out, int64_t total, int64_t C) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const A s = static_cast<A>(static_cast<double>(grad[per_row ? i / C : 0]) * scale);
    out[i] = narrow<T>(widen<A>(d[i]) * s);
  }
}

// Copies one device value back (a synchronous copy: it waits for every stream's work).
template <typename V>
V fetch(const V* p, const char* op) {
  V v;
  EMBER_CUDA_CHECK(cudaMemcpy(&v, p, sizeof(V), cudaMemcpyDeviceToHost), op);
  return v;
}

template <typename T, typename A, typename I>
void forward_typed(const TensorImpl& logits, const TensorImpl& target, const TensorImpl& losses,
                   const TensorImpl& dlogits, int64_t ignore, double eps) {
  const int64_t N = logits.shape[0], C = logits.shape[1];
  const RowPlan p = row_plan(N, C, max_row_threads<A>());
  cross_entropy_kernel<T, A, I><<<static_cast<unsigned>(p.grid), p.block, 0, current_stream()>>>(
      logits.data_as<T>(), target.data_as<I>(), losses.data_as<A>(), dlogits.data_as<T>(), N, C,
      ignore, static_cast<A>(eps), p.threads_per_row, p.rows_per_block);
  EMBER_CUDA_CHECK_LAUNCH("ember.cross_entropy");
}

template <typename A>
void total_of(const TensorImpl& losses, int64_t N, double* out) {
  loss_total_kernel<A><<<1, kBlock, 0, current_stream()>>>(losses.data_as<A>(), N, out);
  EMBER_CUDA_CHECK_LAUNCH("ember.cross_entropy");
}

template <typename T, typename I>
void forward_dispatch_acc(const TensorImpl& logits, const TensorImpl& target,
                          const TensorImpl& losses, const TensorImpl& dlogits, int64_t ignore,
                          double eps, double* total) {
  if constexpr (std::is_same_v<T, double>) {
    forward_typed<double, double, I>(logits, target, losses, dlogits, ignore, eps);
    total_of<double>(losses, logits.shape[0], total);
  } else {
    forward_typed<T, float, I>(logits, target, losses, dlogits, ignore, eps);
    total_of<float>(losses, logits.shape[0], total);
  }
}

template <typename T>
void forward_dispatch(const TensorImpl& logits, const TensorImpl& target, const TensorImpl& losses,
                      const TensorImpl& dlogits, int64_t ignore, double eps, double* total) {
  if (target.dtype == DType::Int64)
    forward_dispatch_acc<T, int64_t>(logits, target, losses, dlogits, ignore, eps, total);
  else
    forward_dispatch_acc<T, int32_t>(logits, target, losses, dlogits, ignore, eps, total);
}

template <typename T, typename A>
void backward_typed(const TensorImpl& dlogits, const TensorImpl& grad, const TensorImpl& grad_in,
                    double scale) {
  const int64_t N = dlogits.shape[0], C = dlogits.shape[1];
  const int64_t total = N * C;
  const auto blocks = static_cast<unsigned>(std::min(cdiv(total, kFlatBlock), kMaxGrid));
  scale_rows_kernel<T, A><<<blocks, kFlatBlock, 0, current_stream()>>>(
      dlogits.data_as<T>(), grad.data_as<A>(), grad.numel() != 1, scale, grad_in.data_as<T>(),
      total, C);
  EMBER_CUDA_CHECK_LAUNCH("ember.cross_entropy_backward");
}

}  // namespace

CeTotals cross_entropy_forward(const TensorImpl& logits, const TensorImpl& target,
                               const TensorImpl& losses, const TensorImpl& dlogits,
                               int64_t ignore_index, double label_smoothing, const char* op) {
  const int64_t N = logits.shape[0], C = logits.shape[1];
  if (N == 0) return {0, 0.0};
  auto scratch = allocate_storage(target.device().index, sizeof(Results));
  auto* res = static_cast<Results*>(scratch->data());
  if (target.dtype == DType::Int64)
    check_targets_kernel<<<1, kBlock, 0, current_stream()>>>(target.data_as<int64_t>(), N, C,
                                                             ignore_index, &res->scan);
  else
    check_targets_kernel<<<1, kBlock, 0, current_stream()>>>(target.data_as<int32_t>(), N, C,
                                                             ignore_index, &res->scan);
  EMBER_CUDA_CHECK_LAUNCH(op);
  switch (logits.dtype) {
    case DType::Float32:
      forward_dispatch<float>(logits, target, losses, dlogits, ignore_index, label_smoothing,
                              &res->total);
      break;
    case DType::Float64:
      forward_dispatch<double>(logits, target, losses, dlogits, ignore_index, label_smoothing,
                               &res->total);
      break;
    default:
      forward_dispatch<BFloat16>(logits, target, losses, dlogits, ignore_index, label_smoothing,
                                 &res->total);
  }
  const Results r = fetch(res, op);
  if (r.scan.bad < N) {  // the error path may wait once more, for the bad target's value
    const int64_t t = target.dtype == DType::Int64
                          ? fetch(target.data_as<int64_t>() + r.scan.bad, op)
                          : fetch(target.data_as<int32_t>() + r.scan.bad, op);
    EMBER_CHECK(false, IndexError, op, ": target ", t, " at position ", r.scan.bad,
                " is out of range for ", C, " classes (expected 0 <= target < ", C,
                " or ignore_index ", ignore_index, ")");
  }
  return {r.scan.count, r.total};
}

void cross_entropy_backward(const TensorImpl& dlogits, const TensorImpl& grad,
                            const TensorImpl& grad_in, double scale) {
  if (dlogits.shape[0] == 0 || dlogits.shape[1] == 0) return;
  if (dlogits.dtype == DType::Float32)
    backward_typed<float, float>(dlogits, grad, grad_in, scale);
  else if (dlogits.dtype == DType::Float64)
    backward_typed<double, double>(dlogits, grad, grad_in, scale);
  else
    backward_typed<BFloat16, float>(dlogits, grad, grad_in, scale);
}

}  // namespace ember::cuda::rows
