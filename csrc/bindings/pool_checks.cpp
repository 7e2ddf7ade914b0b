#include "bindings/pool_checks.h"

#include "bindings/geometry.h"
#include "core/error.h"
#include "core/overlap.h"

namespace ember::bindings {
namespace {

// A contiguous float32/float64 tensor on device type dev.
void check_float_input(DeviceType dev, const TensorImpl& t, const char* op, const char* arg) {
  check_contiguous_on(t, dev, op, arg);
  check_float(t, op, arg);
}

}  // namespace

cpu::PoolShape check_max_pool2d(DeviceType dev, const TensorImpl& x, const TensorImpl& out,
                                const TensorImpl& indices, const Pair& kernel, const Pair& stride,
                                const Pair& padding, const Pair& dilation, bool ceil_mode) {
  const char* op = "ember.max_pool2d";
  check_float_input(dev, x, op, "input");
  const cpu::PoolShape s = pool_shape(x.shape, kernel, stride, padding, dilation, ceil_mode, op);
  const Shape oshape{x.shape[0], x.shape[1], s.oh, s.ow};
  check_contiguous_like(dev, out, x, op, "out");
  check_shape(out, oshape, op, "out");
  check_contiguous_on(indices, dev, op, "indices");
  check_dtype(indices, DType::Int64, op, "indices");
  check_shape(indices, oshape, op, "indices");
  check_outputs({{&out, "out"}, {&indices, "indices"}}, {{&x, "input"}}, op);
  return s;
}

void check_max_pool2d_backward(DeviceType dev, const TensorImpl& grad_out,
                               const TensorImpl& indices, const TensorImpl& grad_in) {
  const char* op = "ember.max_pool2d_backward";
  check_float_input(dev, grad_out, op, "grad_output");
  check_contiguous_like(dev, grad_in, grad_out, op, "grad_input");
  check_contiguous_on(indices, dev, op, "indices");
  check_dtype(indices, DType::Int64, op, "indices");
  EMBER_CHECK(grad_out.ndim() == 4 && grad_in.ndim() == 4, ValueError, op,
              ": expected 4-D grad_output and grad_input, got ", shape_str(grad_out.shape), " and ",
              shape_str(grad_in.shape));
  check_shape(indices, grad_out.shape, op, "indices");
  EMBER_CHECK(grad_in.shape[0] == grad_out.shape[0] && grad_in.shape[1] == grad_out.shape[1],
              ValueError, op, ": grad_input of shape ", shape_str(grad_in.shape),
              " does not match grad_output of shape ", shape_str(grad_out.shape));
  check_outputs({{&grad_in, "grad_input"}}, {{&grad_out, "grad_output"}, {&indices, "indices"}},
                op);
}

cpu::PoolShape check_avg_pool2d(DeviceType dev, const TensorImpl& big, const TensorImpl& small,
                                const Pair& kernel, const Pair& stride, const Pair& padding,
                                bool ceil_mode, int64_t divisor_override, bool backward) {
  const char* op = backward ? "ember.avg_pool2d_backward" : "ember.avg_pool2d";
  const char* bname = backward ? "grad_input" : "input";
  const char* sname = backward ? "grad_output" : "out";
  check_float_input(dev, big, op, bname);
  EMBER_CHECK(divisor_override >= 0, ValueError, op, ": divisor_override must be positive, got ",
              divisor_override);
  const cpu::PoolShape s = pool_shape(big.shape, kernel, stride, padding, {1, 1}, ceil_mode, op);
  check_contiguous_like(dev, small, big, op, sname);
  check_shape(small, Shape{big.shape[0], big.shape[1], s.oh, s.ow}, op, sname);
  if (backward)
    check_outputs({{&big, bname}}, {{&small, sname}}, op);
  else
    check_outputs({{&small, sname}}, {{&big, bname}}, op);
  return s;
}

void check_adaptive_avg_pool2d(DeviceType dev, const TensorImpl& big, const TensorImpl& small,
                               bool backward) {
  const char* op = backward ? "ember.adaptive_avg_pool2d_backward" : "ember.adaptive_avg_pool2d";
  const char* bname = backward ? "grad_input" : "input";
  const char* sname = backward ? "grad_output" : "out";
  check_float_input(dev, big, op, bname);
  check_contiguous_like(dev, small, big, op, sname);
  EMBER_CHECK(big.ndim() == 4 && small.ndim() == 4, ValueError, op,
              ": expected 4-D (N, C, H, W) tensors, got ", shape_str(big.shape), " and ",
              shape_str(small.shape));
  EMBER_CHECK(big.shape[0] == small.shape[0] && big.shape[1] == small.shape[1], ValueError, op,
              ": ", sname, " of shape ", shape_str(small.shape), " does not match ", bname,
              " of shape ", shape_str(big.shape));
  EMBER_CHECK(small.shape[2] >= 1 && small.shape[3] >= 1 &&
                  (big.shape[0] * big.shape[1] == 0 || (big.shape[2] >= 1 && big.shape[3] >= 1)),
              ValueError, op, ": output size ", small.shape[2], " x ", small.shape[3],
              " must be positive and the input of shape ", shape_str(big.shape), " non-empty");
  check_no_overlap(small, big, op, sname, bname);
  check_no_overlap(big, small, op, bname, sname);
  if (backward)
    check_writable(big, op, bname);
  else
    check_writable(small, op, sname);
}

}  // namespace ember::bindings
