// AVX2 + FMA float32 vectors (8 lanes) for kernels written once against the
// Vec API (see vec_generic.h for the reference semantics of every function).
// Include only through cpu/simd/vec.h (avx2 objects): everything here lives in ember::avx2 and
// is `static inline`, so nothing is shared with the other ISA objects.
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "core/math_constants.h"

namespace ember::avx2 {

using Real = float;  // the lane type
constexpr int kW = 8;

struct VecF {
  __m256 v;
};
struct MaskF {
  __m256 m;  // all-ones / all-zeros lanes
};

static inline __m256i lane_mask(int n) {
  // Lane i is active when i < n.
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static inline VecF vload(const float* p) { return {_mm256_loadu_ps(p)}; }
static inline void vstore(float* p, VecF a) { _mm256_storeu_ps(p, a.v); }
static inline VecF vset1(float x) { return {_mm256_set1_ps(x)}; }
static inline VecF vzero() { return {_mm256_setzero_ps()}; }
// Lanes [n, kW) get `fill`; masked lanes are never read (no fault past p[n-1]).
static inline VecF vload_partial(const float* p, int n, float fill) {
  const __m256i k = lane_mask(n);
  return {_mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, k), _mm256_castsi256_ps(k))};
}
static inline void vstore_partial(float* p, VecF a, int n) {
  _mm256_maskstore_ps(p, lane_mask(n), a.v);
}

static inline VecF vadd(VecF a, VecF b) { return {_mm256_add_ps(a.v, b.v)}; }
static inline VecF vsub(VecF a, VecF b) { return {_mm256_sub_ps(a.v, b.v)}; }
static inline VecF vmul(VecF a, VecF b) { return {_mm256_mul_ps(a.v, b.v)}; }
static inline VecF vdiv(VecF a, VecF b) { return {_mm256_div_ps(a.v, b.v)}; }
// x86 semantics on every ISA: vmax(a, b) = a > b ? a : b (b when either is NaN).
static inline VecF vmax(VecF a, VecF b) { return {_mm256_max_ps(a.v, b.v)}; }
static inline VecF vmin(VecF a, VecF b) { return {_mm256_min_ps(a.v, b.v)}; }
static inline VecF vfma(VecF a, VecF b, VecF c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
static inline VecF vsqrt(VecF a) { return {_mm256_sqrt_ps(a.v)}; }

// Bit-level helpers (used by vec_math.inc).
static inline VecF vbits(uint32_t b) {
  return {_mm256_castsi256_ps(_mm256_set1_epi32(static_cast<int>(b)))};
}
static inline VecF vand(VecF a, VecF b) { return {_mm256_and_ps(a.v, b.v)}; }
static inline VecF vor(VecF a, VecF b) { return {_mm256_or_ps(a.v, b.v)}; }
static inline VecF vxor(VecF a, VecF b) { return {_mm256_xor_ps(a.v, b.v)}; }
static inline VecF vandnot(VecF a, VecF b) { return {_mm256_andnot_ps(a.v, b.v)}; }  // ~a & b
static inline VecF vabs(VecF a) { return vand(a, vbits(0x7fffffffu)); }
static inline VecF vneg(VecF a) { return vxor(a, vbits(0x80000000u)); }
// Round to nearest even / toward -inf (exact for |x| >= 2^23, NaN stays NaN).
static inline VecF vround(VecF a) {
  return {_mm256_round_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
}
static inline VecF vfloor(VecF a) {
  return {_mm256_round_ps(a.v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC)};
}
// 2^n for integral n in [-126, 127], built from the exponent bits.
static inline VecF vpow2n(VecF n) {
  __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n.v), _mm256_set1_epi32(127));
  return {_mm256_castsi256_ps(_mm256_slli_epi32(e, 23))};
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
  __m256i b = _mm256_srli_epi32(_mm256_castps_si256(x.v), 23);
  b = _mm256_sub_epi32(_mm256_and_si256(b, _mm256_set1_epi32(0xff)), _mm256_set1_epi32(127));
  return {_mm256_cvtepi32_ps(b)};
}
static inline VecF vgetmant(VecF x) { return vor(vand(x, vbits(0x007fffffu)), vbits(0x3f800000u)); }

// Fixed tree: halves, then quarters, ... (same order every call; vec_generic.h mirrors it).
static inline float vreduce_add(VecF a) {
  __m128 q = _mm_add_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
  q = _mm_add_ps(q, _mm_movehl_ps(q, q));
  q = _mm_add_ss(q, _mm_movehdup_ps(q));
  return _mm_cvtss_f32(q);
}
static inline float vreduce_max(VecF a) {
  __m128 q = _mm_max_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
  q = _mm_max_ps(q, _mm_movehl_ps(q, q));
  q = _mm_max_ss(q, _mm_movehdup_ps(q));
  return _mm_cvtss_f32(q);
}
static inline float vreduce_min(VecF a) {
  __m128 q = _mm_min_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
  q = _mm_min_ps(q, _mm_movehl_ps(q, q));
  q = _mm_min_ss(q, _mm_movehdup_ps(q));
  return _mm_cvtss_f32(q);
}

// Comparisons are ordered (false when either side is NaN) except vne (true).
static inline MaskF vlt(VecF a, VecF b) { return {_mm256_cmp_ps(a.v, b.v, _CMP_LT_OQ)}; }
static inline MaskF vle(VecF a, VecF b) { return {_mm256_cmp_ps(a.v, b.v, _CMP_LE_OQ)}; }
static inline MaskF vgt(VecF a, VecF b) { return {_mm256_cmp_ps(a.v, b.v, _CMP_GT_OQ)}; }
static inline MaskF vge(VecF a, VecF b) { return {_mm256_cmp_ps(a.v, b.v, _CMP_GE_OQ)}; }
static inline MaskF veq(VecF a, VecF b) { return {_mm256_cmp_ps(a.v, b.v, _CMP_EQ_OQ)}; }
static inline MaskF vne(VecF a, VecF b) { return {_mm256_cmp_ps(a.v, b.v, _CMP_NEQ_UQ)}; }
static inline MaskF visnan(VecF a) { return {_mm256_cmp_ps(a.v, a.v, _CMP_UNORD_Q)}; }
static inline VecF vselect(MaskF m, VecF t, VecF f) { return {_mm256_blendv_ps(f.v, t.v, m.m)}; }
static inline MaskF mand(MaskF a, MaskF b) { return {_mm256_and_ps(a.m, b.m)}; }
static inline MaskF mor(MaskF a, MaskF b) { return {_mm256_or_ps(a.m, b.m)}; }
static inline MaskF mnot(MaskF a) {
  return {_mm256_xor_ps(a.m, _mm256_castsi256_ps(_mm256_set1_epi32(-1)))};
}
static inline bool many(MaskF a) { return _mm256_movemask_ps(a.m) != 0; }

// n (0..kW) bfloat16 values widened to float32 lanes, the other lanes 0.
static inline VecF vload_bf16(const uint16_t* p, int n) {
  __m128i h;
  if (n >= 8) {
    h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  } else {
    alignas(16) uint16_t t[8] = {};
    for (int i = 0; i < n; ++i) t[i] = p[i];
    h = _mm_load_si128(reinterpret_cast<const __m128i*>(t));
  }
  return {_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16))};
}

// ---- memory layout: non-temporal stores, lane-selected and strided loads, transposes

// Non-temporal store of a full vector to a kW-aligned address; vstream_fence() orders a run of
// them before later stores.
static inline void vstream(float* p, VecF a) { _mm256_stream_ps(p, a.v); }
static inline void vstream_fence() { _mm_sfence(); }
// All-ones lanes where bit l of `bits` is set.
static inline __m256i lane_bits(unsigned bits) {
  const __m256i lane = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  return _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(static_cast<int>(bits)), lane),
                            lane);
}
static inline __m256i lane_offsets(int st) {
  return _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(st));
}
// dst with the lanes set in `bits` (bit l = lane l) replaced by base[l]; other lanes are
// never read, so base may point before or past the row where those lanes are.
static inline VecF vload_lanes(VecF dst, const float* base, unsigned bits) {
  const __m256i in = lane_bits(bits);
  return {_mm256_blendv_ps(dst.v, _mm256_maskload_ps(base, in), _mm256_castsi256_ps(in))};
}
// The same from base[l * st] (a masked gather; (kW - 1) * st must fit in an int).
static inline VecF vgather_lanes(VecF dst, const float* base, unsigned bits, int st) {
  return {_mm256_mask_i32gather_ps(dst.v, base, lane_offsets(st),
                                   _mm256_castsi256_ps(lane_bits(bits)), 4)};
}
// Lane l = base[l * st] ((kW - 1) * st must fit in an int).
static inline VecF vgather(const float* base, int st) {
  return {_mm256_i32gather_ps(base, lane_offsets(st), 4)};
}
// In-register transpose of kW rows of kW floats: lane j of r[i] goes to lane i of r[j].
static inline void vtranspose(VecF (&r)[kW]) {
  __m256 t[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i].v, r[2 * i + 1].v);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i].v, r[2 * i + 1].v);
  }
  for (int i = 0; i < 2; ++i) {
    r[4 * i].v = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    r[4 * i + 1].v = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
    r[4 * i + 2].v = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    r[4 * i + 3].v = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
  }
  for (int g = 0; g < 4; ++g) {
    t[g] = _mm256_permute2f128_ps(r[g].v, r[4 + g].v, 0x20);
    t[g + 4] = _mm256_permute2f128_ps(r[g].v, r[4 + g].v, 0x31);
  }
  for (int i = 0; i < 8; ++i) r[i].v = t[i];
}

#include "cpu/simd/vec_math.inc"

}  // namespace ember::avx2
