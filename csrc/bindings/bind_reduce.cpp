// Reductions over the middle axis of (outer, r, inner), arg-reductions, softmax and
// log_softmax (forward and backward). Everything is checked here before a kernel runs.

#include "bindings/bindings.h"
#include "bindings/reduce_checks.h"
#include "bindings/shared_defs.h"
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
  const std::string opname = reduce_arg_op(name);
  const char* opn = opname.c_str();
  check_reduce_arg(DeviceType::CPU, x, values, indices, outer, r, inner, opn);
  py::gil_scoped_release nogil;
  cpu::reduce_arg(name == "max", x, values, indices, outer, r, inner);
}

void softmax(TensorRef x, TensorRef out, bool log) {
  check_softmax(DeviceType::CPU, x, out, log);
  py::gil_scoped_release nogil;
  cpu::softmax(x, out, log);
}

void softmax_backward(TensorRef y, TensorRef grad_out, TensorRef grad_in, bool log) {
  check_softmax_backward(DeviceType::CPU, y, grad_out, grad_in, log);
  py::gil_scoped_release nogil;
  cpu::softmax_backward(y, grad_out, grad_in, log);
}

}  // namespace

void bind_reduce(py::module_& m) {
  def_reduce(m, &reduce, &reduce_arg, &softmax, &softmax_backward);
}

}  // namespace ember::bindings
