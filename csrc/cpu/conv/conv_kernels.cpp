// float32 im2col, transpose and depthwise-convolution kernels, written once against the Vec API
// and compiled once per ISA inside namespace ember::<isa> (ember_add_isa_kernels).
// Nothing here may instantiate std:: templates (docs/architecture.md, the one-definition trap).
// Every sum runs in an order fixed by the sizes alone.
#include "cpu/simd/vec.h"  // first: it may wrap <immintrin.h>
//
#include "cpu/conv/conv.h"

namespace ember::EMBER_ISA_NS {

namespace {

static inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }

// ---- im2col straight into a packed GEMM B panel (column stride 1)

constexpr int kMaxCache = 512;  // precomputed (segment, tap) entries per panel

#if defined(EMBER_ISA_AVX512)
// Bit i of b (i < 8) to bit 2 i.
static inline unsigned spread8(unsigned b) {
  b = (b | b << 4) & 0x0f0fu;
  b = (b | b << 2) & 0x3333u;
  return (b | b << 1) & 0x5555u;
}
// dst with the lanes set in bits replaced by base[2 l]; only those elements are read.
static inline VecF even_lanes(VecF dst, const float* base, unsigned bits) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512 lo = _mm512_maskz_loadu_ps(static_cast<__mmask16>(spread8(bits & 0xffu)), base);
  const __m512 hi = _mm512_maskz_loadu_ps(static_cast<__mmask16>(spread8(bits >> 8)), base + 16);
  return {_mm512_mask_mov_ps(dst.v, static_cast<__mmask16>(bits),
                             _mm512_permutex2var_ps(lo, even, hi))};
}
#endif

// NV vectors per panel row, a compile-time count so the row lives in registers.
template <int NV>
void im2col_panel_t(const float* xg, const cpu::ConvShape& s, int64_t k0, int64_t kb,
                    const cpu::Im2colSeg* segs, int nseg, float* panel) {
  const int64_t khw = s.kh * s.kw, hw = s.h * s.w;
  constexpr int nv = NV;
  constexpr int64_t nr = NV * kW;
  const uint64_t vmask = (uint64_t{1} << kW) - 1;
  // Per (segment, kernel row): input row offset, or -1 outside the image. Per (segment,
  // kernel column): the lanes that read inside the row, and the row offset of lane 0.
  int64_t rowoff[kMaxCache], coloff[kMaxCache];
  uint64_t lanes[kMaxCache];
  const bool cached = nseg * s.kh <= kMaxCache && nseg * s.kw <= kMaxCache;
  auto row_of = [&](int si, int64_t ki) -> int64_t {
    const int64_t ih = segs[si].oh * s.sh - s.ph + ki * s.dh;
    return ih < 0 || ih >= s.h ? -1 : segs[si].xoff + ih * s.w;
  };
  const int64_t st = s.sw;
  auto cols_of = [&](int si, int64_t kj, int64_t* off) -> uint64_t {
    const cpu::Im2colSeg& sg = segs[si];
    const int64_t iw0 = sg.ow * st - s.pw + kj * s.dw;
    // Pixels t < len of the segment read column iw0 + t * st: the run inside [0, w).
    int64_t lo = iw0 >= 0 ? 0 : (-iw0 + st - 1) / st;
    int64_t hi = iw0 > s.w - 1 ? 0 : (s.w - 1 - iw0) / st + 1;
    if (hi > sg.len) hi = sg.len;
    const int64_t a = sg.j + lo, b = sg.j + hi;
    *off = iw0 - sg.j * st;  // lane l reads column off + l * st
    if (b <= a) return 0;
    const uint64_t below_b = b >= 64 ? ~uint64_t{0} : (uint64_t{1} << b) - 1;
    return below_b & ~((uint64_t{1} << a) - 1);
  };
  if (cached) {
    for (int si = 0; si < nseg; ++si) {
      for (int64_t ki = 0; ki < s.kh; ++ki) rowoff[si * s.kh + ki] = row_of(si, ki);
      for (int64_t kj = 0; kj < s.kw; ++kj)
        lanes[si * s.kw + kj] = cols_of(si, kj, &coloff[si * s.kw + kj]);
    }
  }
  int64_t c = k0 / khw, r = k0 % khw;
  int64_t ki = r / s.kw, kj = r % s.kw;
  for (int64_t p = 0; p < kb; ++p) {
    VecF v[NV];
#pragma GCC unroll 8
    for (int q = 0; q < nv; ++q) v[q] = vzero();
    const float* xc = xg + c * hw;
    for (int si = 0; si < nseg; ++si) {
      int64_t ro, co;
      uint64_t m;
      if (cached) {
        ro = rowoff[si * s.kh + ki];
        co = coloff[si * s.kw + kj];
        m = lanes[si * s.kw + kj];
      } else {
        ro = row_of(si, ki);
        m = cols_of(si, kj, &co);
      }
      if (ro < 0 || m == 0) continue;
      const float* base = xc + ro + co;
      if (st == 1) {
#pragma GCC unroll 8
        for (int q = 0; q < nv; ++q) {
          const unsigned bits = static_cast<unsigned>(m >> (q * kW) & vmask);
          if (bits) v[q] = vload_lanes(v[q], base + q * kW, bits);
        }
      } else {
        for (int q = 0; q < nv; ++q) {
          const unsigned bits = static_cast<unsigned>(m >> (q * kW) & vmask);
          if (!bits) continue;
#if defined(EMBER_ISA_AVX512)
          if (st == 2) {  // two masked loads and a permute beat a gather
            v[q] = even_lanes(v[q], base + q * kW * 2, bits);
            continue;
          }
#endif
          v[q] = vgather_lanes(v[q], base + q * kW * st, bits, static_cast<int>(st));
        }
      }
    }
    float* d = panel + p * nr;
#pragma GCC unroll 8
    for (int q = 0; q < nv; ++q) vstore(d + q * kW, v[q]);
    if (++kj == s.kw) {
      kj = 0;
      if (++ki == s.kh) {
        ki = 0;
        ++c;
      }
    }
  }
}

void im2col_panel(const float* xg, const cpu::ConvShape& s, int64_t k0, int64_t kb,
                  const cpu::Im2colSeg* segs, int nseg, int64_t nr, float* panel) {
  switch (nr / kW) {
    case 1:
      return im2col_panel_t<1>(xg, s, k0, kb, segs, nseg, panel);
    case 2:
      return im2col_panel_t<2>(xg, s, k0, kb, segs, nseg, panel);
    case 4:
      return im2col_panel_t<4>(xg, s, k0, kb, segs, nseg, panel);
    default:
      return im2col_panel_t<8>(xg, s, k0, kb, segs, nseg, panel);
  }
}

// ---- col2im rows: stride 2 (avx512) spreads 16 values (fewer at the end, masked) to the
// even lanes of two vectors and adds them there (odd lanes are neither read nor written);
// other strides one by one.

#if defined(EMBER_ISA_AVX512)
// dst[2 t] += src[t] for the t < 16 set in bits.
static inline void add_even_lanes(float* dst, const float* src, unsigned bits) {
  const __m512i lo_idx = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
  const __m512i hi_idx =
      _mm512_setr_epi32(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
  const __m512 s = _mm512_maskz_loadu_ps(static_cast<__mmask16>(bits), src);
  const __mmask16 ml = static_cast<__mmask16>(spread8(bits & 0xffu));
  const __mmask16 mh = static_cast<__mmask16>(spread8(bits >> 8));
  const __m512 lo = _mm512_maskz_loadu_ps(ml, dst), hi = _mm512_maskz_loadu_ps(mh, dst + 16);
  _mm512_mask_storeu_ps(dst, ml, _mm512_add_ps(lo, _mm512_permutexvar_ps(lo_idx, s)));
  _mm512_mask_storeu_ps(dst + 16, mh, _mm512_add_ps(hi, _mm512_permutexvar_ps(hi_idx, s)));
}
#endif

void strided_add(float* dst, int64_t st, const float* src, int64_t n) {
  int64_t t = 0;
#if defined(EMBER_ISA_AVX512)
  if (st == 2) {
    for (; t + 16 <= n; t += 16) add_even_lanes(dst + 2 * t, src + t, 0xffffu);
    if (t < n) add_even_lanes(dst + 2 * t, src + t, (1u << (n - t)) - 1);
    return;
  }
#endif
  for (; t < n; ++t) dst[t * st] += src[t];
}

// ---- transpose (the k-major panels of the grad-weight GEMM)

// One kW x kW block.
static inline void transpose_kw(const float* src, int64_t ss, float* dst, int64_t ds) {
  VecF r[kW];
  for (int i = 0; i < kW; ++i) r[i] = vload(src + i * ss);
  vtranspose(r);
  for (int i = 0; i < kW; ++i) vstore(dst + i * ds, r[i]);
}

void transpose(const float* src, int64_t ss, int64_t rows, int64_t cols, float* dst, int64_t ds) {
  int64_t r0 = 0;
  for (; r0 + kW <= rows; r0 += kW) {
    int64_t c0 = 0;
    for (; c0 + kW <= cols; c0 += kW) transpose_kw(src + r0 * ss + c0, ss, dst + c0 * ds + r0, ds);
    for (int64_t c = c0; c < cols; ++c)
      for (int64_t r = r0; r < r0 + kW; ++r) dst[c * ds + r] = src[r * ss + c];
  }
  for (int64_t c = 0; c < cols; ++c)
    for (int64_t r = r0; r < rows; ++r) dst[c * ds + r] = src[r * ss + c];
}

// ---- depthwise forward

// kNR output rows x kNV vectors (starting at row o, column q) at a time: kNR * kNV
// independent accumulators hide the FMA latency; a tap's weight broadcast is shared.
template <int kNR, int kNV>
static inline void dw_block(const float* xp, int64_t xps, int64_t sh, const float* w, int64_t kh,
                            int64_t kw, int64_t dh, int64_t dw, int64_t o, int64_t q, float* y,
                            int64_t ys, float bias, bool accumulate, bool relu) {
  VecF acc[kNR][kNV];
  for (int r = 0; r < kNR; ++r)
    for (int v = 0; v < kNV; ++v)
      acc[r][v] = accumulate ? vload(y + (o + r) * ys + q + v * kW) : vset1(bias);
  for (int64_t i = 0; i < kh; ++i) {
    const float* xi = xp + (o * sh + i * dh) * xps + q;
    for (int64_t j = 0; j < kw; ++j) {
      const VecF wv = vset1(w[i * kw + j]);
      const float* xj = xi + j * dw;
      for (int r = 0; r < kNR; ++r)
        for (int v = 0; v < kNV; ++v)
          acc[r][v] = vfma(wv, vload(xj + r * sh * xps + v * kW), acc[r][v]);
    }
  }
  for (int r = 0; r < kNR; ++r)
    for (int v = 0; v < kNV; ++v) {
      if (relu) acc[r][v] = vmax(vzero(), acc[r][v]);
      vstore(y + (o + r) * ys + q + v * kW, acc[r][v]);
    }
}

// The full vectors of rows [o, o + kNR).
template <int kNR>
static inline void dw_rows(const float* xp, int64_t xps, int64_t sh, const float* w, int64_t kh,
                           int64_t kw, int64_t dh, int64_t dw, int64_t o, int64_t ow, float* y,
                           int64_t ys, float bias, bool accumulate, bool relu) {
  int64_t q = 0;
  for (; q + 2 * kW <= ow; q += 2 * kW)
    dw_block<kNR, 2>(xp, xps, sh, w, kh, kw, dh, dw, o, q, y, ys, bias, accumulate, relu);
  for (; q + kW <= ow; q += kW)
    dw_block<kNR, 1>(xp, xps, sh, w, kh, kw, dh, dw, o, q, y, ys, bias, accumulate, relu);
}

void dw_forward(const float* xp, int64_t xps, int64_t sh, const float* w, int64_t kh, int64_t kw,
                int64_t dh, int64_t dw, int64_t oh, int64_t ow, float* y, int64_t ys, float bias,
                bool accumulate, bool relu) {
  int64_t o = 0;
  for (; o + 4 <= oh; o += 4)
    dw_rows<4>(xp, xps, sh, w, kh, kw, dh, dw, o, ow, y, ys, bias, accumulate, relu);
  for (; o < oh; ++o)
    dw_rows<1>(xp, xps, sh, w, kh, kw, dh, dw, o, ow, y, ys, bias, accumulate, relu);
  const int64_t q = ow / kW * kW;
  if (q == ow) return;
  // The partial last vector of every row.
  const int n = static_cast<int>(ow - q);
  for (o = 0; o < oh; ++o) {
    float* yr = y + o * ys;
    VecF acc = accumulate ? vload_partial(yr + q, n, 0.0f) : vset1(bias);
    for (int64_t i = 0; i < kh; ++i) {
      const float* xr = xp + (o * sh + i * dh) * xps + q;
      for (int64_t j = 0; j < kw; ++j)
        acc = vfma(vset1(w[i * kw + j]), vload_partial(xr + j * dw, n, 0.0f), acc);
    }
    if (relu) acc = vmax(vzero(), acc);
    vstore_partial(yr + q, acc, n);
  }
}

// ---- depthwise grad weight

// Taps (i, j) of one kernel row i at a time: kw accumulators, each a fixed lane-wise sum
// over the plane, folded with vreduce_add at the end.
constexpr int kMaxKw = 16;

void dw_weight(const float* xp, int64_t xps, int64_t sh, const float* gy, int64_t oh, int64_t ow,
               int64_t kh, int64_t kw, int64_t dh, int64_t dw, double* gw) {
  for (int64_t j0 = 0; j0 < kw; j0 += kMaxKw) {
    const int64_t nj = imin(kMaxKw, kw - j0);
    for (int64_t i = 0; i < kh; ++i) {
      // Two accumulator sets (even / odd vectors of a row): twice the independent chains.
      VecF acc[kMaxKw], acc2[kMaxKw];
      for (int64_t j = 0; j < nj; ++j) acc[j] = acc2[j] = vzero();
      for (int64_t o = 0; o < oh; ++o) {
        const float* g = gy + o * ow;
        const float* xr = xp + (o * sh + i * dh) * xps + j0 * dw;
        int64_t q = 0;
        for (; q + 2 * kW <= ow; q += 2 * kW) {
          const VecF g0 = vload(g + q), g1 = vload(g + q + kW);
          for (int64_t j = 0; j < nj; ++j) {
            acc[j] = vfma(g0, vload(xr + q + j * dw), acc[j]);
            acc2[j] = vfma(g1, vload(xr + q + kW + j * dw), acc2[j]);
          }
        }
        for (; q + kW <= ow; q += kW) {
          const VecF gv = vload(g + q);
          for (int64_t j = 0; j < nj; ++j) acc[j] = vfma(gv, vload(xr + q + j * dw), acc[j]);
        }
        if (q < ow) {
          const int n = static_cast<int>(ow - q);
          const VecF gv = vload_partial(g + q, n, 0.0f);
          for (int64_t j = 0; j < nj; ++j)
            acc2[j] = vfma(gv, vload_partial(xr + q + j * dw, n, 0.0f), acc2[j]);
        }
      }
      for (int64_t j = 0; j < nj; ++j) gw[i * kw + j0 + j] += vreduce_add(vadd(acc[j], acc2[j]));
    }
  }
}

// ---- Winograd F(4x4, 3x3) transforms (conv_winograd.cpp), vectors across tiles

// o = B^T d for one column of a 6x6 tile (B^T of F(4, 3), points 0, +-1, +-2, inf).
static inline void wino_bt(const VecF (&d)[6], VecF (&o)[6]) {
  const VecF a = vfma(vset1(-4.0f), d[2], d[4]), b = vfma(vset1(-4.0f), d[1], d[3]);
  const VecF c = vsub(d[4], d[2]), e = vmul(vset1(2.0f), vsub(d[3], d[1]));
  o[0] = vfma(vset1(4.0f), d[0], vfma(vset1(-5.0f), d[2], d[4]));
  o[1] = vadd(a, b);
  o[2] = vsub(a, b);
  o[3] = vadd(c, e);
  o[4] = vsub(c, e);
  o[5] = vfma(vset1(4.0f), d[1], vfma(vset1(-5.0f), d[3], d[5]));
}

// o = A^T m for one column of a 6x6 tile (4 outputs).
static inline void wino_at(const VecF (&m)[6], VecF (&o)[4]) {
  const VecF p = vadd(m[1], m[2]), q = vsub(m[1], m[2]);
  const VecF s = vadd(m[3], m[4]), t = vsub(m[3], m[4]);
  o[0] = vadd(vadd(m[0], p), s);
  o[1] = vfma(vset1(2.0f), t, q);
  o[2] = vfma(vset1(4.0f), s, p);
  o[3] = vadd(vfma(vset1(8.0f), t, q), m[5]);
}

// Positions of a tile's 6x6 patch, padded to whole vectors (for the transposes).
constexpr int kPatch = (36 + kW - 1) / kW * kW;

void wino_input(const float* xp, int64_t xps, const int32_t* off, int64_t n, int64_t nr, int64_t ps,
                float* dst, int64_t xs) {
  // kW tiles at a time: each tile's patch copied row by row into stage[lane], transposed
  // in kW x kW blocks so pos[p] holds position p of every tile (no gathers).
  alignas(64) float stage[kW * kPatch];
  alignas(64) float pos[kPatch * kW];
  for (int i = 0; i < kW * kPatch; ++i) stage[i] = 0.0f;
  for (int64_t l0 = 0; l0 < n; l0 += kW) {
    for (int l = 0; l < kW; ++l) {
      const float* src = xp + off[l0 + l];
      for (int r = 0; r < 6; ++r) __builtin_memcpy(stage + l * kPatch + r * 6, src + r * xps, 24);
    }
    for (int q = 0; q < kPatch; q += kW) {
      VecF b[kW];
      for (int l = 0; l < kW; ++l) b[l] = vload(stage + l * kPatch + q);
      vtranspose(b);
      for (int p = 0; p < kW; ++p) vstore(pos + (q + p) * kW, b[p]);
    }
    float* d0 = dst + l0 / nr * ps + l0 % nr;
    VecF t[6][6];  // t[e] = column e of B^T d
    for (int e = 0; e < 6; ++e) {
      VecF d[6];
      for (int r = 0; r < 6; ++r) d[r] = vload(pos + (r * 6 + e) * kW);
      wino_bt(d, t[e]);
    }
    for (int i = 0; i < 6; ++i) {
      const VecF row[6] = {t[0][i], t[1][i], t[2][i], t[3][i], t[4][i], t[5][i]};
      VecF u[6];
      wino_bt(row, u);
      for (int j = 0; j < 6; ++j) vstore(d0 + (i * 6 + j) * xs, u[j]);
    }
  }
}

void wino_output(const float* m, int64_t ms, int64_t n, float bias, bool relu, float* out,
                 int64_t os) {
  for (int64_t l0 = 0; l0 < n; l0 += kW) {
    VecF t[6][4];  // t[e] = column e of A^T m
    for (int e = 0; e < 6; ++e) {
      VecF col[6];
      for (int i = 0; i < 6; ++i) col[i] = vload(m + (i * 6 + e) * ms + l0);
      wino_at(col, t[e]);
    }
    for (int r = 0; r < 4; ++r) {
      const VecF row[6] = {t[0][r], t[1][r], t[2][r], t[3][r], t[4][r], t[5][r]};
      VecF o[4];
      wino_at(row, o);
      for (int c = 0; c < 4; ++c) {
        VecF v = vadd(o[c], vset1(bias));
        if (relu) v = vmax(vzero(), v);
        vstore(out + (r * 4 + c) * os + l0, v);
      }
    }
  }
}

}  // namespace

const cpu::ConvTable conv_table = {im2col_panel, strided_add, transpose,  dw_forward,
                                   dw_weight,    wino_input,  wino_output};

}  // namespace ember::EMBER_ISA_NS
