// Unary elementwise ops and their backward kernels on CUDA. Same op names,
// dtype rules and error messages as the CPU versions in ember._C.
#include <cmath>
#include <string>

#include "core/dtype_dispatch.h"
#include "cuda/loops.cuh"
#include "cuda/math.cuh"
#include "cuda/ops.h"
#include "cuda/runtime.h"

namespace ember::cuda {
namespace {

struct UnaryName {
  const char* name;
  UOp op;
};
constexpr UnaryName kUnaryOps[] = {
    {"neg", UOp::Neg},
    {"abs", UOp::Abs},
    {"exp", UOp::Exp},
    {"log", UOp::Log},
    {"sqrt", UOp::Sqrt},
    {"rsqrt", UOp::Rsqrt},
    {"sin", UOp::Sin},
    {"cos", UOp::Cos},
    {"tanh", UOp::Tanh},
    {"sigmoid", UOp::Sigmoid},
    {"relu", UOp::Relu},
    {"gelu", UOp::Gelu},
    {"gelu_tanh", UOp::GeluTanh},
    {"silu", UOp::Silu},
    {"clamp", UOp::Clamp},
    {"floor", UOp::Floor},
    {"ceil", UOp::Ceil},
    {"trunc", UOp::Trunc},
    {"round", UOp::Round},
    {"log1p", UOp::Log1p},
    {"expm1", UOp::Expm1},
    {"erf", UOp::Erf},
};

UOp parse_op(const std::string& name, const char* fn) {
  for (const auto& e : kUnaryOps) {
    if (name == e.name) return e.op;
  }
  throw ValueError(
      cat_str("ember.", fn, ": unknown op '", name,
              "' (expected one of: neg, abs, exp, log, sqrt, rsqrt, sin, cos, tanh, "
              "sigmoid, relu, gelu, gelu_tanh, silu, clamp, floor, ceil, trunc, round, "
              "log1p, expm1, erf)"));
}

bool is_float(DType t) { return t == DType::Float32 || t == DType::Float64; }
bool is_int(DType t) { return t == DType::Int8 || t == DType::Int32 || t == DType::Int64; }

template <UOp Op, typename T>
struct UnaryFn {
  T lo, hi;
  EMBER_HD T operator()(T x) const { return unary_value<Op, T>(x, lo, hi); }
};

template <UOp Op, typename T>
struct UnaryGradFn {
  T lo, hi;
  // v is x or y, whichever the derivative reads (uop_grad_uses_y).
  EMBER_HD T operator()(T v, T g) const { return unary_grad<Op, T>(v, v, g, lo, hi); }
};

// clamp's bounds in T. Integers: the smallest T >= alpha and the largest T <= beta,
// saturated to T's range; a NaN bound means "no bound", as it does for floats.
template <typename T>
void clamp_bounds(double alpha, double beta, T* lo, T* hi) {
  if constexpr (std::is_floating_point_v<T>) {
    *lo = static_cast<T>(alpha);
    *hi = static_cast<T>(beta);
  } else {
    constexpr T tmin = IntLimits<T>::lo, tmax = IntLimits<T>::hi;
    if (std::isnan(alpha) || alpha <= static_cast<double>(tmin))
      *lo = tmin;
    else if (alpha >= static_cast<double>(tmax))
      *lo = tmax;
    else
      *lo = static_cast<T>(std::ceil(alpha));
    if (std::isnan(beta) || beta >= static_cast<double>(tmax))
      *hi = tmax;
    else if (beta <= static_cast<double>(tmin))
      *hi = tmin;
    else
      *hi = static_cast<T>(std::floor(beta));
  }
}

// round's decimals d as lo = 10^|d| and hi = sign(d), with the CPU's scale: float32
// rounds a double product of tens, float64 takes pow. |d| > 400 scales as 400 does
// (10^400 is inf in both) without an out-of-range int conversion.
template <typename T>
void round_scale(double decimals, T* lo, T* hi) {
  const int d = static_cast<int>(std::fmax(-400.0, std::fmin(400.0, decimals)));
  const int a = d < 0 ? -d : d;
  double p = 1.0;
  if constexpr (std::is_same_v<T, float>) {
    for (int i = 0; i < a; ++i) p *= 10.0;
  } else {
    p = std::pow(10.0, a);
  }
  *lo = static_cast<T>(p);
  *hi = static_cast<T>(d > 0 ? 1 : d < 0 ? -1 : 0);
}

template <UOp Op, typename T>
void launch_unary(const char* name, int device, const TensorImpl& x, const TensorImpl& out, T lo,
                  T hi) {
  if constexpr (std::is_floating_point_v<T> || uop_allows_int(Op)) {
    run_elementwise(name, device, UnaryFn<Op, T>{lo, hi}, out.shape,
                    Arg<T>{out.data_as<T>(), &out.strides},
                    Arg<const T>{x.data_as<T>(), &x.strides});
  }
}

template <typename T>
void unary_typed(UOp op, const char* name, int device, const TensorImpl& x, const TensorImpl& out,
                 double alpha, double beta) {
  T lo{}, hi{};
  if (op == UOp::Clamp) clamp_bounds<T>(alpha, beta, &lo, &hi);
  if constexpr (std::is_floating_point_v<T>) {
    if (op == UOp::Round) round_scale<T>(alpha, &lo, &hi);
  }
#define EMBER_UNARY_CASE(E) \
  case UOp::E:              \
    return launch_unary<UOp::E, T>(name, device, x, out, lo, hi);
  switch (op) {
    EMBER_UNARY_CASE(Neg)
    EMBER_UNARY_CASE(Abs)
    EMBER_UNARY_CASE(Exp)
    EMBER_UNARY_CASE(Log)
    EMBER_UNARY_CASE(Sqrt)
    EMBER_UNARY_CASE(Rsqrt)
    EMBER_UNARY_CASE(Sin)
    EMBER_UNARY_CASE(Cos)
    EMBER_UNARY_CASE(Tanh)
    EMBER_UNARY_CASE(Sigmoid)
    EMBER_UNARY_CASE(Relu)
    EMBER_UNARY_CASE(Gelu)
    EMBER_UNARY_CASE(GeluTanh)
    EMBER_UNARY_CASE(Silu)
    EMBER_UNARY_CASE(Clamp)
    EMBER_UNARY_CASE(Floor)
    EMBER_UNARY_CASE(Ceil)
    EMBER_UNARY_CASE(Trunc)
    EMBER_UNARY_CASE(Round)
    EMBER_UNARY_CASE(Log1p)
    EMBER_UNARY_CASE(Expm1)
    EMBER_UNARY_CASE(Erf)
  }
#undef EMBER_UNARY_CASE
}

template <UOp Op, typename T>
void launch_grad(const char* name, int device, const TensorImpl& v, const TensorImpl& g,
                 const TensorImpl& gi, T lo, T hi) {
  if constexpr (uop_has_backward(Op)) {
    run_elementwise(name, device, UnaryGradFn<Op, T>{lo, hi}, gi.shape,
                    Arg<T>{gi.data_as<T>(), &gi.strides}, Arg<const T>{v.data_as<T>(), &v.strides},
                    Arg<const T>{g.data_as<T>(), &g.strides});
  }
}

template <typename T>
void unary_grad_typed(UOp op, const char* name, int device, const TensorImpl& v,
                      const TensorImpl& g, const TensorImpl& gi, double alpha, double beta) {
  T lo{}, hi{};
  if (op == UOp::Clamp) clamp_bounds<T>(alpha, beta, &lo, &hi);
  switch (op) {
    case UOp::Tanh:
      return launch_grad<UOp::Tanh, T>(name, device, v, g, gi, lo, hi);
    case UOp::Sigmoid:
      return launch_grad<UOp::Sigmoid, T>(name, device, v, g, gi, lo, hi);
    case UOp::Relu:
      return launch_grad<UOp::Relu, T>(name, device, v, g, gi, lo, hi);
    case UOp::Gelu:
      return launch_grad<UOp::Gelu, T>(name, device, v, g, gi, lo, hi);
    case UOp::GeluTanh:
      return launch_grad<UOp::GeluTanh, T>(name, device, v, g, gi, lo, hi);
    case UOp::Silu:
      return launch_grad<UOp::Silu, T>(name, device, v, g, gi, lo, hi);
    case UOp::Clamp:
      return launch_grad<UOp::Clamp, T>(name, device, v, g, gi, lo, hi);
    default:
      return;
  }
}

}  // namespace

void unary(const std::string& op_name, const TensorImpl& x, const TensorImpl& out, double alpha,
           double beta) {
  const UOp op = parse_op(op_name, "unary");
  const std::string name_s = "ember." + op_name;
  const char* name = name_s.c_str();
  const int device = common_device(name, {{"input", &x}, {"output", &out}});
  check_same_dtype(x, out, name);
  EMBER_CHECK(is_float(x.dtype) || (is_int(x.dtype) && uop_allows_int(op)), TypeError, name,
              ": not supported for dtype ", dtype_name(x.dtype));
  EMBER_CHECK(x.shape == out.shape, ValueError, name, ": input shape ", shape_str(x.shape),
              " and output shape ", shape_str(out.shape), " differ");
  check_output_aliasing(out, {{&x, "input"}}, name);
  if (out.numel() == 0) return;
  require_device(device, name);
  DeviceGuard guard(device);
  switch (x.dtype) {
    case DType::Float32:
      return unary_typed<float>(op, name, device, x, out, alpha, beta);
    case DType::Float64:
      return unary_typed<double>(op, name, device, x, out, alpha, beta);
    case DType::Int8:
      return unary_typed<int8_t>(op, name, device, x, out, alpha, beta);
    case DType::Int32:
      return unary_typed<int32_t>(op, name, device, x, out, alpha, beta);
    case DType::Int64:
      return unary_typed<int64_t>(op, name, device, x, out, alpha, beta);
    default:
      return;
  }
}

void unary_backward(const std::string& op_name, const TensorImpl& x, const TensorImpl& y,
                    const TensorImpl& grad_out, const TensorImpl& grad_in, double alpha,
                    double beta) {
  const UOp op = parse_op(op_name, "unary_backward");
  const std::string name_s = "ember." + op_name + "_backward";
  const char* name = name_s.c_str();
  EMBER_CHECK(uop_has_backward(op), ValueError, "ember.unary_backward: op '", op_name,
              "' has no fused backward (expected one of: tanh, sigmoid, relu, gelu, gelu_tanh, "
              "silu, clamp)");
  const int device =
      common_device(name, {{"x", &x}, {"y", &y}, {"grad_out", &grad_out}, {"grad_in", &grad_in}});
  EMBER_CHECK(is_float(x.dtype), TypeError, name, ": expected float32 or float64, got ",
              dtype_name(x.dtype));
  const std::pair<const TensorImpl*, const char*> args[] = {
      {&x, "x"}, {&y, "y"}, {&grad_out, "grad_out"}, {&grad_in, "grad_in"}};
  for (const auto& [t, arg] : args) {
    check_dtype(*t, x.dtype, name, arg);
    EMBER_CHECK(t->shape == x.shape, ValueError, name, ": ", arg, " has shape ",
                shape_str(t->shape), ", expected ", shape_str(x.shape));
    check_contiguous(*t, name, arg);
  }
  if (grad_in.numel() == 0) return;
  require_device(device, name);
  DeviceGuard guard(device);
  // The derivative reads y for tanh and sigmoid, x for the rest.
  const TensorImpl& v = uop_grad_uses_y(op) ? y : x;
  if (x.dtype == DType::Float32) {
    unary_grad_typed<float>(op, name, device, v, grad_out, grad_in, alpha, beta);
  } else {
    unary_grad_typed<double>(op, name, device, v, grad_out, grad_in, alpha, beta);
  }
}

}  // namespace ember::cuda
