// Reductions over the middle axis of (outer, r, inner), arg-reductions, softmax and
// log_softmax (forward and backward). Everything is checked here before a kernel runs.

#include "bindings/bindings.h"
#include "bindings/reduce_checks.h"
#include "core/error.h"
#include "cpu/reduce/reduce.h"

namespace ember::bindings {
namespace {

void reduce(const std::string& name, TensorRef x, TensorRef out, int64_t outer, int64_t r,
            int64_t inner) {
  cpu::ReduceOp op;
  EMBER_CHECK(cpu::parse_reduce_op(name, &op), ValueError, "ember.reduce: unknown op '", name,
              "' (expected sum, mean, prod, max or min)");
  const std::string opname = "ember." + name;
  const char* opn = opname.c_str();
  check_reduce(DeviceType::CPU, x, out, outer, r, inner, cpu::reduce_supports(op, x.dtype),
               op == cpu::ReduceOp::Max || op == cpu::ReduceOp::Min, opn);
  py::gil_scoped_release nogil;
  cpu::reduce(op, x, out, outer, r, inner);
}

void reduce_arg(const std::string& name, TensorRef x, TensorRef values, TensorRef indices,
                int64_t outer, int64_t r, int64_t inner) {
  EMBER_CHECK(name == "max" || name == "min", ValueError, "ember.reduce_arg: unknown op '", name,
              "' (expected max or min)");
  const std::string opname = "ember.arg" + name;
  const char* opn = opname.c_str();
  check_reduce_arg(DeviceType::CPU, x, values, indices, outer, r, inner, opn);
  py::gil_scoped_release nogil;
  cpu::reduce_arg(name == "max", x, values, indices, outer, r, inner);
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
        check_softmax(DeviceType::CPU, x, out, log);
        py::gil_scoped_release nogil;
        cpu::softmax(x, out, log);
      },
      py::arg("x"), py::arg("out"), py::arg("log"),
      "Softmax (log=True: log_softmax) over the last dimension.");
  m.def(
      "softmax_backward",
      [](TensorRef y, TensorRef grad_out, TensorRef grad_in, bool log) {
        check_softmax_backward(DeviceType::CPU, y, grad_out, grad_in, log);
        py::gil_scoped_release nogil;
        cpu::softmax_backward(y, grad_out, grad_in, log);
      },
      py::arg("y"), py::arg("grad_out"), py::arg("grad_in"), py::arg("log"),
      "grad_in of softmax / log_softmax from its output y.");
}

}  // namespace ember::bindings
