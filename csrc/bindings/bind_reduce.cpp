// Reductions over the middle axis of (outer, r, inner), arg-reductions, softmax and
// log_softmax (forward and backward). Everything is checked here before a kernel runs.

#include "bindings/bindings.h"
#include "bindings/checks.h"
#include "core/error.h"
#include "core/overlap.h"
#include "cpu/reduce/reduce.h"

namespace ember::bindings {
namespace {

void check_cpu_contiguous(TensorRef t, const char* op, const char* arg) {
  check_device(t, DeviceType::CPU, op, arg);
  check_contiguous(t, op, arg);
}

void reduce(const std::string& name, TensorRef x, TensorRef out, int64_t outer, int64_t r,
            int64_t inner) {
  cpu::ReduceOp op;
  EMBER_CHECK(cpu::parse_reduce_op(name, &op), ValueError, "ember.reduce: unknown op '", name,
              "' (expected sum, mean, prod, max or min)");
  const std::string opname = "ember." + name;
  const char* opn = opname.c_str();
  check_cpu_contiguous(x, opn, "input");
  check_cpu_contiguous(out, opn, "out");
  check_same_dtype(x, out, opn);
  EMBER_CHECK(cpu::reduce_supports(op, x.dtype), TypeError, opn, ": unsupported dtype ",
              dtype_name(x.dtype));
  check_reduce_view(x, out, outer, r, inner, opn);
  check_writable(out, opn, "out");
  check_no_overlap(out, x, opn, "out", "input");
  EMBER_CHECK(r > 0 || (op != cpu::ReduceOp::Max && op != cpu::ReduceOp::Min), ValueError, opn,
              ": cannot reduce over an empty dimension");
  py::gil_scoped_release nogil;
  cpu::reduce(op, x, out, outer, r, inner);
}

void reduce_arg(const std::string& name, TensorRef x, TensorRef values, TensorRef indices,
                int64_t outer, int64_t r, int64_t inner) {
  EMBER_CHECK(name == "max" || name == "min", ValueError, "ember.reduce_arg: unknown op '", name,
              "' (expected max or min)");
  const std::string opname = "ember.arg" + name;
  const char* opn = opname.c_str();
  check_cpu_contiguous(x, opn, "input");
  check_cpu_contiguous(values, opn, "values");
  check_cpu_contiguous(indices, opn, "indices");
  EMBER_CHECK(x.dtype == DType::Float32 || x.dtype == DType::Float64 || x.dtype == DType::Int32 ||
                  x.dtype == DType::Int64,
              TypeError, opn, ": unsupported dtype ", dtype_name(x.dtype));
  check_same_dtype(x, values, opn);
  check_dtype(indices, DType::Int64, opn, "indices");
  check_reduce_view(x, values, outer, r, inner, opn);
  EMBER_CHECK(indices.numel() == values.numel(), ValueError, opn, ": indices of shape ",
              shape_str(indices.shape), " and values of shape ", shape_str(values.shape),
              " differ in size");
  check_writable(values, opn, "values");
  check_writable(indices, opn, "indices");
  check_no_overlap(values, x, opn, "values", "input");
  check_no_overlap(indices, x, opn, "indices", "input");
  check_no_overlap(indices, values, opn, "indices", "values");
  EMBER_CHECK(r > 0, ValueError, opn, ": cannot reduce over an empty dimension");
  py::gil_scoped_release nogil;
  cpu::reduce_arg(name == "max", x, values, indices, outer, r, inner);
}

void check_softmax_args(TensorRef a, TensorRef b, const char* op, const char* an, const char* bn) {
  check_cpu_contiguous(a, op, an);
  check_cpu_contiguous(b, op, bn);
  EMBER_CHECK(a.dtype == DType::Float32 || a.dtype == DType::Float64, TypeError, op,
              ": expected float32 or float64, got ", dtype_name(a.dtype));
  check_same_dtype(a, b, op);
  check_same_shape(a, b, op);
}

}  // namespace

void bind_reduce(py::module_& m) {
  m.def("reduce", &reduce, py::arg("op"), py::arg("x"), py::arg("out"), py::arg("outer"),
        py::arg("r"), py::arg("inner"),
        "out[o, k] = op(x[o, :, k]) for contiguous x viewed as (outer, r, inner); op is sum, "
        "mean, prod, max or min.");
  m.def("reduce_arg", &reduce_arg, py::arg("op"), py::arg("x"), py::arg("values"),
        py::arg("indices"), py::arg("outer"), py::arg("r"), py::arg("inner"),
        "values, indices (int64) of the first max/min of x[o, :, k] (NaN wins).");
  m.def(
      "softmax",
      [](TensorRef x, TensorRef out, bool log) {
        const char* op = log ? "ember.log_softmax" : "ember.softmax";
        check_softmax_args(x, out, op, "input", "out");
        check_writable(out, op, "out");
        check_no_overlap(out, x, op, "out", "input");
        py::gil_scoped_release nogil;
        cpu::softmax(x, out, log);
      },
      py::arg("x"), py::arg("out"), py::arg("log"),
      "Softmax (log=True: log_softmax) over the last dimension.");
  m.def(
      "softmax_backward",
      [](TensorRef y, TensorRef grad_out, TensorRef grad_in, bool log) {
        const char* op = log ? "ember.log_softmax_backward" : "ember.softmax_backward";
        check_softmax_args(y, grad_out, op, "y", "grad_out");
        check_softmax_args(y, grad_in, op, "y", "grad_in");
        check_writable(grad_in, op, "grad_in");
        check_no_overlap(grad_in, y, op, "grad_in", "y");
        check_no_overlap(grad_in, grad_out, op, "grad_in", "grad_out");
        py::gil_scoped_release nogil;
        cpu::softmax_backward(y, grad_out, grad_in, log);
      },
      py::arg("y"), py::arg("grad_out"), py::arg("grad_in"), py::arg("log"),
      "grad_in of softmax / log_softmax from its output y.");
}

}  // namespace ember::bindings
