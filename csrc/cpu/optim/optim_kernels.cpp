// Optimizer update and gradient-norm row kernels, written once against the Vec API and
// compiled once per ISA inside namespace ember::<isa> (float32) and once more inside ember::f64
// on the portable double vectors of cpu/simd/vec_f64.h (float64, every ISA); `Real` is the
// lane type of the Vec API in use. Each optimizer is a functor templated on its
// flags, so the inner loop has no branches; the row functions in the table turn the
// runtime flags into template arguments once per row.
//
// The update rules are PyTorch's (torch.optim, single-tensor forms); Lion follows Chen et
// al. 2023 / lucidrains' lion-pytorch. Each element is loaded once and stored once.
#include "cpu/simd/vec.h"  // first: it may wrap <immintrin.h>
//
#include "cpu/optim/optim.h"

namespace ember::EMBER_ISA_NS {

namespace {

using cpu::OptimRow;

static inline VecF vconst(double x) { return vset1(static_cast<Real>(x)); }

// Runs op over a row: p, g and the state buffers selected by Op::kUses (bit k: s_k).
template <class Op>
void run_row(const Op& op, const OptimRow& r) {
  Real* p = static_cast<Real*>(r.p);
  const Real* g = static_cast<const Real*>(r.g);
  Real* s0 = static_cast<Real*>(r.s0);
  Real* s1 = static_cast<Real*>(r.s1);
  Real* s2 = static_cast<Real*>(r.s2);
  constexpr bool k0 = (Op::kUses & 1) != 0, k1 = (Op::kUses & 2) != 0, k2 = (Op::kUses & 4) != 0;
  const int64_t n = r.n;
  int64_t i = 0;
  for (; i + kW <= n; i += kW) {
    VecF vp = vload(p + i);
    VecF a = vzero(), b = vzero(), c = vzero();
    if constexpr (k0) a = vload(s0 + i);
    if constexpr (k1) b = vload(s1 + i);
    if constexpr (k2) c = vload(s2 + i);
    op(vp, vload(g + i), a, b, c);
    vstore(p + i, vp);
    if constexpr (k0) vstore(s0 + i, a);
    if constexpr (k1) vstore(s1 + i, b);
    if constexpr (k2) vstore(s2 + i, c);
  }
  if (i < n) {
    // The tail through masked loads/stores: the same vector code, so a tensor's last
    // elements get exactly the arithmetic of its first ones. Unused lanes hold 0 and are
    // never stored.
    const int m = static_cast<int>(n - i);
    VecF vp = vload_partial(p + i, m, 0);
    VecF a = vzero(), b = vzero(), c = vzero();
    if constexpr (k0) a = vload_partial(s0 + i, m, 0);
    if constexpr (k1) b = vload_partial(s1 + i, m, 0);
    if constexpr (k2) c = vload_partial(s2 + i, m, 0);
    op(vp, vload_partial(g + i, m, 0), a, b, c);
    vstore_partial(p + i, vp, m);
    if constexpr (k0) vstore_partial(s0 + i, a, m);
    if constexpr (k1) vstore_partial(s1 + i, b, m);
    if constexpr (k2) vstore_partial(s2 + i, c, m);
  }
}

// Turns runtime bools into the template arguments of Op, then runs the row.
template <template <bool...> class Op, bool... kB>
struct Dispatch {
  static void go(const OptimRow& r, const OptimHyper& h, const OptimTensorCoef& t) {
    run_row(Op<kB...>(h, t), r);
  }
  template <class... Rest>
  static void go(const OptimRow& r, const OptimHyper& h, const OptimTensorCoef& t, bool b,
                 Rest... rest) {
    if (b)
      Dispatch<Op, kB..., true>::go(r, h, t, rest...);
    else
      Dispatch<Op, kB..., false>::go(r, h, t, rest...);
  }
};

// d = (maximize ? -g : g) [+ weight_decay * p]
static inline VecF direction(VecF g, VecF gsign) { return vmul(g, gsign); }

// ---------------------------------------------------------------------------- SGD
// g' = g + wd p; buf = first ? g' : momentum buf + (1 - dampening) g';
// d = nesterov ? g' + momentum buf : buf (g' without momentum); p -= lr d
template <bool kWd, bool kMom, bool kNesterov, bool kFirst>
struct SgdOp {
  static constexpr int kUses = kMom ? 1 : 0;
  VecF gsign, wd, mom, damp1, neg_lr;
  SgdOp(const OptimHyper& h, const OptimTensorCoef&)
      : gsign(vconst(h.maximize ? -1.0 : 1.0)),
        wd(vconst(h.weight_decay)),
        mom(vconst(h.momentum)),
        damp1(vconst(1.0 - h.dampening)),
        neg_lr(vconst(-h.lr)) {}
  void operator()(VecF& p, VecF g, VecF& buf, VecF&, VecF&) const {
    VecF d = direction(g, gsign);
    if constexpr (kWd) d = vfma(wd, p, d);
    if constexpr (kMom) {
      if constexpr (kFirst)
        buf = d;
      else
        buf = vfma(mom, buf, vmul(damp1, d));
      d = kNesterov ? vfma(mom, buf, d) : buf;
    }
    p = vfma(neg_lr, d, p);
  }
};

void sgd_row(const OptimRow& r, const OptimHyper& h, const OptimTensorCoef& t) {
  const bool mom = h.momentum != 0;
  Dispatch<SgdOp>::go(r, h, t, h.weight_decay != 0, mom, mom && h.nesterov, mom && t.first);
}

// ------------------------------------------------------------------------ Adagrad
// g' = g + wd p; sum += g'^2; p -= clr g' / (sqrt(sum) + eps), clr = lr / (1 + (t-1) decay)
template <bool kWd>
struct AdagradOp {
  static constexpr int kUses = 1;
  VecF gsign, wd, eps, neg_clr;
  AdagradOp(const OptimHyper& h, const OptimTensorCoef& t)
      : gsign(vconst(h.maximize ? -1.0 : 1.0)),
        wd(vconst(h.weight_decay)),
        eps(vconst(h.eps)),
        neg_clr(vconst(-t.step_size)) {}
  void operator()(VecF& p, VecF g, VecF& sum, VecF&, VecF&) const {
    VecF d = direction(g, gsign);
    if constexpr (kWd) d = vfma(wd, p, d);
    sum = vfma(d, d, sum);
    p = vfma(neg_clr, vdiv(d, vadd(vsqrt(sum), eps)), p);
  }
};

void adagrad_row(const OptimRow& r, const OptimHyper& h, const OptimTensorCoef& t) {
  Dispatch<AdagradOp>::go(r, h, t, h.weight_decay != 0);
}

// ------------------------------------------------------------------------ RMSprop
// g' = g + wd p; sq = alpha sq + (1 - alpha) g'^2;
// centered: ga = lerp(ga, g', 1 - alpha), avg = sqrt(sq - ga^2) + eps; else sqrt(sq) + eps;
// momentum: buf = momentum buf + g' / avg, p -= lr buf; else p -= lr g' / avg
template <bool kWd, bool kCentered, bool kMom>
struct RmspropOp {
  static constexpr int kUses = 1 | (kCentered ? 2 : 0) | (kMom ? 4 : 0);
  VecF gsign, wd, alpha, one_m_alpha, eps, mom, neg_lr;
  RmspropOp(const OptimHyper& h, const OptimTensorCoef&)
      : gsign(vconst(h.maximize ? -1.0 : 1.0)),
        wd(vconst(h.weight_decay)),
        alpha(vconst(h.alpha)),
        one_m_alpha(vconst(1.0 - h.alpha)),
        eps(vconst(h.eps)),
        mom(vconst(h.momentum)),
        neg_lr(vconst(-h.lr)) {}
  void operator()(VecF& p, VecF g, VecF& sq, VecF& ga, VecF& buf) const {
    VecF d = direction(g, gsign);
    if constexpr (kWd) d = vfma(wd, p, d);
    sq = vfma(alpha, sq, vmul(one_m_alpha, vmul(d, d)));
    VecF avg;
    if constexpr (kCentered) {
      ga = vfma(one_m_alpha, vsub(d, ga), ga);
      avg = vsqrt(vsub(sq, vmul(ga, ga)));
    } else {
      avg = vsqrt(sq);
    }
    const VecF step = vdiv(d, vadd(avg, eps));
    if constexpr (kMom) {
      buf = vfma(mom, buf, step);
      p = vfma(neg_lr, buf, p);
    } else {
      p = vfma(neg_lr, step, p);
    }
  }
};

void rmsprop_row(const OptimRow& r, const OptimHyper& h, const OptimTensorCoef& t) {
  Dispatch<RmspropOp>::go(r, h, t, h.weight_decay != 0, h.centered, h.momentum > 0);
}

// --------------------------------------------------------------------- Adam / AdamW
// AdamW: p *= 1 - lr wd; Adam: g' = g + wd p. m = lerp(m, g', 1 - b1);
// v = b2 v + (1 - b2) g'^2; amsgrad: vmax = max(vmax, v), v_hat = vmax;
// p -= (lr / bc1) m / (sqrt(v_hat) / sqrt(bc2) + eps)
template <bool kWd, bool kDecoupled, bool kAmsgrad>
struct AdamOp {
  static constexpr int kUses = 3 | (kAmsgrad ? 4 : 0);
  VecF gsign, wd, decay, one_m_b1, b2, one_m_b2, eps, neg_step, inv_bc2s;
  AdamOp(const OptimHyper& h, const OptimTensorCoef& t)
      : gsign(vconst(h.maximize ? -1.0 : 1.0)),
        wd(vconst(h.weight_decay)),
        decay(vconst(1.0 - h.lr * h.weight_decay)),
        one_m_b1(vconst(1.0 - h.beta1)),
        b2(vconst(h.beta2)),
        one_m_b2(vconst(1.0 - h.beta2)),
        eps(vconst(h.eps)),
        neg_step(vconst(-t.step_size)),
        inv_bc2s(vconst(t.inv_bc2_sqrt)) {}
  void operator()(VecF& p, VecF g, VecF& m, VecF& v, VecF& vmax_) const {
    VecF d = direction(g, gsign);
    if constexpr (kWd && kDecoupled) p = vmul(p, decay);
    if constexpr (kWd && !kDecoupled) d = vfma(wd, p, d);
    m = vfma(one_m_b1, vsub(d, m), m);
    v = vfma(b2, v, vmul(one_m_b2, vmul(d, d)));
    VecF vh = v;
    if constexpr (kAmsgrad) {
      vmax_ = vmax(vmax_, v);  // a NaN in v propagates (vmax returns its second operand)
      vh = vmax_;
    }
    const VecF denom = vfma(vsqrt(vh), inv_bc2s, eps);
    p = vfma(neg_step, vdiv(m, denom), p);
  }
};

void adam_row(const OptimRow& r, const OptimHyper& h, const OptimTensorCoef& t) {
  Dispatch<AdamOp>::go(r, h, t, h.weight_decay != 0, h.decoupled_weight_decay, h.amsgrad);
}

// --------------------------------------------------------------------------- Lion
// p *= 1 - lr wd; c = b1 m + (1 - b1) g; p -= lr sign(c); m = b2 m + (1 - b2) g
template <bool kWd>
struct LionOp {
  static constexpr int kUses = 1;
  VecF gsign, decay, b1, one_m_b1, b2, one_m_b2, neg_lr;
  LionOp(const OptimHyper& h, const OptimTensorCoef&)
      : gsign(vconst(h.maximize ? -1.0 : 1.0)),
        decay(vconst(1.0 - h.lr * h.weight_decay)),
        b1(vconst(h.beta1)),
        one_m_b1(vconst(1.0 - h.beta1)),
        b2(vconst(h.beta2)),
        one_m_b2(vconst(1.0 - h.beta2)),
        neg_lr(vconst(-h.lr)) {}
  void operator()(VecF& p, VecF g, VecF& m, VecF&, VecF&) const {
    const VecF d = direction(g, gsign);
    if constexpr (kWd) p = vmul(p, decay);
    const VecF c = vfma(b1, m, vmul(one_m_b1, d));
    // sign(c): +1, -1, and c * 0 for zeros (0) and NaN (NaN, as torch.sign).
    const VecF s = vselect(vgt(c, vzero()), vconst(1.0),
                           vselect(vlt(c, vzero()), vconst(-1.0), vmul(c, vzero())));
    p = vfma(neg_lr, s, p);
    m = vfma(b2, m, vmul(one_m_b2, d));
  }
};

void lion_row(const OptimRow& r, const OptimHyper& h, const OptimTensorCoef& t) {
  Dispatch<LionOp>::go(r, h, t, h.weight_decay != 0);
}

// ----------------------------------------------------------------------- Adadelta
// g' = g + wd p; sq = rho sq + (1 - rho) g'^2; delta = sqrt(acc + eps) / sqrt(sq + eps) g';
// acc = rho acc + (1 - rho) delta^2; p -= lr delta
template <bool kWd>
struct AdadeltaOp {
  static constexpr int kUses = 3;
  VecF gsign, wd, rho, one_m_rho, eps, neg_lr;
  AdadeltaOp(const OptimHyper& h, const OptimTensorCoef&)
      : gsign(vconst(h.maximize ? -1.0 : 1.0)),
        wd(vconst(h.weight_decay)),
        rho(vconst(h.rho)),
        one_m_rho(vconst(1.0 - h.rho)),
        eps(vconst(h.eps)),
        neg_lr(vconst(-h.lr)) {}
  void operator()(VecF& p, VecF g, VecF& sq, VecF& acc, VecF&) const {
    VecF d = direction(g, gsign);
    if constexpr (kWd) d = vfma(wd, p, d);
    sq = vfma(rho, sq, vmul(one_m_rho, vmul(d, d)));
    const VecF delta = vmul(vdiv(vsqrt(vadd(acc, eps)), vsqrt(vadd(sq, eps))), d);
    acc = vfma(rho, acc, vmul(one_m_rho, vmul(delta, delta)));
    p = vfma(neg_lr, delta, p);
  }
};

void adadelta_row(const OptimRow& r, const OptimHyper& h, const OptimTensorCoef& t) {
  Dispatch<AdadeltaOp>::go(r, h, t, h.weight_decay != 0);
}

// ------------------------------------------------------------------------- Adamax
// g' = g + wd p; m = lerp(m, g', 1 - b1); u = max(b2 u, |g'| + eps);
// p -= (lr / bc1) m / u
template <bool kWd>
struct AdamaxOp {
  static constexpr int kUses = 3;
  VecF gsign, wd, one_m_b1, b2, eps, neg_step;
  AdamaxOp(const OptimHyper& h, const OptimTensorCoef& t)
      : gsign(vconst(h.maximize ? -1.0 : 1.0)),
        wd(vconst(h.weight_decay)),
        one_m_b1(vconst(1.0 - h.beta1)),
        b2(vconst(h.beta2)),
        eps(vconst(h.eps)),
        neg_step(vconst(-t.step_size)) {}
  void operator()(VecF& p, VecF g, VecF& m, VecF& u, VecF&) const {
    VecF d = direction(g, gsign);
    if constexpr (kWd) d = vfma(wd, p, d);
    m = vfma(one_m_b1, vsub(d, m), m);
    const VecF decayed = vmul(b2, u);
    // NaN in either operand propagates, as torch.maximum (vmax keeps only the second's).
    u = vselect(visnan(decayed), decayed, vmax(decayed, vadd(vabs(d), eps)));
    p = vfma(neg_step, vdiv(m, u), p);
  }
};

void adamax_row(const OptimRow& r, const OptimHyper& h, const OptimTensorCoef& t) {
  Dispatch<AdamaxOp>::go(r, h, t, h.weight_decay != 0);
}

// m and v of Adam, after the (L2 or decoupled) weight decay; shared by NAdam and RAdam.
struct MomentsUpdate {
  VecF gsign, wd, decay, one_m_b1, b2, one_m_b2;
  explicit MomentsUpdate(const OptimHyper& h)
      : gsign(vconst(h.maximize ? -1.0 : 1.0)),
        wd(vconst(h.weight_decay)),
        decay(vconst(1.0 - h.lr * h.weight_decay)),
        one_m_b1(vconst(1.0 - h.beta1)),
        b2(vconst(h.beta2)),
        one_m_b2(vconst(1.0 - h.beta2)) {}
  // Returns the direction g' (with the L2 term unless decoupled).
  template <bool kWd, bool kDecoupled>
  VecF apply(VecF& p, VecF g, VecF& m, VecF& v) const {
    VecF d = direction(g, gsign);
    if constexpr (kWd && kDecoupled) p = vmul(p, decay);
    if constexpr (kWd && !kDecoupled) d = vfma(wd, p, d);
    m = vfma(one_m_b1, vsub(d, m), m);
    v = vfma(b2, v, vmul(one_m_b2, vmul(d, d)));
    return d;
  }
};

// -------------------------------------------------------------------------- NAdam
// m, v as Adam; denom = sqrt(v / bc2) + eps; p -= step_size g' / denom + avg_size m / denom
template <bool kWd, bool kDecoupled>
struct NadamOp {
  static constexpr int kUses = 3;
  MomentsUpdate mv;
  VecF bc2, eps, neg_gsize, neg_asize;
  NadamOp(const OptimHyper& h, const OptimTensorCoef& t)
      : mv(h),
        bc2(vconst(t.bc2)),
        eps(vconst(h.eps)),
        neg_gsize(vconst(-t.step_size)),
        neg_asize(vconst(-t.avg_size)) {}
  void operator()(VecF& p, VecF g, VecF& m, VecF& v, VecF&) const {
    const VecF d = mv.apply<kWd, kDecoupled>(p, g, m, v);
    const VecF denom = vadd(vsqrt(vdiv(v, bc2)), eps);
    p = vfma(neg_gsize, vdiv(d, denom), p);
    p = vfma(neg_asize, vdiv(m, denom), p);
  }
};

void nadam_row(const OptimRow& r, const OptimHyper& h, const OptimTensorCoef& t) {
  Dispatch<NadamOp>::go(r, h, t, h.weight_decay != 0, h.decoupled_weight_decay);
}

// -------------------------------------------------------------------------- RAdam
// m, v as Adam; rectified: p -= step_size m / (sqrt(v) + eps); else p -= step_size m
template <bool kWd, bool kDecoupled, bool kRect>
struct RadamOp {
  static constexpr int kUses = 3;
  MomentsUpdate mv;
  VecF eps, neg_step;
  RadamOp(const OptimHyper& h, const OptimTensorCoef& t)
      : mv(h), eps(vconst(h.eps)), neg_step(vconst(-t.step_size)) {}
  void operator()(VecF& p, VecF g, VecF& m, VecF& v, VecF&) const {
    mv.apply<kWd, kDecoupled>(p, g, m, v);
    if constexpr (kRect)
      p = vfma(neg_step, vdiv(m, vadd(vsqrt(v), eps)), p);
    else
      p = vfma(neg_step, m, p);
  }
};

void radam_row(const OptimRow& r, const OptimHyper& h, const OptimTensorCoef& t) {
  Dispatch<RadamOp>::go(r, h, t, h.weight_decay != 0, h.decoupled_weight_decay, t.rectified);
}

// ---------------------------------------------------------------------- grad norms
// Four vector accumulators over blocks of kNormBlock elements: each lane adds at most
// 16 values before the block sum goes to double, so float32 sums stay accurate. x * 0
// accumulates into `bad`: it turns NaN once any x is NaN or infinite.
constexpr int64_t kNormBlock = 64 * kW;

struct AbsSum {
  static VecF f(VecF acc, VecF x) { return vadd(acc, vabs(x)); }
};
struct SqSum {
  static VecF f(VecF acc, VecF x) { return vfma(x, x, acc); }
};
struct AbsMax {
  // vmax drops NaN (it returns the second operand); NaN is reported through the flags.
  static VecF f(VecF acc, VecF x) { return vmax(vabs(x), acc); }
};

template <class Op, bool kIsMax>
double norm_row(const void* xv, int64_t n, int* flags) {
  const Real* x = static_cast<const Real*>(xv);
  const VecF zero = vzero();
  VecF bad = zero, nan = zero;
  double total = 0;
  for (int64_t b = 0; b < n; b += kNormBlock) {
    const int64_t e = b + kNormBlock < n ? b + kNormBlock : n;
    VecF a0 = zero, a1 = zero, a2 = zero, a3 = zero;
    int64_t i = b;
    for (; i + 4 * kW <= e; i += 4 * kW) {
      const VecF x0 = vload(x + i), x1 = vload(x + i + kW);
      const VecF x2 = vload(x + i + 2 * kW), x3 = vload(x + i + 3 * kW);
      a0 = Op::f(a0, x0);
      a1 = Op::f(a1, x1);
      a2 = Op::f(a2, x2);
      a3 = Op::f(a3, x3);
      bad = vfma(vadd(vadd(x0, x1), vadd(x2, x3)), zero, bad);
      if constexpr (kIsMax)
        nan = vselect(mor(mor(visnan(x0), visnan(x1)), mor(visnan(x2), visnan(x3))), vconst(1.0),
                      nan);
    }
    for (; i < e; i += kW) {
      const int m = e - i < kW ? static_cast<int>(e - i) : kW;
      const VecF x0 = m == kW ? vload(x + i) : vload_partial(x + i, m, 0);
      a0 = Op::f(a0, x0);
      bad = vfma(x0, zero, bad);
      if constexpr (kIsMax) nan = vselect(visnan(x0), vconst(1.0), nan);
    }
    if constexpr (kIsMax) {
      const double v = vreduce_max(vmax(vmax(a0, a1), vmax(a2, a3)));
      total = v > total ? v : total;
    } else {
      total += static_cast<double>(vreduce_add(vadd(vadd(a0, a1), vadd(a2, a3))));
    }
  }
  // bad holds 0 or NaN per lane: its sum is NaN iff some lane is.
  const Real s = vreduce_add(bad);
  if (s != s) *flags |= 1;
  if constexpr (kIsMax)
    if (vreduce_add(nan) != 0) *flags |= 3;
  return total;
}

void scale_row(void* xv, int64_t n, double c) {
  Real* x = static_cast<Real*>(xv);
  const VecF vc = vconst(c);
  int64_t i = 0;
  for (; i + kW <= n; i += kW) vstore(x + i, vmul(vload(x + i), vc));
  if (i < n) {
    const int m = static_cast<int>(n - i);
    vstore_partial(x + i, vmul(vload_partial(x + i, m, 0), vc), m);
  }
}

void clamp_row(void* xv, int64_t n, double lo, double hi) {
  Real* x = static_cast<Real*>(xv);
  const VecF vlo = vconst(lo), vhi = vconst(hi);
  // Bounds first so NaN passes through (vmax/vmin return their second operand on NaN).
  int64_t i = 0;
  for (; i + kW <= n; i += kW) vstore(x + i, vmin(vhi, vmax(vlo, vload(x + i))));
  if (i < n) {
    const int m = static_cast<int>(n - i);
    vstore_partial(x + i, vmin(vhi, vmax(vlo, vload_partial(x + i, m, 0))), m);
  }
}

}  // namespace

const cpu::OptimTable optim_table = {
    {sgd_row, adagrad_row, rmsprop_row, adam_row, lion_row, adadelta_row, adamax_row, nadam_row,
     radam_row},
    {norm_row<AbsSum, false>, norm_row<SqSum, false>, norm_row<AbsMax, true>},
    scale_row,
    clamp_row,
};

}  // namespace ember::EMBER_ISA_NS
