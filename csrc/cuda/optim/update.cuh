// The per-element updates of the fused optimizers, clipping and scaling: one
// __host__ __device__ functor per kind, run by the multi-tensor kernel on the GPU and by
// the host emulation in the tests. The rules and the order of their roundings are those of
// ember's CPU kernels (torch.optim's single-tensor forms; Lion from Chen et al. 2023):
// every `a * b + c` of the CPU code is an explicit fma here, and products that feed an add
// go through mul_rn, so nvcc's fma contraction cannot change a result.
//
// A functor holds its group's constants in the tensor dtype T (built on the host from
// OptimHyper) and says through uses() which arrays it reads besides p. operator() gets the
// tensor's coefficients in T and one element of each array.
#pragma once
#include <cmath>

#include "cuda/math.cuh"
#include "cuda/optim/optim.h"

namespace ember::cuda::optim {

EMBER_HD float o_fma(float a, float b, float c) { return fmaf(a, b, c); }
EMBER_HD double o_fma(double a, double b, double c) { return fma(a, b, c); }
// x86 max/min semantics, as the CPU kernels: the second operand when either is NaN.
template <typename T>
EMBER_HD T max2(T a, T b) {
  return a > b ? a : b;
}
template <typename T>
EMBER_HD T min2(T a, T b) {
  return a < b ? a : b;
}

// Bits of Op::uses(): the arrays besides p that the functor reads and writes.
constexpr int kUseG = 1, kUseS0 = 2, kUseS1 = 4, kUseS2 = 8;

template <typename T>
struct Coef {
  T step_size, avg_size, inv_bc2_sqrt, bc2;
  bool first, rectified;
  EMBER_HD explicit Coef(const OptimTensorCoef& c)
      : step_size(static_cast<T>(c.step_size)),
        avg_size(static_cast<T>(c.avg_size)),
        inv_bc2_sqrt(static_cast<T>(c.inv_bc2_sqrt)),
        bc2(static_cast<T>(c.bc2)),
        first(c.first != 0),
        rectified(c.rectified != 0) {}
};

template <typename T>
T cst(double x) {
  return static_cast<T>(x);
}

// g' = (maximize ? -g : g), with the L2 term wd p when wanted.
template <typename T>
EMBER_HD T direction(T g, T gsign, bool l2, T wd, T p) {
  const T d = g * gsign;
  return l2 ? o_fma(wd, p, d) : d;
}

// g' = g + wd p; buf = first ? g' : momentum buf + (1 - dampening) g';
// d = nesterov ? g' + momentum buf : buf (g' without momentum); p -= lr d
template <typename T>
struct SgdOp {
  T gsign, wd, mom, damp1, neg_lr;
  bool l2, has_mom, nesterov;
  explicit SgdOp(const OptimHyper& h)
      : gsign(cst<T>(h.maximize ? -1.0 : 1.0)),
        wd(cst<T>(h.weight_decay)),
        mom(cst<T>(h.momentum)),
        damp1(cst<T>(1.0 - h.dampening)),
        neg_lr(cst<T>(-h.lr)),
        l2(h.weight_decay != 0),
        has_mom(h.momentum != 0),
        nesterov(h.momentum != 0 && h.nesterov) {}
  int uses() const { return kUseG | (has_mom ? kUseS0 : 0); }
  EMBER_HD void operator()(const Coef<T>& c, T& p, T g, T& buf, T&, T&) const {
    T d = direction(g, gsign, l2, wd, p);
    if (has_mom) {
      buf = c.first ? d : o_fma(mom, buf, damp1 * d);
      d = nesterov ? o_fma(mom, buf, d) : buf;
    }
    p = o_fma(neg_lr, d, p);
  }
};

// g' = g + wd p; sum += g'^2; p -= clr g' / (sqrt(sum) + eps), clr = lr / (1 + (t-1) decay)
template <typename T>
struct AdagradOp {
  T gsign, wd, eps;
  bool l2;
  explicit AdagradOp(const OptimHyper& h)
      : gsign(cst<T>(h.maximize ? -1.0 : 1.0)),
        wd(cst<T>(h.weight_decay)),
        eps(cst<T>(h.eps)),
        l2(h.weight_decay != 0) {}
  int uses() const { return kUseG | kUseS0; }
  EMBER_HD void operator()(const Coef<T>& c, T& p, T g, T& sum, T&, T&) const {
    const T d = direction(g, gsign, l2, wd, p);
    sum = o_fma(d, d, sum);
    p = o_fma(-c.step_size, d / (m_sqrt(sum) + eps), p);
  }
};

// g' = g + wd p; sq = alpha sq + (1 - alpha) g'^2;
// centered: ga = lerp(ga, g', 1 - alpha), avg = sqrt(sq - ga^2) + eps; else sqrt(sq) + eps;
// momentum: buf = momentum buf + g' / avg, p -= lr buf; else p -= lr g' / avg
template <typename T>
struct RmspropOp {
  T gsign, wd, alpha, one_m_alpha, eps, mom, neg_lr;
  bool l2, centered, has_mom;
  explicit RmspropOp(const OptimHyper& h)
      : gsign(cst<T>(h.maximize ? -1.0 : 1.0)),
        wd(cst<T>(h.weight_decay)),
        alpha(cst<T>(h.alpha)),
        one_m_alpha(cst<T>(1.0 - h.alpha)),
        eps(cst<T>(h.eps)),
        mom(cst<T>(h.momentum)),
        neg_lr(cst<T>(-h.lr)),
        l2(h.weight_decay != 0),
        centered(h.centered),
        has_mom(h.momentum > 0) {}
  int uses() const { return kUseG | kUseS0 | (centered ? kUseS1 : 0) | (has_mom ? kUseS2 : 0); }
  EMBER_HD void operator()(const Coef<T>&, T& p, T g, T& sq, T& ga, T& buf) const {
    const T d = direction(g, gsign, l2, wd, p);
    sq = o_fma(alpha, sq, one_m_alpha * (d * d));
    T avg;
    if (centered) {
      ga = o_fma(one_m_alpha, d - ga, ga);
      avg = m_sqrt(sq - mul_rn(ga, ga));
    } else {
      avg = m_sqrt(sq);
    }
    const T step = d / (avg + eps);
    if (has_mom) {
      buf = o_fma(mom, buf, step);
      p = o_fma(neg_lr, buf, p);
    } else {
      p = o_fma(neg_lr, step, p);
    }
  }
};

// m and v of Adam after the (L2 or decoupled) weight decay; returns the direction g'.
// Shared by Adam, NAdam and RAdam.
template <typename T>
struct Moments {
  T gsign, wd, decay, one_m_b1, b2, one_m_b2;
  bool l2, decoupled;
  explicit Moments(const OptimHyper& h)
      : gsign(cst<T>(h.maximize ? -1.0 : 1.0)),
        wd(cst<T>(h.weight_decay)),
        decay(cst<T>(1.0 - h.lr * h.weight_decay)),
        one_m_b1(cst<T>(1.0 - h.beta1)),
        b2(cst<T>(h.beta2)),
        one_m_b2(cst<T>(1.0 - h.beta2)),
        l2(h.weight_decay != 0 && !h.decoupled_weight_decay),
        decoupled(h.weight_decay != 0 && h.decoupled_weight_decay) {}
  EMBER_HD T apply(T& p, T g, T& m, T& v) const {
    if (decoupled) p = p * decay;
    const T d = direction(g, gsign, l2, wd, p);
    m = o_fma(one_m_b1, d - m, m);
    v = o_fma(b2, v, one_m_b2 * (d * d));
    return d;
  }
};

// AdamW: p *= 1 - lr wd; Adam: g' = g + wd p. m, v as Moments;
// amsgrad: vmax = max(vmax, v), v_hat = vmax; p -= (lr / bc1) m / (sqrt(v_hat) / sqrt(bc2) + eps)
template <typename T>
struct AdamOp {
  Moments<T> mv;
  T eps;
  bool amsgrad;
  explicit AdamOp(const OptimHyper& h) : mv(h), eps(cst<T>(h.eps)), amsgrad(h.amsgrad) {}
  int uses() const { return kUseG | kUseS0 | kUseS1 | (amsgrad ? kUseS2 : 0); }
  EMBER_HD void operator()(const Coef<T>& c, T& p, T g, T& m, T& v, T& vmax) const {
    mv.apply(p, g, m, v);
    T vh = v;
    if (amsgrad) {
      vmax = max2(vmax, v);  // a NaN in v propagates
      vh = vmax;
    }
    const T denom = o_fma(m_sqrt(vh), c.inv_bc2_sqrt, eps);
    p = o_fma(-c.step_size, m / denom, p);
  }
};

// p *= 1 - lr wd; c = b1 m + (1 - b1) g; p -= lr sign(c); m = b2 m + (1 - b2) g
template <typename T>
struct LionOp {
  T gsign, decay, b1, one_m_b1, b2, one_m_b2, neg_lr;
  bool wd;
  explicit LionOp(const OptimHyper& h)
      : gsign(cst<T>(h.maximize ? -1.0 : 1.0)),
        decay(cst<T>(1.0 - h.lr * h.weight_decay)),
        b1(cst<T>(h.beta1)),
        one_m_b1(cst<T>(1.0 - h.beta1)),
        b2(cst<T>(h.beta2)),
        one_m_b2(cst<T>(1.0 - h.beta2)),
        neg_lr(cst<T>(-h.lr)),
        wd(h.weight_decay != 0) {}
  int uses() const { return kUseG | kUseS0; }
  EMBER_HD void operator()(const Coef<T>&, T& p, T g, T& m, T&, T&) const {
    const T d = g * gsign;
    if (wd) p = p * decay;
    const T c = o_fma(b1, m, one_m_b1 * d);
    // sign(c): +1, -1, and c * 0 for zeros (0) and NaN (NaN, as torch.sign).
    const T s = c > T(0) ? T(1) : (c < T(0) ? T(-1) : c * T(0));
    p = o_fma(neg_lr, s, p);
    m = o_fma(b2, m, one_m_b2 * d);
  }
};

// g' = g + wd p; sq = rho sq + (1 - rho) g'^2; delta = sqrt(acc + eps) / sqrt(sq + eps) g';
// acc = rho acc + (1 - rho) delta^2; p -= lr delta
template <typename T>
struct AdadeltaOp {
  T gsign, wd, rho, one_m_rho, eps, neg_lr;
  bool l2;
  explicit AdadeltaOp(const OptimHyper& h)
      : gsign(cst<T>(h.maximize ? -1.0 : 1.0)),
        wd(cst<T>(h.weight_decay)),
        rho(cst<T>(h.rho)),
        one_m_rho(cst<T>(1.0 - h.rho)),
        eps(cst<T>(h.eps)),
        neg_lr(cst<T>(-h.lr)),
        l2(h.weight_decay != 0) {}
  int uses() const { return kUseG | kUseS0 | kUseS1; }
  EMBER_HD void operator()(const Coef<T>&, T& p, T g, T& sq, T& acc, T&) const {
    const T d = direction(g, gsign, l2, wd, p);
    sq = o_fma(rho, sq, one_m_rho * (d * d));
    const T delta = m_sqrt(acc + eps) / m_sqrt(sq + eps) * d;
    acc = o_fma(rho, acc, one_m_rho * (delta * delta));
    p = o_fma(neg_lr, delta, p);
  }
};

// g' = g + wd p; m = lerp(m, g', 1 - b1); u = max(b2 u, |g'| + eps); p -= (lr / bc1) m / u
template <typename T>
struct AdamaxOp {
  T gsign, wd, one_m_b1, b2, eps;
  bool l2;
  explicit AdamaxOp(const OptimHyper& h)
      : gsign(cst<T>(h.maximize ? -1.0 : 1.0)),
        wd(cst<T>(h.weight_decay)),
        one_m_b1(cst<T>(1.0 - h.beta1)),
        b2(cst<T>(h.beta2)),
        eps(cst<T>(h.eps)),
        l2(h.weight_decay != 0) {}
  int uses() const { return kUseG | kUseS0 | kUseS1; }
  EMBER_HD void operator()(const Coef<T>& c, T& p, T g, T& m, T& u, T&) const {
    const T d = direction(g, gsign, l2, wd, p);
    m = o_fma(one_m_b1, d - m, m);
    const T decayed = b2 * u;
    // NaN in either operand propagates, as torch.maximum.
    u = decayed != decayed ? decayed : max2(decayed, m_fabs(d) + eps);
    p = o_fma(-c.step_size, m / u, p);
  }
};

// m, v as Adam; denom = sqrt(v / bc2) + eps; p -= step_size g' / denom + avg_size m / denom
template <typename T>
struct NadamOp {
  Moments<T> mv;
  T eps;
  explicit NadamOp(const OptimHyper& h) : mv(h), eps(cst<T>(h.eps)) {}
  int uses() const { return kUseG | kUseS0 | kUseS1; }
  EMBER_HD void operator()(const Coef<T>& c, T& p, T g, T& m, T& v, T&) const {
    const T d = mv.apply(p, g, m, v);
    const T denom = m_sqrt(v / c.bc2) + eps;
    p = o_fma(-c.step_size, d / denom, p);
    p = o_fma(-c.avg_size, m / denom, p);
  }
};

// m, v as Adam; rectified: p -= step_size m / (sqrt(v) + eps); else p -= step_size m
template <typename T>
struct RadamOp {
  Moments<T> mv;
  T eps;
  explicit RadamOp(const OptimHyper& h) : mv(h), eps(cst<T>(h.eps)) {}
  int uses() const { return kUseG | kUseS0 | kUseS1; }
  EMBER_HD void operator()(const Coef<T>& c, T& p, T g, T& m, T& v, T&) const {
    mv.apply(p, g, m, v);
    p = o_fma(-c.step_size, c.rectified ? m / (m_sqrt(v) + eps) : m, p);
  }
};

// x *= c
template <typename T>
struct ScaleOp {
  T c;
  int uses() const { return 0; }
  EMBER_HD void operator()(const Coef<T>&, T& x, T, T&, T&, T&) const { x = x * c; }
};

// x = min(hi, max(lo, x)): bounds first, so NaN passes through.
template <typename T>
struct ClampOp {
  T lo, hi;
  int uses() const { return 0; }
  EMBER_HD void operator()(const Coef<T>&, T& x, T, T&, T&, T&) const { x = min2(hi, max2(lo, x)); }
};

}  // namespace ember::cuda::optim
