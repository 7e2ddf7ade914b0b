// Int8 GEMM kernels, compiled once per ISA inside namespace ember::<isa>
// (ember_add_isa_kernels). The micro-kernel is ISA code proper: vpdpbusd where the avx512
// object is compiled with VNNI, else a widening AVX2 kernel (u8 / s8 -> s16, then vpmaddwd,
// which cannot saturate, unlike vpmaddubsw), else scalar. The epilogue is written once on the
// Vec API. Nothing here may instantiate std:: templates (docs/architecture.md).
#include "cpu/simd/vec.h"  // first: it may wrap <immintrin.h>
//
#include <cmath>
#include <cstring>

#include "cpu/qgemm/qgemm.h"

namespace ember::EMBER_ISA_NS {
namespace {

using cpu::kQgemmMR;
using cpu::kQgemmNR;
using cpu::QgemmAct;

constexpr int64_t kTileLd = 2 * kQgemmNR;

// The 4 bytes of a row at group g; the last group of a K that is not a multiple of 4 is
// zero-filled rather than read past the row (the packed weights are zero there anyway).
static inline uint32_t a_word(const uint8_t* row, int64_t g, int64_t k) {
  uint32_t w = 0;
  if (4 * g + 4 <= k) {
    std::memcpy(&w, row + 4 * g, 4);  // one load (a variable-size memcpy would be a call)
    return w;
  }
  for (int64_t t = 0; 4 * g + t < k; ++t) w |= static_cast<uint32_t>(row[4 * g + t]) << (8 * t);
  return w;
}

#if defined(EMBER_ISA_AVX512) && defined(__AVX512VNNI__)
constexpr bool kVnni = true;
// 6 rows x 2 panels = 12 zmm accumulators; per group of 4 k: 2 panel loads, 6 broadcasts,
// 12 vpdpbusd. Rows past mr repeat the last valid row (computed, then ignored). Named
// accumulators and vpdpbusd in asm: through the intrinsic GCC copies every accumulator to a
// fresh register each iteration (24 extra moves per 12 vpdpbusd).
static inline void dpbusd(__m512i& acc, __m512i a, __m512i b) {
  __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
}
static_assert(kQgemmMR == 6, "the VNNI micro-kernel is written for 6 rows");
#define EMBER_QG_ROW(r)                         \
  {                                             \
    int32_t word;                               \
    std::memcpy(&word, rows[r] + off, 4);       \
    const __m512i av = _mm512_set1_epi32(word); \
    dpbusd(c##r##0, av, w0);                    \
    dpbusd(c##r##1, av, w1);                    \
  }
#define EMBER_QG_STEP(g)                                   \
  {                                                        \
    const __m512i w0 = _mm512_loadu_si512(b0 + (g) * 64);  \
    const __m512i w1 = _mm512_loadu_si512(b1p + (g) * 64); \
    EMBER_QG_ROW(0)                                        \
    EMBER_QG_ROW(1)                                        \
    EMBER_QG_ROW(2)                                        \
    EMBER_QG_ROW(3)                                        \
    EMBER_QG_ROW(4)                                        \
    EMBER_QG_ROW(5)                                        \
  }
void micro(const uint8_t* a, int64_t lda, int64_t mr, int64_t k, const int8_t* b0, const int8_t* b1,
           int32_t* tile) {
  const uint8_t* rows[kQgemmMR];
  for (int64_t r = 0; r < kQgemmMR; ++r) rows[r] = a + (r < mr ? r : mr - 1) * lda;
  const int8_t* b1p = b1 ? b1 : b0;
  __m512i c00 = _mm512_setzero_si512(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
          c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  const int64_t full = k / 4;
  int64_t off = 0;
  for (int64_t g = 0; g < full; ++g, off += 4) EMBER_QG_STEP(g)
  if (full * 4 < k) {  // the last, partial group: zero-padded copies of the rows' tails
    uint32_t tail[kQgemmMR];
    for (int64_t r = 0; r < kQgemmMR; ++r) {
      tail[r] = a_word(rows[r], full, k);
      rows[r] = reinterpret_cast<const uint8_t*>(tail + r);
    }
    off = 0;
    EMBER_QG_STEP(full)
  }
#undef EMBER_QG_STEP
#undef EMBER_QG_ROW
  const __m512i out[kQgemmMR][2] = {{c00, c01}, {c10, c11}, {c20, c21},
                                    {c30, c31}, {c40, c41}, {c50, c51}};
  for (int64_t r = 0; r < kQgemmMR; ++r) {
    _mm512_storeu_si512(tile + r * kTileLd, out[r][0]);
    _mm512_storeu_si512(tile + r * kTileLd + kQgemmNR, out[r][1]);
  }
}
#elif defined(EMBER_ISA_AVX2) || defined(EMBER_ISA_AVX512)
constexpr bool kVnni = false;
// One panel, 2 rows at a time: the panel's 64 bytes per group widen to 4 x 16 s16
// ([channel][4 k] order), the row's 4 bytes widen and repeat; vpmaddwd gives per channel two
// partial sums (k0+k1, k2+k3), which stay split in the accumulators until the end.
void panel2(const uint8_t* r0, const uint8_t* r1, int64_t k, const int8_t* b, int32_t* t0,
            int32_t* t1) {
  __m256i acc[2][4];
  for (auto& row : acc)
    for (auto& v : row) v = _mm256_setzero_si256();
  const int64_t groups = (k + 3) / 4;
  for (int64_t g = 0; g < groups; ++g) {
    __m256i w[4];
    for (int q = 0; q < 4; ++q)
      w[q] = _mm256_cvtepi8_epi16(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + g * 64 + q * 16)));
    const uint8_t* rs[2] = {r0, r1};
    for (int r = 0; r < 2; ++r) {
      const __m256i av =
          _mm256_cvtepu8_epi16(_mm_set1_epi32(static_cast<int32_t>(a_word(rs[r], g, k))));
      for (int q = 0; q < 4; ++q)
        acc[r][q] = _mm256_add_epi32(acc[r][q], _mm256_madd_epi16(av, w[q]));
    }
  }
  int32_t* ts[2] = {t0, t1};
  for (int r = 0; r < 2; ++r)
    for (int h = 0; h < 2; ++h) {
      // [c0 c0 c1 c1 | c2 c2 c3 c3] + [c4 c4 c5 c5 | c6 c6 c7 c7] -> [c0 c1 c4 c5 | c2 c3 c6 c7]
      const __m256i s = _mm256_hadd_epi32(acc[r][2 * h], acc[r][2 * h + 1]);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(ts[r] + 8 * h),
                          _mm256_permute4x64_epi64(s, 0xD8));
    }
}

void micro(const uint8_t* a, int64_t lda, int64_t mr, int64_t k, const int8_t* b0, const int8_t* b1,
           int32_t* tile) {
  for (int64_t r = 0; r < mr; r += 2) {
    const uint8_t* r0 = a + r * lda;
    const uint8_t* r1 = r + 1 < mr ? r0 + lda : r0;
    panel2(r0, r1, k, b0, tile + r * kTileLd, tile + (r + 1) * kTileLd);
    if (b1)
      panel2(r0, r1, k, b1, tile + r * kTileLd + kQgemmNR, tile + (r + 1) * kTileLd + kQgemmNR);
  }
}
#else
constexpr bool kVnni = false;
void micro(const uint8_t* a, int64_t lda, int64_t mr, int64_t k, const int8_t* b0, const int8_t* b1,
           int32_t* tile) {
  const int8_t* panels[2] = {b0, b1};
  const int64_t groups = (k + 3) / 4;
  for (int64_t r = 0; r < mr; ++r)
    for (int p = 0; p < 2 && panels[p]; ++p) {
      int32_t acc[kQgemmNR] = {};
      for (int64_t g = 0; g < groups; ++g) {
        const uint32_t w = a_word(a + r * lda, g, k);
        const int8_t* b = panels[p] + g * 4 * kQgemmNR;
        for (int64_t j = 0; j < kQgemmNR; ++j)
          for (int t = 0; t < 4; ++t)
            acc[j] += static_cast<int32_t>((w >> (8 * t)) & 0xff) * b[j * 4 + t];
      }
      for (int64_t j = 0; j < kQgemmNR; ++j) tile[r * kTileLd + p * kQgemmNR + j] = acc[j];
    }
}
#endif

static inline VecF activate(VecF x, QgemmAct act) {
  switch (act) {
    case QgemmAct::Relu:
      return vmax(vzero(), x);
    case QgemmAct::Gelu:
      return vgelu(x);
    default:
      return x;
  }
}

void epi_row(const int32_t* acc, int64_t n, float a_scale, int32_t a_zero, const float* w_scale,
             const int32_t* colsum, const float* bias, QgemmAct act, float* out) {
  float centered[kTileLd];
  for (int64_t j = 0; j < n; ++j)  // wraps exactly: the true value fits int32 (qgemm.h)
    centered[j] = static_cast<float>(
        static_cast<int32_t>(static_cast<uint32_t>(acc[j]) -
                             static_cast<uint32_t>(a_zero) * static_cast<uint32_t>(colsum[j])));
  for (int64_t j = 0; j < n; j += kW) {
    const int m = n - j >= kW ? kW : static_cast<int>(n - j);
    VecF x = vmul(vmul(vload_partial(centered + j, m, 0.0f), vset1(a_scale)),
                  vload_partial(w_scale + j, m, 0.0f));
    if (bias) x = vadd(x, vload_partial(bias + j, m, 0.0f));
    vstore_partial(out + j, activate(x, act), m);
  }
}

// One row of quantize_rows_u8 (qgemm.h). The range includes 0 (the vectors' fill), so 0.0 is
// exact; vmax(NaN, 0) is 0, so a NaN input gives code `zero` instead of an undefined cast.
// m (<= kW) integral codes in [0, 255] as bytes: one narrowing store on x86 (the scalar
// per-lane loop it replaces was most of the quantizer's time).
void store_codes(uint8_t* q, VecF codes, int m) {
#if defined(EMBER_ISA_AVX512)
  _mm512_mask_cvtepi32_storeu_epi8(q, static_cast<__mmask16>((1u << m) - 1u),
                                   _mm512_cvtps_epi32(codes.v));
#elif defined(EMBER_ISA_AVX2)
  const __m256i i = _mm256_cvtps_epi32(codes.v);
  const __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(i), _mm256_extracti128_si256(i, 1));
  alignas(16) uint8_t bytes[16];
  _mm_store_si128(reinterpret_cast<__m128i*>(bytes), _mm_packus_epi16(w, w));
  if (m == kW) {
    __builtin_memcpy(q, bytes, kW);
  } else {
    for (int t = 0; t < m; ++t) q[t] = bytes[t];
  }
#else
  float lanes[kW];
  vstore(lanes, codes);
  for (int t = 0; t < m; ++t) q[t] = static_cast<uint8_t>(lanes[t]);
#endif
}

void quant_row(const float* x, int64_t k, uint8_t* q, float* scale, int32_t* zero) {
  VecF lo = vzero(), hi = vzero();
  for (int64_t j = 0; j < k; j += kW) {
    const VecF v = vload_partial(x + j, k - j >= kW ? kW : static_cast<int>(k - j), 0.0f);
    lo = vmin(lo, v);
    hi = vmax(hi, v);
  }
  const float l = vreduce_min(lo), h = vreduce_max(hi);
  const float s = h > l ? (h - l) / 255.0f : 1.0f;
  const float z = std::fmin(std::fmax(std::nearbyint(-l / s), 0.0f), 255.0f);
  for (int64_t j = 0; j < k; j += kW) {
    const int m = k - j >= kW ? kW : static_cast<int>(k - j);
    const VecF v = vadd(vround(vdiv(vload_partial(x + j, m, 0.0f), vset1(s))), vset1(z));
    store_codes(q + j, vmin(vmax(v, vzero()), vset1(255.0f)), m);
  }
  *scale = s;
  *zero = static_cast<int32_t>(z);
}

}  // namespace

const cpu::QgemmTable qgemm_table = {micro, epi_row, quant_row, kVnni};

}  // namespace ember::EMBER_ISA_NS
