// Fused layer norm / RMS norm, forward and backward. Everything is checked here before a
// kernel runs.
#include <cmath>

#include "bindings/bindings.h"
#include "bindings/checks.h"
#include "core/error.h"
#include "cpu/norm/norm.h"

namespace ember::bindings {
namespace {

using Opt = const TensorImpl*;

// x viewed as (rows, n); returns rows.
int64_t check_rows(TensorRef x, int64_t n, const char* op) {
  check_cpu_contiguous(x, op, "input");
  EMBER_CHECK(is_row_float(x.dtype), TypeError, op,
              ": expected a float32, float64 or bfloat16 input, got ", dtype_name(x.dtype));
  EMBER_CHECK(n > 0, ValueError, op, ": normalized size must be positive, got ", n);
  EMBER_CHECK(x.ndim() >= 1 && x.numel() % n == 0, ValueError, op, ": input of shape ",
              shape_str(x.shape), " cannot be viewed as rows of ", n, " values");
  return x.numel() / n;
}

// weight / bias (and their gradients): x's dtype, or float32 for a bfloat16 x.
void check_param(Opt t, int64_t n, DType x_dt, const char* op, const char* arg) {
  if (!t) return;
  check_cpu_contiguous(*t, op, arg);
  EMBER_CHECK(t->dtype == x_dt || (x_dt == DType::BFloat16 && t->dtype == DType::Float32),
              TypeError, op, ": ", arg, " has dtype ", dtype_name(t->dtype), ", expected ",
              dtype_name(x_dt), x_dt == DType::BFloat16 ? " or float32" : "");
  EMBER_CHECK(t->numel() == n, ValueError, op, ": ", arg, " of shape ", shape_str(t->shape),
              " must have ", n, " elements (the normalized size)");
}

void layer_norm_forward(TensorRef x, int64_t n, Opt weight, Opt bias, TensorRef y, TensorRef mean,
                        TensorRef rstd, double eps) {
  const char* op = "ember.layer_norm";
  const int64_t rows = check_rows(x, n, op);
  check_param(weight, n, x.dtype, op, "weight");
  check_param(bias, n, x.dtype, op, "bias");
  check_numel_like(y, x, op, "out");
  check_row_vec(&mean, rows, stat_dtype(x.dtype), op, "mean");
  check_row_vec(&rstd, rows, stat_dtype(x.dtype), op, "rstd");
  check_outputs({{&y, "out"}, {&mean, "mean"}, {&rstd, "rstd"}},
                {{&x, "input"}, {weight, "weight"}, {bias, "bias"}}, op);
  EMBER_CHECK(eps >= 0.0 && std::isfinite(eps), ValueError, op,
              ": eps must be finite and >= 0, got ", eps);
  py::gil_scoped_release nogil;
  cpu::layer_norm_forward(x, weight, bias, y, mean, rstd, rows, n, eps);
}

void rms_norm_forward(TensorRef x, int64_t n, Opt weight, TensorRef y, TensorRef rstd, double eps) {
  const char* op = "ember.rms_norm";
  const int64_t rows = check_rows(x, n, op);
  check_param(weight, n, x.dtype, op, "weight");
  check_numel_like(y, x, op, "out");
  check_row_vec(&rstd, rows, stat_dtype(x.dtype), op, "rstd");
  check_outputs({{&y, "out"}, {&rstd, "rstd"}}, {{&x, "input"}, {weight, "weight"}}, op);
  EMBER_CHECK(eps >= 0.0 && std::isfinite(eps), ValueError, op,
              ": eps must be finite and >= 0, got ", eps);
  py::gil_scoped_release nogil;
  cpu::rms_norm_forward(x, weight, y, rstd, rows, n, eps);
}

void norm_backward(const char* op, TensorRef grad_out, TensorRef x, int64_t n, Opt weight, Opt mean,
                   TensorRef rstd, Opt grad_in, Opt grad_weight, Opt grad_bias) {
  const int64_t rows = check_rows(x, n, op);
  check_numel_like(grad_out, x, op, "grad_output");
  check_param(weight, n, x.dtype, op, "weight");
  check_row_vec(mean, rows, stat_dtype(x.dtype), op, "mean");
  check_row_vec(&rstd, rows, stat_dtype(x.dtype), op, "rstd");
  if (grad_in) check_numel_like(*grad_in, x, op, "grad_input");
  check_param(grad_weight, n, x.dtype, op, "grad_weight");
  check_param(grad_bias, n, x.dtype, op, "grad_bias");
  check_outputs({{grad_in, "grad_input"}, {grad_weight, "grad_weight"}, {grad_bias, "grad_bias"}},
                {{&grad_out, "grad_output"},
                 {&x, "input"},
                 {weight, "weight"},
                 {mean, "mean"},
                 {&rstd, "rstd"}},
                op);
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
