// The one elementwise engine behind every CUDA kernel in ember: out = f(in...)
// over a shape, each operand with its own strides (elements; 0 for broadcast).
//
// On the host the dimensions are collapsed as the CPU's NdLoop does (size-1
// dims dropped, dims contiguous for every operand merged), so most calls end
// up in one of two fast paths:
//   - all operands contiguous: a grid-stride loop, vectorized 4 elements at a
//     time (16-byte loads for float32) when every pointer is aligned for it;
//   - otherwise: a grid-stride loop that turns the linear index into per-operand
//     offsets with at most 8 div/mods, in 32-bit arithmetic when every offset fits.
// The shape and strides travel by value in a small struct (kernel parameter space).
#pragma once
#include <cuda_runtime.h>

#include <array>
#include <cstdint>
#include <utility>

#include "core/error.h"
#include "core/tensor_impl.h"
#include "cuda/cuda_check.h"
#include "cuda/runtime.h"
#include "cuda/stream.h"

namespace ember::cuda {

// `#pragma unroll` inside __host__ __device__ code, silent in the host pass.
#ifdef __CUDA_ARCH__
#define EMBER_UNROLL _Pragma("unroll")
#else
#define EMBER_UNROLL
#endif

constexpr int kMaxDims = 8;
constexpr int kThreads = 256;
constexpr int kVec = 4;
// Grid-stride launches use at most this many blocks per multiprocessor: enough to
// fill it (2048 threads) without spending time on block scheduling.
constexpr int kBlocksPerSm = 8;

template <typename T, int N>
struct alignas(sizeof(T) * N) Vec {
  T v[N];
};

// Shape and strides after collapsing, innermost dimension first.
template <typename I, int K>
struct Indexer {
  int ndim;
  I shape[kMaxDims];
  I strides[K][kMaxDims];

  __host__ __device__ __forceinline__ void offsets(I linear, I* off) const {
    EMBER_UNROLL
    for (int k = 0; k < K; ++k) off[k] = 0;
    EMBER_UNROLL
    for (int d = 0; d < kMaxDims; ++d) {
      if (d == ndim) break;
      I q = linear / shape[d];
      I idx = linear - q * shape[d];
      linear = q;
      EMBER_UNROLL
      for (int k = 0; k < K; ++k) off[k] += idx * strides[k][d];
    }
  }
};

// One operand: typed base pointer (at the tensor's offset) and strides in
// elements over the full, uncollapsed iteration shape.
template <typename T>
struct Arg {
  T* ptr;
  const Shape* strides;
};

template <int K>
struct Collapsed {
  int ndim = 0;  // innermost first
  int64_t shape[kMaxDims];
  int64_t strides[K][kMaxDims];
  bool contiguous = false;
  bool fits32 = false;  // every linear index and offset fits in 31 bits
};

// Collapses `shape` with K operands' strides; ValueError naming `op` if more than
// kMaxDims dimensions remain.
template <int K>
Collapsed<K> collapse(const Shape& shape, const std::array<const Shape*, K>& strides,
                      const char* op) {
  // Outermost first, as NdLoop: merge dim d into the previous one when that one's
  // stride equals d's stride times d's size for every operand.
  int64_t sh[64];
  int64_t st[K][64];
  int nd = 0;
  EMBER_CHECK(shape.size() <= 64, ValueError, op, ": too many dimensions (", shape.size(), ")");
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = nd > 0;
    for (int k = 0; k < K && merge; ++k) merge = st[k][nd - 1] == (*strides[k])[d] * shape[d];
    if (merge) {
      sh[nd - 1] *= shape[d];
      for (int k = 0; k < K; ++k) st[k][nd - 1] = (*strides[k])[d];
    } else {
      sh[nd] = shape[d];
      for (int k = 0; k < K; ++k) st[k][nd] = (*strides[k])[d];
      ++nd;
    }
  }
  Collapsed<K> c;
  if (nd == 0) {  // a single element
    c.ndim = 1;
    c.shape[0] = 1;
    for (int k = 0; k < K; ++k) c.strides[k][0] = 1;
    c.contiguous = true;
    c.fits32 = true;
    return c;
  }
  EMBER_CHECK(nd <= kMaxDims, ValueError, op, ": shape ", shape_str(shape), " has ", nd,
              " dimensions that cannot be merged; CUDA kernels support at most ", kMaxDims);
  c.ndim = nd;
  int64_t n = 1;
  int64_t max_off[K] = {};
  for (int i = 0; i < nd; ++i) {  // reverse: innermost first
    c.shape[i] = sh[nd - 1 - i];
    n *= c.shape[i];
    for (int k = 0; k < K; ++k) {
      c.strides[k][i] = st[k][nd - 1 - i];
      max_off[k] += (c.shape[i] - 1) * c.strides[k][i];
    }
  }
  c.contiguous = nd == 1;
  for (int k = 0; k < K; ++k) c.contiguous = c.contiguous && c.strides[k][0] == 1;
  constexpr int64_t lim = INT32_MAX;
  c.fits32 = n <= lim;
  for (int k = 0; k < K; ++k) c.fits32 = c.fits32 && max_off[k] <= lim;
  return c;
}

template <typename I, int K>
Indexer<I, K> make_indexer(const Collapsed<K>& c) {
  Indexer<I, K> ix{};
  ix.ndim = c.ndim;
  for (int d = 0; d < c.ndim; ++d) {
    ix.shape[d] = static_cast<I>(c.shape[d]);
    for (int k = 0; k < K; ++k) ix.strides[k][d] = static_cast<I>(c.strides[k][d]);
  }
  return ix;
}

namespace detail {

__device__ __forceinline__ int64_t global_thread() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t grid_threads() {
  return static_cast<int64_t>(gridDim.x) * blockDim.x;
}

// Pointers are not __restrict__: out may alias an input (x += y). Each element is
// read before it is written by the same thread, which is safe for coherent loads.
template <typename F, typename Out, typename... Ins>
__global__ void contiguous_kernel(F f, int64_t n, Out* out, const Ins*... ins) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) out[i] = f(ins[i]...);
}

template <typename F, typename Out, typename... Ins>
__device__ __forceinline__ void apply_vec(const F& f, Vec<Out, kVec>* out,
                                          const Vec<Ins, kVec>&... in) {
  Vec<Out, kVec> o;
#pragma unroll
  for (int j = 0; j < kVec; ++j) o.v[j] = f(in.v[j]...);
  *out = o;
}

// Elements [0, nvec * kVec) as vectors, then the last `tail` (< kVec) one by one.
template <typename F, typename Out, typename... Ins>
__global__ void vectorized_kernel(F f, int64_t nvec, int64_t tail, Out* out, const Ins*... ins) {
  const int64_t t = global_thread();
  for (int64_t i = t; i < nvec; i += grid_threads()) {
    apply_vec(f, reinterpret_cast<Vec<Out, kVec>*>(out) + i,
              reinterpret_cast<const Vec<Ins, kVec>*>(ins)[i]...);
  }
  if (t < tail) {
    const int64_t j = nvec * kVec + t;
    out[j] = f(ins[j]...);
  }
}

template <typename I, typename F, typename Out, typename... Ins, size_t... Ks>
__device__ __forceinline__ void apply_at(const F& f, const I* off, std::index_sequence<Ks...>,
                                         Out* out, const Ins*... ins) {
  out[off[0]] = f(ins[off[Ks + 1]]...);
}

template <typename I, typename F, typename Out, typename... Ins>
__global__ void strided_kernel(F f, int64_t n, Indexer<I, 1 + sizeof...(Ins)> ix, Out* out,
                               const Ins*... ins) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    I off[1 + sizeof...(Ins)];
    ix.offsets(static_cast<I>(i), off);
    apply_at(f, off, std::index_sequence_for<Ins...>{}, out, ins...);
  }
}

template <typename T>
bool vec_aligned(const T* p) {
  return reinterpret_cast<uintptr_t>(p) % (sizeof(T) * kVec) == 0;
}

inline unsigned grid_for(int64_t work, int device) {
  int64_t blocks = (work + kThreads - 1) / kThreads;
  int64_t cap = static_cast<int64_t>(sm_count(device)) * kBlocksPerSm;
  if (blocks > cap) blocks = cap;
  return static_cast<unsigned>(blocks < 1 ? 1 : blocks);
}

}  // namespace detail

// out[i] = f(ins[i]...) for every index i of `shape`, on the current device
// (`device` must be current: see DeviceGuard). Launches on the current stream
// (cuda/stream.h) and checks the launch; does not synchronize.
template <typename F, typename Out, typename... Ins>
void run_elementwise(const char* op, int device, const F& f, const Shape& shape, Arg<Out> out,
                     Arg<const Ins>... ins) {
  constexpr int K = 1 + sizeof...(Ins);
  const int64_t n = checked_numel(shape, op);
  if (n == 0) return;
  const Collapsed<K> c = collapse<K>(shape, {out.strides, ins.strides...}, op);
  if (c.contiguous) {
    if (n >= kVec && detail::vec_aligned(out.ptr) && (detail::vec_aligned(ins.ptr) && ...)) {
      const int64_t nvec = n / kVec;
      detail::vectorized_kernel<F, Out, Ins...>
          <<<detail::grid_for(nvec, device), kThreads, 0, current_stream()>>>(
              f, nvec, n - nvec * kVec, out.ptr, ins.ptr...);
    } else {
      detail::contiguous_kernel<F, Out, Ins...>
          <<<detail::grid_for(n, device), kThreads, 0, current_stream()>>>(f, n, out.ptr,
                                                                           ins.ptr...);
    }
  } else if (c.fits32) {
    detail::strided_kernel<uint32_t, F, Out, Ins...>
        <<<detail::grid_for(n, device), kThreads, 0, current_stream()>>>(
            f, n, make_indexer<uint32_t>(c), out.ptr, ins.ptr...);
  } else {
    detail::strided_kernel<int64_t, F, Out, Ins...>
        <<<detail::grid_for(n, device), kThreads, 0, current_stream()>>>(
            f, n, make_indexer<int64_t>(c), out.ptr, ins.ptr...);
  }
  EMBER_CUDA_CHECK_LAUNCH(op);
}

}  // namespace ember::cuda
