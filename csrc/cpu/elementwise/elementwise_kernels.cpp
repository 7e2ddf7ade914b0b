// float32 elementwise row kernels, written once against the Vec API and
// compiled once per ISA inside namespace ember::<isa> (ember_add_isa_kernels).
// Each op is a small functor; the row loops are
// templates on the functor, so the op is resolved at compile time and the
// inner loop has no switch or indirect call. The driver picks the row function
// from `elementwise_table` once per call.
//
// Strided rows are gathered kW elements at a time into a stack buffer and run
// through the same vector code, so a strided result is bitwise the same as a
// contiguous one.
#include "cpu/simd/vec.h"  // first: it may wrap <immintrin.h>
//
#include "cpu/elementwise/elementwise.h"

namespace ember::EMBER_ISA_NS {

namespace {

using cpu::BinaryOp;
using cpu::UnaryOp;

// ---------------------------------------------------------------- unary ops
// Each: Op(alpha, beta); VecF operator()(VecF x).

struct UNeg {
  UNeg(float, float) {}
  VecF operator()(VecF x) const { return vneg(x); }
};
struct UAbs {
  UAbs(float, float) {}
  VecF operator()(VecF x) const { return vabs(x); }
};
struct UExp {
  UExp(float, float) {}
  VecF operator()(VecF x) const { return vexp(x); }
};
struct ULog {
  ULog(float, float) {}
  VecF operator()(VecF x) const { return vlog(x); }
};
struct USqrt {
  USqrt(float, float) {}
  VecF operator()(VecF x) const { return vsqrt(x); }
};
struct URsqrt {
  URsqrt(float, float) {}
  // A true divide, not the 12-bit rsqrt estimate.
  VecF operator()(VecF x) const { return vdiv(vset1(1.0f), vsqrt(x)); }
};
struct UTanh {
  UTanh(float, float) {}
  VecF operator()(VecF x) const { return vtanh(x); }
};
struct USigmoid {
  USigmoid(float, float) {}
  VecF operator()(VecF x) const { return vsigmoid(x); }
};
struct URelu {
  URelu(float, float) {}
  // Zero first: vmax returns its second operand on NaN, so relu(NaN) = NaN.
  VecF operator()(VecF x) const { return vmax(vzero(), x); }
};
struct UGelu {
  UGelu(float, float) {}
  VecF operator()(VecF x) const { return vgelu(x); }
};
struct UGeluTanh {
  UGeluTanh(float, float) {}
  VecF operator()(VecF x) const { return vgelu_tanh(x); }
};
struct USilu {
  USilu(float, float) {}
  VecF operator()(VecF x) const { return vmul(x, vsigmoid(x)); }
};
struct UClamp {
  VecF lo, hi;
  UClamp(float a, float b) : lo(vset1(a)), hi(vset1(b)) {}
  // Bounds first so NaN passes through both (see vmax).
  VecF operator()(VecF x) const { return vmin(hi, vmax(lo, x)); }
};

struct UFloor {
  UFloor(float, float) {}
  VecF operator()(VecF x) const { return vfloor(x); }
};
struct UCeil {
  UCeil(float, float) {}
  VecF operator()(VecF x) const { return vneg(vfloor(vneg(x))); }  // keeps -0 for (-1, 0]
};
struct UTrunc {
  UTrunc(float, float) {}
  VecF operator()(VecF x) const {
    return vselect(vlt(x, vzero()), vneg(vfloor(vneg(x))), vfloor(x));
  }
};
// torch.round(x, decimals=d): round half to even of x * 10^d, divided back (d < 0: of
// x / 10^-d, multiplied back), in float32 like torch's float kernel.
struct URound {
  VecF scale;
  int mode;  // 0: plain, 1: decimals > 0, -1: decimals < 0
  URound(float decimals, float) : scale(vset1(1.0f)), mode(0) {
    const int d = static_cast<int>(decimals);
    if (d == 0) return;
    mode = d > 0 ? 1 : -1;
    double p = 1.0;
    for (int i = 0; i < (d > 0 ? d : -d); ++i) p *= 10.0;
    scale = vset1(static_cast<float>(p));
  }
  VecF operator()(VecF x) const {
    if (mode == 0) return vround(x);
    if (mode > 0) return vdiv(vround(vmul(x, scale)), scale);
    return vmul(vround(vdiv(x, scale)), scale);
  }
};
// log(1 + x) as log(u) * x / (u - 1), u = 1 + x (Goldberg): the rounding error of u
// cancels in the ratio, so small x keep full relative accuracy.
struct ULog1p {
  ULog1p(float, float) {}
  VecF operator()(VecF x) const {
    const VecF u = vadd(vset1(1.0f), x);
    const VecF d = vsub(u, vset1(1.0f));
    VecF r = vmul(vlog(u), vdiv(x, d));
    r = vselect(veq(d, vzero()), x, r);                // |x| below half an ulp of 1; keeps -0
    return vselect(veq(x, vbits(0x7f800000u)), x, r);  // inf / inf
  }
};
// e^x - 1 as (u - 1) * x / log(u), u = e^x (Kahan): exact cancellation near 0.
struct UExpm1 {
  UExpm1(float, float) {}
  VecF operator()(VecF x) const {
    const VecF one = vset1(1.0f);
    const VecF u = vexp(x);
    const VecF d = vsub(u, one);
    VecF r = vmul(d, vdiv(x, vlog(u)));
    r = vselect(veq(u, one), x, r);
    r = vselect(veq(d, vneg(one)), d, r);              // x << 0: -1
    return vselect(veq(u, vbits(0x7f800000u)), u, r);  // overflow: inf
  }
};
template <class Op>
void unary_row(float* out, const float* x, int64_t n, int64_t so, int64_t sx, float alpha,
               float beta) {
  const Op op(alpha, beta);
  if (so == 1 && sx == 1) {
    int64_t i = 0;
    for (; i + kW <= n; i += kW) vstore(out + i, op(vload(x + i)));
    if (i < n) {
      const int r = static_cast<int>(n - i);
      vstore_partial(out + i, op(vload_partial(x + i, r, 1.0f)), r);
    }
    return;
  }
  float buf[kW];
  for (int64_t i = 0; i < n; i += kW) {
    const int r = n - i < kW ? static_cast<int>(n - i) : kW;
    for (int j = 0; j < r; ++j) buf[j] = x[(i + j) * sx];
    for (int j = r; j < kW; ++j) buf[j] = 1.0f;
    vstore(buf, op(vload(buf)));
    for (int j = 0; j < r; ++j) out[(i + j) * so] = buf[j];
  }
}

// sin / cos: libm per element (range reduction of large arguments is libm's job).
struct SSin {
  static float f(float v) { return __builtin_sinf(v); }
};
struct SCos {
  static float f(float v) { return __builtin_cosf(v); }
};
// erf: libm's double erf rounded to float (gelu's vnormal_cdf is absolute-accurate only).
struct SErf {
  static float f(float v) { return static_cast<float>(__builtin_erf(static_cast<double>(v))); }
};
template <class Op>
void unary_row_scalar(float* out, const float* x, int64_t n, int64_t so, int64_t sx, float, float) {
  for (int64_t i = 0; i < n; ++i) out[i * so] = Op::f(x[i * sx]);
}

// ------------------------------------------------------- unary backward ops
// Each: Op(alpha, beta); kUsesX / kUsesY say which inputs are read;
// VecF grad(VecF g, VecF x, VecF y) = g * op'(x).

struct BTanh {
  static constexpr bool kUsesX = false, kUsesY = true;
  BTanh(float, float) {}
  VecF grad(VecF g, VecF, VecF y) const { return vmul(g, vfma(vneg(y), y, vset1(1.0f))); }
};
struct BSigmoid {
  static constexpr bool kUsesX = false, kUsesY = true;
  BSigmoid(float, float) {}
  VecF grad(VecF g, VecF, VecF y) const { return vmul(vmul(g, y), vsub(vset1(1.0f), y)); }
};
struct BRelu {
  static constexpr bool kUsesX = true, kUsesY = false;
  BRelu(float, float) {}
  // As PyTorch's threshold_backward: zero where x <= 0 (a NaN x passes g).
  VecF grad(VecF g, VecF x, VecF) const { return vselect(vle(x, vzero()), vzero(), g); }
};
struct BGelu {
  static constexpr bool kUsesX = true, kUsesY = false;
  BGelu(float, float) {}
  VecF grad(VecF g, VecF x, VecF) const {
    const VecF cdf = vnormal_cdf(x);
    const VecF pdf = vmul(vexp(vmul(vmul(x, x), vset1(-0.5f))), vset1(float(kInvSqrt2Pi)));
    return vmul(g, vfma(x, pdf, cdf));
  }
};
struct BGeluTanh {
  static constexpr bool kUsesX = true, kUsesY = false;
  BGeluTanh(float, float) {}
  // y = x s(2u): y' = s + 2 x s (1 - s) k (1 + 3 c x^2).
  VecF grad(VecF g, VecF x, VecF) const {
    VecF s, sc;
    vsigmoid_pair(vgelu_tanh_2u(x), &s, &sc);
    const VecF du = vfma(vmul(x, x), vset1(2.0f * 3.0f * float(kSqrt2OverPi) * float(kGeluCoef)),
                         vset1(2.0f * float(kSqrt2OverPi)));
    const VecF ds = vmul(s, sc);
    return vmul(g, vfma(vmul(x, ds), du, s));
  }
};
struct BSilu {
  static constexpr bool kUsesX = true, kUsesY = false;
  BSilu(float, float) {}
  // (x s)' = s (1 + x (1 - s))
  VecF grad(VecF g, VecF x, VecF) const {
    VecF s, sc;
    vsigmoid_pair(x, &s, &sc);
    return vmul(g, vmul(s, vfma(x, sc, vset1(1.0f))));
  }
};
struct BClamp {
  static constexpr bool kUsesX = true, kUsesY = false;
  VecF lo, hi;
  BClamp(float a, float b) : lo(vset1(a)), hi(vset1(b)) {}
  // As PyTorch: the gradient passes where lo <= x <= hi.
  VecF grad(VecF g, VecF x, VecF) const {
    return vselect(mand(vge(x, lo), vle(x, hi)), g, vzero());
  }
};

template <class Op>
void unary_backward_row(float* gin, const float* gout, const float* x, const float* y, int64_t n,
                        float alpha, float beta) {
  const Op op(alpha, beta);
  int64_t i = 0;
  for (; i + kW <= n; i += kW) {
    const VecF vx = Op::kUsesX ? vload(x + i) : vzero();
    const VecF vy = Op::kUsesY ? vload(y + i) : vzero();
    vstore(gin + i, op.grad(vload(gout + i), vx, vy));
  }
  if (i < n) {
    const int r = static_cast<int>(n - i);
    const VecF vx = Op::kUsesX ? vload_partial(x + i, r, 1.0f) : vzero();
    const VecF vy = Op::kUsesY ? vload_partial(y + i, r, 0.0f) : vzero();
    vstore_partial(gin + i, op.grad(vload_partial(gout + i, r, 0.0f), vx, vy), r);
  }
}

// -------------------------------------------------------------- binary ops

struct BinAdd {
  VecF operator()(VecF a, VecF b) const { return vadd(a, b); }
};
struct BinSub {
  VecF operator()(VecF a, VecF b) const { return vsub(a, b); }
};
struct BinMul {
  VecF operator()(VecF a, VecF b) const { return vmul(a, b); }
};
struct BinDiv {
  VecF operator()(VecF a, VecF b) const { return vdiv(a, b); }
};
// numpy maximum/minimum: NaN if either is NaN. vmax already returns b when b is
// NaN; the select covers a NaN a.
struct BinMaximum {
  VecF operator()(VecF a, VecF b) const { return vselect(visnan(a), a, vmax(a, b)); }
};
struct BinMinimum {
  VecF operator()(VecF a, VecF b) const { return vselect(visnan(a), a, vmin(a, b)); }
};

template <class Op>
void binary_row(float* out, const float* a, const float* b, int64_t n, int64_t so, int64_t sa,
                int64_t sb) {
  const Op op;
  if (so == 1 && sa == 1 && sb == 1) {
    int64_t i = 0;
    for (; i + kW <= n; i += kW) vstore(out + i, op(vload(a + i), vload(b + i)));
    if (i < n) {
      const int r = static_cast<int>(n - i);
      vstore_partial(out + i, op(vload_partial(a + i, r, 1.0f), vload_partial(b + i, r, 1.0f)), r);
    }
    return;
  }
  if (so == 1 && sa == 1 && sb == 0) {  // b broadcast along the row
    const VecF vb = vset1(*b);
    int64_t i = 0;
    for (; i + kW <= n; i += kW) vstore(out + i, op(vload(a + i), vb));
    if (i < n) {
      const int r = static_cast<int>(n - i);
      vstore_partial(out + i, op(vload_partial(a + i, r, 1.0f), vb), r);
    }
    return;
  }
  if (so == 1 && sa == 0 && sb == 1) {  // a broadcast along the row
    const VecF va = vset1(*a);
    int64_t i = 0;
    for (; i + kW <= n; i += kW) vstore(out + i, op(va, vload(b + i)));
    if (i < n) {
      const int r = static_cast<int>(n - i);
      vstore_partial(out + i, op(va, vload_partial(b + i, r, 1.0f)), r);
    }
    return;
  }
  float ba[kW], bb[kW];
  for (int64_t i = 0; i < n; i += kW) {
    const int r = n - i < kW ? static_cast<int>(n - i) : kW;
    for (int j = 0; j < r; ++j) {
      ba[j] = a[(i + j) * sa];
      bb[j] = b[(i + j) * sb];
    }
    for (int j = r; j < kW; ++j) ba[j] = bb[j] = 1.0f;
    vstore(ba, op(vload(ba), vload(bb)));
    for (int j = 0; j < r; ++j) out[(i + j) * so] = ba[j];
  }
}

constexpr cpu::ElementwiseTable make_table() {
  cpu::ElementwiseTable t{};
  t.unary[static_cast<int>(UnaryOp::Neg)] = &unary_row<UNeg>;
  t.unary[static_cast<int>(UnaryOp::Abs)] = &unary_row<UAbs>;
  t.unary[static_cast<int>(UnaryOp::Exp)] = &unary_row<UExp>;
  t.unary[static_cast<int>(UnaryOp::Log)] = &unary_row<ULog>;
  t.unary[static_cast<int>(UnaryOp::Sqrt)] = &unary_row<USqrt>;
  t.unary[static_cast<int>(UnaryOp::Rsqrt)] = &unary_row<URsqrt>;
  t.unary[static_cast<int>(UnaryOp::Sin)] = &unary_row_scalar<SSin>;
  t.unary[static_cast<int>(UnaryOp::Cos)] = &unary_row_scalar<SCos>;
  t.unary[static_cast<int>(UnaryOp::Tanh)] = &unary_row<UTanh>;
  t.unary[static_cast<int>(UnaryOp::Sigmoid)] = &unary_row<USigmoid>;
  t.unary[static_cast<int>(UnaryOp::Relu)] = &unary_row<URelu>;
  t.unary[static_cast<int>(UnaryOp::Gelu)] = &unary_row<UGelu>;
  t.unary[static_cast<int>(UnaryOp::GeluTanh)] = &unary_row<UGeluTanh>;
  t.unary[static_cast<int>(UnaryOp::Silu)] = &unary_row<USilu>;
  t.unary[static_cast<int>(UnaryOp::Clamp)] = &unary_row<UClamp>;
  t.unary[static_cast<int>(UnaryOp::Floor)] = &unary_row<UFloor>;
  t.unary[static_cast<int>(UnaryOp::Ceil)] = &unary_row<UCeil>;
  t.unary[static_cast<int>(UnaryOp::Trunc)] = &unary_row<UTrunc>;
  t.unary[static_cast<int>(UnaryOp::Round)] = &unary_row<URound>;
  t.unary[static_cast<int>(UnaryOp::Log1p)] = &unary_row<ULog1p>;
  t.unary[static_cast<int>(UnaryOp::Expm1)] = &unary_row<UExpm1>;
  t.unary[static_cast<int>(UnaryOp::Erf)] = &unary_row_scalar<SErf>;

  t.unary_backward[static_cast<int>(UnaryOp::Tanh)] = &unary_backward_row<BTanh>;
  t.unary_backward[static_cast<int>(UnaryOp::Sigmoid)] = &unary_backward_row<BSigmoid>;
  t.unary_backward[static_cast<int>(UnaryOp::Relu)] = &unary_backward_row<BRelu>;
  t.unary_backward[static_cast<int>(UnaryOp::Gelu)] = &unary_backward_row<BGelu>;
  t.unary_backward[static_cast<int>(UnaryOp::GeluTanh)] = &unary_backward_row<BGeluTanh>;
  t.unary_backward[static_cast<int>(UnaryOp::Silu)] = &unary_backward_row<BSilu>;
  t.unary_backward[static_cast<int>(UnaryOp::Clamp)] = &unary_backward_row<BClamp>;

  t.binary[static_cast<int>(BinaryOp::Add)] = &binary_row<BinAdd>;
  t.binary[static_cast<int>(BinaryOp::Sub)] = &binary_row<BinSub>;
  t.binary[static_cast<int>(BinaryOp::Mul)] = &binary_row<BinMul>;
  t.binary[static_cast<int>(BinaryOp::Div)] = &binary_row<BinDiv>;
  t.binary[static_cast<int>(BinaryOp::Maximum)] = &binary_row<BinMaximum>;
  t.binary[static_cast<int>(BinaryOp::Minimum)] = &binary_row<BinMinimum>;
  return t;  // Pow stays null: the driver runs it on the scalar path
}

}  // namespace

const cpu::ElementwiseTable elementwise_table = make_table();

}  // namespace ember::EMBER_ISA_NS
