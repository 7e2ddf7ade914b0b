// Argument checks the bindings share, beyond the per-tensor ones in core/tensor_impl.h and
// the overlap checks in core/overlap.h: contiguity, shapes, float dtypes. Each throws a ValueError
// or TypeError naming the op, the argument and its shape. Checks run once, here at the
// boundary; the kernels behind the bindings trust their arguments.
#pragma once
#include <cstdint>
#include <string>
#include <utility>

#include "core/checked_math.h"
#include "core/error.h"
#include "core/overlap.h"
#include "core/tensor_impl.h"

namespace ember::bindings {

// A contiguous tensor on device type dev (check_cpu_contiguous: on the CPU).
void check_contiguous_on(const TensorImpl& t, DeviceType dev, const char* op, const char* arg);
void check_cpu_contiguous(const TensorImpl& t, const char* op, const char* arg);

// A contiguous 2-D CPU tensor of dtype dt: TypeError / ValueError naming op and arg otherwise.
void check_cpu_matrix(const TensorImpl& t, DType dt, const char* op, const char* arg);

// A contiguous tensor of ref's dtype on device type dev (on the CPU without dev):
// "<op>: <arg> has dtype X, expected Y" otherwise.
void check_contiguous_like(DeviceType dev, const TensorImpl& t, const TensorImpl& ref,
                           const char* op, const char* arg);
void check_contiguous_like(const TensorImpl& t, const TensorImpl& ref, const char* op,
                           const char* arg);

// ValueError "<op>: <arg> has shape S, expected S" unless t.shape == want.
void check_shape(const TensorImpl& t, const Shape& want, const char* op, const char* arg);

// The (outer, r, inner) view of a reduction: sizes non-negative, outer * r * inner without
// overflow and equal to x's element count, outer * inner equal to out's. ValueError naming op.
void check_reduce_view(const TensorImpl& x, const TensorImpl& out, int64_t outer, int64_t r,
                       int64_t inner, const char* op);

// TypeError unless t is float32 or float64.
void check_float(const TensorImpl& t, const char* op, const char* arg);

// Row-wise families (norm, cross-entropy) take float32, float64 or bfloat16 and keep
// per-row statistics in float32 (float64 for a float64 input).
bool is_row_float(DType d);
DType stat_dtype(DType d);
// A contiguous tensor of x's dtype with x's number of elements, on device type dev.
void check_numel_like(DeviceType dev, const TensorImpl& t, const TensorImpl& x, const char* op,
                      const char* arg);
// When given: a contiguous tensor of dtype dt with n elements (one per row), on device type
// dev (on the CPU without dev).
void check_row_vec(DeviceType dev, const TensorImpl* t, int64_t n, DType dt, const char* op,
                   const char* arg);
void check_row_vec(const TensorImpl* t, int64_t n, DType dt, const char* op, const char* arg);

// Integer arguments (sizes, counts, strides of a geometry): ValueError "<op>: <arg> must be
// in [lo, hi], got v" / "must be positive" / "must be non-negative" otherwise. Sums and
// products of them go through core/checked_math.h.
void check_range(int64_t v, int64_t lo, int64_t hi, const char* op, const char* arg);
void check_positive(int64_t v, const char* op, const char* arg);
void check_nonnegative(int64_t v, const char* op, const char* arg);

// A pair of per-dimension sizes (stride, padding, ...) and its message form "(a, b)".
using Pair = std::pair<int64_t, int64_t>;
std::string pair_str(const Pair& p);

// Calls fn(T{}) with T = float for float32, double for float64 (the caller checked the
// dtype with check_float): visit_float(x.dtype, [&](auto tag) { using T = decltype(tag); });
template <typename Fn>
decltype(auto) visit_float(DType dtype, Fn&& fn) {
  if (dtype == DType::Float32) return fn(float{});
  return fn(double{});
}

}  // namespace ember::bindings
