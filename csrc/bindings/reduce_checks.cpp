#include "bindings/reduce_checks.h"

#include "bindings/checks.h"
#include "core/error.h"
#include "core/overlap.h"

namespace ember::bindings {
namespace {

// a and b contiguous on dev, float32 / float64, one dtype and one shape.
void check_softmax_pair(DeviceType dev, const TensorImpl& a, const TensorImpl& b, const char* op,
                        const char* an, const char* bn) {
  check_contiguous_on(a, dev, op, an);
  check_contiguous_on(b, dev, op, bn);
  EMBER_CHECK(a.dtype == DType::Float32 || a.dtype == DType::Float64, TypeError, op,
              ": expected float32 or float64, got ", dtype_name(a.dtype));
  check_same_dtype(a, b, op);
  check_same_shape(a, b, op);
}

}  // namespace

void check_reduce(DeviceType dev, const TensorImpl& x, const TensorImpl& out, int64_t outer,
                  int64_t r, int64_t inner, bool dtype_ok, bool extremum, const char* op) {
  check_contiguous_on(x, dev, op, "input");
  check_contiguous_on(out, dev, op, "out");
  check_same_dtype(x, out, op);
  EMBER_CHECK(dtype_ok, TypeError, op, ": unsupported dtype ", dtype_name(x.dtype));
  check_reduce_view(x, out, outer, r, inner, op);
  check_writable(out, op, "out");
  check_no_overlap(out, x, op, "out", "input");
  EMBER_CHECK(r > 0 || !extremum, ValueError, op, ": cannot reduce over an empty dimension");
}

std::string reduce_arg_op(const std::string& name) {
  EMBER_CHECK(name == "max" || name == "min", ValueError, "ember.reduce_arg: unknown op '", name,
              "' (expected max or min)");
  return "ember.arg" + name;
}

void check_reduce_arg(DeviceType dev, const TensorImpl& x, const TensorImpl& values,
                      const TensorImpl& indices, int64_t outer, int64_t r, int64_t inner,
                      const char* op) {
  check_contiguous_on(x, dev, op, "input");
  check_contiguous_on(values, dev, op, "values");
  check_contiguous_on(indices, dev, op, "indices");
  EMBER_CHECK(x.dtype == DType::Float32 || x.dtype == DType::Float64 || x.dtype == DType::Int32 ||
                  x.dtype == DType::Int64,
              TypeError, op, ": unsupported dtype ", dtype_name(x.dtype));
  check_same_dtype(x, values, op);
  check_dtype(indices, DType::Int64, op, "indices");
  check_reduce_view(x, values, outer, r, inner, op);
  EMBER_CHECK(indices.numel() == values.numel(), ValueError, op, ": indices of shape ",
              shape_str(indices.shape), " and values of shape ", shape_str(values.shape),
              " differ in size");
  check_writable(values, op, "values");
  check_writable(indices, op, "indices");
  check_no_overlap(values, x, op, "values", "input");
  check_no_overlap(indices, x, op, "indices", "input");
  check_no_overlap(indices, values, op, "indices", "values");
  EMBER_CHECK(r > 0, ValueError, op, ": cannot reduce over an empty dimension");
}

void check_softmax(DeviceType dev, const TensorImpl& x, const TensorImpl& out, bool log) {
  const char* op = log ? "ember.log_softmax" : "ember.softmax";
  check_softmax_pair(dev, x, out, op, "input", "out");
  check_writable(out, op, "out");
  check_no_overlap(out, x, op, "out", "input");
}

void check_softmax_backward(DeviceType dev, const TensorImpl& y, const TensorImpl& grad_out,
                            const TensorImpl& grad_in, bool log) {
  const char* op = log ? "ember.log_softmax_backward" : "ember.softmax_backward";
  check_softmax_pair(dev, y, grad_out, op, "y", "grad_out");
  check_softmax_pair(dev, y, grad_in, op, "y", "grad_in");
  check_writable(grad_in, op, "grad_in");
  check_no_overlap(grad_in, y, op, "grad_in", "y");
  check_no_overlap(grad_in, grad_out, op, "grad_in", "grad_out");
}

}  // namespace ember::bindings
