// Inner products of sparse24_linear, compiled once per ISA inside namespace ember::<isa>
// (ember_add_isa_kernels). panel_rows is written once against the Vec API; row_dots picks
// each kept value's input with a permute (AVX-512) or a gather (AVX2), scalar otherwise.
// Nothing here may instantiate std:: templates (docs/architecture.md#the-one-definition-trap).
#include "cpu/simd/vec.h"  // first: it may wrap <immintrin.h>
//
#include "cpu/sparse24/sparse24.h"

namespace ember::EMBER_ISA_NS {
namespace {

constexpr int64_t kPanel = 4 * kW;  // tokens per panel: 4 vectors of accumulators a row

// kRows rows at a time (AVX-512: 6 rows x 4 vectors = 24 accumulators of its 32 registers;
// else 2 x 4 of 16): independent chains hide the FMA latency, and each kept weight costs one
// broadcast plus 4 FMAs with the token vectors at its column (its address: the group's base
// plus the stored position, times the panel width), so the FP work is half of dense. Positions
// are read modulo 4, so no stored byte can send a load outside the panel.
#if defined(EMBER_ISA_AVX512)
constexpr int kRows = 6;
#else
constexpr int kRows = 2;
#endif

template <int R>
void panel_block(const float* xt, const float* values, const int8_t* positions, int64_t ld,
                 int64_t kb, bool accumulate, float* yt) {
  VecF acc[R][4];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < 4; ++v) acc[r][v] = accumulate ? vload(yt + r * kPanel + v * kW) : vzero();
  for (int64_t j = 0; j < kb; ++j) {
    const float* group = xt + (j >> 1) * 4 * kPanel;
    for (int r = 0; r < R; ++r) {
      const float* xr = group + (positions[r * ld + j] & 3) * kPanel;
      const VecF w = vset1(values[r * ld + j]);
      for (int v = 0; v < 4; ++v) acc[r][v] = vfma(w, vload(xr + v * kW), acc[r][v]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < 4; ++v) vstore(yt + r * kPanel + v * kW, acc[r][v]);
}

template <int R>
void panel_tail(const float* xt, const float* values, const int8_t* positions, int64_t ld,
                int64_t kb, int64_t rows, bool accumulate, float* yt) {
  if constexpr (R > 0) {
    if (rows == R) return panel_block<R>(xt, values, positions, ld, kb, accumulate, yt);
    panel_tail<R - 1>(xt, values, positions, ld, kb, rows, accumulate, yt);
  }
}

void panel_rows(const float* xt, const float* values, const int8_t* positions, int64_t ld,
                int64_t kb, int64_t rows, bool accumulate, float* yt) {
  int64_t r = 0;
  for (; r + kRows <= rows; r += kRows)
    panel_block<kRows>(xt, values + r * ld, positions + r * ld, ld, kb, accumulate,
                       yt + r * kPanel);
  panel_tail<kRows - 1>(xt, values + r * ld, positions + r * ld, ld, kb, rows - r, accumulate,
                        yt + r * kPanel);
}

// One row's kept values from j0 on, one at a time.
float row_tail(const float* x, const float* v, const int8_t* p, int64_t j0, int64_t kh) {
  float acc = 0.0f;
  for (int64_t j = j0; j < kh; ++j) acc += v[j] * x[(j >> 1) * 4 + (p[j] & 3)];
  return acc;
}

#if defined(EMBER_ISA_AVX512)
// 16 kept values = 8 groups = 32 inputs: one vpermt2ps picks each value's input from two
// vectors of x by index 4 * (its group) + position.
void row_dots(const float* x, const float* values, const int8_t* positions, int64_t kh,
              int64_t rows, float* y) {
  const __m512i base = _mm512_setr_epi32(0, 0, 4, 4, 8, 8, 12, 12, 16, 16, 20, 20, 24, 24, 28, 28);
  const __m512i three = _mm512_set1_epi32(3);
  const int64_t kh16 = kh / 16 * 16;
  for (int64_t r = 0; r < rows; ++r) {
    const float* v = values + r * kh;
    const int8_t* p = positions + r * kh;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t j = 0; j < kh16; j += 16) {
      const __m512 lo = _mm512_loadu_ps(x + 2 * j), hi = _mm512_loadu_ps(x + 2 * j + 16);
      const __m512i pos =
          _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + j)));
      const __m512 xs =
          _mm512_permutex2var_ps(lo, _mm512_add_epi32(base, _mm512_and_si512(pos, three)), hi);
      acc = _mm512_fmadd_ps(_mm512_loadu_ps(v + j), xs, acc);
    }
    y[r] = _mm512_reduce_add_ps(acc) + row_tail(x, v, p, kh16, kh);
  }
}

// Output rows in the lanes: for 16 rows of W repacked side by side (values wv and permute
// indices id = 4 * (group within the window) + position, both (k / 2, 16)), each window of
// 16 inputs of a token sits in one register and each kept slot costs one vpermps + one FMA
// per token, with the weights and indices loaded once for 12 tokens (the indices as int32:
// widening bytes would take the shuffle unit the permutes need). The sums start from the rows'
// bias, so no pass over y adds it. y (tokens, ldy): 16 outputs a token.
void rows16(const float* x, int64_t k, int64_t tokens, const float* wv, const int32_t* id,
            const float* bias, float* y, int64_t ldy) {
  const __m512 start = _mm512_loadu_ps(bias);
  const int64_t kh = k / 2, full = kh / 8 * 8;
  int64_t t0 = 0;
  constexpr int kT = 12;  // tokens a pass: 12 accumulators + 12 input windows in registers
  for (; t0 + kT <= tokens; t0 += kT) {
    __m512 acc[kT], xr[kT];
    for (int t = 0; t < kT; ++t) acc[t] = start;
    for (int64_t j0 = 0; j0 < kh; j0 += 8) {
      const int64_t slots = j0 < full ? 8 : kh - j0;
      const __mmask16 cols = static_cast<__mmask16>((1u << (2 * slots)) - 1u);
      for (int t = 0; t < kT; ++t) xr[t] = _mm512_maskz_loadu_ps(cols, x + (t0 + t) * k + 2 * j0);
      for (int64_t j = j0; j < j0 + slots; ++j) {
        const __m512 w = _mm512_loadu_ps(wv + j * 16);
        const __m512i ix = _mm512_loadu_si512(id + j * 16);
        for (int t = 0; t < kT; ++t)
          acc[t] = _mm512_fmadd_ps(w, _mm512_permutexvar_ps(ix, xr[t]), acc[t]);
      }
    }
    for (int t = 0; t < kT; ++t) _mm512_storeu_ps(y + (t0 + t) * ldy, acc[t]);
  }
  for (; t0 < tokens; ++t0) {
    __m512 acc = start;
    for (int64_t j0 = 0; j0 < kh; j0 += 8) {
      const int64_t slots = j0 < full ? 8 : kh - j0;
      const __mmask16 cols = static_cast<__mmask16>((1u << (2 * slots)) - 1u);
      const __m512 xr = _mm512_maskz_loadu_ps(cols, x + t0 * k + 2 * j0);
      for (int64_t j = j0; j < j0 + slots; ++j) {
        const __m512i ix = _mm512_loadu_si512(id + j * 16);
        acc = _mm512_fmadd_ps(_mm512_loadu_ps(wv + j * 16), _mm512_permutexvar_ps(ix, xr), acc);
      }
    }
    _mm512_storeu_ps(y + t0 * ldy, acc);
  }
}
#elif defined(EMBER_ISA_AVX2)
// 8 kept values = 4 groups: their inputs gathered by index 4 * (group) + position.
void row_dots(const float* x, const float* values, const int8_t* positions, int64_t kh,
              int64_t rows, float* y) {
  const __m256i base = _mm256_setr_epi32(0, 0, 4, 4, 8, 8, 12, 12);
  const __m256i three = _mm256_set1_epi32(3);
  const int64_t kh8 = kh / 8 * 8;
  for (int64_t r = 0; r < rows; ++r) {
    const float* v = values + r * kh;
    const int8_t* p = positions + r * kh;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t j = 0; j < kh8; j += 8) {
      const __m256i pos =
          _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + j)));
      const __m256 xs =
          _mm256_i32gather_ps(x + 2 * j, _mm256_add_epi32(base, _mm256_and_si256(pos, three)), 4);
      acc = _mm256_fmadd_ps(_mm256_loadu_ps(v + j), xs, acc);
    }
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    y[r] = _mm_cvtss_f32(s) + row_tail(x, v, p, kh8, kh);
  }
}
#else
void row_dots(const float* x, const float* values, const int8_t* positions, int64_t kh,
              int64_t rows, float* y) {
  for (int64_t r = 0; r < rows; ++r) y[r] = row_tail(x, values + r * kh, positions + r * kh, 0, kh);
}
#endif

}  // namespace

#if defined(EMBER_ISA_AVX512)
const cpu::Sparse24Table sparse24_table = {kPanel, panel_rows, row_dots, rows16};
#else
const cpu::Sparse24Table sparse24_table = {kPanel, panel_rows, row_dots, nullptr};
#endif

}  // namespace ember::EMBER_ISA_NS
