#include "cpu/index/index.h"

#include <cstring>
#include <type_traits>

#include "core/error.h"
#include "core/parallel.h"

namespace ember::cpu {
namespace {

// Throws IndexError naming the first index outside [0, size); runs before any write.
void check_bounds(const int64_t* idx, int64_t n, int64_t size, int64_t dim, const char* op) {
  for (int64_t i = 0; i < n; ++i) {
    if (idx[i] < 0 || idx[i] >= size)
      throw IndexError(cat_str(op, ": index ", idx[i], " is out of bounds for dimension ", dim,
                               " with size ", size));
  }
}

// Unsigned integer of a given byte size: elements are moved as raw bits.
template <size_t N>
using Bits = std::conditional_t<
    N == 1, uint8_t,
    std::conditional_t<N == 2, uint16_t, std::conditional_t<N == 4, uint32_t, uint64_t>>>;

template <typename Fn>
void visit_itemsize(size_t itemsize, Fn&& fn) {
  switch (itemsize) {
    case 1:
      return fn(static_cast<Bits<1>*>(nullptr));
    case 2:
      return fn(static_cast<Bits<2>*>(nullptr));
    case 4:
      return fn(static_cast<Bits<4>*>(nullptr));
    default:
      return fn(static_cast<Bits<8>*>(nullptr));
  }
}

// Dtypes scatter_add / index_add accumulate in; integers wrap (computed unsigned).
template <typename Fn>
void visit_add_dtype(DType t, const char* op, Fn&& fn) {
  switch (t) {
    case DType::Float32:
      return fn(static_cast<float*>(nullptr));
    case DType::Float64:
      return fn(static_cast<double*>(nullptr));
    case DType::Int32:
      return fn(static_cast<int32_t*>(nullptr));
    case DType::Int64:
      return fn(static_cast<int64_t*>(nullptr));
    default:
      throw TypeError(cat_str(op, ": unsupported dtype ", dtype_name(t),
                              " (expected float32, float64, int32 or int64)"));
  }
}

template <typename T>
inline void add_to(T& d, T s) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    d = static_cast<T>(static_cast<U>(d) + static_cast<U>(s));
  } else {
    d += s;
  }
}

// Walks the positions p of an index-shaped tensor in tasks that own every position sharing
// the same coordinates outside `dim`, visiting `dim` in increasing order inside a task. For
// each position, fn(pos, target_base, last_coord) with `pos` the flat index-shaped position
// and target_base + idx * dim_stride + last_coord the flat offset in the target tensor
// (contiguous, shape `tshape`); last_coord is folded into the offset when dim is last.
template <typename Fn>
void for_each_by_dim(const Shape& ishape_in, const Shape& tshape_in, int64_t dim, Fn&& fn) {
  Shape ishape = ishape_in.empty() ? Shape{1} : ishape_in;
  Shape tshape = tshape_in.empty() ? Shape{1} : tshape_in;
  const int64_t nd = static_cast<int64_t>(ishape.size());
  const Shape tstr = contiguous_strides(tshape);
  int64_t outer = 1, mid = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= ishape[d];
  const bool dim_last = dim == nd - 1;
  for (int64_t d = dim + 1; d < nd - 1; ++d) mid *= ishape[d];
  const int64_t L = ishape[dim];
  const int64_t last = dim_last ? 1 : ishape[nd - 1];
  const int64_t tasks = outer * mid;
  const int64_t work = L * last;
  if (tasks == 0 || work == 0) return;
  // Offset in the target of the coordinates of flat `v` over ishape[d0, d1).
  auto offset_of = [&](int64_t v, int64_t d0, int64_t d1) {
    int64_t off = 0;
    for (int64_t d = d1 - 1; d >= d0; --d) {
      off += (v % ishape[d]) * tstr[d];
      v /= ishape[d];
    }
    return off;
  };
  const int64_t chunk = work >= 4096 ? 1 : 4096 / work;
  parallel_chunks(tasks, chunk, work, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t o = t / mid, r = t % mid;
      const int64_t base = offset_of(o, 0, dim) + (dim_last ? 0 : offset_of(r, dim + 1, nd - 1));
      for (int64_t j = 0; j < L; ++j) {
        const int64_t pos = ((o * L + j) * mid + r) * last;
        for (int64_t k = 0; k < last; ++k) fn(pos + k, base + k);
      }
    }
  });
}

int64_t dim_stride(const Shape& shape, int64_t dim) {
  int64_t s = 1;
  for (size_t d = dim + 1; d < shape.size(); ++d) s *= shape[d];
  return s;
}

// (outer, size at dim, inner) of a contiguous tensor.
void split_at(const Shape& shape, int64_t dim, int64_t& outer, int64_t& size, int64_t& inner) {
  outer = 1;
  inner = 1;
  size = shape.empty() ? 1 : shape[dim];
  for (int64_t d = 0; d < dim; ++d) outer *= shape[d];
  for (size_t d = dim + 1; d < shape.size(); ++d) inner *= shape[d];
}

}  // namespace

void gather(const TensorImpl& x, int64_t dim, const TensorImpl& index, const TensorImpl& out) {
  const int64_t* idx = index.data_as<int64_t>();
  const int64_t size = x.shape.empty() ? 1 : x.shape[dim];
  check_bounds(idx, index.numel(), size, dim, "ember.gather");
  const int64_t stride = dim_stride(x.shape, dim);
  visit_itemsize(x.itemsize(), [&](auto* tag) {
    using U = std::remove_pointer_t<decltype(tag)>;
    const U* src = x.data_as<U>();
    U* dst = out.data_as<U>();
    for_each_by_dim(index.shape, x.shape, dim,
                    [&](int64_t pos, int64_t base) { dst[pos] = src[base + idx[pos] * stride]; });
  });
}

void scatter_add(const TensorImpl& out, int64_t dim, const TensorImpl& index,
                 const TensorImpl& src) {
  const int64_t* idx = index.data_as<int64_t>();
  const int64_t size = out.shape.empty() ? 1 : out.shape[dim];
  check_bounds(idx, index.numel(), size, dim, "ember.scatter_add");
  const int64_t stride = dim_stride(out.shape, dim);
  visit_add_dtype(out.dtype, "ember.scatter_add", [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* s = src.data_as<T>();
    T* d = out.data_as<T>();
    // Tasks own disjoint sets of output elements; inside one, sources arrive in order.
    for_each_by_dim(index.shape, out.shape, dim, [&](int64_t pos, int64_t base) {
      add_to(d[base + idx[pos] * stride], s[pos]);
    });
  });
}

void index_select(const TensorImpl& x, int64_t dim, const TensorImpl& index,
                  const TensorImpl& out) {
  const int64_t* idx = index.data_as<int64_t>();
  const int64_t L = index.numel();
  int64_t outer, size, inner;
  split_at(x.shape, dim, outer, size, inner);
  check_bounds(idx, L, size, dim, "ember.index_select");
  if (outer == 0 || L == 0 || inner == 0) return;
  const size_t row_bytes = static_cast<size_t>(inner) * x.itemsize();
  const char* src = x.data();
  char* dst = out.data();
  // One piece per group of output rows (an embedding row each when dim == 0).
  const int64_t chunk = inner >= 4096 ? 1 : 4096 / inner;
  if (inner == 1) {
    visit_itemsize(x.itemsize(), [&](auto* tag) {
      using U = std::remove_pointer_t<decltype(tag)>;
      const U* s = reinterpret_cast<const U*>(src);
      U* d = reinterpret_cast<U*>(dst);
      parallel_chunks(outer * L, 4096, 1, [&](int64_t b, int64_t e) {
        for (int64_t p = b; p < e; ++p) d[p] = s[(p / L) * size + idx[p % L]];
      });
    });
    return;
  }
  parallel_chunks(outer * L, chunk, inner, [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      const int64_t o = p / L, j = p % L;
      std::memcpy(dst + p * row_bytes, src + (o * size + idx[j]) * row_bytes, row_bytes);
    }
  });
}

void index_add(const TensorImpl& out, int64_t dim, const TensorImpl& index, const TensorImpl& src) {
  const int64_t* idx = index.data_as<int64_t>();
  const int64_t L = index.numel();
  int64_t outer, size, inner;
  split_at(out.shape, dim, outer, size, inner);
  check_bounds(idx, L, size, dim, "ember.index_add");
  if (outer == 0 || L == 0 || inner == 0) return;
  visit_add_dtype(out.dtype, "ember.index_add", [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* s = src.data_as<T>();
    T* d = out.data_as<T>();
    // Pieces are (outer, column block); every piece walks all index positions in order, so
    // duplicates accumulate in increasing position whatever the thread count.
    constexpr int64_t kCols = 1024;
    const int64_t col_blocks = (inner + kCols - 1) / kCols;
    parallel_chunks(outer * col_blocks, 1, L * (inner < kCols ? inner : kCols),
                    [&](int64_t b, int64_t e) {
                      for (int64_t p = b; p < e; ++p) {
                        const int64_t o = p / col_blocks;
                        const int64_t c0 = (p % col_blocks) * kCols;
                        const int64_t nc = inner - c0 < kCols ? inner - c0 : kCols;
                        for (int64_t j = 0; j < L; ++j) {
                          T* drow = d + (o * size + idx[j]) * inner + c0;
                          const T* srow = s + (o * L + j) * inner + c0;
                          for (int64_t k = 0; k < nc; ++k) add_to(drow[k], srow[k]);
                        }
                      }
                    });
  });
}

}  // namespace ember::cpu
