#include "bindings/checks.h"

#include <cstdlib>
#include <limits>

namespace ember::bindings {

void check_contiguous_on(const TensorImpl& t, DeviceType dev, const char* op, const char* arg) {
  check_device(t, dev, op, arg);
  check_contiguous(t, op, arg);
}

void check_cpu_contiguous(const TensorImpl& t, const char* op, const char* arg) {
  check_contiguous_on(t, DeviceType::CPU, op, arg);
}

void check_cpu_matrix(const TensorImpl& t, DType dt, const char* op, const char* arg) {
  check_cpu_contiguous(t, op, arg);
  EMBER_CHECK(t.dtype == dt, TypeError, op, ": ", arg, " has dtype ", dtype_name(t.dtype),
              ", expected ", dtype_name(dt));
  EMBER_CHECK(t.ndim() == 2, ValueError, op, ": ", arg, " must be 2-D, got shape ",
              shape_str(t.shape));
}

void check_contiguous_like(DeviceType dev, const TensorImpl& t, const TensorImpl& ref,
                           const char* op, const char* arg) {
  check_contiguous_on(t, dev, op, arg);
  EMBER_CHECK(t.dtype == ref.dtype, TypeError, op, ": ", arg, " has dtype ", dtype_name(t.dtype),
              ", expected ", dtype_name(ref.dtype));
}

void check_contiguous_like(const TensorImpl& t, const TensorImpl& ref, const char* op,
                           const char* arg) {
  check_contiguous_like(DeviceType::CPU, t, ref, op, arg);
}

void check_shape(const TensorImpl& t, const Shape& want, const char* op, const char* arg) {
  EMBER_CHECK(t.shape == want, ValueError, op, ": ", arg, " has shape ", shape_str(t.shape),
              ", expected ", shape_str(want));
}

bool is_row_float(DType d) {
  return d == DType::Float32 || d == DType::Float64 || d == DType::BFloat16;
}

DType stat_dtype(DType d) { return d == DType::Float64 ? DType::Float64 : DType::Float32; }

void check_numel_like(DeviceType dev, const TensorImpl& t, const TensorImpl& x, const char* op,
                      const char* arg) {
  check_contiguous_on(t, dev, op, arg);
  check_dtype(t, x.dtype, op, arg);
  EMBER_CHECK(t.numel() == x.numel(), ValueError, op, ": ", arg, " of shape ", shape_str(t.shape),
              " does not match the input of shape ", shape_str(x.shape));
}

void check_row_vec(DeviceType dev, const TensorImpl* t, int64_t n, DType dt, const char* op,
                   const char* arg) {
  if (!t) return;
  check_contiguous_on(*t, dev, op, arg);
  check_dtype(*t, dt, op, arg);
  EMBER_CHECK(t->numel() == n, ValueError, op, ": ", arg, " of shape ", shape_str(t->shape),
              " must have ", n, " elements (one per row)");
}

void check_row_vec(const TensorImpl* t, int64_t n, DType dt, const char* op, const char* arg) {
  check_row_vec(DeviceType::CPU, t, n, dt, op, arg);
}

void check_range(int64_t v, int64_t lo, int64_t hi, const char* op, const char* arg) {
  EMBER_CHECK(v >= lo && v <= hi, ValueError, op, ": ", arg, " must be in [", lo, ", ", hi,
              "], got ", v);
}

void check_reduce_view(const TensorImpl& x, const TensorImpl& out, int64_t outer, int64_t r,
                       int64_t inner, const char* op) {
  EMBER_CHECK(outer >= 0 && r >= 0 && inner >= 0, ValueError, op,
              ": negative sizes (outer, r, inner) = (", outer, ", ", r, ", ", inner, ")");
  const int64_t big = std::numeric_limits<int64_t>::max();
  const int64_t oi = (inner == 0 || outer <= big / inner) ? outer * inner : -1;
  const int64_t all = (oi >= 0 && (r == 0 || oi <= big / r)) ? oi * r : -1;
  EMBER_CHECK(all >= 0 && x.numel() == all, ValueError, op, ": input of shape ", shape_str(x.shape),
              " does not match (outer, r, inner) = (", outer, ", ", r, ", ", inner, ")");
  EMBER_CHECK(out.numel() == oi, ValueError, op, ": output of shape ", shape_str(out.shape),
              " must have outer * inner = ", oi, " elements");
}

void check_positive(int64_t v, const char* op, const char* arg) {
  EMBER_CHECK(v >= 1, ValueError, op, ": ", arg, " must be positive, got ", v);
}

void check_nonnegative(int64_t v, const char* op, const char* arg) {
  EMBER_CHECK(v >= 0, ValueError, op, ": ", arg, " must be non-negative, got ", v);
}

std::string pair_str(const Pair& p) { return cat_str("(", p.first, ", ", p.second, ")"); }

void check_float(const TensorImpl& t, const char* op, const char* arg) {
  EMBER_CHECK(t.dtype == DType::Float32 || t.dtype == DType::Float64, TypeError, op, ": ", arg,
              " has dtype ", dtype_name(t.dtype), ", expected float32 or float64");
}

}  // namespace ember::bindings
