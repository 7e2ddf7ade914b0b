// AVX-512 float32 vectors (16 lanes) for kernels written once against the Vec
// API (see vec_generic.h for the reference semantics of every function).
// Include only through cpu/simd/vec.h (avx512 objects): everything here lives in ember::avx512
// and is `static inline`, so nothing is shared with the other ISA objects.
#pragma once
// GCC 12 warns -W(maybe-)uninitialized inside its own AVX-512 intrinsics (the
// self-initialized _mm512_undefined_* idiom, GCC bug 105593); silence it for
// the intrinsics header only. Include this header before anything that may
// pull in <immintrin.h>.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cstdint>

#include "core/math_constants.h"

namespace ember::avx512 {

using Real = float;  // the lane type
constexpr int kW = 16;

struct VecF {
  __m512 v;
};
struct MaskF {
  __mmask16 m;
};

static inline VecF vload(const float* p) { return {_mm512_loadu_ps(p)}; }
static inline void vstore(float* p, VecF a) { _mm512_storeu_ps(p, a.v); }
static inline VecF vset1(float x) { return {_mm512_set1_ps(x)}; }
static inline VecF vzero() { return {_mm512_setzero_ps()}; }
// Lanes [n, kW) get `fill`; masked lanes are never read (no fault past p[n-1]).
static inline VecF vload_partial(const float* p, int n, float fill) {
  const __mmask16 k = static_cast<__mmask16>((1u << n) - 1u);
  return {_mm512_mask_loadu_ps(_mm512_set1_ps(fill), k, p)};
}
static inline void vstore_partial(float* p, VecF a, int n) {
  _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1u), a.v);
}

static inline VecF vadd(VecF a, VecF b) { return {_mm512_add_ps(a.v, b.v)}; }
static inline VecF vsub(VecF a, VecF b) { return {_mm512_sub_ps(a.v, b.v)}; }
static inline VecF vmul(VecF a, VecF b) { return {_mm512_mul_ps(a.v, b.v)}; }
static inline VecF vdiv(VecF a, VecF b) { return {_mm512_div_ps(a.v, b.v)}; }
// x86 semantics on every ISA: vmax(a, b) = a > b ? a : b (b when either is NaN).
static inline VecF vmax(VecF a, VecF b) { return {_mm512_max_ps(a.v, b.v)}; }
static inline VecF vmin(VecF a, VecF b) { return {_mm512_min_ps(a.v, b.v)}; }
static inline VecF vfma(VecF a, VecF b, VecF c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
static inline VecF vsqrt(VecF a) { return {_mm512_sqrt_ps(a.v)}; }

// Bit-level helpers (used by vec_math.inc).
static inline VecF vbits(uint32_t b) {
  return {_mm512_castsi512_ps(_mm512_set1_epi32(static_cast<int>(b)))};
}
static inline VecF vand(VecF a, VecF b) { return {_mm512_and_ps(a.v, b.v)}; }
static inline VecF vor(VecF a, VecF b) { return {_mm512_or_ps(a.v, b.v)}; }
static inline VecF vxor(VecF a, VecF b) { return {_mm512_xor_ps(a.v, b.v)}; }
static inline VecF vandnot(VecF a, VecF b) { return {_mm512_andnot_ps(a.v, b.v)}; }  // ~a & b
static inline VecF vabs(VecF a) { return vand(a, vbits(0x7fffffffu)); }
static inline VecF vneg(VecF a) { return vxor(a, vbits(0x80000000u)); }
// Round to nearest even / toward -inf (exact for |x| >= 2^23, NaN stays NaN).
static inline VecF vround(VecF a) {
  return {_mm512_roundscale_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
}
static inline VecF vfloor(VecF a) {
  return {_mm512_roundscale_ps(a.v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC)};
}
// 2^n for integral n in [-126, 127], built from the exponent bits.
static inline VecF vpow2n(VecF n) {
  __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(n.v), _mm512_set1_epi32(127));
  return {_mm512_castsi512_ps(_mm512_slli_epi32(e, 23))};
}
// p * 2^n for integral n in [-151, 128] (|p| in [0.5, 2]), rounded once into
// the subnormals or to inf: one scalef instead of two exponent-field factors.
static inline VecF vldexp(VecF p, VecF n) { return {_mm512_scalef_ps(p.v, n.v)}; }
// 1/a for a in [1, 2^100] to ~1 ulp: 14-bit estimate plus one Newton step,
// much cheaper than a 16-lane divide.
static inline VecF vrcp(VecF a) {
  const __m512 r = _mm512_rcp14_ps(a.v);
  return {_mm512_fmadd_ps(r, _mm512_fnmadd_ps(a.v, r, _mm512_set1_ps(1.0f)), r)};
}
// For positive normal x = m * 2^e with m in [1, 2): vgetexp -> e (as float), vgetmant -> m.
static inline VecF vgetexp(VecF x) {
  __m512i b = _mm512_srli_epi32(_mm512_castps_si512(x.v), 23);
  b = _mm512_sub_epi32(_mm512_and_si512(b, _mm512_set1_epi32(0xff)), _mm512_set1_epi32(127));
  return {_mm512_cvtepi32_ps(b)};
}
static inline VecF vgetmant(VecF x) { return vor(vand(x, vbits(0x007fffffu)), vbits(0x3f800000u)); }

static inline float vreduce_add(VecF a) {
  // Fixed tree: halves, then quarters, ... (same order every call).
  __m256 h = _mm256_add_ps(_mm512_castps512_ps256(a.v), _mm512_extractf32x8_ps(a.v, 1));
  __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  q = _mm_add_ps(q, _mm_movehl_ps(q, q));
  q = _mm_add_ss(q, _mm_movehdup_ps(q));
  return _mm_cvtss_f32(q);
}
static inline float vreduce_max(VecF a) {
  __m256 h = _mm256_max_ps(_mm512_castps512_ps256(a.v), _mm512_extractf32x8_ps(a.v, 1));
  __m128 q = _mm_max_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  q = _mm_max_ps(q, _mm_movehl_ps(q, q));
  q = _mm_max_ss(q, _mm_movehdup_ps(q));
  return _mm_cvtss_f32(q);
}
static inline float vreduce_min(VecF a) {
  __m256 h = _mm256_min_ps(_mm512_castps512_ps256(a.v), _mm512_extractf32x8_ps(a.v, 1));
  __m128 q = _mm_min_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  q = _mm_min_ps(q, _mm_movehl_ps(q, q));
  q = _mm_min_ss(q, _mm_movehdup_ps(q));
  return _mm_cvtss_f32(q);
}

// Comparisons are ordered (false when either side is NaN) except vne (true).
static inline MaskF vlt(VecF a, VecF b) { return {_mm512_cmp_ps_mask(a.v, b.v, _CMP_LT_OQ)}; }
static inline MaskF vle(VecF a, VecF b) { return {_mm512_cmp_ps_mask(a.v, b.v, _CMP_LE_OQ)}; }
static inline MaskF vgt(VecF a, VecF b) { return {_mm512_cmp_ps_mask(a.v, b.v, _CMP_GT_OQ)}; }
static inline MaskF vge(VecF a, VecF b) { return {_mm512_cmp_ps_mask(a.v, b.v, _CMP_GE_OQ)}; }
static inline MaskF veq(VecF a, VecF b) { return {_mm512_cmp_ps_mask(a.v, b.v, _CMP_EQ_OQ)}; }
static inline MaskF vne(VecF a, VecF b) { return {_mm512_cmp_ps_mask(a.v, b.v, _CMP_NEQ_UQ)}; }
static inline MaskF visnan(VecF a) { return {_mm512_cmp_ps_mask(a.v, a.v, _CMP_UNORD_Q)}; }
static inline VecF vselect(MaskF m, VecF t, VecF f) {
  return {_mm512_mask_blend_ps(m.m, f.v, t.v)};
}
static inline MaskF mand(MaskF a, MaskF b) { return {static_cast<__mmask16>(a.m & b.m)}; }
static inline MaskF mor(MaskF a, MaskF b) { return {static_cast<__mmask16>(a.m | b.m)}; }
static inline MaskF mnot(MaskF a) { return {static_cast<__mmask16>(~a.m)}; }
static inline bool many(MaskF a) { return a.m != 0; }

// n (0..kW) bfloat16 values widened to float32 lanes, the other lanes 0.
static inline VecF vload_bf16(const uint16_t* p, int n) {
  const __m256i h = _mm256_maskz_loadu_epi16(static_cast<__mmask16>((1u << n) - 1u), p);
  return {_mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16))};
}

// ---- memory layout: non-temporal stores, lane-selected and strided loads, transposes

// Non-temporal store of a full vector to a kW-aligned address; vstream_fence() orders a run of
// them before later stores.
static inline void vstream(float* p, VecF a) { _mm512_stream_ps(p, a.v); }
static inline void vstream_fence() { _mm_sfence(); }
// dst with the lanes set in `bits` (bit l = lane l) replaced by base[l]; other lanes are
// never read, so base may point before or past the row where those lanes are.
static inline VecF vload_lanes(VecF dst, const float* base, unsigned bits) {
  return {_mm512_mask_loadu_ps(dst.v, static_cast<__mmask16>(bits), base)};
}
static inline __m512i lane_offsets(int st) {
  return _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                            _mm512_set1_epi32(st));
}
// The same from base[l * st] (a masked gather; (kW - 1) * st must fit in an int).
static inline VecF vgather_lanes(VecF dst, const float* base, unsigned bits, int st) {
  return {_mm512_mask_i32gather_ps(dst.v, static_cast<__mmask16>(bits), lane_offsets(st), base, 4)};
}
// Lane l = base[l * st] ((kW - 1) * st must fit in an int).
static inline VecF vgather(const float* base, int st) {
  return {_mm512_i32gather_ps(lane_offsets(st), base, 4)};
}
// In-register transpose of kW rows of kW floats: lane j of r[i] goes to lane i of r[j].
static inline void vtranspose(VecF (&r)[kW]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i].v, r[i + 1].v);
    t[i + 1] = _mm512_unpackhi_ps(r[i].v, r[i + 1].v);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i].v = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 1].v = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[i + 2].v = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 3].v = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  // r[4q + s] now holds, per 128-bit lane L, rows 4L'.. of column block; finish with 128-bit
  // lane shuffles across groups of four registers.
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm512_shuffle_f32x4(r[i].v, r[i + 4].v, 0x88);
    t[i + 4] = _mm512_shuffle_f32x4(r[i].v, r[i + 4].v, 0xdd);
    t[i + 8] = _mm512_shuffle_f32x4(r[i + 8].v, r[i + 12].v, 0x88);
    t[i + 12] = _mm512_shuffle_f32x4(r[i + 8].v, r[i + 12].v, 0xdd);
  }
  for (int i = 0; i < 4; ++i) {
    r[i].v = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 8].v = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
    r[i + 4].v = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
    r[i + 12].v = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xdd);
  }
}

#include "cpu/simd/vec_math.inc"

}  // namespace ember::avx512
