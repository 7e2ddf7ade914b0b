// Scalar math shared by the CUDA elementwise kernels: float/double overloads of
// the libm functions, and every unary op and derivative as a __host__ __device__
// function of a compile-time op, so one definition serves all dtypes (and can be
// checked on the host).
#pragma once
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "core/math_constants.h"
#include "cuda/convert.cuh"

namespace ember::cuda {

// Products and sums rounded on their own: nvcc would contract a multiply and a following
// add into one fma (one rounding), where the CPU kernels round twice.
EMBER_HD float mul_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
EMBER_HD double mul_rn(double a, double b) {
#ifdef __CUDA_ARCH__
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}
EMBER_HD float add_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}

EMBER_HD float m_exp(float x) { return expf(x); }
EMBER_HD double m_exp(double x) { return exp(x); }
EMBER_HD float m_log(float x) { return logf(x); }
EMBER_HD double m_log(double x) { return log(x); }
EMBER_HD float m_sqrt(float x) { return sqrtf(x); }
EMBER_HD double m_sqrt(double x) { return sqrt(x); }
EMBER_HD float m_sin(float x) { return sinf(x); }
EMBER_HD double m_sin(double x) { return sin(x); }
EMBER_HD float m_cos(float x) { return cosf(x); }
EMBER_HD double m_cos(double x) { return cos(x); }
EMBER_HD float m_tanh(float x) { return tanhf(x); }
EMBER_HD double m_tanh(double x) { return tanh(x); }
EMBER_HD float m_erf(float x) { return erff(x); }
EMBER_HD double m_erf(double x) { return erf(x); }
EMBER_HD float m_fabs(float x) { return fabsf(x); }
EMBER_HD double m_fabs(double x) { return fabs(x); }
EMBER_HD float m_floor(float x) { return floorf(x); }
EMBER_HD double m_floor(double x) { return floor(x); }
EMBER_HD float m_ceil(float x) { return ceilf(x); }
EMBER_HD double m_ceil(double x) { return ceil(x); }
EMBER_HD float m_trunc(float x) { return truncf(x); }
EMBER_HD double m_trunc(double x) { return trunc(x); }
// Round to nearest, halves to even (the default rounding mode on the host).
EMBER_HD float m_rint(float x) { return rintf(x); }
EMBER_HD double m_rint(double x) { return rint(x); }
EMBER_HD float m_log1p(float x) { return log1pf(x); }
EMBER_HD double m_log1p(double x) { return log1p(x); }
EMBER_HD float m_expm1(float x) { return expm1f(x); }
EMBER_HD double m_expm1(double x) { return expm1(x); }
EMBER_HD float m_pow(float x, float y) { return powf(x, y); }
EMBER_HD double m_pow(double x, double y) { return pow(x, y); }
#ifdef __CUDA_ARCH__
EMBER_HD float m_rsqrt(float x) { return rsqrtf(x); }
EMBER_HD double m_rsqrt(double x) { return rsqrt(x); }
#else
EMBER_HD float m_rsqrt(float x) { return 1.0f / sqrtf(x); }
EMBER_HD double m_rsqrt(double x) { return 1.0 / sqrt(x); }
#endif

enum class UOp {
  Neg,
  Abs,
  Exp,
  Log,
  Sqrt,
  Rsqrt,
  Sin,
  Cos,
  Tanh,
  Sigmoid,
  Relu,
  Gelu,
  GeluTanh,
  Silu,
  Clamp,
  Floor,
  Ceil,
  Trunc,
  Round,
  Log1p,
  Expm1,
  Erf
};

// Ops defined on integer dtypes too; the rest are float32/float64 only.
__host__ __device__ constexpr bool uop_allows_int(UOp op) {
  return op == UOp::Neg || op == UOp::Abs || op == UOp::Relu || op == UOp::Clamp;
}

// Integer arithmetic wraps (as on the CPU) through the unsigned type: no UB.
template <typename T>
EMBER_HD T wrap_neg(T x) {
  using U = std::make_unsigned_t<T>;
  return static_cast<T>(static_cast<U>(U(0) - static_cast<U>(x)));
}

// 1 / (1 + e^-x) without overflow: e^-|x| never exceeds 1 (as the CPU's vsigmoid).
template <typename T>
EMBER_HD T m_sigmoid(T x) {
  const T e = m_exp(-m_fabs(x));
  return (x >= T(0) ? T(1) : e) / (T(1) + e);
}

// gelu_tanh's 0.5 x (1 + tanh(u)) is x * sigmoid(2u): the same function without the
// cancellation of 1 + tanh(u) for x << 0 (the CPU float32 path uses this form too).
template <typename T>
EMBER_HD T gelu_tanh_2u(T x) {
  return x * (T(2 * kSqrt2OverPi) + T(2 * kSqrt2OverPi * kGeluCoef) * x * x);
}

// op(x); lo/hi are clamp's bounds (already in T), or round's scale 10^|decimals| and the
// sign of decimals (see round_scale).
template <UOp Op, typename T>
EMBER_HD T unary_value(T x, T lo, T hi) {
  if constexpr (std::is_integral_v<T>) {
    static_assert(uop_allows_int(Op), "float-only op on an integer dtype");
    if constexpr (Op == UOp::Neg)
      return wrap_neg(x);
    else if constexpr (Op == UOp::Abs)
      return x < 0 ? wrap_neg(x) : x;
    else if constexpr (Op == UOp::Relu)
      return x > 0 ? x : T(0);
    else {
      T y = x < lo ? lo : x;
      return y > hi ? hi : y;
    }
  } else {
    const T one = T(1), half = T(0.5);
    if constexpr (Op == UOp::Neg)
      return -x;
    else if constexpr (Op == UOp::Abs)
      return m_fabs(x);
    else if constexpr (Op == UOp::Exp)
      return m_exp(x);
    else if constexpr (Op == UOp::Log)
      return m_log(x);
    else if constexpr (Op == UOp::Sqrt)
      return m_sqrt(x);
    else if constexpr (Op == UOp::Rsqrt)
      return m_rsqrt(x);
    else if constexpr (Op == UOp::Sin)
      return m_sin(x);
    else if constexpr (Op == UOp::Cos)
      return m_cos(x);
    else if constexpr (Op == UOp::Tanh)
      return m_tanh(x);
    else if constexpr (Op == UOp::Sigmoid)
      return m_sigmoid(x);
    else if constexpr (Op == UOp::Relu)
      return x < T(0) ? T(0) : x;  // NaN stays NaN
    else if constexpr (Op == UOp::Gelu)
      return half * x * (one + m_erf(x * T(kSqrt1_2)));
    else if constexpr (Op == UOp::GeluTanh)
      return x * m_sigmoid(gelu_tanh_2u(x));
    else if constexpr (Op == UOp::Silu)
      return x * m_sigmoid(x);
    else if constexpr (Op == UOp::Floor)
      return m_floor(x);
    else if constexpr (Op == UOp::Ceil)
      return m_ceil(x);
    else if constexpr (Op == UOp::Trunc)
      return m_trunc(x);
    else if constexpr (Op == UOp::Round) {  // torch.round(x, decimals): as the CPU, in T
      if (hi == T(0)) return m_rint(x);
      return hi > T(0) ? m_rint(x * lo) / lo : m_rint(x / lo) * lo;
    } else if constexpr (Op == UOp::Log1p)
      return m_log1p(x);
    else if constexpr (Op == UOp::Expm1)
      return m_expm1(x);
    else if constexpr (Op == UOp::Erf)
      return m_erf(x);
    else {  // Clamp: NaN passes through; lo > hi gives hi (as PyTorch)
      T y = x < lo ? lo : x;
      return y > hi ? hi : y;
    }
  }
}

// Ops with a backward kernel.
__host__ __device__ constexpr bool uop_has_backward(UOp op) {
  return op == UOp::Tanh || op == UOp::Sigmoid || op == UOp::Relu || op == UOp::Gelu ||
         op == UOp::GeluTanh || op == UOp::Silu || op == UOp::Clamp;
}
// tanh and sigmoid differentiate through the forward output y, the rest through x.
__host__ __device__ constexpr bool uop_grad_uses_y(UOp op) {
  return op == UOp::Tanh || op == UOp::Sigmoid;
}

// grad_out * op'(x), floating T only.
template <UOp Op, typename T>
EMBER_HD T unary_grad(T x, T y, T g, T lo, T hi) {
  static_assert(std::is_floating_point_v<T> && uop_has_backward(Op), "no backward");
  const T one = T(1), half = T(0.5);
  if constexpr (Op == UOp::Tanh) {
    return g * (one - y * y);
  } else if constexpr (Op == UOp::Sigmoid) {
    return g * y * (one - y);
  } else if constexpr (Op == UOp::Relu) {
    return x <= T(0) ? T(0) : g;  // as PyTorch's threshold_backward: a NaN x passes g
  } else if constexpr (Op == UOp::Gelu) {
    T cdf = half * (one + m_erf(x * T(kSqrt1_2)));
    T pdf = m_exp(-half * x * x) * T(kInvSqrt2Pi);
    return g * (cdf + x * pdf);
  } else if constexpr (Op == UOp::GeluTanh) {
    // y = x s(2u): y' = s + x s (1 - s) 2u', 2u' = 2k (1 + 3 c x^2)
    T s = m_sigmoid(gelu_tanh_2u(x));
    T du2 = T(2 * kSqrt2OverPi) * (one + T(3 * kGeluCoef) * x * x);
    return g * (s + x * s * (one - s) * du2);
  } else if constexpr (Op == UOp::Silu) {
    T s = m_sigmoid(x);
    return g * s * (one + x * (one - s));
  } else {  // Clamp: the gradient passes where lo <= x <= hi
    return (x >= lo && x <= hi) ? g : T(0);
  }
}

enum class BOp {
  Add,
  Sub,
  Mul,
  Div,
  Pow,
  Maximum,
  Minimum,
  Eq,
  Ne,
  Lt,
  Le,
  Gt,
  Ge,
  LogicalAnd,
  LogicalOr,
  LogicalXor
};

__host__ __device__ constexpr bool bop_is_arith(BOp op) { return op <= BOp::Minimum; }
__host__ __device__ constexpr bool bop_is_compare(BOp op) { return op >= BOp::Eq && op <= BOp::Ge; }
__host__ __device__ constexpr bool bop_is_logical(BOp op) { return op >= BOp::LogicalAnd; }

// Integer power by squaring, wrapping on overflow. A negative exponent gives the
// truncated value of 1 / base^-e: 1 for base 1, +-1 for base -1, else 0.
template <typename T>
EMBER_HD T int_pow(T base, T e) {
  using U = std::make_unsigned_t<T>;
  if (e < 0) {
    if (base == 1) return T(1);
    if (base == -1) return (e & 1) ? T(-1) : T(1);
    return T(0);
  }
  U r = 1, b = static_cast<U>(base);
  while (e != 0) {
    if (e & 1) r = static_cast<U>(r * b);
    b = static_cast<U>(b * b);
    e = static_cast<T>(e >> 1);
  }
  return static_cast<T>(r);
}

template <BOp Op, typename T>
EMBER_HD auto binary_value(T a, T b) {
  if constexpr (bop_is_arith(Op)) {
    if constexpr (std::is_integral_v<T>) {
      using U = std::make_unsigned_t<T>;
      if constexpr (Op == BOp::Add)
        return static_cast<T>(static_cast<U>(U(a) + U(b)));
      else if constexpr (Op == BOp::Sub)
        return static_cast<T>(static_cast<U>(U(a) - U(b)));
      else if constexpr (Op == BOp::Mul)
        return static_cast<T>(static_cast<U>(U(a) * U(b)));
      else if constexpr (Op == BOp::Pow)
        return int_pow(a, b);
      else if constexpr (Op == BOp::Maximum)
        return a > b ? a : b;
      else if constexpr (Op == BOp::Minimum)
        return a < b ? a : b;
      else
        static_assert(Op != BOp::Div, "integer division is rejected before launch");
    } else {
      if constexpr (Op == BOp::Add)
        return a + b;
      else if constexpr (Op == BOp::Sub)
        return a - b;
      else if constexpr (Op == BOp::Mul)
        return a * b;
      else if constexpr (Op == BOp::Div)
        return a / b;
      else if constexpr (Op == BOp::Pow)
        return m_pow(a, b);
      // NaN in either operand propagates (numpy.maximum / minimum).
      else if constexpr (Op == BOp::Maximum)
        return (a > b || a != a) ? a : b;
      else
        return (a < b || a != a) ? a : b;
    }
  } else if constexpr (Op == BOp::Eq) {
    return a == b;
  } else if constexpr (Op == BOp::Ne) {
    return a != b;
  } else if constexpr (Op == BOp::Lt) {
    return a < b;
  } else if constexpr (Op == BOp::Le) {
    return a <= b;
  } else if constexpr (Op == BOp::Gt) {
    return a > b;
  } else if constexpr (Op == BOp::Ge) {
    return a >= b;
  } else if constexpr (Op == BOp::LogicalAnd) {  // bool bytes arrive as uint8_t: nonzero is true
    return a != T(0) && b != T(0);
  } else if constexpr (Op == BOp::LogicalOr) {
    return a != T(0) || b != T(0);
  } else {
    return (a != T(0)) != (b != T(0));
  }
}

}  // namespace ember::cuda
