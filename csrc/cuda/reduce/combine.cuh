// Per-element and merge steps of the row families (reductions, arg-reductions, softmax,
// layer / RMS norm, cross-entropy) as __host__ __device__ functions: the kernels fold
// values into a state per thread, then merge states along a fixed tree; the CPU tests
// run the same functions against numpy.
#pragma once
#include <cstdint>
#include <type_traits>

#include "cuda/convert.cuh"
#include "cuda/math.cuh"

namespace ember::cuda::rows {

template <typename A>
EMBER_HD bool is_nan(A v) {
  return v != v;
}

template <typename A>
EMBER_HD A neg_inf() {
  return -static_cast<A>(INFINITY);
}

// A stored value as accumulator type A (bfloat16 through float), and back.
template <typename A, typename T>
EMBER_HD A widen(T v) {
  if constexpr (std::is_same_v<T, BFloat16>)
    return static_cast<A>(bf16_to_float(v.bits));
  else
    return static_cast<A>(v);
}
template <typename T, typename A>
EMBER_HD T narrow(A v) {
  if constexpr (std::is_same_v<T, BFloat16>)
    return BFloat16{float_to_bf16(static_cast<float>(v))};
  else
    return static_cast<T>(v);
}

// ---- reductions over (outer, r, inner). Each op has a State, ident(), combine() and
// lift(value, index) -> State for one input value (the second pass of a split reduction
// reads States, which lift_state passes through).

// Integer sums and products wrap (two's complement, computed unsigned), as on the CPU.
template <typename A>
EMBER_HD A wrap_add(A a, A b) {
  if constexpr (std::is_integral_v<A>) {
    using U = std::make_unsigned_t<A>;
    return static_cast<A>(static_cast<U>(a) + static_cast<U>(b));
  } else {
    return a + b;
  }
}
template <typename A>
EMBER_HD A wrap_mul(A a, A b) {
  if constexpr (std::is_integral_v<A>) {
    using U = std::make_unsigned_t<A>;
    return static_cast<A>(static_cast<U>(a) * static_cast<U>(b));
  } else {
    return a * b;
  }
}

template <typename A>
struct SumOp {
  using State = A;
  template <typename T>
  static EMBER_HD A lift(T v, int64_t) {
    return widen<A>(v);
  }
  static EMBER_HD A ident() { return A(0); }
  static EMBER_HD A combine(A a, A b) { return wrap_add(a, b); }
};
template <typename A>
struct ProdOp {
  using State = A;
  template <typename T>
  static EMBER_HD A lift(T v, int64_t) {
    return widen<A>(v);
  }
  static EMBER_HD A ident() { return A(1); }
  static EMBER_HD A combine(A a, A b) { return wrap_mul(a, b); }
};
// max / min: NaN wins (propagates), as on the CPU. Bool any / all are max / min of 0/1.
template <typename A>
struct MaxOp {
  using State = A;
  template <typename T>
  static EMBER_HD A lift(T v, int64_t) {
    return widen<A>(v);
  }
  static EMBER_HD A ident() {
    if constexpr (std::is_floating_point_v<A>)
      return neg_inf<A>();
    else
      return IntLimits<A>::lo;
  }
  static EMBER_HD A combine(A a, A b) {
    if (is_nan(a)) return a;
    return is_nan(b) || b > a ? b : a;
  }
};
template <typename A>
struct MinOp {
  using State = A;
  template <typename T>
  static EMBER_HD A lift(T v, int64_t) {
    return widen<A>(v);
  }
  static EMBER_HD A ident() {
    if constexpr (std::is_floating_point_v<A>)
      return -neg_inf<A>();
    else
      return IntLimits<A>::hi;
  }
  static EMBER_HD A combine(A a, A b) {
    if (is_nan(a)) return a;
    return is_nan(b) || b < a ? b : a;
  }
};

// ---- arg-reductions: the first extreme; NaN is the extreme and the first NaN wins.
template <typename T>
struct ArgState {
  T v;
  int64_t i;  // -1: empty
};

template <typename T, bool kMax>
struct ArgOp {
  using State = ArgState<T>;
  static EMBER_HD State ident() { return {T(0), -1}; }
  static EMBER_HD State lift(T v, int64_t i) { return {v, i}; }
  // Associative and commutative (ties and NaN pairs go to the smaller index), so any
  // merge tree gives the CPU's sequential answer.
  static EMBER_HD State combine(State a, State b) {
    if (a.i < 0) return b;
    if (b.i < 0) return a;
    const bool an = is_nan(a.v), bn = is_nan(b.v);
    if (an || bn) {
      if (an && bn) return a.i < b.i ? a : b;
      return an ? a : b;
    }
    if (a.v == b.v) return a.i < b.i ? a : b;
    return (kMax ? b.v > a.v : b.v < a.v) ? b : a;
  }
};

template <class Op, typename In>
EMBER_HD typename Op::State lift_state(In v, int64_t i) {
  if constexpr (std::is_same_v<In, typename Op::State>)
    return v;
  else
    return Op::lift(v, i);
}

// ---- online softmax: (running max m, sum of exp(x - m)).
template <typename A>
struct SoftmaxState {
  A m, s;
};

// A state's sum rescaled to a new max; a state whose max is -inf holds only exp(-inf) = 0
// terms (or nothing), so it adds 0 instead of 0 * exp(-inf - -inf) = NaN. A row of only
// -inf keeps s = 0 and comes out NaN, as on the CPU.
template <typename A>
EMBER_HD A softmax_rescale(A s, A m_old, A m_new) {
  return m_old == neg_inf<A>() ? A(0) : s * m_exp(m_old - m_new);
}

template <typename A>
struct SoftmaxOp {
  using State = SoftmaxState<A>;
  static EMBER_HD State ident() { return {neg_inf<A>(), A(0)}; }
  // NaN in either max gives a NaN max, so the whole row comes out NaN (as on the CPU).
  static EMBER_HD State combine(State a, State b) {
    A m = a.m >= b.m ? a.m : b.m;
    if (is_nan(a.m) || is_nan(b.m)) m = is_nan(a.m) ? a.m : b.m;
    return {m, softmax_rescale(a.s, a.m, m) + softmax_rescale(b.s, b.m, m)};
  }
  // One value, the state {x, exp(x - x)}, folded in with a single exp. exp(x - x) is 1, or
  // NaN for x = +inf: an infinite logit makes the row NaN, as on the CPU.
  static EMBER_HD State step(State a, A x) {
    if (is_nan(x) || is_nan(a.m)) return {is_nan(x) ? x : a.m, a.s + x};
    if (x > a.m) return {x, softmax_rescale(a.s, a.m, x) + m_exp(x - x)};
    return {a.m, x == neg_inf<A>() ? a.s : a.s + m_exp(x - a.m)};
  }
};

// ---- Welford / Chan: count, mean, sum of squared deviations.
template <typename A>
struct WelfordState {
  A mean, m2;
  int64_t n;
};

template <typename A>
struct WelfordOp {
  using State = WelfordState<A>;
  static EMBER_HD State ident() { return {A(0), A(0), 0}; }
  static EMBER_HD State step(State a, A x) {
    const int64_t n = a.n + 1;
    const A d = x - a.mean;
    const A mean = a.mean + d / static_cast<A>(n);
    return {mean, a.m2 + d * (x - mean), n};
  }
  static EMBER_HD State combine(State a, State b) {
    if (a.n == 0) return b;
    if (b.n == 0) return a;
    const int64_t n = a.n + b.n;
    const A fa = static_cast<A>(a.n), fb = static_cast<A>(b.n), fn = static_cast<A>(n);
    const A d = b.mean - a.mean;
    return {a.mean + d * (fb / fn), a.m2 + b.m2 + d * d * (fa * fb / fn), n};
  }
};

// ---- pairs of sums (norm backward: sum g*w and sum g*w*xhat).
template <typename A>
struct Sum2 {
  A a, b;
};
template <typename A>
struct Sum2Op {
  using State = Sum2<A>;
  static EMBER_HD State ident() { return {A(0), A(0)}; }
  static EMBER_HD State combine(State x, State y) { return {x.a + y.a, x.b + y.b}; }
};

// ---- cross-entropy: online softmax plus the plain sum of the logits (label smoothing).
template <typename A>
struct CeState {
  SoftmaxState<A> sm;
  A sx;
};
template <typename A>
struct CeOp {
  using State = CeState<A>;
  static EMBER_HD State ident() { return {SoftmaxOp<A>::ident(), A(0)}; }
  static EMBER_HD State step(State a, A x) { return {SoftmaxOp<A>::step(a.sm, x), a.sx + x}; }
  static EMBER_HD State combine(State a, State b) {
    return {SoftmaxOp<A>::combine(a.sm, b.sm), a.sx + b.sx};
  }
};

// Loss of one row from its merged state: lse - (1 - eps) x_t - eps / C * sum_j x_j.
template <typename A>
EMBER_HD A ce_loss(CeState<A> st, A x_target, A eps, int64_t classes) {
  const A lse = st.sm.m + m_log(st.sm.s);
  A loss = lse - (A(1) - eps) * x_target;
  if (eps != A(0)) loss -= eps / static_cast<A>(classes) * st.sx;
  return loss;
}

}  // namespace ember::cuda::rows
