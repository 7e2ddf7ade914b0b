// reduce / reduce_arg over the middle axis of (outer, r, inner): a row kernel for inner == 1
// (a warp or a block per row) and a column kernel for inner > 1 (32 columns per block,
// lanes along r merged by a fixed tree in shared memory). A long axis with few outputs is
// split: the first pass writes partial states, the second merges them in split order.
#include "core/dtype_dispatch.h"
#include "cuda/allocator.h"
#include "cuda/cuda_check.h"
#include "cuda/reduce/block.cuh"
#include "cuda/reduce/combine.cuh"
#include "cuda/reduce/rows.h"
#include "cuda/reduce/tasks.cuh"
#include "cuda/stream.h"

namespace ember::cuda::rows {
namespace {

template <typename S>
struct StoreState {
  S* out;
  __device__ void operator()(int64_t i, S s) const { out[i] = s; }
};

// Final values; mean divides by r in double, as the CPU does (r == 0: 0 / 0 = NaN).
template <typename T, typename A>
struct StoreValue {
  T* out;
  bool mean;
  double r;
  __device__ void operator()(int64_t i, A s) const {
    out[i] = mean ? narrow<T>(static_cast<double>(s) / r) : narrow<T>(s);
  }
};

template <typename T>
struct StoreArg {
  T* values;
  int64_t* indices;
  __device__ void operator()(int64_t i, ArgState<T> s) const {
    values[i] = s.v;
    indices[i] = s.i;
  }
};

// One task per (o, split) of a (outer, r) view; the result goes to index o * splits + split.
template <class Op, typename In, class Store>
__global__ void __launch_bounds__(kMaxThreads, 1)
    reduce_rows_kernel(const In* __restrict__ x, Store store, int64_t outer, int64_t r,
                       int64_t splits, int64_t chunk, int tpr, int rpb) {
  using S = typename Op::State;
  S* smem = state_smem<S, kWarp>();
  const int t = threadIdx.x % tpr;
  const int64_t tasks = outer * splits;
  for (int64_t task = blockIdx.x * int64_t{rpb} + threadIdx.x / tpr; task < tasks;
       task += int64_t{gridDim.x} * rpb) {
    const ReduceTask tk = row_task(task, splits, chunk, r);
    const In* row = x + tk.o * r;
    S acc = Op::ident();
    for (int64_t j = tk.j0 + t; j < tk.j1; j += tpr)
      acc = Op::combine(acc, lift_state<Op>(row[j], j));
    acc = group_allreduce<Op>(acc, smem, tpr);
    if (t == 0) store(task, acc);
  }
}

// One task per (o, split, 32-column tile); the result of column k goes to
// (o * splits + split) * inner + k. blockDim = (32, by).
template <class Op, typename In, class Store>
__global__ void __launch_bounds__(kMaxThreads, 1)
    reduce_cols_kernel(const In* __restrict__ x, Store store, int64_t outer, int64_t r,
                       int64_t inner, int64_t splits, int64_t chunk, int64_t tiles) {
  using S = typename Op::State;
  S* sm = state_smem<S, kWarp * kWarp>();
  const int tx = threadIdx.x, ty = threadIdx.y, by = blockDim.y;
  const int64_t tasks = outer * splits * tiles;
  for (int64_t task = blockIdx.x; task < tasks; task += gridDim.x) {
    const ReduceTask tk = col_task(task, tiles, splits, chunk, r);
    const int64_t k = tk.k0 + tx;
    S acc = Op::ident();
    if (k < inner) {
      const In* col = x + tk.o * r * inner + k;
      for (int64_t j = tk.j0 + ty; j < tk.j1; j += by)
        acc = Op::combine(acc, lift_state<Op>(col[j * inner], j));
    }
    sm[ty * kWarp + tx] = acc;
    __syncthreads();
    for (int h = by / 2; h > 0; h /= 2) {
      if (ty < h) sm[ty * kWarp + tx] = Op::combine(sm[ty * kWarp + tx], sm[(ty + h) * kWarp + tx]);
      __syncthreads();
    }
    if (ty == 0 && k < inner) store((tk.o * splits + tk.s) * inner + k, sm[tx]);
    __syncthreads();  // the next task reuses sm
  }
}

template <class Op, typename In, class Store>
void launch_pass(const In* x, Store store, int64_t outer, int64_t r, int64_t inner,
                 const ReducePlan& p, const char* name) {
  if (p.rows) {
    reduce_rows_kernel<Op><<<static_cast<unsigned>(p.row.grid), p.row.block, 0, current_stream()>>>(
        x, store, outer, r, p.splits, p.chunk, p.row.threads_per_row, p.row.rows_per_block);
  } else {
    reduce_cols_kernel<Op>
        <<<static_cast<unsigned>(p.grid), dim3(kWarp, p.block_y), 0, current_stream()>>>(
            x, store, outer, r, inner, p.splits, p.chunk, p.tiles);
  }
  EMBER_CUDA_CHECK_LAUNCH(name);
}

// One or two passes (reduce_plan); the partial states live in a scratch block of the
// caching allocator, released once both passes are queued (the block is reused only on their
// stream, which orders any later reuse after them).
template <class Op, typename In, class Store>
void run(const In* x, Store store, int64_t outer, int64_t r, int64_t inner, int device,
         const char* name) {
  const ReducePlan p = reduce_plan(outer, r, inner);
  if (p.splits == 1) return launch_pass<Op>(x, store, outer, r, inner, p, name);
  using S = typename Op::State;
  auto scratch =
      allocate_storage(device, static_cast<size_t>(outer * p.splits * inner) * sizeof(S));
  S* part = static_cast<S*>(scratch->data());
  launch_pass<Op>(x, StoreState<S>{part}, outer, r, inner, p, name);
  launch_pass<Op>(static_cast<const S*>(part), store, outer, p.splits, inner,
                  reduce_plan(outer, p.splits, inner), name);
}

template <typename T, typename A>
void reduce_typed(ReduceKind op, const TensorImpl& x, const TensorImpl& out, int64_t outer,
                  int64_t r, int64_t inner, const char* name) {
  const T* xp = x.data_as<T>();
  const int dev = x.device().index;
  const StoreValue<T, A> store{out.data_as<T>(), op == ReduceKind::Mean, static_cast<double>(r)};
  switch (op) {
    case ReduceKind::Sum:
    case ReduceKind::Mean:
      if constexpr (!std::is_same_v<T, bool>) run<SumOp<A>>(xp, store, outer, r, inner, dev, name);
      return;
    case ReduceKind::Prod:
      if constexpr (!std::is_same_v<T, bool>) run<ProdOp<A>>(xp, store, outer, r, inner, dev, name);
      return;
    case ReduceKind::Max:
      return run<MaxOp<A>>(xp, store, outer, r, inner, dev, name);
    case ReduceKind::Min:
      return run<MinOp<A>>(xp, store, outer, r, inner, dev, name);
  }
}

template <typename T>
void reduce_arg_typed(bool is_max, const TensorImpl& x, const TensorImpl& values,
                      const TensorImpl& indices, int64_t outer, int64_t r, int64_t inner,
                      const char* name) {
  const StoreArg<T> store{values.data_as<T>(), indices.data_as<int64_t>()};
  const int dev = x.device().index;
  if (is_max)
    run<ArgOp<T, true>>(x.data_as<T>(), store, outer, r, inner, dev, name);
  else
    run<ArgOp<T, false>>(x.data_as<T>(), store, outer, r, inner, dev, name);
}

}  // namespace

void reduce(ReduceKind op, const TensorImpl& x, const TensorImpl& out, int64_t outer, int64_t r,
            int64_t inner) {
  if (outer == 0 || inner == 0) return;
  const char* name = "ember.reduce";
  switch (x.dtype) {
    case DType::Float32:
      return reduce_typed<float, float>(op, x, out, outer, r, inner, name);
    case DType::Float64:
      return reduce_typed<double, double>(op, x, out, outer, r, inner, name);
    case DType::Int32:
      return reduce_typed<int32_t, int32_t>(op, x, out, outer, r, inner, name);
    case DType::Int64:
      return reduce_typed<int64_t, int64_t>(op, x, out, outer, r, inner, name);
    case DType::Bool:
      return reduce_typed<bool, int32_t>(op, x, out, outer, r, inner, name);
    default:
      return;
  }
}

void reduce_arg(bool is_max, const TensorImpl& x, const TensorImpl& values,
                const TensorImpl& indices, int64_t outer, int64_t r, int64_t inner) {
  if (outer == 0 || inner == 0) return;
  const char* name = "ember.reduce_arg";
  switch (x.dtype) {
    case DType::Float32:
      return reduce_arg_typed<float>(is_max, x, values, indices, outer, r, inner, name);
    case DType::Float64:
      return reduce_arg_typed<double>(is_max, x, values, indices, outer, r, inner, name);
    case DType::Int32:
      return reduce_arg_typed<int32_t>(is_max, x, values, indices, outer, r, inner, name);
    case DType::Int64:
      return reduce_arg_typed<int64_t>(is_max, x, values, indices, outer, r, inner, name);
    default:
      return;
  }
}

}  // namespace ember::cuda::rows
