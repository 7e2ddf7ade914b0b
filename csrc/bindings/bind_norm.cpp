// Fused layer norm / RMS norm, forward and backward. Everything is checked here before a
// kernel runs.
#include "bindings/bindings.h"
#include "bindings/row_checks.h"
#include "bindings/shared_defs.h"
#include "cpu/norm/norm.h"

namespace ember::bindings {
namespace {

using Opt = const TensorImpl*;

void layer_norm_forward(TensorRef x, int64_t n, Opt weight, Opt bias, TensorRef y, TensorRef mean,
                        TensorRef rstd, double eps) {
  const int64_t rows =
      check_layer_norm_forward(DeviceType::CPU, x, n, weight, bias, y, mean, rstd, eps);
  py::gil_scoped_release nogil;
  cpu::layer_norm_forward(x, weight, bias, y, mean, rstd, rows, n, eps);
}

void rms_norm_forward(TensorRef x, int64_t n, Opt weight, TensorRef y, TensorRef rstd, double eps) {
  const int64_t rows = check_rms_norm_forward(DeviceType::CPU, x, n, weight, y, rstd, eps);
  py::gil_scoped_release nogil;
  cpu::rms_norm_forward(x, weight, y, rstd, rows, n, eps);
}

void norm_backward(const char* op, TensorRef grad_out, TensorRef x, int64_t n, Opt weight, Opt mean,
                   TensorRef rstd, Opt grad_in, Opt grad_weight, Opt grad_bias) {
  const int64_t rows = check_norm_backward(DeviceType::CPU, op, grad_out, x, n, weight, mean, rstd,
                                           grad_in, grad_weight, grad_bias);
  py::gil_scoped_release nogil;
  cpu::norm_backward(grad_out, x, weight, mean, rstd, grad_in, grad_weight, grad_bias, rows, n);
}

}  // namespace

void bind_norm(py::module_& m) {
  def_norm(m, &layer_norm_forward, &rms_norm_forward, &norm_backward);
}

}  // namespace ember::bindings
