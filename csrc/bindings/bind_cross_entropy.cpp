// Softmax cross-entropy (csrc/cpu/cross_entropy): the forward writes the per-row losses and
// dlogits, the backward scales dlogits. Everything is checked here before a kernel runs.
#include "bindings/bindings.h"
#include "bindings/checks.h"
#include "core/error.h"
#include "cpu/cross_entropy/cross_entropy.h"

namespace ember::bindings {
namespace {

constexpr const char* kCe = "ember.cross_entropy";

py::tuple cross_entropy_forward(TensorRef logits, TensorRef target, TensorRef losses,
                                TensorRef dlogits, int64_t ignore_index, double label_smoothing) {
  check_cpu_contiguous(logits, kCe, "input");
  EMBER_CHECK(is_row_float(logits.dtype), TypeError, kCe,
              ": expected float32, float64 or bfloat16 logits, got ", dtype_name(logits.dtype));
  EMBER_CHECK(logits.ndim() == 2, ValueError, kCe, ": expected logits of shape (N, C), got ",
              shape_str(logits.shape));
  const int64_t N = logits.shape[0], C = logits.shape[1];
  check_cpu_contiguous(target, kCe, "target");
  EMBER_CHECK(target.dtype == DType::Int64 || target.dtype == DType::Int32, TypeError, kCe,
              ": expected an int64 or int32 target of class indices, got ",
              dtype_name(target.dtype));
  EMBER_CHECK(target.ndim() == 1 && target.shape[0] == N, ValueError, kCe, ": target of shape ",
              shape_str(target.shape), " does not match logits of shape ", shape_str(logits.shape),
              " (expected (", N, ",))");
  EMBER_CHECK(C > 0 || N == 0, ValueError, kCe, ": logits of shape ", shape_str(logits.shape),
              " have no classes");
  check_numel_like(dlogits, logits, kCe, "dlogits");
  check_row_vec(&losses, N, stat_dtype(logits.dtype), kCe, "losses");
  check_outputs({{&losses, "losses"}, {&dlogits, "dlogits"}},
                {{&logits, "input"}, {&target, "target"}}, kCe);
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
  check_cpu_contiguous(dlogits, op, "dlogits");
  EMBER_CHECK(is_row_float(dlogits.dtype) && dlogits.ndim() == 2, TypeError, op,
              ": expected float (N, C) dlogits, got ", dtype_name(dlogits.dtype), " of shape ",
              shape_str(dlogits.shape));
  check_cpu_contiguous(grad, op, "grad");
  check_dtype(grad, stat_dtype(dlogits.dtype), op, "grad");
  EMBER_CHECK(grad.numel() == 1 || grad.numel() == dlogits.shape[0], ValueError, op,
              ": grad of shape ", shape_str(grad.shape), " must have 1 or ", dlogits.shape[0],
              " elements");
  check_numel_like(grad_in, dlogits, op, "grad_input");
  check_outputs({{&grad_in, "grad_input"}}, {{&dlogits, "dlogits"}, {&grad, "grad"}}, op);
  py::gil_scoped_release nogil;
  cpu::cross_entropy_backward(dlogits, grad, grad_in, scale);
}

}  // namespace

void bind_cross_entropy(py::module_& m) {
  m.def("cross_entropy_forward", &cross_entropy_forward, py::arg("logits"), py::arg("target"),
        py::arg("losses"), py::arg("dlogits"), py::arg("ignore_index"), py::arg("label_smoothing"),
        "Per-row softmax cross-entropy of (N, C) logits with class-index targets (int64/int32); "
        "writes losses (N,) and dlogits = softmax - smoothed one-hot (0 for ignored rows). "
        "Returns (number of non-ignored rows, sum of the losses).");
  m.def("cross_entropy_backward", &cross_entropy_backward, py::arg("dlogits"), py::arg("grad"),
        py::arg("grad_in"), py::arg("scale"), "grad_in[i] = dlogits[i] * grad[i or 0] * scale.");
}

}  // namespace ember::bindings
