// Portable float64 "vectors" (4 lanes, plain loops) with the subset of the Vec API that
// optim_kernels.cpp uses, so the float64 optimizer path is the same source as the float32
// one. Semantics as vec_generic.h (vmax(a, b) = a > b ? a : b, masks are all-ones words).
// Include only through cpu/simd/vec.h (f64 objects): everything lives in ember::f64 and
// is `static inline`.
#pragma once
#include <cstdint>

namespace ember::f64 {

using Real = double;  // the lane type
constexpr int kW = 4;

struct VecF {
  double v[kW];
};
struct MaskF {
  uint64_t m[kW];
};

static inline VecF vload(const double* p) {
  VecF r;
  for (int i = 0; i < kW; ++i) r.v[i] = p[i];
  return r;
}
static inline void vstore(double* p, VecF a) {
  for (int i = 0; i < kW; ++i) p[i] = a.v[i];
}
static inline VecF vset1(double x) {
  VecF r;
  for (int i = 0; i < kW; ++i) r.v[i] = x;
  return r;
}
static inline VecF vzero() { return vset1(0.0); }
static inline VecF vload_partial(const double* p, int n, double fill) {
  VecF r;
  for (int i = 0; i < kW; ++i) r.v[i] = i < n ? p[i] : fill;
  return r;
}
static inline void vstore_partial(double* p, VecF a, int n) {
  for (int i = 0; i < n; ++i) p[i] = a.v[i];
}

#define EMBER_F64_LANEWISE(name, expr)      \
  static inline VecF name(VecF a, VecF b) { \
    VecF r;                                 \
    for (int i = 0; i < kW; ++i) {          \
      const double x = a.v[i], y = b.v[i];  \
      r.v[i] = (expr);                      \
    }                                       \
    return r;                               \
  }
EMBER_F64_LANEWISE(vadd, x + y)
EMBER_F64_LANEWISE(vsub, x - y)
EMBER_F64_LANEWISE(vmul, x* y)
EMBER_F64_LANEWISE(vdiv, x / y)
EMBER_F64_LANEWISE(vmax, x > y ? x : y)
EMBER_F64_LANEWISE(vmin, x < y ? x : y)
#undef EMBER_F64_LANEWISE

// Not fused (baseline x86-64 has no FMA).
static inline VecF vfma(VecF a, VecF b, VecF c) { return vadd(vmul(a, b), c); }
static inline VecF vsqrt(VecF a) {
  VecF r;
  for (int i = 0; i < kW; ++i) r.v[i] = __builtin_sqrt(a.v[i]);
  return r;
}
static inline VecF vabs(VecF a) {
  VecF r;
  for (int i = 0; i < kW; ++i) r.v[i] = __builtin_fabs(a.v[i]);
  return r;
}

#define EMBER_F64_CMP(name, expr)            \
  static inline MaskF name(VecF a, VecF b) { \
    MaskF r;                                 \
    for (int i = 0; i < kW; ++i) {           \
      const double x = a.v[i], y = b.v[i];   \
      r.m[i] = (expr) ? ~0ull : 0ull;        \
    }                                        \
    return r;                                \
  }
EMBER_F64_CMP(vgt, x > y)
EMBER_F64_CMP(vlt, x < y)
#undef EMBER_F64_CMP
static inline MaskF visnan(VecF a) {
  MaskF r;
  for (int i = 0; i < kW; ++i) r.m[i] = a.v[i] != a.v[i] ? ~0ull : 0ull;
  return r;
}
static inline MaskF mor(MaskF a, MaskF b) {
  MaskF r;
  for (int i = 0; i < kW; ++i) r.m[i] = a.m[i] | b.m[i];
  return r;
}
static inline VecF vselect(MaskF m, VecF t, VecF f) {
  VecF r;
  for (int i = 0; i < kW; ++i) r.v[i] = m.m[i] ? t.v[i] : f.v[i];
  return r;
}
// Fixed tree: (a0 + a2) + (a1 + a3).
static inline double vreduce_add(VecF a) { return (a.v[0] + a.v[2]) + (a.v[1] + a.v[3]); }
static inline double vreduce_max(VecF a) {
  const double x = a.v[0] > a.v[2] ? a.v[0] : a.v[2];
  const double y = a.v[1] > a.v[3] ? a.v[1] : a.v[3];
  return x > y ? x : y;
}

}  // namespace ember::f64
