// Elementwise ops: unary (+ fused backward), binary with broadcasting, where.
// Every check (device, dtype, shape, op name) runs before a kernel touches
// memory; the kernels then run without the GIL.
#include <algorithm>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>

#include "bindings/bindings.h"
#include "bindings/checks.h"
#include "core/error.h"
#include "cpu/elementwise/elementwise.h"

namespace ember::bindings {
namespace {

using cpu::BinaryOp;
using cpu::UnaryOp;
using ImplPtr = std::shared_ptr<TensorImpl>;

// numpy's broadcast of two shapes; ValueError naming the op otherwise.
Shape broadcast_pair(const Shape& a, const Shape& b, const std::string& name) {
  if (a == b) return a;
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i + a.size() < n ? 1 : a[i + a.size() - n];
    const int64_t db = i + b.size() < n ? 1 : b[i + b.size() - n];
    EMBER_CHECK(da == db || da == 1 || db == 1, ValueError, name, ": shapes ", shape_str(a),
                " and ", shape_str(b), " cannot be broadcast together");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

UnaryOp unary_op(const std::string& name, const char* fn) {
  UnaryOp op;
  EMBER_CHECK(cpu::parse_unary_op(name, &op), ValueError, "ember.", fn, ": unknown op '", name,
              "' (expected one of: neg, abs, exp, log, sqrt, rsqrt, sin, cos, tanh, sigmoid, "
              "relu, gelu, gelu_tanh, silu, clamp, floor, ceil, trunc, round, log1p, expm1, erf)");
  return op;
}

// out given: written, None returned; out None: a new tensor like x is returned (the
// no-autograd fast path of ember.ops allocates here, saving a round trip).
ImplPtr unary(const std::string& op_name, TensorRef x, const TensorImpl* out_or_none, double alpha,
              double beta) {
  const UnaryOp op = unary_op(op_name, "unary");
  const std::string name = "ember." + op_name;
  check_device(x, DeviceType::CPU, name.c_str(), "input");
  ImplPtr fresh;
  if (!out_or_none) fresh = TensorImpl::empty_cpu(x.shape, x.dtype, name.c_str());
  TensorRef out = out_or_none ? *out_or_none : *fresh;
  check_device(out, DeviceType::CPU, name.c_str(), "output");
  check_same_dtype(x, out, name.c_str());
  EMBER_CHECK(cpu::unary_supports(op, x.dtype), TypeError, name, ": not supported for dtype ",
              dtype_name(x.dtype));
  EMBER_CHECK(x.shape == out.shape, ValueError, name, ": input shape ", shape_str(x.shape),
              " and output shape ", shape_str(out.shape), " differ");
  check_output_aliasing(out, {{&x, "input"}}, name.c_str());
  {
    py::gil_scoped_release nogil;
    cpu::unary(op, x, out, alpha, beta);
  }
  return fresh;
}

void unary_backward(const std::string& op_name, TensorRef x, TensorRef y, TensorRef grad_out,
                    TensorRef grad_in, double alpha, double beta) {
  const UnaryOp op = unary_op(op_name, "unary_backward");
  const std::string name = "ember." + op_name + "_backward";
  EMBER_CHECK(cpu::unary_has_backward(op), ValueError, "ember.unary_backward: op '", op_name,
              "' has no fused backward (expected one of: tanh, sigmoid, relu, gelu, gelu_tanh, "
              "silu, clamp)");
  const std::pair<const TensorImpl*, const char*> args[] = {
      {&x, "x"}, {&y, "y"}, {&grad_out, "grad_out"}, {&grad_in, "grad_in"}};
  for (const auto& [t, arg] : args) check_device(*t, DeviceType::CPU, name.c_str(), arg);
  EMBER_CHECK(x.dtype == DType::Float32 || x.dtype == DType::Float64, TypeError, name,
              ": expected float32 or float64, got ", dtype_name(x.dtype));
  for (const auto& [t, arg] : args) {
    check_dtype(*t, x.dtype, name.c_str(), arg);
    EMBER_CHECK(t->shape == x.shape, ValueError, name, ": ", arg, " has shape ",
                shape_str(t->shape), ", expected ", shape_str(x.shape));
    check_contiguous(*t, name.c_str(), arg);
  }
  // Elementwise: grad_in may be grad_out itself (an autograd layer reuses the buffer).
  check_output_aliasing(grad_in, {{&x, "x"}, {&y, "y"}, {&grad_out, "grad_out"}}, name.c_str());
  py::gil_scoped_release nogil;
  cpu::unary_backward(op, x, y, grad_out, grad_in, alpha, beta);
}

// out given: written, None returned; out None: a new tensor of the broadcast shape is returned.
ImplPtr binary(const std::string& op_name, TensorRef a, TensorRef b,
               const TensorImpl* out_or_none) {
  BinaryOp op;
  EMBER_CHECK(cpu::parse_binary_op(op_name, &op), ValueError, "ember.binary: unknown op '", op_name,
              "' (expected one of: add, sub, mul, div, pow, maximum, minimum, eq, ne, lt, le, gt, "
              "ge, logical_and, logical_or, logical_xor)");
  const std::string name = "ember." + op_name;
  check_device(a, DeviceType::CPU, name.c_str(), "first input");
  check_device(b, DeviceType::CPU, name.c_str(), "second input");
  check_same_dtype(a, b, name.c_str());
  ImplPtr fresh;
  if (!out_or_none)
    fresh = TensorImpl::empty_cpu(broadcast_pair(a.shape, b.shape, name),
                                  cpu::is_arith(op) ? a.dtype : DType::Bool, name.c_str());
  TensorRef out = out_or_none ? *out_or_none : *fresh;
  check_device(out, DeviceType::CPU, name.c_str(), "output");
  if (cpu::is_arith(op)) {
    EMBER_CHECK(out.dtype == a.dtype, TypeError, name, ": output dtype ", dtype_name(out.dtype),
                " differs from the input dtype ", dtype_name(a.dtype));
  } else {
    check_dtype(out, DType::Bool, name.c_str(), "output");
  }
  if (op == BinaryOp::Div &&
      (a.dtype == DType::Int8 || a.dtype == DType::Int32 || a.dtype == DType::Int64)) {
    throw TypeError(cat_str(name, ": not supported for integer dtype ", dtype_name(a.dtype),
                            " (convert to a float dtype first)"));
  }
  EMBER_CHECK(cpu::binary_supports(op, a.dtype), TypeError, name, ": not supported for dtype ",
              dtype_name(a.dtype));
  // Shapes: both inputs must broadcast to out (ValueError naming the op otherwise).
  EMBER_CHECK(a.shape.size() <= out.shape.size() && b.shape.size() <= out.shape.size(), ValueError,
              name, ": shapes ", shape_str(a.shape), " and ", shape_str(b.shape),
              " do not broadcast to the output shape ", shape_str(out.shape));
  for (const TensorImpl* t : {&a, &b}) {
    const size_t lead = out.shape.size() - t->shape.size();
    for (size_t d = 0; d < t->shape.size(); ++d)
      EMBER_CHECK(t->shape[d] == 1 || t->shape[d] == out.shape[lead + d], ValueError, name,
                  ": shapes ", shape_str(a.shape), " and ", shape_str(b.shape),
                  " do not broadcast to the output shape ", shape_str(out.shape));
  }
  check_output_aliasing(out, {{&a, "first input"}, {&b, "second input"}}, name.c_str());
  {
    py::gil_scoped_release nogil;
    cpu::binary(op, a, b, out);
  }
  return fresh;
}

// op(a, value) or, scalar_first, op(value, a) for a floating a: the number becomes a 0-d
// tensor of a's dtype (a Python number does not promote a tensor's dtype).
ImplPtr binary_scalar(const std::string& op_name, TensorRef a, double value, bool scalar_first) {
  const std::string name = "ember." + op_name;
  EMBER_CHECK(a.dtype == DType::Float32 || a.dtype == DType::Float64, TypeError, name,
              ": the scalar form takes float32 or float64, got ", dtype_name(a.dtype));
  check_device(a, DeviceType::CPU, name.c_str(), "input");
  const ImplPtr s = TensorImpl::empty_cpu({}, a.dtype, name.c_str());
  if (a.dtype == DType::Float32)
    *s->data_as<float>() = static_cast<float>(value);
  else
    *s->data_as<double>() = value;
  return scalar_first ? binary(op_name, *s, a, nullptr) : binary(op_name, a, *s, nullptr);
}

void where(TensorRef cond, TensorRef a, TensorRef b, TensorRef out) {
  const char* name = "ember.where";
  check_device(cond, DeviceType::CPU, name, "condition");
  check_device(a, DeviceType::CPU, name, "first input");
  check_device(b, DeviceType::CPU, name, "second input");
  check_device(out, DeviceType::CPU, name, "output");
  check_dtype(cond, DType::Bool, name, "condition");
  check_same_dtype(a, b, name);
  check_same_dtype(a, out, name);
  for (const TensorImpl* t : {&cond, &a, &b}) {
    bool ok = t->shape.size() <= out.shape.size();
    const size_t lead = ok ? out.shape.size() - t->shape.size() : 0;
    for (size_t d = 0; ok && d < t->shape.size(); ++d)
      ok = t->shape[d] == 1 || t->shape[d] == out.shape[lead + d];
    EMBER_CHECK(ok, ValueError, name, ": shapes ", shape_str(cond.shape), ", ", shape_str(a.shape),
                " and ", shape_str(b.shape), " do not broadcast to the output shape ",
                shape_str(out.shape));
  }
  check_output_aliasing(out, {{&cond, "condition"}, {&a, "first input"}, {&b, "second input"}},
                        name);
  py::gil_scoped_release nogil;
  cpu::where(cond, a, b, out);
}

}  // namespace

void bind_elementwise(py::module_& m) {
  m.def("unary", &unary, py::arg("op"), py::arg("x"), py::arg("out"), py::arg("alpha") = 0.0,
        py::arg("beta") = 0.0,
        "out = op(x) for op in neg, abs, exp, log, sqrt, rsqrt, sin, cos, tanh, sigmoid, relu, "
        "gelu, gelu_tanh, silu, clamp (alpha=min, beta=max). Any strides; out may be x. With "
        "out=None, returns a new contiguous tensor.");
  m.def("unary_backward", &unary_backward, py::arg("op"), py::arg("x"), py::arg("y"),
        py::arg("grad_out"), py::arg("grad_in"), py::arg("alpha") = 0.0, py::arg("beta") = 0.0,
        "grad_in = grad_out * op'(x) for tanh, sigmoid (read y = op(x)), relu, gelu, gelu_tanh, "
        "silu, clamp. Contiguous float32/float64.");
  m.def("binary", &binary, py::arg("op"), py::arg("a"), py::arg("b"), py::arg("out"),
        "out = op(a, b), a and b broadcast to out.shape. Arithmetic (add, sub, mul, div, pow, "
        "maximum, minimum), comparisons (eq, ne, lt, le, gt, ge; out bool), logical_and/or/xor. "
        "With out=None, returns a new contiguous tensor of the broadcast shape.");
  m.def("binary_scalar", &binary_scalar, py::arg("op"), py::arg("a"), py::arg("value"),
        py::arg("scalar_first"),
        "op(a, value) (op(value, a) when scalar_first) as a new tensor; a float32/float64.");
  m.def("where", &where, py::arg("cond"), py::arg("a"), py::arg("b"), py::arg("out"),
        "out = cond ? a : b, all broadcast to out.shape.");
}

}  // namespace ember::bindings
