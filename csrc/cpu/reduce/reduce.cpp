// Reduction driver: dtype dispatch, blocking and threading around the per-ISA float32 row
// kernels (reduce_kernels.cpp) and the plain C++ kernels for the other dtypes below.
#include "cpu/reduce/reduce.h"

#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "core/error.h"
#include "core/isa.h"
#include "core/parallel.h"
#include "cpu/driver_util.h"

namespace ember::cpu {

const ReduceTable& reduce_table() { return EMBER_ISA_TABLE(reduce_table); }

bool parse_reduce_op(const std::string& name, ReduceOp* op) {
  static const char* const names[] = {"sum", "mean", "prod", "max", "min"};
  for (int i = 0; i < 5; ++i) {
    if (name == names[i]) {
      *op = static_cast<ReduceOp>(i);
      return true;
    }
  }
  return false;
}

bool reduce_supports(ReduceOp op, DType t) {
  switch (t) {
    case DType::Float32:
    case DType::Float64:
      return true;
    case DType::Int32:
    case DType::Int64:
      return op != ReduceOp::Mean;
    case DType::Bool:
      return op == ReduceOp::Max || op == ReduceOp::Min;
    default:
      return false;
  }
}

namespace {

// Fixed block sizes along the reduced axis: partial results of blocks are combined in
// block order, so the split never depends on the thread count. Contiguous rows (inner == 1)
// go through the row kernels, whose vector accumulators already split a block into short
// runs; strided columns (inner > 1) fold each column sequentially, so their blocks are
// shorter to keep float32 sums accurate.
constexpr int64_t kRowBlock = 16384;
constexpr int64_t kColBlock = 512;
constexpr int64_t kColChunk = 256;  // columns per piece when inner > 1
constexpr int64_t kGrain = 16384;   // elements of work per piece, roughly

int64_t at_least_one(int64_t v) { return v > 0 ? v : 1; }

// ---- scalar ops for the non-float32 dtypes (float32 partials are combined with them too)

template <typename T>
constexpr bool kIsFloat = std::is_floating_point_v<T>;

// Integer sums and products wrap (two's complement), computed unsigned to avoid UB.
template <typename T>
T wrap_add(T a, T b) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
  } else {
    return a + b;
  }
}
template <typename T>
T wrap_mul(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
  } else {
    return a * b;
  }
}

template <typename T>
struct SSum {
  static T ident() { return T(0); }
  static T step(T a, T x) { return wrap_add(a, x); }
};
template <typename T>
struct SProd {
  static T ident() { return T(1); }
  static T step(T a, T x) { return wrap_mul(a, x); }
};
template <typename T>
struct SMax {
  static T ident() {
    if constexpr (kIsFloat<T>)
      return -std::numeric_limits<T>::infinity();
    else
      return std::numeric_limits<T>::lowest();
  }
  static T step(T a, T x) {
    if constexpr (kIsFloat<T>) {
      if (std::isnan(a)) return a;
      return std::isnan(x) || x > a ? x : a;
    } else {
      return x > a ? x : a;
    }
  }
};
template <typename T>
struct SMin {
  static T ident() {
    if constexpr (kIsFloat<T>)
      return std::numeric_limits<T>::infinity();
    else
      return std::numeric_limits<T>::max();
  }
  static T step(T a, T x) {
    if constexpr (kIsFloat<T>) {
      if (std::isnan(a)) return a;
      return std::isnan(x) || x < a ? x : a;
    } else {
      return x < a ? x : a;
    }
  }
};

// Eight interleaved accumulators, folded left to right: fast and a little more accurate
// than one running sum, and the same order for every call.
template <typename T, class Op>
T row_scalar(const T* x, int64_t n) {
  constexpr int kAcc = 8;
  T acc[kAcc];
  for (int a = 0; a < kAcc; ++a) acc[a] = Op::ident();
  int64_t i = 0;
  for (; i + kAcc <= n; i += kAcc)
    for (int a = 0; a < kAcc; ++a) acc[a] = Op::step(acc[a], x[i + a]);
  for (int a = 0; i < n; ++i, ++a) acc[a] = Op::step(acc[a], x[i]);
  T r = acc[0];
  for (int a = 1; a < kAcc; ++a) r = Op::step(r, acc[a]);
  return r;
}

template <typename T, class Op>
void cols_scalar(const T* x, int64_t rows, int64_t stride, int64_t ncols, T* out) {
  for (int64_t c = 0; c < ncols; ++c) out[c] = Op::ident();
  for (int64_t r = 0; r < rows; ++r) {
    const T* p = x + r * stride;
    for (int64_t c = 0; c < ncols; ++c) out[c] = Op::step(out[c], p[c]);
  }
}

// The blocked, threaded reduction. T: element type; C: the type block partials are
// combined in (double for floating sums and products, T otherwise); Comb: scalar op on C;
// fin(C) -> T finishes (mean divides by r).
template <typename T, typename C, class Comb, typename Fin>
void run_reduce(const T* x, T* out, int64_t outer, int64_t r, int64_t inner,
                T (*row)(const T*, int64_t), void (*cols)(const T*, int64_t, int64_t, int64_t, T*),
                Fin fin) {
  if (outer == 0 || inner == 0) return;
  if (r == 0) {
    const T v = fin(Comb::ident());
    for (int64_t i = 0; i < outer * inner; ++i) out[i] = v;
    return;
  }
  if (inner == 1) {
    const int64_t nb = cdiv(r, kRowBlock);
    if (nb == 1) {
      parallel_chunks(outer, at_least_one(kGrain / r), r, [&](int64_t b, int64_t e) {
        for (int64_t o = b; o < e; ++o) out[o] = fin(static_cast<C>(row(x + o * r, r)));
      });
      return;
    }
    std::vector<T> part(static_cast<size_t>(outer * nb));
    parallel_chunks(outer * nb, 1, kRowBlock, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const int64_t o = t / nb, j0 = (t % nb) * kRowBlock;
        part[t] = row(x + o * r + j0, r - j0 < kRowBlock ? r - j0 : kRowBlock);
      }
    });
    parallel_chunks(outer, at_least_one(kGrain / nb), nb, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        C acc = Comb::ident();
        for (int64_t j = 0; j < nb; ++j) acc = Comb::step(acc, static_cast<C>(part[o * nb + j]));
        out[o] = fin(acc);
      }
    });
    return;
  }
  const int64_t nb = cdiv(r, kColBlock);
  const int64_t nc = cdiv(inner, kColChunk);
  const int64_t rows = r < kColBlock ? r : kColBlock;
  const int64_t cols_per = inner < kColChunk ? inner : kColChunk;
  const int64_t chunk = at_least_one(kGrain / (rows * cols_per));
  if (nb == 1) {
    parallel_chunks(outer * nc, chunk, rows * cols_per, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const int64_t o = t / nc, c0 = (t % nc) * kColChunk;
        const int64_t n = inner - c0 < kColChunk ? inner - c0 : kColChunk;
        T* dst = out + o * inner + c0;
        cols(x + o * r * inner + c0, r, inner, n, dst);
        for (int64_t k = 0; k < n; ++k) dst[k] = fin(static_cast<C>(dst[k]));
      }
    });
    return;
  }
  std::vector<T> part(static_cast<size_t>(outer * nb * inner));
  parallel_chunks(outer * nb * nc, chunk, rows * cols_per, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t c0 = (t % nc) * kColChunk, ob = t / nc;  // ob = o * nb + block
      const int64_t j0 = (ob % nb) * kColBlock, o = ob / nb;
      const int64_t n = inner - c0 < kColChunk ? inner - c0 : kColChunk;
      cols(x + (o * r + j0) * inner + c0, r - j0 < kColBlock ? r - j0 : kColBlock, inner, n,
           part.data() + ob * inner + c0);
    }
  });
  parallel_chunks(outer * inner, at_least_one(kGrain / nb), nb, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const int64_t o = i / inner, k = i % inner;
      C acc = Comb::ident();
      for (int64_t j = 0; j < nb; ++j)
        acc = Comb::step(acc, static_cast<C>(part[(o * nb + j) * inner + k]));
      out[i] = fin(acc);
    }
  });
}

template <typename T>
using RowFn = T (*)(const T*, int64_t);
template <typename T>
using ColsFn = void (*)(const T*, int64_t, int64_t, int64_t, T*);

// float32 kernels come from the ISA table, the other dtypes' from the templates above.
template <typename T, template <typename> class S>
void run_op(ReduceOp op, KernelOp kop, const T* x, T* out, int64_t outer, int64_t r,
            int64_t inner) {
  // Floating sums and products combine their block partials in double.
  constexpr bool kWide =
      kIsFloat<T> && (std::is_same_v<S<T>, SSum<T>> || std::is_same_v<S<T>, SProd<T>>);
  using C = std::conditional_t<kWide, double, T>;
  RowFn<T> row = &row_scalar<T, S<T>>;
  ColsFn<T> cols = &cols_scalar<T, S<T>>;
  if constexpr (std::is_same_v<T, float>) {
    const ReduceTable& tab = reduce_table();
    row = tab.row[static_cast<int>(kop)];
    cols = tab.cols[static_cast<int>(kop)];
  }
  if (op == ReduceOp::Mean) {
    const double n = static_cast<double>(r);
    run_reduce<T, C, S<C>>(x, out, outer, r, inner, row, cols,
                           [n](C v) { return static_cast<T>(static_cast<double>(v) / n); });
  } else {
    run_reduce<T, C, S<C>>(x, out, outer, r, inner, row, cols,
                           [](C v) { return static_cast<T>(v); });
  }
}

template <typename T>
void reduce_typed(ReduceOp op, const T* x, T* out, int64_t outer, int64_t r, int64_t inner) {
  switch (op) {
    case ReduceOp::Sum:
    case ReduceOp::Mean:
      return run_op<T, SSum>(op, KernelOp::Sum, x, out, outer, r, inner);
    case ReduceOp::Prod:
      return run_op<T, SProd>(op, KernelOp::Prod, x, out, outer, r, inner);
    case ReduceOp::Max:
      return run_op<T, SMax>(op, KernelOp::Max, x, out, outer, r, inner);
    case ReduceOp::Min:
      return run_op<T, SMin>(op, KernelOp::Min, x, out, outer, r, inner);
  }
}

// ---- arg-reductions

// Whether candidate v replaces the current extreme: NaN beats everything but an earlier
// NaN; otherwise strictly better only, so ties keep the first position.
template <typename T, bool kMax>
inline bool arg_better(T v, T cur) {
  if constexpr (kIsFloat<T>) {
    if (std::isnan(cur)) return false;
    if (std::isnan(v)) return true;
  }
  return kMax ? v > cur : v < cur;
}

// First extreme of x[j * stride], j < n (n > 0); index relative to x.
template <typename T, bool kMax>
void arg_row(const T* x, int64_t n, int64_t stride, T* best, int64_t* at) {
  T b = x[0];
  int64_t bi = 0;
  for (int64_t j = 1; j < n; ++j) {
    const T v = x[j * stride];
    if (arg_better<T, kMax>(v, b)) {
      b = v;
      bi = j;
    }
  }
  *best = b;
  *at = bi;
}

// Columns: rows streamed, one running (value, index) per column.
template <typename T, bool kMax>
void arg_cols(const T* x, int64_t rows, int64_t stride, int64_t ncols, T* best, int64_t* at) {
  for (int64_t c = 0; c < ncols; ++c) {
    best[c] = x[c];
    at[c] = 0;
  }
  for (int64_t j = 1; j < rows; ++j) {
    const T* p = x + j * stride;
    for (int64_t c = 0; c < ncols; ++c) {
      if (arg_better<T, kMax>(p[c], best[c])) {
        best[c] = p[c];
        at[c] = j;
      }
    }
  }
}

template <typename T, bool kMax>
void reduce_arg_typed(const T* x, T* values, int64_t* indices, int64_t outer, int64_t r,
                      int64_t inner) {
  if (outer == 0 || inner == 0) return;
  const int64_t block = inner == 1 ? kRowBlock : kColBlock;
  const int64_t nb = cdiv(r, block);
  const int64_t rows = r < block ? r : block;
  const int64_t cols_per = inner < kColChunk ? inner : kColChunk;
  const int64_t nc = cdiv(inner, kColChunk);
  // Block partials (value, absolute index); a single block writes the outputs directly.
  std::vector<T> pv(nb > 1 ? static_cast<size_t>(outer * nb * inner) : 0);
  std::vector<int64_t> pi(pv.size());
  T* dv = nb > 1 ? pv.data() : values;
  int64_t* di = nb > 1 ? pi.data() : indices;
  parallel_chunks(outer * nb * nc, at_least_one(kGrain / (rows * cols_per)), rows * cols_per,
                  [&](int64_t b, int64_t e) {
                    for (int64_t t = b; t < e; ++t) {
                      const int64_t c0 = (t % nc) * kColChunk, ob = t / nc;
                      const int64_t j0 = (ob % nb) * block, o = ob / nb;
                      const int64_t n = inner - c0 < kColChunk ? inner - c0 : kColChunk;
                      const int64_t len = r - j0 < block ? r - j0 : block;
                      const T* src = x + (o * r + j0) * inner + c0;
                      T* v = dv + ob * inner + c0;
                      int64_t* at = di + ob * inner + c0;
                      if (inner == 1)
                        arg_row<T, kMax>(src, len, 1, v, at);
                      else
                        arg_cols<T, kMax>(src, len, inner, n, v, at);
                      for (int64_t k = 0; k < n; ++k) at[k] += j0;
                    }
                  });
  if (nb == 1) return;
  parallel_chunks(outer * inner, at_least_one(kGrain / nb), nb, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const int64_t o = i / inner, k = i % inner;
      T best = pv[o * nb * inner + k];
      int64_t at = pi[o * nb * inner + k];
      for (int64_t j = 1; j < nb; ++j) {
        const size_t q = static_cast<size_t>((o * nb + j) * inner + k);
        if (arg_better<T, kMax>(pv[q], best)) {
          best = pv[q];
          at = pi[q];
        }
      }
      values[i] = best;
      indices[i] = at;
    }
  });
}

}  // namespace

void reduce(ReduceOp op, const TensorImpl& x, const TensorImpl& out, int64_t outer, int64_t r,
            int64_t inner) {
  switch (x.dtype) {
    case DType::Float32:
      return reduce_typed(op, x.data_as<float>(), out.data_as<float>(), outer, r, inner);
    case DType::Float64:
      return reduce_typed(op, x.data_as<double>(), out.data_as<double>(), outer, r, inner);
    case DType::Int32:
      return reduce_typed(op, x.data_as<int32_t>(), out.data_as<int32_t>(), outer, r, inner);
    case DType::Int64:
      return reduce_typed(op, x.data_as<int64_t>(), out.data_as<int64_t>(), outer, r, inner);
    case DType::Bool:
      // Stored as bytes 0/1: any = max, all = min.
      return reduce_typed(op, x.data_as<uint8_t>(), out.data_as<uint8_t>(), outer, r, inner);
    default:
      throw TypeError(cat_str("ember.reduce: unsupported dtype ", dtype_name(x.dtype)));
  }
}

void reduce_arg(bool is_max, const TensorImpl& x, const TensorImpl& values,
                const TensorImpl& indices, int64_t outer, int64_t r, int64_t inner) {
  auto run = [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (is_max)
      reduce_arg_typed<T, true>(x.data_as<T>(), values.data_as<T>(), indices.data_as<int64_t>(),
                                outer, r, inner);
    else
      reduce_arg_typed<T, false>(x.data_as<T>(), values.data_as<T>(), indices.data_as<int64_t>(),
                                 outer, r, inner);
  };
  switch (x.dtype) {
    case DType::Float32:
      return run(static_cast<float*>(nullptr));
    case DType::Float64:
      return run(static_cast<double*>(nullptr));
    case DType::Int32:
      return run(static_cast<int32_t*>(nullptr));
    case DType::Int64:
      return run(static_cast<int64_t*>(nullptr));
    default:
      throw TypeError(cat_str("ember.reduce_arg: unsupported dtype ", dtype_name(x.dtype)));
  }
}

}  // namespace ember::cpu
