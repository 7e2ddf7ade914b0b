// Fused layer norm / RMS norm (forward, backward) and softmax cross-entropy (forward with
// dlogits, backward scaling). Everything is checked here before a kernel runs.
#include <cmath>

#include "bindings/bindings.h"
#include "core/error.h"
#include "cpu/loss/cross_entropy.h"
#include "cpu/norm/norm.h"

namespace ember::bindings {
namespace {

using Opt = const TensorImpl*;

void check_cpu_contig(TensorRef t, const char* op, const char* arg) {
  check_device(t, DeviceType::CPU, op, arg);
  check_contiguous(t, op, arg);
}

bool is_float(DType d) {
  return d == DType::Float32 || d == DType::Float64 || d == DType::BFloat16;
}
DType stat_dtype(DType d) { return d == DType::Float64 ? DType::Float64 : DType::Float32; }

// x viewed as (rows, n); returns rows.
int64_t check_rows(TensorRef x, int64_t n, const char* op) {
  check_cpu_contig(x, op, "input");
  EMBER_CHECK(is_float(x.dtype), TypeError, op,
              ": expected a float32, float64 or bfloat16 input, got ", dtype_name(x.dtype));
  EMBER_CHECK(n > 0, ValueError, op, ": normalized size must be positive, got ", n);
  EMBER_CHECK(x.ndim() >= 1 && x.numel() % n == 0, ValueError, op, ": input of shape ",
              shape_str(x.shape), " cannot be viewed as rows of ", n, " values");
  return x.numel() / n;
}

void check_like(TensorRef t, TensorRef x, const char* op, const char* arg) {
  check_cpu_contig(t, op, arg);
  check_dtype(t, x.dtype, op, arg);
  EMBER_CHECK(t.numel() == x.numel(), ValueError, op, ": ", arg, " of shape ", shape_str(t.shape),
              " does not match the input of shape ", shape_str(x.shape));
}

void check_n(Opt t, int64_t n, const char* op, const char* arg, const char* what) {
  EMBER_CHECK(t->numel() == n, ValueError, op, ": ", arg, " of shape ", shape_str(t->shape),
              " must have ", n, " elements (", what, ")");
}

void check_vec(Opt t, int64_t n, DType dt, const char* op, const char* arg) {
  if (!t) return;
  check_cpu_contig(*t, op, arg);
  check_dtype(*t, dt, op, arg);
  check_n(t, n, op, arg, "one per row");
}

// weight / bias (and their gradients): x's dtype, or float32 for a bfloat16 x.
void check_param(Opt t, int64_t n, DType x_dt, const char* op, const char* arg) {
  if (!t) return;
  check_cpu_contig(*t, op, arg);
  EMBER_CHECK(t->dtype == x_dt || (x_dt == DType::BFloat16 && t->dtype == DType::Float32),
              TypeError, op, ": ", arg, " has dtype ", dtype_name(t->dtype), ", expected ",
              dtype_name(x_dt), x_dt == DType::BFloat16 ? " or float32" : "");
  check_n(t, n, op, arg, "the normalized size");
}

void layer_norm_forward(TensorRef x, int64_t n, Opt weight, Opt bias, TensorRef y, TensorRef mean,
                        TensorRef rstd, double eps) {
  const char* op = "ember.layer_norm";
  const int64_t rows = check_rows(x, n, op);
  check_param(weight, n, x.dtype, op, "weight");
  check_param(bias, n, x.dtype, op, "bias");
  check_like(y, x, op, "out");
  check_vec(&mean, rows, stat_dtype(x.dtype), op, "mean");
  check_vec(&rstd, rows, stat_dtype(x.dtype), op, "rstd");
  EMBER_CHECK(eps >= 0.0 && std::isfinite(eps), ValueError, op,
              ": eps must be finite and >= 0, got ", eps);
  py::gil_scoped_release nogil;
  cpu::layer_norm_forward(x, weight, bias, y, mean, rstd, rows, n, eps);
}

void rms_norm_forward(TensorRef x, int64_t n, Opt weight, TensorRef y, TensorRef rstd, double eps) {
  const char* op = "ember.rms_norm";
  const int64_t rows = check_rows(x, n, op);
  check_param(weight, n, x.dtype, op, "weight");
  check_like(y, x, op, "out");
  check_vec(&rstd, rows, stat_dtype(x.dtype), op, "rstd");
  EMBER_CHECK(eps >= 0.0 && std::isfinite(eps), ValueError, op,
              ": eps must be finite and >= 0, got ", eps);
  py::gil_scoped_release nogil;
  cpu::rms_norm_forward(x, weight, y, rstd, rows, n, eps);
}

void norm_backward(const char* op, TensorRef grad_out, TensorRef x, int64_t n, Opt weight, Opt mean,
                   TensorRef rstd, Opt grad_in, Opt grad_weight, Opt grad_bias) {
  const int64_t rows = check_rows(x, n, op);
  check_like(grad_out, x, op, "grad_output");
  check_param(weight, n, x.dtype, op, "weight");
  check_vec(mean, rows, stat_dtype(x.dtype), op, "mean");
  check_vec(&rstd, rows, stat_dtype(x.dtype), op, "rstd");
  if (grad_in) check_like(*grad_in, x, op, "grad_input");
  check_param(grad_weight, n, x.dtype, op, "grad_weight");
  check_param(grad_bias, n, x.dtype, op, "grad_bias");
  py::gil_scoped_release nogil;
  cpu::norm_backward(grad_out, x, weight, mean, rstd, grad_in, grad_weight, grad_bias, rows, n);
}

constexpr const char* kCe = "ember.cross_entropy";

py::tuple cross_entropy_forward(TensorRef logits, TensorRef target, TensorRef losses,
                                TensorRef dlogits, int64_t ignore_index, double label_smoothing) {
  check_cpu_contig(logits, kCe, "input");
  EMBER_CHECK(is_float(logits.dtype), TypeError, kCe,
              ": expected float32, float64 or bfloat16 logits, got ", dtype_name(logits.dtype));
  EMBER_CHECK(logits.ndim() == 2, ValueError, kCe, ": expected logits of shape (N, C), got ",
              shape_str(logits.shape));
  const int64_t N = logits.shape[0], C = logits.shape[1];
  check_cpu_contig(target, kCe, "target");
  EMBER_CHECK(target.dtype == DType::Int64 || target.dtype == DType::Int32, TypeError, kCe,
              ": expected an int64 or int32 target of class indices, got ",
              dtype_name(target.dtype));
  EMBER_CHECK(target.ndim() == 1 && target.shape[0] == N, ValueError, kCe, ": target of shape ",
              shape_str(target.shape), " does not match logits of shape ", shape_str(logits.shape),
              " (expected (", N, ",))");
  EMBER_CHECK(C > 0 || N == 0, ValueError, kCe, ": logits of shape ", shape_str(logits.shape),
              " have no classes");
  check_like(dlogits, logits, kCe, "dlogits");
  check_vec(&losses, N, stat_dtype(logits.dtype), kCe, "losses");
  EMBER_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0, ValueError, kCe,
              ": label_smoothing must be in [0, 1], got ", label_smoothing);
  int64_t count;
  double total;
  {
    py::gil_scoped_release nogil;
    // Every target is checked before anything is written.
    count = cpu::cross_entropy_check_targets(target, C, ignore_index, kCe);
    total =
        cpu::cross_entropy_forward(logits, target, losses, dlogits, ignore_index, label_smoothing);
  }
  return py::make_tuple(count, total);
}

void cross_entropy_backward(TensorRef dlogits, TensorRef grad, TensorRef grad_in, double scale) {
  const char* op = "ember.cross_entropy_backward";
  check_cpu_contig(dlogits, op, "dlogits");
  EMBER_CHECK(is_float(dlogits.dtype) && dlogits.ndim() == 2, TypeError, op,
              ": expected float (N, C) dlogits, got ", dtype_name(dlogits.dtype), " of shape ",
              shape_str(dlogits.shape));
  check_cpu_contig(grad, op, "grad");
  check_dtype(grad, stat_dtype(dlogits.dtype), op, "grad");
  EMBER_CHECK(grad.numel() == 1 || grad.numel() == dlogits.shape[0], ValueError, op,
              ": grad of shape ", shape_str(grad.shape), " must have 1 or ", dlogits.shape[0],
              " elements");
  check_like(grad_in, dlogits, op, "grad_input");
  py::gil_scoped_release nogil;
  cpu::cross_entropy_backward(dlogits, grad, grad_in, scale);
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
  m.def("cross_entropy_forward", &cross_entropy_forward, py::arg("logits"), py::arg("target"),
        py::arg("losses"), py::arg("dlogits"), py::arg("ignore_index"), py::arg("label_smoothing"),
        "Per-row softmax cross-entropy of (N, C) logits with class-index targets (int64/int32); "
        "writes losses (N,) and dlogits = softmax - smoothed one-hot (0 for ignored rows). "
        "Returns (number of non-ignored rows, sum of the losses).");
  m.def("cross_entropy_backward", &cross_entropy_backward, py::arg("dlogits"), py::arg("grad"),
        py::arg("grad_in"), py::arg("scale"), "grad_in[i] = dlogits[i] * grad[i or 0] * scale.");
}

}  // namespace ember::bindings
