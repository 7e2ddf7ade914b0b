// Portable float32 "vectors" (8 lanes, plain loops) implementing the Vec API
// that vec_avx2.h and vec_avx512.h implement with intrinsics. This file is the
// reference for what each function means. The loops are kept branch-free
// (masks are 0 / ~0 words, selects are bitwise, float->int goes through the
// 1.5*2^23 trick) so the compiler auto-vectorizes them with SSE2.
// Include only through cpu/simd/vec.h (generic objects): everything lives
// in ember::generic and is `static inline`.
// Only compiler builtins are used (no std:: functions): an inline std:: helper
// would be a weak symbol shared with the AVX objects (the one-definition trap).
#pragma once
#include <cstdint>

#include "core/math_constants.h"

namespace ember::generic {

using Real = float;  // the lane type
constexpr int kW = 8;

struct VecF {
  float v[kW];
};
struct MaskF {
  uint32_t m[kW];  // 0 or 0xffffffff per lane, like the AVX2 masks
};

static inline VecF vload(const float* p) {
  VecF r;
  for (int i = 0; i < kW; ++i) r.v[i] = p[i];
  return r;
}
static inline void vstore(float* p, VecF a) {
  for (int i = 0; i < kW; ++i) p[i] = a.v[i];
}
static inline VecF vset1(float x) {
  VecF r;
  for (int i = 0; i < kW; ++i) r.v[i] = x;
  return r;
}
static inline VecF vzero() { return vset1(0.0f); }
// n < kW lanes from p, the rest `fill`; never touches p[n] or beyond.
static inline VecF vload_partial(const float* p, int n, float fill) {
  VecF r;
  for (int i = 0; i < kW; ++i) r.v[i] = i < n ? p[i] : fill;
  return r;
}
static inline void vstore_partial(float* p, VecF a, int n) {
  for (int i = 0; i < n; ++i) p[i] = a.v[i];
}

#define EMBER_VEC_LANEWISE(name, expr)      \
  static inline VecF name(VecF a, VecF b) { \
    VecF r;                                 \
    for (int i = 0; i < kW; ++i) {          \
      const float x = a.v[i], y = b.v[i];   \
      r.v[i] = (expr);                      \
    }                                       \
    return r;                               \
  }
EMBER_VEC_LANEWISE(vadd, x + y)
EMBER_VEC_LANEWISE(vsub, x - y)
EMBER_VEC_LANEWISE(vmul, x* y)
EMBER_VEC_LANEWISE(vdiv, x / y)
// x86 semantics on every ISA: vmax(a, b) = a > b ? a : b (b when either is NaN).
EMBER_VEC_LANEWISE(vmax, x > y ? x : y)
EMBER_VEC_LANEWISE(vmin, x < y ? x : y)
#undef EMBER_VEC_LANEWISE

// a*b + c. Not fused here (baseline x86-64 has no FMA and a libm fmaf is slow),
// so the last bit can differ from the AVX paths.
static inline VecF vfma(VecF a, VecF b, VecF c) { return vadd(vmul(a, b), c); }
static inline VecF vsqrt(VecF a) {
  VecF r;
  for (int i = 0; i < kW; ++i) r.v[i] = __builtin_sqrtf(a.v[i]);
  return r;
}

// Bit-level helpers (used by vec_math.inc).
static inline uint32_t f2u(float f) {
  uint32_t u;
  __builtin_memcpy(&u, &f, 4);
  return u;
}
static inline float u2f(uint32_t u) {
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}
static inline VecF vbits(uint32_t b) { return vset1(u2f(b)); }
#define EMBER_VEC_BITWISE(name, expr)       \
  static inline VecF name(VecF a, VecF b) { \
    VecF r;                                 \
    for (int i = 0; i < kW; ++i) {          \
      const uint32_t x = f2u(a.v[i]);       \
      const uint32_t y = f2u(b.v[i]);       \
      r.v[i] = u2f(expr);                   \
    }                                       \
    return r;                               \
  }
EMBER_VEC_BITWISE(vand, x& y)
EMBER_VEC_BITWISE(vor, x | y)
EMBER_VEC_BITWISE(vxor, x ^ y)
EMBER_VEC_BITWISE(vandnot, ~x& y)  // ~a & b
#undef EMBER_VEC_BITWISE
static inline VecF vabs(VecF a) { return vand(a, vbits(0x7fffffffu)); }
static inline VecF vneg(VecF a) { return vxor(a, vbits(0x80000000u)); }
// Round to nearest even (adding and removing 2^23 leaves no fraction bits);
// |x| >= 2^23 is already integral, NaN stays NaN.
static inline VecF vround(VecF a) {
  VecF r;
  for (int i = 0; i < kW; ++i) {
    const float x = a.v[i];
    const float big = __builtin_copysignf(8388608.0f, x);
    const float y = __builtin_copysignf((x + big) - big, x);
    const uint32_t keep = __builtin_fabsf(x) < 8388608.0f ? ~0u : 0u;
    r.v[i] = u2f((f2u(y) & keep) | (f2u(x) & ~keep));
  }
  return r;
}
static inline VecF vfloor(VecF a) {
  VecF r = vround(a);
  for (int i = 0; i < kW; ++i) r.v[i] -= r.v[i] > a.v[i] ? 1.0f : 0.0f;
  return r;
}
// 2^n for integral n in [-126, 127], built from the exponent bits. The integer
// is read from the low bits of n + 1.5*2^23 (no float->int conversion, which
// would be undefined for NaN); NaN or out-of-range n gives an unspecified value.
static inline VecF vpow2n(VecF n) {
  VecF r;
  for (int i = 0; i < kW; ++i) {
    const uint32_t e = f2u(n.v[i] + 12582912.0f) - 0x4b400000u;  // n as two's complement
    r.v[i] = u2f((e + 127u) << 23);
  }
  return r;
}
// p * 2^n for integral n in [-151, 128] (|p| in [0.5, 2]), rounded once into
// the subnormals or to inf: n spans more than one exponent field, so scale by
// two factors (only the second multiply can round).
static inline VecF vldexp(VecF p, VecF n) {
  const VecF n1 = vfloor(vmul(n, vset1(0.5f)));
  return vmul(vmul(p, vpow2n(n1)), vpow2n(vsub(n, n1)));
}
// 1/a for a in [1, 2^100] (a true divide here).
static inline VecF vrcp(VecF a) { return vdiv(vset1(1.0f), a); }
// For positive normal x = m * 2^e with m in [1, 2): vgetexp -> e (as float), vgetmant -> m.
static inline VecF vgetexp(VecF x) {
  VecF r;
  for (int i = 0; i < kW; ++i)
    r.v[i] = static_cast<float>(static_cast<int32_t>((f2u(x.v[i]) >> 23) & 0xffu) - 127);
  return r;
}
static inline VecF vgetmant(VecF x) { return vor(vand(x, vbits(0x007fffffu)), vbits(0x3f800000u)); }

// Same fixed tree as vec_avx2.h: ((a0+a4)+(a2+a6)) + ((a1+a5)+(a3+a7)).
static inline float vreduce_add(VecF a) {
  float q[4];
  for (int i = 0; i < 4; ++i) q[i] = a.v[i] + a.v[i + 4];
  return (q[0] + q[2]) + (q[1] + q[3]);
}
static inline float vreduce_max(VecF a) {
  float q[4];
  for (int i = 0; i < 4; ++i) q[i] = a.v[i] > a.v[i + 4] ? a.v[i] : a.v[i + 4];
  const float x = q[0] > q[2] ? q[0] : q[2];
  const float y = q[1] > q[3] ? q[1] : q[3];
  return x > y ? x : y;
}
static inline float vreduce_min(VecF a) {
  float q[4];
  for (int i = 0; i < 4; ++i) q[i] = a.v[i] < a.v[i + 4] ? a.v[i] : a.v[i + 4];
  const float x = q[0] < q[2] ? q[0] : q[2];
  const float y = q[1] < q[3] ? q[1] : q[3];
  return x < y ? x : y;
}

// Comparisons are ordered (false when either side is NaN) except vne (true).
#define EMBER_VEC_CMP(name, expr)            \
  static inline MaskF name(VecF a, VecF b) { \
    MaskF r;                                 \
    for (int i = 0; i < kW; ++i) {           \
      const float x = a.v[i], y = b.v[i];    \
      r.m[i] = (expr) ? ~0u : 0u;            \
    }                                        \
    return r;                                \
  }
EMBER_VEC_CMP(vlt, x < y)
EMBER_VEC_CMP(vle, x <= y)
EMBER_VEC_CMP(vgt, x > y)
EMBER_VEC_CMP(vge, x >= y)
EMBER_VEC_CMP(veq, x == y)
EMBER_VEC_CMP(vne, x != y)
#undef EMBER_VEC_CMP
static inline MaskF visnan(VecF a) {
  MaskF r;
  for (int i = 0; i < kW; ++i) r.m[i] = a.v[i] != a.v[i] ? ~0u : 0u;
  return r;
}
static inline VecF vselect(MaskF m, VecF t, VecF f) {
  VecF r;
  for (int i = 0; i < kW; ++i) r.v[i] = u2f((f2u(t.v[i]) & m.m[i]) | (f2u(f.v[i]) & ~m.m[i]));
  return r;
}
static inline MaskF mand(MaskF a, MaskF b) {
  MaskF r;
  for (int i = 0; i < kW; ++i) r.m[i] = a.m[i] & b.m[i];
  return r;
}
static inline MaskF mor(MaskF a, MaskF b) {
  MaskF r;
  for (int i = 0; i < kW; ++i) r.m[i] = a.m[i] | b.m[i];
  return r;
}
static inline MaskF mnot(MaskF a) {
  MaskF r;
  for (int i = 0; i < kW; ++i) r.m[i] = ~a.m[i];
  return r;
}
static inline bool many(MaskF a) {
  uint32_t any = 0;
  for (int i = 0; i < kW; ++i) any |= a.m[i];
  return any != 0;
}

// n (0..kW) bfloat16 values widened to float32 lanes, the other lanes 0.
static inline VecF vload_bf16(const uint16_t* p, int n) {
  VecF r;
  for (int i = 0; i < kW; ++i) r.v[i] = u2f(i < n ? static_cast<uint32_t>(p[i]) << 16 : 0u);
  return r;
}

// ---- memory layout: non-temporal stores, lane-selected and strided loads, transposes

// Non-temporal store of a full vector to a kW-aligned address; vstream_fence() orders a run of
// them before later stores.
static inline void vstream(float* p, VecF a) { vstore(p, a); }
static inline void vstream_fence() {}
// dst with the lanes set in `bits` (bit l = lane l) replaced by base[l]; other lanes are
// never read, so base may point before or past the row where those lanes are.
static inline VecF vload_lanes(VecF dst, const float* base, unsigned bits) {
  for (int l = 0; l < kW; ++l)
    if (bits >> l & 1u) dst.v[l] = base[l];
  return dst;
}
// The same from base[l * st] (a masked gather; (kW - 1) * st must fit in an int).
static inline VecF vgather_lanes(VecF dst, const float* base, unsigned bits, int st) {
  for (int l = 0; l < kW; ++l)
    if (bits >> l & 1u) dst.v[l] = base[static_cast<int64_t>(l) * st];
  return dst;
}
// Lane l = base[l * st] ((kW - 1) * st must fit in an int).
static inline VecF vgather(const float* base, int st) {
  VecF r;
  for (int l = 0; l < kW; ++l) r.v[l] = base[static_cast<int64_t>(l) * st];
  return r;
}
// In-register transpose of kW rows of kW floats: lane j of r[i] goes to lane i of r[j].
static inline void vtranspose(VecF (&r)[kW]) {
  for (int i = 0; i < kW; ++i)
    for (int j = i + 1; j < kW; ++j) {
      const float t = r[i].v[j];
      r[i].v[j] = r[j].v[i];
      r[j].v[i] = t;
    }
}

#include "cpu/simd/vec_math.inc"

}  // namespace ember::generic
