// CUDA gather / scatter_add / index_select / index_add (see index.h). The adds sort their
// sources by target with cub's stable radix sort, then one thread per run of equal targets
// adds the run's sources in increasing position: no float atomics, so the result is fixed
// and equals the CPU's.
#include <cub/device/device_radix_sort.cuh>

#include <climits>
#include <type_traits>

#include "core/error.h"
#include "cuda/allocator.h"
#include "cuda/cuda_check.h"
#include "cuda/first_bad.cuh"
#include "cuda/index/index.h"
#include "cuda/index/index_walk.h"
#include "cuda/loops.cuh"
#include "cuda/runtime.h"
#include "cuda/scratch.h"
#include "cuda/stream.h"

namespace ember::cuda {

IndexWalk make_index_walk(const Shape& ishape, const Shape& tshape, int64_t dim, const char* op) {
  IndexWalk w;
  if (ishape.empty()) return w;  // one element at offset 0 (+ its index value * 1)
  EMBER_CHECK(ishape.size() <= kMaxIndexDims, ValueError, op, ": tensors of ", ishape.size(),
              " dimensions are not supported on CUDA (at most ", kMaxIndexDims, ")");
  w.nd = static_cast<int>(ishape.size());
  w.dim = static_cast<int>(dim);
  int64_t stride = 1;
  for (int d = w.nd - 1; d >= 0; --d) {
    w.ishape[d] = ishape[d];
    w.tstride[d] = stride;
    stride *= tshape[d];
  }
  return w;
}

namespace {

__device__ inline int64_t global_id() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ inline int64_t grid_stride() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

// IndexError naming the first index outside [0, size), before any write. Waits for the device.
void check_bounds(int device, const int64_t* idx, int64_t n, int64_t size, int64_t dim,
                  const char* op) {
  const BadElement bad = first_bad(device, idx, n, OutsideRange<int64_t>{0, size - 1}, op);
  if (bad.position < 0) return;
  throw IndexError(cat_str(op, ": index ", bad.value, " is out of bounds for dimension ", dim,
                           " with size ", size));
}

// Elements move as raw bits of their size.
template <typename Fn>
void visit_itemsize(size_t itemsize, Fn&& fn) {
  switch (itemsize) {
    case 1:
      return fn(uint8_t{});
    case 2:
      return fn(uint16_t{});
    case 4:
      return fn(uint32_t{});
    default:
      return fn(uint64_t{});
  }
}

template <typename Fn>
void visit_add_dtype(DType t, Fn&& fn) {
  switch (t) {
    case DType::Float32:
      return fn(float{});
    case DType::Float64:
      return fn(double{});
    case DType::Int32:
      return fn(int32_t{});
    default:
      return fn(int64_t{});
  }
}

// Integers wrap (added unsigned), as on the CPU.
template <typename T>
__device__ inline T add_wrapping(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
  } else {
    return a + b;
  }
}

template <typename U>
__global__ void gather_kernel(IndexWalk w, const int64_t* idx, const U* x, U* out, int64_t n) {
  for (int64_t p = global_id(); p < n; p += grid_stride()) out[p] = x[w.target(p, idx[p])];
}

// out (outer, k, inner) = x (outer, size, inner) at idx (k).
template <typename U>
__global__ void index_select_kernel(const int64_t* idx, const U* x, U* out, int64_t k, int64_t size,
                                    int64_t inner, int64_t n) {
  for (int64_t p = global_id(); p < n; p += grid_stride()) {
    const int64_t e = p % inner, j = (p / inner) % k, o = p / (inner * k);
    out[p] = x[(o * size + idx[j]) * inner + e];
  }
}

// Sort keys of scatter_add: the target of every source position (values: the positions).
__global__ void scatter_keys_kernel(IndexWalk w, const int64_t* idx, int64_t n, int64_t* keys,
                                    int64_t* pos) {
  for (int64_t p = global_id(); p < n; p += grid_stride()) {
    keys[p] = w.target(p, idx[p]);
    pos[p] = p;
  }
}

__global__ void iota_kernel(int64_t n, int64_t* pos) {
  for (int64_t p = global_id(); p < n; p += grid_stride()) pos[p] = p;
}

// For each run of equal sorted targets (and each of `lanes` lanes): the run's head thread adds
// its sources in order. Source of sorted entry k in lane l: src[(l / inner * nsrc + pos[k]) *
// inner + l % inner]; its target: out[(l / inner * tsize + key) * inner + l % inner]. scatter_add
// is the case lanes = inner = 1, nsrc = tsize = 0 (keys are flat targets).
template <typename T>
__global__ void add_runs_kernel(const int64_t* keys, const int64_t* pos, int64_t n, int64_t lanes,
                                int64_t inner, int64_t nsrc, int64_t tsize, const T* src, T* out) {
  for (int64_t t = global_id(); t < n * lanes; t += grid_stride()) {
    const int64_t i = t / lanes, l = t % lanes;
    const int64_t key = keys[i];
    if (i > 0 && keys[i - 1] == key) continue;
    const int64_t o = l / inner, e = l % inner;
    T* dst = out + (o * tsize + key) * inner + e;
    T acc = *dst;
    for (int64_t k = i; k < n && keys[k] == key; ++k)
      acc = add_wrapping(acc, src[(o * nsrc + pos[k]) * inner + e]);
    *dst = acc;
  }
}

int key_bits(int64_t max_key) {
  int bits = 1;
  while (bits < 63 && (int64_t{1} << bits) <= max_key) ++bits;
  return bits;
}

// Sorts (keys, pos) by key, stably, into (skeys, spos).
void sort_pairs(int device, const int64_t* keys, const int64_t* pos, int64_t* skeys, int64_t* spos,
                int64_t n, int64_t max_key, const char* op) {
  EMBER_CHECK(n <= INT_MAX, ValueError, op, ": more than 2^31 - 1 indices are not supported");
  const int end_bit = key_bits(max_key);
  size_t bytes = 0;
  EMBER_CUDA_CHECK(
      cub::DeviceRadixSort::SortPairs(nullptr, bytes, keys, skeys, pos, spos, static_cast<int>(n),
                                      0, end_bit, current_stream()),
      op);
  Scratch temp(device, bytes);
  EMBER_CUDA_CHECK(
      cub::DeviceRadixSort::SortPairs(temp.as<void>(), bytes, keys, skeys, pos, spos,
                                      static_cast<int>(n), 0, end_bit, current_stream()),
      op);
}

// (outer, size at dim, inner) of a contiguous shape.
void split_at(const Shape& shape, int64_t dim, int64_t& outer, int64_t& size, int64_t& inner) {
  outer = 1;
  inner = 1;
  size = shape.empty() ? 1 : shape[dim];
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    if (d < dim) outer *= shape[d];
    if (d > dim) inner *= shape[d];
  }
}

int64_t size_at(const Shape& s, int64_t dim) { return s.empty() ? 1 : s[dim]; }

}  // namespace

void gather(const TensorImpl& x, int64_t dim, const TensorImpl& index, const TensorImpl& out) {
  const char* op = "ember.gather";
  const int64_t n = index.numel();
  if (n == 0) return;
  const int device = out.device().index;
  const IndexWalk w = make_index_walk(index.shape, x.shape, dim, op);
  DeviceGuard guard(device);
  check_bounds(device, index.data_as<int64_t>(), n, size_at(x.shape, dim), dim, op);
  visit_itemsize(dtype_size(x.dtype), [&](auto u) {
    using U = decltype(u);
    gather_kernel<U><<<detail::grid_for(n, device), kThreads, 0, current_stream()>>>(
        w, index.data_as<int64_t>(), x.data_as<U>(), out.data_as<U>(), n);
  });
  EMBER_CUDA_CHECK_LAUNCH(op);
}

void index_select(const TensorImpl& x, int64_t dim, const TensorImpl& index,
                  const TensorImpl& out) {
  const char* op = "ember.index_select";
  const int64_t n = out.numel(), k = index.numel();
  if (n == 0) return;
  const int device = out.device().index;
  int64_t outer, size, inner;
  split_at(x.shape, dim, outer, size, inner);
  DeviceGuard guard(device);
  check_bounds(device, index.data_as<int64_t>(), k, size, dim, op);
  visit_itemsize(dtype_size(x.dtype), [&](auto u) {
    using U = decltype(u);
    index_select_kernel<U><<<detail::grid_for(n, device), kThreads, 0, current_stream()>>>(
        index.data_as<int64_t>(), x.data_as<U>(), out.data_as<U>(), k, size, inner, n);
  });
  EMBER_CUDA_CHECK_LAUNCH(op);
}

void scatter_add(const TensorImpl& out, int64_t dim, const TensorImpl& index,
                 const TensorImpl& src) {
  const char* op = "ember.scatter_add";
  const int64_t n = index.numel();
  if (n == 0) return;
  const int device = out.device().index;
  const IndexWalk w = make_index_walk(index.shape, out.shape, dim, op);
  DeviceGuard guard(device);
  check_bounds(device, index.data_as<int64_t>(), n, size_at(out.shape, dim), dim, op);
  Scratch buf(device, 4 * n * sizeof(int64_t));
  int64_t *keys = buf.as<int64_t>(), *pos = keys + n, *skeys = pos + n, *spos = skeys + n;
  scatter_keys_kernel<<<detail::grid_for(n, device), kThreads, 0, current_stream()>>>(
      w, index.data_as<int64_t>(), n, keys, pos);
  EMBER_CUDA_CHECK_LAUNCH(op);
  sort_pairs(device, keys, pos, skeys, spos, n, out.numel() - 1, op);
  visit_add_dtype(out.dtype, [&](auto t) {
    using T = decltype(t);
    add_runs_kernel<T><<<detail::grid_for(n, device), kThreads, 0, current_stream()>>>(
        skeys, spos, n, 1, 1, 0, 0, src.data_as<T>(), out.data_as<T>());
  });
  EMBER_CUDA_CHECK_LAUNCH(op);
}

void index_add(const TensorImpl& out, int64_t dim, const TensorImpl& index, const TensorImpl& src) {
  const char* op = "ember.index_add";
  const int64_t k = index.numel();
  if (k == 0 || src.numel() == 0) return;
  const int device = out.device().index;
  int64_t outer, size, inner;
  split_at(out.shape, dim, outer, size, inner);
  DeviceGuard guard(device);
  check_bounds(device, index.data_as<int64_t>(), k, size, dim, op);
  Scratch buf(device, 3 * k * sizeof(int64_t));
  int64_t *pos = buf.as<int64_t>(), *skeys = pos + k, *spos = skeys + k;
  iota_kernel<<<detail::grid_for(k, device), kThreads, 0, current_stream()>>>(k, pos);
  EMBER_CUDA_CHECK_LAUNCH(op);
  sort_pairs(device, index.data_as<int64_t>(), pos, skeys, spos, k, size - 1, op);
  const int64_t lanes = outer * inner;
  visit_add_dtype(out.dtype, [&](auto t) {
    using T = decltype(t);
    add_runs_kernel<T><<<detail::grid_for(k * lanes, device), kThreads, 0, current_stream()>>>(
        skeys, spos, k, lanes, inner, k, size, src.data_as<T>(), out.data_as<T>());
  });
  EMBER_CUDA_CHECK_LAUNCH(op);
}

}  // namespace ember::cuda
