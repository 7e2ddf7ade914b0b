// AVX-512 GEMM kernels: float32 micro-kernel and packing, a bf16 x bf16 -> fp32 micro-kernel
// on vdpbf16ps (AVX512_BF16), and the float32 GEMV kernels. Everything defined here lives in
// ember::avx512 (see DESIGN.md, the one-definition trap): no std:: templates, no lambdas.
#include "cpu/simd/vec_avx512.h"  // first: it wraps <immintrin.h>
//
#include "cpu/gemm/gemm.h"

namespace ember::avx512 {
namespace {

using cpu::GemmAct;
using Epi = cpu::GemmEpilogue<float>;

// Micro-tile: 14 rows x 32 columns (2 ZMM) of C. 28 accumulators + 2 B vectors + 1 A
// broadcast = 31 of the 32 ZMM registers. Per k: 2 aligned B loads and 14 broadcasts (folded
// into the FMAs as {1to16} memory operands) feed 28 FMAs, so loads never limit the FMA
// ports, and 28 independent chains hide the 4-cycle FMA latency at 2 FMA/cycle. Vectors run
// along N, so C rows are written as whole vectors (unit stride, masked at the edge).
constexpr int kMR = 14;
constexpr int kNV = 2;
constexpr int kNR = kNV * 16;

constexpr float kRsqrt2 = 0.70710678118654752f;
constexpr float kGeluK = 0.79788456080286536f;  // sqrt(2/pi)
constexpr float kGeluC = 0.044715f;

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
// Lanes [0, n) of 16.
static inline __mmask16 lanes(int64_t n) {
  return n <= 0    ? 0
         : n >= 16 ? static_cast<__mmask16>(0xffff)
                   : static_cast<__mmask16>((1u << n) - 1u);
}

// Same formulas as the elementwise kernels (elementwise_kernels.inc), so a fused
// activation matches the separate op.
static inline __m512 activate(__m512 x, GemmAct act) {
  const VecF v{x};
  switch (act) {
    case GemmAct::Relu:
      return _mm512_max_ps(_mm512_setzero_ps(), x);  // zero first: relu(NaN) = NaN
    case GemmAct::Gelu: {
      const VecF cdf = vfma(verf(vmul(v, vset1(kRsqrt2))), vset1(0.5f), vset1(0.5f));
      return vmul(v, cdf).v;
    }
    case GemmAct::GeluTanh: {
      const VecF x2 = vmul(v, v);
      const VecF u2 = vmul(v, vfma(x2, vset1(2.0f * kGeluK * kGeluC), vset1(2.0f * kGeluK)));
      return vmul(v, vsigmoid(u2)).v;  // x/2 (1 + tanh(u)) == x sigmoid(2u)
    }
    default:
      return x;
  }
}

// The C tile row (128 bytes, two lines) is read or written after the k loop: start fetching
// it now so the misses overlap the FMAs.
static inline void prefetch_c(const float* c) {
  _mm_prefetch(reinterpret_cast<const char*>(c), _MM_HINT_T0);
  _mm_prefetch(reinterpret_cast<const char*>(c + 31), _MM_HINT_T0);
}

// c[0..16) (lanes in m) = act(alpha * acc + beta * c + bias).
static inline void epi_store(float* c, __m512 acc, __mmask16 m, const Epi& e, const float* bias) {
  __m512 x = _mm512_mul_ps(acc, _mm512_set1_ps(e.alpha));
  if (e.beta != 0.0f) x = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, c), _mm512_set1_ps(e.beta), x);
  if (bias) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, bias));
  if (e.act != GemmAct::None) x = activate(x, e.act);
  _mm512_mask_storeu_ps(c, m, x);
}

// The epilogue with an activation, from accumulators parked in `tile` (rows x kNR). Out of
// line so the activation's temporaries do not crowd the micro-kernel's registers.
__attribute__((noinline)) void epi_tile(const float* tile, int rows, float* c, int64_t ldc,
                                        int64_t n, const Epi& e, const float* bias) {
  for (int r = 0; r < rows; ++r)
    for (int v = 0; v < kNV; ++v)
      epi_store(c + r * ldc + 16 * v, _mm512_load_ps(tile + r * kNR + 16 * v), lanes(n - 16 * v), e,
                bias ? bias + 16 * v : nullptr);
}

// Write back an M x kNR accumulator tile to C (n valid columns). The two common cases, the
// first K block with beta 0 and a later K block (c += acc), stay inline and short; anything
// else (alpha, beta, bias, activation) goes through the out-of-line tile epilogue, which
// keeps the micro-kernel small enough for the instruction cache.
template <int M>
static inline void store_tile(__m512 (&acc)[M][kNV], float* c, int64_t ldc, int64_t n, const Epi& e,
                              const float* bias) {
  const __mmask16 m0 = lanes(n), m1 = lanes(n - 16);
  if (e.alpha == 1.0f && bias == nullptr && e.act == GemmAct::None) {
    if (e.beta == 0.0f) {
#pragma GCC unroll 14
      for (int r = 0; r < M; ++r) {
        _mm512_mask_storeu_ps(c + r * ldc, m0, acc[r][0]);
        _mm512_mask_storeu_ps(c + r * ldc + 16, m1, acc[r][1]);
      }
      return;
    }
    if (e.beta == 1.0f) {
#pragma GCC unroll 14
      for (int r = 0; r < M; ++r) {
        float* cr = c + r * ldc;
        _mm512_mask_storeu_ps(cr, m0, _mm512_add_ps(_mm512_maskz_loadu_ps(m0, cr), acc[r][0]));
        _mm512_mask_storeu_ps(cr + 16, m1,
                              _mm512_add_ps(_mm512_maskz_loadu_ps(m1, cr + 16), acc[r][1]));
      }
      return;
    }
  }
  alignas(64) float tile[M * kNR];
#pragma GCC unroll 14
  for (int r = 0; r < M; ++r) {
    _mm512_store_ps(tile + r * kNR, acc[r][0]);
    _mm512_store_ps(tile + r * kNR + 16, acc[r][1]);
  }
  epi_tile(tile, M, c, ldc, n, e, bias);
}

// C tile (M rows, n <= kNR columns) = epilogue(A panel (k x kMR) . B panel (k x kNR)).
// M < kMR serves the bottom edge: the same per-element arithmetic as the full tile.
template <int M>
void ukernel_f32(int64_t k, const float* pa, const float* pb, float* c, int64_t ldc, int64_t n,
                 const Epi& e, const float* bias) {
  __m512 acc[M][kNV];
#pragma GCC unroll 14
  for (int r = 0; r < M; ++r) {
    acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    prefetch_c(c + r * ldc);
  }
  for (int64_t p = 0; p < k; ++p) {
    const __m512 b0 = _mm512_load_ps(pb), b1 = _mm512_load_ps(pb + 16);
#pragma GCC unroll 14
    for (int r = 0; r < M; ++r) {
      const __m512 a = _mm512_set1_ps(pa[r]);
      acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);
    }
    pa += kMR;
    pb += kNR;
  }
  store_tile<M>(acc, c, ldc, n, e, bias);
}

using UkernelF32 = void (*)(int64_t, const float*, const float*, float*, int64_t, int64_t,
                            const Epi&, const float*);
const UkernelF32 kUkernelF32[kMR + 1] = {
    nullptr,         ukernel_f32<1>,  ukernel_f32<2>,  ukernel_f32<3>,  ukernel_f32<4>,
    ukernel_f32<5>,  ukernel_f32<6>,  ukernel_f32<7>,  ukernel_f32<8>,  ukernel_f32<9>,
    ukernel_f32<10>, ukernel_f32<11>, ukernel_f32<12>, ukernel_f32<13>, ukernel_f32<14>,
};

// i outer, j inner: one A micro-panel (kMR x k, 14 KiB at k 256) stays in L1 while the B
// block (k x n, about 1 MiB) streams from L2 in full-width loads, as BLIS keeps its
// broadcast operand in L1. Measured here: 142 vs 131 GFLOP/s at 2048^3 against the
// opposite order, whose 32 KiB B micro-panel does not stay in a 48 KiB L1.
void macro_f32(int64_t m, int64_t n, int64_t k, const void* pav, const void* pbv, float* c,
               int64_t ldc, const Epi& e) {
  const float* pa = static_cast<const float*>(pav);
  const float* pb = static_cast<const float*>(pbv);
  for (int64_t i = 0; i < m; i += kMR) {
    const UkernelF32 uk = kUkernelF32[min64(kMR, m - i)];
    for (int64_t j = 0; j < n; j += kNR)
      uk(k, pa + i * k, pb + j * k, c + i * ldc + j, ldc, min64(kNR, n - j), e,
         e.bias ? e.bias + j : nullptr);
  }
}

// ---- packing (float32 panels from float32 or bf16 sources)

static inline float load_elem(const float* p) { return *p; }
static inline float load_elem(const uint16_t* p) {
  return _mm_cvtss_f32(_mm_castsi128_ps(_mm_cvtsi32_si128(static_cast<int>(*p) << 16)));
}
static inline __m512 load16(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
static inline __m512 load16(const uint16_t* p, __mmask16 m) {
  const __m256i h = _mm256_maskz_loadu_epi16(m, p);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// In-register transpose of 16 rows of 16 floats (r[i] lane j -> r[j] lane i).
static inline void transpose16(__m512 (&r)[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  // r[4q + s] now holds, per 128-bit lane L, rows 4L'.. of column block; finish with 128-bit
  // lane shuffles across groups of four registers.
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
    t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);
    t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
    t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xdd);
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
    r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
    r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xdd);
  }
}

// dst[p * dstride + i] = src[i * rs + p] for i < rows (<= 16, other lanes 0), p < k:
// 16 x 16 tiles transposed in registers (rows contiguous along p in the source).
template <typename S>
static inline void pack_transposed(const S* src, int64_t rs, int64_t rows, int64_t k, float* dst,
                                   int64_t dstride, __mmask16 store_mask) {
  for (int64_t p = 0; p < k; p += 16) {
    const int64_t kk = min64(16, k - p);
    const __mmask16 m = lanes(kk);
    __m512 r[16];
    for (int i = 0; i < 16; ++i)
      r[i] = i < rows ? load16(src + i * rs + p, m) : _mm512_setzero_ps();
    transpose16(r);
    for (int64_t q = 0; q < kk; ++q)
      _mm512_mask_storeu_ps(dst + (p + q) * dstride, store_mask, r[q]);
  }
}

template <typename S>
void pack_a_t(const void* srcv, int64_t rs, int64_t cs, int64_t m, int64_t k, void* dstv) {
  const S* src = static_cast<const S*>(srcv);
  float* dst = static_cast<float*>(dstv);
  for (int64_t i = 0; i < m; i += kMR, dst += kMR * k) {
    const int64_t mm = min64(kMR, m - i);
    const S* a = src + i * rs;
    if (rs == 1) {  // A^T stored row-major: the mm values of one k are contiguous
      const __mmask16 msk = lanes(mm);
      for (int64_t p = 0; p < k; ++p)
        _mm512_mask_storeu_ps(dst + p * kMR, 0x3fff, load16(a + p * cs, msk));
    } else if (cs == 1) {  // A row-major: transpose 14 x 16 tiles
      pack_transposed(a, rs, mm, k, dst, kMR, 0x3fff);
    } else {
      for (int64_t p = 0; p < k; ++p) {
        float* d = dst + p * kMR;
        int64_t r = 0;
        for (; r < mm; ++r) d[r] = load_elem(a + r * rs + p * cs);
        for (; r < kMR; ++r) d[r] = 0.0f;
      }
    }
  }
}

template <typename S>
void pack_b_t(const void* srcv, int64_t rs, int64_t cs, int64_t k, int64_t n, void* dstv) {
  const S* src = static_cast<const S*>(srcv);
  float* dst = static_cast<float*>(dstv);
  for (int64_t j = 0; j < n; j += kNR, dst += kNR * k) {
    const int64_t nn = min64(kNR, n - j);
    const S* b = src + j * cs;
    if (cs == 1) {  // rows of B contiguous
      const __mmask16 m0 = lanes(nn), m1 = lanes(nn - 16);
      for (int64_t p = 0; p < k; ++p) {
        _mm512_store_ps(dst + p * kNR, load16(b + p * rs, m0));
        _mm512_store_ps(dst + p * kNR + 16, load16(b + p * rs + 16, m1));
      }
    } else if (rs == 1) {  // B^T row-major (x @ W^T): transpose two 16 x 16 tiles per k step
      pack_transposed(b, cs, min64(16, nn), k, dst, kNR, 0xffff);
      pack_transposed(b + 16 * cs, cs, nn - 16, k, dst + 16, kNR, 0xffff);
    } else {
      for (int64_t jj = 0; jj < nn; ++jj)
        for (int64_t p = 0; p < k; ++p) dst[p * kNR + jj] = load_elem(b + jj * cs + p * rs);
      for (int64_t p = 0; p < k; ++p)
        for (int64_t jj = nn; jj < kNR; ++jj) dst[p * kNR + jj] = 0.0f;
    }
  }
}

// ---- bf16 x bf16 -> fp32 on vdpbf16ps: each instruction multiplies 16 pairs of bf16 and
// adds both products to 16 fp32 lanes, so k is consumed in pairs (packed interleaved).
#ifdef __AVX512BF16__
static inline __m512 dpbf16(__m512 acc, __m512i a, __m512i b) {
  return _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)b);
}

template <int M>
void ukernel_bf16(int64_t kp, const uint16_t* pa, const uint16_t* pb, float* c, int64_t ldc,
                  int64_t n, const Epi& e, const float* bias) {
  __m512 acc[M][kNV];
#pragma GCC unroll 14
  for (int r = 0; r < M; ++r) {
    acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    prefetch_c(c + r * ldc);
  }
  for (int64_t p = 0; p < kp; p += 2) {
    const __m512i b0 = _mm512_load_si512(pb), b1 = _mm512_load_si512(pb + 32);
#pragma GCC unroll 14
    for (int r = 0; r < M; ++r) {
      int32_t pair;
      __builtin_memcpy(&pair, pa + 2 * r, 4);
      const __m512i a = _mm512_set1_epi32(pair);
      acc[r][0] = dpbf16(acc[r][0], a, b0);
      acc[r][1] = dpbf16(acc[r][1], a, b1);
    }
    pa += 2 * kMR;
    pb += 2 * kNR;
  }
  store_tile<M>(acc, c, ldc, n, e, bias);
}

using UkernelBf16 = void (*)(int64_t, const uint16_t*, const uint16_t*, float*, int64_t, int64_t,
                             const Epi&, const float*);
const UkernelBf16 kUkernelBf16[kMR + 1] = {
    nullptr,          ukernel_bf16<1>,  ukernel_bf16<2>,  ukernel_bf16<3>,  ukernel_bf16<4>,
    ukernel_bf16<5>,  ukernel_bf16<6>,  ukernel_bf16<7>,  ukernel_bf16<8>,  ukernel_bf16<9>,
    ukernel_bf16<10>, ukernel_bf16<11>, ukernel_bf16<12>, ukernel_bf16<13>, ukernel_bf16<14>,
};

// k here is the packed (even) k.
void macro_bf16(int64_t m, int64_t n, int64_t k, const void* pav, const void* pbv, float* c,
                int64_t ldc, const Epi& e) {
  const uint16_t* pa = static_cast<const uint16_t*>(pav);
  const uint16_t* pb = static_cast<const uint16_t*>(pbv);
  for (int64_t i = 0; i < m; i += kMR) {
    const UkernelBf16 uk = kUkernelBf16[min64(kMR, m - i)];
    for (int64_t j = 0; j < n; j += kNR)
      uk(k, pa + i * k, pb + j * k, c + i * ldc + j, ldc, min64(kNR, n - j), e,
         e.bias ? e.bias + j : nullptr);
  }
}

// A panels of pairs: dst[(p/2 * kMR + r) * 2 + p % 2], k padded to even with zeros.
void pack_a_bf16(const void* srcv, int64_t rs, int64_t cs, int64_t m, int64_t k, void* dstv) {
  const uint16_t* src = static_cast<const uint16_t*>(srcv);
  uint16_t* dst = static_cast<uint16_t*>(dstv);
  const int64_t kp = (k + 1) & ~int64_t{1};
  for (int64_t i = 0; i < m; i += kMR, dst += kMR * kp) {
    const int64_t mm = min64(kMR, m - i);
    const uint16_t* a = src + i * rs;
    for (int64_t p = 0; p < kp; p += 2) {
      uint16_t* d = dst + p * kMR;
      const bool has2 = p + 1 < k;
      int64_t r = 0;
      for (; r < mm; ++r) {
        d[2 * r] = a[r * rs + p * cs];
        d[2 * r + 1] = has2 ? a[r * rs + (p + 1) * cs] : uint16_t{0};
      }
      for (; r < kMR; ++r) d[2 * r] = d[2 * r + 1] = 0;
    }
  }
}

// B panels of pairs: dst[(p/2 * kNR + j) * 2 + p % 2].
void pack_b_bf16(const void* srcv, int64_t rs, int64_t cs, int64_t k, int64_t n, void* dstv) {
  const uint16_t* src = static_cast<const uint16_t*>(srcv);
  uint16_t* dst = static_cast<uint16_t*>(dstv);
  const int64_t kp = (k + 1) & ~int64_t{1};
  // Interleave two rows of 32 bf16: lo = r0[0], r1[0], ..., r0[15], r1[15]; hi: 16..31.
  alignas(64) static const uint16_t kLo[32] = {0,  32, 1,  33, 2,  34, 3,  35, 4,  36, 5,
                                               37, 6,  38, 7,  39, 8,  40, 9,  41, 10, 42,
                                               11, 43, 12, 44, 13, 45, 14, 46, 15, 47};
  alignas(64) static const uint16_t kHi[32] = {16, 48, 17, 49, 18, 50, 19, 51, 20, 52, 21,
                                               53, 22, 54, 23, 55, 24, 56, 25, 57, 26, 58,
                                               27, 59, 28, 60, 29, 61, 30, 62, 31, 63};
  const __m512i lo = _mm512_load_si512(kLo), hi = _mm512_load_si512(kHi);
  for (int64_t j = 0; j < n; j += kNR, dst += kNR * kp) {
    const int64_t nn = min64(kNR, n - j);
    const uint16_t* b = src + j * cs;
    if (cs == 1) {
      const __mmask32 msk = nn >= 32 ? ~__mmask32{0} : ((__mmask32{1} << nn) - 1);
      for (int64_t p = 0; p < kp; p += 2) {
        const __m512i r0 = _mm512_maskz_loadu_epi16(msk, b + p * rs);
        const __m512i r1 =
            p + 1 < k ? _mm512_maskz_loadu_epi16(msk, b + (p + 1) * rs) : _mm512_setzero_si512();
        _mm512_store_si512(dst + p * kNR, _mm512_permutex2var_epi16(r0, lo, r1));
        _mm512_store_si512(dst + p * kNR + 32, _mm512_permutex2var_epi16(r0, hi, r1));
      }
    } else {
      for (int64_t i = 0; i < kNR * kp; ++i) dst[i] = 0;
      for (int64_t jj = 0; jj < nn; ++jj)
        for (int64_t p = 0; p < k; ++p)
          dst[(p & ~int64_t{1}) * kNR + 2 * jj + (p & 1)] = b[jj * cs + p * rs];
    }
  }
}
#endif  // __AVX512BF16__

// ---- GEMV (float32): M == 1 or N == 1 problems, where packing would cost more than it saves.

// y[i * ys] for i < cnt (<= 16) = act(alpha * acc + beta * y + bias[i * bias_s]).
static inline void epi_store_strided(float* y, int64_t ys, __m512 acc, int64_t cnt, const Epi& e,
                                     const float* bias, int64_t bias_s) {
  const __mmask16 m = lanes(cnt);
  if (ys == 1 && (bias == nullptr || bias_s == 1)) return epi_store(y, acc, m, e, bias);
  alignas(64) float t[16], bv[16];
  __m512 x = _mm512_mul_ps(acc, _mm512_set1_ps(e.alpha));
  if (e.beta != 0.0f) {
    for (int64_t i = 0; i < cnt; ++i) t[i] = y[i * ys];
    x = _mm512_fmadd_ps(_mm512_maskz_load_ps(m, t), _mm512_set1_ps(e.beta), x);
  }
  if (bias) {
    for (int64_t i = 0; i < cnt; ++i) bv[i] = bias[i * bias_s];
    x = _mm512_add_ps(x, _mm512_maskz_load_ps(m, bv));
  }
  if (e.act != GemmAct::None) x = activate(x, e.act);
  _mm512_store_ps(t, x);
  for (int64_t i = 0; i < cnt; ++i) y[i * ys] = t[i];
}

// sum_p x[p] * col[p] in 16-lane partial sums over k, then a fixed-order reduction.
static inline __m512 dot_partial(const float* x, const float* col, int64_t k) {
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  int64_t p = 0;
  for (; p + 32 <= k; p += 32) {
    a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + p), _mm512_loadu_ps(col + p), a0);
    a1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + p + 16), _mm512_loadu_ps(col + p + 16), a1);
  }
  for (; p < k; p += 16) {
    const __mmask16 m = lanes(k - p);
    a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + p), _mm512_maskz_loadu_ps(m, col + p), a0);
  }
  return _mm512_add_ps(a0, a1);
}

void gemv_f32(int64_t n, int64_t k, const float* x, int64_t xs, const float* b, int64_t rs,
              int64_t cs, float* y, int64_t ys, const float* bias, int64_t bias_s, const Epi& e) {
  if (rs == 1 && (cs != 1 || n == 1)) {
    // Columns of B contiguous along k: dot products, 4 columns at a time share x loads.
    (void)xs;  // the driver makes x contiguous for this form
    for (int64_t j0 = 0; j0 < n; j0 += 16) {
      const int64_t cnt = min64(16, n - j0);
      alignas(64) float res[16] = {};
      int64_t jj = 0;
      for (; jj + 4 <= cnt; jj += 4) {
        const float* c0 = b + (j0 + jj) * cs;
        __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, t0 = s0, t1 = s0, t2 = s0,
               t3 = s0;
        int64_t p = 0;
        for (; p + 32 <= k; p += 32) {
          const __m512 x0 = _mm512_loadu_ps(x + p), x1 = _mm512_loadu_ps(x + p + 16);
          s0 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(c0 + p), s0);
          t0 = _mm512_fmadd_ps(x1, _mm512_loadu_ps(c0 + p + 16), t0);
          s1 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(c0 + cs + p), s1);
          t1 = _mm512_fmadd_ps(x1, _mm512_loadu_ps(c0 + cs + p + 16), t1);
          s2 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(c0 + 2 * cs + p), s2);
          t2 = _mm512_fmadd_ps(x1, _mm512_loadu_ps(c0 + 2 * cs + p + 16), t2);
          s3 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(c0 + 3 * cs + p), s3);
          t3 = _mm512_fmadd_ps(x1, _mm512_loadu_ps(c0 + 3 * cs + p + 16), t3);
        }
        for (; p < k; p += 16) {
          const __mmask16 m = lanes(k - p);
          const __m512 x0 = _mm512_maskz_loadu_ps(m, x + p);
          s0 = _mm512_fmadd_ps(x0, _mm512_maskz_loadu_ps(m, c0 + p), s0);
          s1 = _mm512_fmadd_ps(x0, _mm512_maskz_loadu_ps(m, c0 + cs + p), s1);
          s2 = _mm512_fmadd_ps(x0, _mm512_maskz_loadu_ps(m, c0 + 2 * cs + p), s2);
          s3 = _mm512_fmadd_ps(x0, _mm512_maskz_loadu_ps(m, c0 + 3 * cs + p), s3);
        }
        // Same arithmetic as dot_partial, column by column.
        res[jj] = vreduce_add({_mm512_add_ps(s0, t0)});
        res[jj + 1] = vreduce_add({_mm512_add_ps(s1, t1)});
        res[jj + 2] = vreduce_add({_mm512_add_ps(s2, t2)});
        res[jj + 3] = vreduce_add({_mm512_add_ps(s3, t3)});
      }
      for (; jj < cnt; ++jj) res[jj] = vreduce_add({dot_partial(x, b + (j0 + jj) * cs, k)});
      epi_store_strided(y + j0 * ys, ys, _mm512_load_ps(res), cnt, e,
                        bias ? bias + j0 * bias_s : nullptr, bias_s);
    }
    return;
  }
  // Rows of B contiguous along n: stream each row segment of up to kSeg columns whole (long
  // sequential runs the prefetchers follow) into accumulators parked in L1, four rows per
  // pass. Each y[j] still sums its products in increasing p, one FMA at a time.
  constexpr int64_t kSeg = 2048;
  alignas(64) float acc[kSeg];
  for (int64_t j0 = 0; j0 < n; j0 += kSeg) {
    const int64_t cnt = min64(kSeg, n - j0), full = cnt / 16 * 16;
    const __mmask16 tail = lanes(cnt - full);
    for (int64_t j = 0; j < cnt; j += 16) _mm512_store_ps(acc + j, _mm512_setzero_ps());
    const float* bp = b + j0;
    int64_t p = 0;
    for (; p + 4 <= k; p += 4, bp += 4 * rs) {
      const __m512 x0 = _mm512_set1_ps(x[p * xs]), x1 = _mm512_set1_ps(x[(p + 1) * xs]),
                   x2 = _mm512_set1_ps(x[(p + 2) * xs]), x3 = _mm512_set1_ps(x[(p + 3) * xs]);
      int64_t j = 0;
      for (; j < full; j += 16) {
        __m512 v = _mm512_load_ps(acc + j);
        v = _mm512_fmadd_ps(x0, _mm512_loadu_ps(bp + j), v);
        v = _mm512_fmadd_ps(x1, _mm512_loadu_ps(bp + rs + j), v);
        v = _mm512_fmadd_ps(x2, _mm512_loadu_ps(bp + 2 * rs + j), v);
        v = _mm512_fmadd_ps(x3, _mm512_loadu_ps(bp + 3 * rs + j), v);
        _mm512_store_ps(acc + j, v);
      }
      if (j < cnt) {
        __m512 v = _mm512_load_ps(acc + j);
        v = _mm512_fmadd_ps(x0, _mm512_maskz_loadu_ps(tail, bp + j), v);
        v = _mm512_fmadd_ps(x1, _mm512_maskz_loadu_ps(tail, bp + rs + j), v);
        v = _mm512_fmadd_ps(x2, _mm512_maskz_loadu_ps(tail, bp + 2 * rs + j), v);
        v = _mm512_fmadd_ps(x3, _mm512_maskz_loadu_ps(tail, bp + 3 * rs + j), v);
        _mm512_store_ps(acc + j, v);
      }
    }
    for (; p < k; ++p, bp += rs) {
      const __m512 x0 = _mm512_set1_ps(x[p * xs]);
      for (int64_t j = 0; j < cnt; j += 16)
        _mm512_store_ps(acc + j, _mm512_fmadd_ps(x0, _mm512_maskz_loadu_ps(lanes(cnt - j), bp + j),
                                                 _mm512_load_ps(acc + j)));
    }
    for (int64_t j = 0; j < cnt; j += 16)
      epi_store_strided(y + (j0 + j) * ys, ys, _mm512_load_ps(acc + j), min64(16, cnt - j), e,
                        bias ? bias + (j0 + j) * bias_s : nullptr, bias_s);
  }
}

cpu::GemmTable make_table() {
  cpu::GemmTable t{};
  // Blocking (measured on a 48 KiB L1d / 2 MiB L2 core; sized to also fit 32 KiB / 1 MiB):
  // kc 256 keeps the A micro-panel (14 x 256 floats = 14 KiB) in L1; nc 1024 makes the B
  // block 1 MiB (L2); mc 4200 rows make the A block (4.2 MiB, L3) cover typical token
  // counts in one piece, so B is packed once.
  t.f32 = {kMR, kNR, 1, 4, 4200, 256, 1024, pack_a_t<float>, pack_b_t<float>, macro_f32};
  t.bf16_widen = {kMR,      kNR, 1, 4, 4200, 256, 1024, pack_a_t<uint16_t>, pack_b_t<uint16_t>,
                  macro_f32};
#ifdef __AVX512BF16__
  // Same tile and bytes per block: a packed bf16 is half a float, so kc doubles.
  t.bf16 = {kMR, kNR, 2, 2, 4200, 512, 1024, pack_a_bf16, pack_b_bf16, macro_bf16};
#endif
  t.gemv = gemv_f32;
  return t;
}

}  // namespace

const cpu::GemmTable gemm_table = make_table();

}  // namespace ember::avx512
