// Fused layer norm / RMS norm, forward and backward. Everything is checked here before a
// kernel runs.
#include "bindings/bindings.h"
#include "bindings/row_checks.h"
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
  m.def("layer_norm_forward", &layer_norm_forward, py::arg("x"), py::arg("n"), py::arg("weight"),
        py::arg("bias"), py::arg("y"), py::arg("mean"), py::arg("rstd"), py::arg("eps"),
        "Layer norm over rows of n values of contiguous x; writes y, the per-row mean and rstd "
        "(float64 for float64 x, else float32). weight / bias: n values of x's dtype or None.");
  m.def("rms_norm_forward", &rms_norm_forward, py::arg("x"), py::arg("n"), py::arg("weight"),
        py::arg("y"), py::arg("rstd"), py::arg("eps"),
        "RMS norm over rows of n values: y = x * rstd * weight, rstd = 1/sqrt(mean(x^2) + eps).");
  m.def(
      "layer_norm_backward",
      [](TensorRef g, TensorRef x, int64_t n, Opt w, TensorRef mean, TensorRef rstd, Opt gi, Opt gw,
         Opt gb) {
        norm_backward("ember.layer_norm_backward", g, x, n, w, &mean, rstd, gi, gw, gb);
      },
      py::arg("grad_out"), py::arg("x"), py::arg("n"), py::arg("weight"), py::arg("mean"),
      py::arg("rstd"), py::arg("grad_in"), py::arg("grad_weight"), py::arg("grad_bias"),
      "grad_input, grad_weight, grad_bias (each None when not needed) of layer_norm_forward.");
  m.def(
      "rms_norm_backward",
      [](TensorRef g, TensorRef x, int64_t n, Opt w, TensorRef rstd, Opt gi, Opt gw) {
        norm_backward("ember.rms_norm_backward", g, x, n, w, nullptr, rstd, gi, gw, nullptr);
      },
      py::arg("grad_out"), py::arg("x"), py::arg("n"), py::arg("weight"), py::arg("rstd"),
      py::arg("grad_in"), py::arg("grad_weight"),
      "grad_input, grad_weight (each None when not needed) of rms_norm_forward.");
}

}  // namespace ember::bindings
