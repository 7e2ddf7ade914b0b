// Elementwise kernels in plain C++ for every dtype but the float32 fast path:
// float64 (std:: math), int8/int32/int64, bool, comparisons (all dtypes,
// float32 included), logical ops, float32 pow and where. The op is chosen by a
// switch outside the loop; each loop is a template on a lambda, so the
// compiler inlines (and where it can, auto-vectorizes) the element function.
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "core/dtype_dispatch.h"
#include "core/error.h"
#include "core/math_constants.h"
#include "core/nditer.h"
#include "cpu/elementwise/elementwise.h"

namespace ember::cpu::typed {
namespace {

// Integer arithmetic wraps (two's complement) instead of overflowing into UB.
template <typename T>
using Unsigned = std::make_unsigned_t<T>;
template <typename T>
T wrap_add(T a, T b) {
  return static_cast<T>(static_cast<Unsigned<T>>(a) + static_cast<Unsigned<T>>(b));
}
template <typename T>
T wrap_sub(T a, T b) {
  return static_cast<T>(static_cast<Unsigned<T>>(a) - static_cast<Unsigned<T>>(b));
}
template <typename T>
T wrap_mul(T a, T b) {
  // Multiply in at least unsigned int so int8 does not promote to signed int.
  using U = std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, Unsigned<T>>;
  return static_cast<T>(static_cast<U>(static_cast<Unsigned<T>>(a)) *
                        static_cast<U>(static_cast<Unsigned<T>>(b)));
}
template <typename T>
T wrap_pow(T base, T exp) {  // exp >= 0 (checked by the driver)
  T result = 1;
  while (exp > 0) {
    if (exp & 1) result = wrap_mul(result, base);
    base = wrap_mul(base, base);
    exp = static_cast<T>(exp >> 1);
  }
  return result;
}

template <typename T>
double sigmoid(T v) {
  const double e = std::exp(-std::fabs(static_cast<double>(v)));
  return (v >= 0 ? 1.0 : e) / (1.0 + e);
}

// sigmoid(z) and 1 - sigmoid(z) = sigmoid(-z), without cancellation in 1 - s.
inline void sigmoid_pair(double z, double* s, double* sc) {
  const double e = std::exp(-std::fabs(z));
  const double r = 1.0 / (1.0 + e);
  *s = z >= 0 ? r : e * r;
  *sc = z >= 0 ? e * r : r;
}

// out[i] = f(x[i]) over any strides.
template <typename T, typename F>
void run_unary(const TensorImpl& x, const TensorImpl& out, F f) {
  NdLoop<2> loop(out.shape, {&out.strides, &x.strides});
  const int64_t size = sizeof(T);
  loop.run({out.data(), x.data()}, {size, size},
           [f](std::array<char*, 2> p, std::array<int64_t, 2> s, int64_t n) {
             T* o = reinterpret_cast<T*>(p[0]);
             const T* v = reinterpret_cast<const T*>(p[1]);
             if (s[0] == 1 && s[1] == 1) {
               for (int64_t i = 0; i < n; ++i) o[i] = f(v[i]);
             } else {
               for (int64_t i = 0; i < n; ++i) o[i * s[0]] = f(v[i * s[1]]);
             }
           });
}

void unary_f64(UnaryOp op, const TensorImpl& x, const TensorImpl& out, double lo, double hi) {
  using T = double;
  switch (op) {
    case UnaryOp::Neg:
      return run_unary<T>(x, out, [](T v) { return -v; });
    case UnaryOp::Abs:
      return run_unary<T>(x, out, [](T v) { return std::fabs(v); });
    case UnaryOp::Exp:
      return run_unary<T>(x, out, [](T v) { return std::exp(v); });
    case UnaryOp::Log:
      return run_unary<T>(x, out, [](T v) { return std::log(v); });
    case UnaryOp::Sqrt:
      return run_unary<T>(x, out, [](T v) { return std::sqrt(v); });
    case UnaryOp::Rsqrt:
      return run_unary<T>(x, out, [](T v) { return 1.0 / std::sqrt(v); });
    case UnaryOp::Sin:
      return run_unary<T>(x, out, [](T v) { return std::sin(v); });
    case UnaryOp::Cos:
      return run_unary<T>(x, out, [](T v) { return std::cos(v); });
    case UnaryOp::Tanh:
      return run_unary<T>(x, out, [](T v) { return std::tanh(v); });
    case UnaryOp::Sigmoid:
      return run_unary<T>(x, out, [](T v) { return sigmoid(v); });
    case UnaryOp::Relu:  // NaN stays NaN, as in the float32 path
      return run_unary<T>(x, out, [](T v) { return 0.0 > v ? 0.0 : v; });
    case UnaryOp::Gelu:
      return run_unary<T>(x, out, [](T v) { return v * 0.5 * (1.0 + std::erf(v * kSqrt1_2)); });
    case UnaryOp::GeluTanh:  // 0.5 v (1 + tanh(u)) = v sigmoid(2u): no cancellation for v << 0
      return run_unary<T>(x, out, [](T v) {
        return v * sigmoid(2.0 * kSqrt2OverPi * (v + kGeluCoef * v * v * v));
      });
    case UnaryOp::Silu:
      return run_unary<T>(x, out, [](T v) { return v * sigmoid(v); });
    case UnaryOp::Clamp:
      return run_unary<T>(x, out, [lo, hi](T v) {
        const T m = lo > v ? lo : v;  // NaN passes both
        return hi < m ? hi : m;
      });
    case UnaryOp::Floor:
      return run_unary<T>(x, out, [](T v) { return std::floor(v); });
    case UnaryOp::Ceil:
      return run_unary<T>(x, out, [](T v) { return std::ceil(v); });
    case UnaryOp::Trunc:
      return run_unary<T>(x, out, [](T v) { return std::trunc(v); });
    case UnaryOp::Round: {  // half to even (the default rounding mode), as torch
      const int d = static_cast<int>(lo);
      const T scale = std::pow(10.0, d < 0 ? -d : d);
      if (d == 0) return run_unary<T>(x, out, [](T v) { return std::nearbyint(v); });
      if (d > 0)
        return run_unary<T>(x, out, [scale](T v) { return std::nearbyint(v * scale) / scale; });
      return run_unary<T>(x, out, [scale](T v) { return std::nearbyint(v / scale) * scale; });
    }
    case UnaryOp::Log1p:
      return run_unary<T>(x, out, [](T v) { return std::log1p(v); });
    case UnaryOp::Expm1:
      return run_unary<T>(x, out, [](T v) { return std::expm1(v); });
    case UnaryOp::Erf:
      return run_unary<T>(x, out, [](T v) { return std::erf(v); });
  }
}

// A double bound as the nearest T inside [lo, hi] of T; NaN means no bound.
template <typename T>
T int_bound(double v, bool lower) {
  constexpr T kMin = std::numeric_limits<T>::min(), kMax = std::numeric_limits<T>::max();
  if (std::isnan(v)) return lower ? kMin : kMax;
  v = lower ? std::ceil(v) : std::floor(v);
  if (v <= static_cast<double>(kMin)) return kMin;
  if (v >= static_cast<double>(kMax)) return kMax;
  return static_cast<T>(v);
}

template <typename T>
void unary_int(UnaryOp op, const TensorImpl& x, const TensorImpl& out, double alpha, double beta) {
  switch (op) {
    case UnaryOp::Neg:
      return run_unary<T>(x, out, [](T v) { return wrap_sub<T>(0, v); });
    case UnaryOp::Abs:
      return run_unary<T>(x, out, [](T v) { return v < 0 ? wrap_sub<T>(0, v) : v; });
    case UnaryOp::Relu:
      return run_unary<T>(x, out, [](T v) { return v < 0 ? T(0) : v; });
    case UnaryOp::Clamp: {
      const T lo = int_bound<T>(alpha, true), hi = int_bound<T>(beta, false);
      return run_unary<T>(x, out, [lo, hi](T v) {
        const T m = v < lo ? lo : v;
        return m > hi ? hi : m;
      });
    }
    default:
      throw TypeError(cat_str("ember.unary: op not supported for dtype ", dtype_name(x.dtype)));
  }
}

// out[i] = f(a[i], b[i]) over broadcast strides; R is the output element type.
template <typename T, typename R, typename F>
void run_binary(const TensorImpl& a, const Shape& sa, const TensorImpl& b, const Shape& sb,
                const TensorImpl& out, F f) {
  NdLoop<3> loop(out.shape, {&out.strides, &sa, &sb});
  const int64_t st = sizeof(T), sr = sizeof(R);
  loop.run({out.data(), a.data(), b.data()}, {sr, st, st},
           [f](std::array<char*, 3> p, std::array<int64_t, 3> s, int64_t n) {
             R* o = reinterpret_cast<R*>(p[0]);
             const T* x = reinterpret_cast<const T*>(p[1]);
             const T* y = reinterpret_cast<const T*>(p[2]);
             if (s[0] == 1 && s[1] == 1 && s[2] == 1) {
               for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
             } else {
               for (int64_t i = 0; i < n; ++i) o[i * s[0]] = f(x[i * s[1]], y[i * s[2]]);
             }
           });
}

template <typename T>
void arith(BinaryOp op, const TensorImpl& a, const Shape& sa, const TensorImpl& b, const Shape& sb,
           const TensorImpl& out) {
  auto run = [&](auto f) { run_binary<T, T>(a, sa, b, sb, out, f); };
  if constexpr (std::is_floating_point_v<T>) {
    switch (op) {
      case BinaryOp::Add:
        return run([](T x, T y) { return x + y; });
      case BinaryOp::Sub:
        return run([](T x, T y) { return x - y; });
      case BinaryOp::Mul:
        return run([](T x, T y) { return x * y; });
      case BinaryOp::Div:
        return run([](T x, T y) { return x / y; });
      case BinaryOp::Pow:
        return run([](T x, T y) { return static_cast<T>(std::pow(x, y)); });
      case BinaryOp::Maximum:  // NaN if either is NaN (numpy)
        return run([](T x, T y) { return x != x ? x : (x > y ? x : y); });
      case BinaryOp::Minimum:
        return run([](T x, T y) { return x != x ? x : (x < y ? x : y); });
      default:
        break;
    }
  } else {
    switch (op) {
      case BinaryOp::Add:
        return run([](T x, T y) { return wrap_add(x, y); });
      case BinaryOp::Sub:
        return run([](T x, T y) { return wrap_sub(x, y); });
      case BinaryOp::Mul:
        return run([](T x, T y) { return wrap_mul(x, y); });
      case BinaryOp::Pow:
        return run([](T x, T y) { return wrap_pow(x, y); });
      case BinaryOp::Maximum:
        return run([](T x, T y) { return x > y ? x : y; });
      case BinaryOp::Minimum:
        return run([](T x, T y) { return x < y ? x : y; });
      default:
        break;
    }
  }
  throw TypeError(cat_str("ember.binary: op not supported for dtype ", dtype_name(a.dtype)));
}

template <typename T>
void compare(BinaryOp op, const TensorImpl& a, const Shape& sa, const TensorImpl& b,
             const Shape& sb, const TensorImpl& out) {
  auto run = [&](auto f) { run_binary<T, bool>(a, sa, b, sb, out, f); };
  switch (op) {
    case BinaryOp::Eq:
      return run([](T x, T y) { return x == y; });
    case BinaryOp::Ne:
      return run([](T x, T y) { return x != y; });
    case BinaryOp::Lt:
      return run([](T x, T y) { return x < y; });
    case BinaryOp::Le:
      return run([](T x, T y) { return x <= y; });
    case BinaryOp::Gt:
      return run([](T x, T y) { return x > y; });
    case BinaryOp::Ge:
      return run([](T x, T y) { return x >= y; });
    default:
      break;
  }
}

// Bytes of bool tensors are read as "nonzero", so odd byte values never reach
// a C++ bool (which would be undefined behaviour).
void logical(BinaryOp op, const TensorImpl& a, const Shape& sa, const TensorImpl& b,
             const Shape& sb, const TensorImpl& out) {
  auto run = [&](auto f) { run_binary<uint8_t, uint8_t>(a, sa, b, sb, out, f); };
  switch (op) {
    case BinaryOp::LogicalAnd:
      return run([](uint8_t x, uint8_t y) -> uint8_t { return (x != 0) & (y != 0); });
    case BinaryOp::LogicalOr:
      return run([](uint8_t x, uint8_t y) -> uint8_t { return (x != 0) | (y != 0); });
    case BinaryOp::LogicalXor:
      return run([](uint8_t x, uint8_t y) -> uint8_t { return (x != 0) ^ (y != 0); });
    default:
      break;
  }
}

template <typename U>
void where_sized(const TensorImpl& cond, const Shape& sc, const TensorImpl& a, const Shape& sa,
                 const TensorImpl& b, const Shape& sb, const TensorImpl& out) {
  NdLoop<4> loop(out.shape, {&out.strides, &sc, &sa, &sb});
  const int64_t s = sizeof(U);
  loop.run({out.data(), cond.data(), a.data(), b.data()}, {s, 1, s, s},
           [](std::array<char*, 4> p, std::array<int64_t, 4> st, int64_t n) {
             U* o = reinterpret_cast<U*>(p[0]);
             const uint8_t* c = reinterpret_cast<const uint8_t*>(p[1]);
             const U* x = reinterpret_cast<const U*>(p[2]);
             const U* y = reinterpret_cast<const U*>(p[3]);
             for (int64_t i = 0; i < n; ++i)
               o[i * st[0]] = c[i * st[1]] ? x[i * st[2]] : y[i * st[3]];
           });
}

}  // namespace

void unary(UnaryOp op, const TensorImpl& x, const TensorImpl& out, double alpha, double beta) {
  switch (x.dtype) {
    case DType::Float64:
      return unary_f64(op, x, out, alpha, beta);
    case DType::Int8:
      return unary_int<int8_t>(op, x, out, alpha, beta);
    case DType::Int32:
      return unary_int<int32_t>(op, x, out, alpha, beta);
    case DType::Int64:
      return unary_int<int64_t>(op, x, out, alpha, beta);
    default:
      throw TypeError(cat_str("ember.unary: not supported for dtype ", dtype_name(x.dtype)));
  }
}

void unary_backward_f64(UnaryOp op, const double* x, const double* y, const double* g, double* gi,
                        int64_t n, double alpha, double beta) {
  switch (op) {
    case UnaryOp::Tanh:
      for (int64_t i = 0; i < n; ++i) gi[i] = g[i] * (1.0 - y[i] * y[i]);
      return;
    case UnaryOp::Sigmoid:
      for (int64_t i = 0; i < n; ++i) gi[i] = g[i] * y[i] * (1.0 - y[i]);
      return;
    case UnaryOp::Relu:
      for (int64_t i = 0; i < n; ++i) gi[i] = x[i] <= 0.0 ? 0.0 : g[i];
      return;
    case UnaryOp::Gelu:
      for (int64_t i = 0; i < n; ++i) {
        const double v = x[i];
        const double cdf = 0.5 * (1.0 + std::erf(v * kSqrt1_2));
        gi[i] = g[i] * (cdf + v * kInvSqrt2Pi * std::exp(-0.5 * v * v));
      }
      return;
    case UnaryOp::GeluTanh:
      for (int64_t i = 0; i < n; ++i) {
        const double v = x[i];
        // With s = sigmoid(2u) = (1 + tanh u) / 2: y' = s + 2 v s (1 - s) u'.
        double s, sc;
        sigmoid_pair(2.0 * kSqrt2OverPi * (v + kGeluCoef * v * v * v), &s, &sc);
        const double du = kSqrt2OverPi * (1.0 + 3.0 * kGeluCoef * v * v);
        gi[i] = g[i] * (s + 2.0 * v * s * sc * du);
      }
      return;
    case UnaryOp::Silu:
      for (int64_t i = 0; i < n; ++i) {
        double s, sc;
        sigmoid_pair(x[i], &s, &sc);
        gi[i] = g[i] * s * (1.0 + x[i] * sc);
      }
      return;
    case UnaryOp::Clamp:
      for (int64_t i = 0; i < n; ++i) gi[i] = (x[i] >= alpha && x[i] <= beta) ? g[i] : 0.0;
      return;
    default:
      return;
  }
}

void binary(BinaryOp op, const TensorImpl& a, const Shape& sa, const TensorImpl& b, const Shape& sb,
            const TensorImpl& out) {
  if (is_logical(op)) return logical(op, a, sa, b, sb, out);
  if (is_comparison(op)) {
    switch (a.dtype) {
      case DType::Bool:  // compared as bytes (0/1), never loaded as C++ bool
        return compare<uint8_t>(op, a, sa, b, sb, out);
      case DType::Int8:
        return compare<int8_t>(op, a, sa, b, sb, out);
      case DType::Int32:
        return compare<int32_t>(op, a, sa, b, sb, out);
      case DType::Int64:
        return compare<int64_t>(op, a, sa, b, sb, out);
      case DType::Float32:
        return compare<float>(op, a, sa, b, sb, out);
      case DType::Float64:
        return compare<double>(op, a, sa, b, sb, out);
      default:
        break;
    }
  } else {
    switch (a.dtype) {
      case DType::Int8:
        return arith<int8_t>(op, a, sa, b, sb, out);
      case DType::Int32:
        return arith<int32_t>(op, a, sa, b, sb, out);
      case DType::Int64:
        return arith<int64_t>(op, a, sa, b, sb, out);
      case DType::Float32:
        return arith<float>(op, a, sa, b, sb, out);
      case DType::Float64:
        return arith<double>(op, a, sa, b, sb, out);
      default:
        break;
    }
  }
  throw TypeError(cat_str("ember.binary: not supported for dtype ", dtype_name(a.dtype)));
}

void check_nonnegative(const TensorImpl& t, const char* op) {
  std::atomic<bool> negative{false};
  NdLoop<1> loop(t.shape, {&t.strides});
  visit_dtype(t.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
      loop.run({t.data()}, {static_cast<int64_t>(sizeof(T))},
               [&negative](std::array<char*, 1> p, std::array<int64_t, 1> s, int64_t n) {
                 const T* v = reinterpret_cast<const T*>(p[0]);
                 bool any = false;
                 for (int64_t i = 0; i < n; ++i) any |= v[i * s[0]] < 0;
                 if (any) negative.store(true, std::memory_order_relaxed);
               });
    }
  });
  EMBER_CHECK(!negative.load(), ValueError, op,
              ": integers to negative integer powers are not allowed");
}

void where(const TensorImpl& cond, const Shape& sc, const TensorImpl& a, const Shape& sa,
           const TensorImpl& b, const Shape& sb, const TensorImpl& out) {
  switch (out.itemsize()) {
    case 1:
      return where_sized<uint8_t>(cond, sc, a, sa, b, sb, out);
    case 2:
      return where_sized<uint16_t>(cond, sc, a, sa, b, sb, out);
    case 4:
      return where_sized<uint32_t>(cond, sc, a, sa, b, sb, out);
    case 8:
      return where_sized<uint64_t>(cond, sc, a, sa, b, sb, out);
    default:
      throw TypeError(cat_str("ember.where: unsupported element size ", out.itemsize()));
  }
}

}  // namespace ember::cpu::typed
