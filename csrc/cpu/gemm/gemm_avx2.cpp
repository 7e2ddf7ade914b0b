// AVX2 + FMA GEMM kernels: float32 micro-kernel and packing (bf16 sources are widened to
// float32 while packing), and the float32 GEMV kernels. Everything defined here lives in
// ember::avx2 (see DESIGN.md, the one-definition trap): no std:: templates, no lambdas.
#include "cpu/simd/vec_avx2.h"  // first: it wraps <immintrin.h>
//
#include "cpu/gemm/gemm.h"

namespace ember::avx2 {
namespace {

using cpu::GemmAct;
using Epi = cpu::GemmEpilogue<float>;

// Micro-tile: 6 rows x 16 columns (2 YMM) of C: 12 accumulators + 2 B vectors + 1 A
// broadcast = 15 of the 16 YMM registers (the classic Haswell..Zen 6x16 shape). Per k:
// 2 B loads + 6 broadcasts for 12 FMAs, within two load ports at 2 FMA/cycle, and 12
// independent chains cover the 4-5 cycle FMA latency.
constexpr int kMR = 6;
constexpr int kNR = 16;

constexpr float kRsqrt2 = 0.70710678118654752f;
constexpr float kGeluK = 0.79788456080286536f;  // sqrt(2/pi)
constexpr float kGeluC = 0.044715f;

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

static inline __m256i lanes(int64_t n) {
  const int k = n <= 0 ? 0 : n >= 8 ? 8 : static_cast<int>(n);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline __m256 loadm(const float* p, int64_t n, __m256i m) {
  return n >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m);
}
static inline void storem(float* p, __m256 v, int64_t n, __m256i m) {
  if (n >= 8)
    _mm256_storeu_ps(p, v);
  else
    _mm256_maskstore_ps(p, m, v);
}

// Same formulas as the elementwise kernels (elementwise_kernels.inc).
static inline __m256 activate(__m256 x, GemmAct act) {
  const VecF v{x};
  switch (act) {
    case GemmAct::Relu:
      return _mm256_max_ps(_mm256_setzero_ps(), x);  // zero first: relu(NaN) = NaN
    case GemmAct::Gelu: {
      const VecF cdf = vfma(verf(vmul(v, vset1(kRsqrt2))), vset1(0.5f), vset1(0.5f));
      return vmul(v, cdf).v;
    }
    case GemmAct::GeluTanh: {
      const VecF x2 = vmul(v, v);
      const VecF u2 = vmul(v, vfma(x2, vset1(2.0f * kGeluK * kGeluC), vset1(2.0f * kGeluK)));
      return vmul(v, vsigmoid(u2)).v;
    }
    default:
      return x;
  }
}

// c[0..8) (the first n lanes, mask m) = act(alpha * acc + beta * c + bias).
static inline void epi_store(float* c, __m256 acc, int64_t n, __m256i m, const Epi& e,
                             const float* bias) {
  if (n <= 0) return;
  __m256 x = _mm256_mul_ps(acc, _mm256_set1_ps(e.alpha));
  if (e.beta != 0.0f) x = _mm256_fmadd_ps(loadm(c, n, m), _mm256_set1_ps(e.beta), x);
  if (bias) x = _mm256_add_ps(x, loadm(bias, n, m));
  if (e.act != GemmAct::None) x = activate(x, e.act);
  storem(c, x, n, m);
}

__attribute__((noinline)) void epi_tile(const float* tile, int rows, float* c, int64_t ldc,
                                        int64_t n, const Epi& e, const float* bias) {
  const __m256i m0 = lanes(n), m1 = lanes(n - 8);
  for (int r = 0; r < rows; ++r) {
    epi_store(c + r * ldc, _mm256_load_ps(tile + r * kNR), n, m0, e, bias);
    epi_store(c + r * ldc + 8, _mm256_load_ps(tile + r * kNR + 8), n - 8, m1, e,
              bias ? bias + 8 : nullptr);
  }
}

// C tile (M rows, n <= kNR columns) = epilogue(A panel . B panel); M < kMR: bottom edge.
template <int M>
void ukernel_f32(int64_t k, const float* pa, const float* pb, float* c, int64_t ldc, int64_t n,
                 const Epi& e, const float* bias) {
  __m256 acc[M][2];
#pragma GCC unroll 6
  for (int r = 0; r < M; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (int64_t p = 0; p < k; ++p) {
    const __m256 b0 = _mm256_load_ps(pb), b1 = _mm256_load_ps(pb + 8);
#pragma GCC unroll 6
    for (int r = 0; r < M; ++r) {
      const __m256 a = _mm256_broadcast_ss(pa + r);
      acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
    }
    pa += kMR;
    pb += kNR;
  }
  if (e.act == GemmAct::None) {
    const __m256i m0 = lanes(n), m1 = lanes(n - 8);
#pragma GCC unroll 6
    for (int r = 0; r < M; ++r) {
      epi_store(c + r * ldc, acc[r][0], n, m0, e, bias);
      epi_store(c + r * ldc + 8, acc[r][1], n - 8, m1, e, bias ? bias + 8 : nullptr);
    }
  } else {
    alignas(32) float tile[M * kNR];
#pragma GCC unroll 6
    for (int r = 0; r < M; ++r) {
      _mm256_store_ps(tile + r * kNR, acc[r][0]);
      _mm256_store_ps(tile + r * kNR + 8, acc[r][1]);
    }
    epi_tile(tile, M, c, ldc, n, e, bias);
  }
}

using UkernelF32 = void (*)(int64_t, const float*, const float*, float*, int64_t, int64_t,
                            const Epi&, const float*);
const UkernelF32 kUkernelF32[kMR + 1] = {nullptr,        ukernel_f32<1>, ukernel_f32<2>,
                                         ukernel_f32<3>, ukernel_f32<4>, ukernel_f32<5>,
                                         ukernel_f32<6>};

// i outer, j inner: the A micro-panel stays in L1, the B block streams from L2 (see
// gemm_avx512.cpp).
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
// 8 floats from p (n valid, rest 0).
static inline __m256 load8(const float* p, int64_t n) {
  return n >= 8   ? _mm256_loadu_ps(p)
         : n <= 0 ? _mm256_setzero_ps()
                  : _mm256_maskload_ps(p, lanes(n));
}
static inline __m256 load8(const uint16_t* p, int64_t n) {
  __m128i h;
  if (n >= 8) {
    h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  } else {
    alignas(16) uint16_t t[8] = {};
    for (int64_t i = 0; i < n; ++i) t[i] = p[i];
    h = _mm_load_si128(reinterpret_cast<const __m128i*>(t));
  }
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

template <typename S>
void pack_a_t(const void* srcv, int64_t rs, int64_t cs, int64_t m, int64_t k, void* dstv) {
  const S* src = static_cast<const S*>(srcv);
  float* dst = static_cast<float*>(dstv);
  for (int64_t i = 0; i < m; i += kMR, dst += kMR * k) {
    const int64_t mm = min64(kMR, m - i);
    const S* a = src + i * rs;
    for (int64_t p = 0; p < k; ++p) {
      float* d = dst + p * kMR;
      int64_t r = 0;
      for (; r < mm; ++r) d[r] = load_elem(a + r * rs + p * cs);
      for (; r < kMR; ++r) d[r] = 0.0f;
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
    if (cs == 1) {
      for (int64_t p = 0; p < k; ++p) {
        _mm256_store_ps(dst + p * kNR, load8(b + p * rs, nn));
        _mm256_store_ps(dst + p * kNR + 8, load8(b + p * rs + 8, nn - 8));
      }
    } else {
      for (int64_t jj = 0; jj < nn; ++jj)
        for (int64_t p = 0; p < k; ++p) dst[p * kNR + jj] = load_elem(b + jj * cs + p * rs);
      for (int64_t p = 0; p < k; ++p)
        for (int64_t jj = nn; jj < kNR; ++jj) dst[p * kNR + jj] = 0.0f;
    }
  }
}

// ---- GEMV (float32)

static inline float hsum(__m256 v) { return vreduce_add({v}); }

static inline void epi_store_strided(float* y, int64_t ys, __m256 acc, int64_t cnt, const Epi& e,
                                     const float* bias, int64_t bias_s) {
  if (ys == 1 && (bias == nullptr || bias_s == 1))
    return epi_store(y, acc, cnt, lanes(cnt), e, bias);
  alignas(32) float t[8] = {}, bv[8] = {};
  __m256 x = _mm256_mul_ps(acc, _mm256_set1_ps(e.alpha));
  if (e.beta != 0.0f) {
    for (int64_t i = 0; i < cnt; ++i) t[i] = y[i * ys];
    x = _mm256_fmadd_ps(_mm256_load_ps(t), _mm256_set1_ps(e.beta), x);
  }
  if (bias) {
    for (int64_t i = 0; i < cnt; ++i) bv[i] = bias[i * bias_s];
    x = _mm256_add_ps(x, _mm256_load_ps(bv));
  }
  if (e.act != GemmAct::None) x = activate(x, e.act);
  _mm256_store_ps(t, x);
  for (int64_t i = 0; i < cnt; ++i) y[i * ys] = t[i];
}

// 8-lane partial sums of x . col over k (two accumulators, then one add).
static inline __m256 dot_partial(const float* x, const float* col, int64_t k) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int64_t p = 0;
  for (; p + 16 <= k; p += 16) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + p), _mm256_loadu_ps(col + p), a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + p + 8), _mm256_loadu_ps(col + p + 8), a1);
  }
  for (; p < k; p += 8) a0 = _mm256_fmadd_ps(load8(x + p, k - p), load8(col + p, k - p), a0);
  return _mm256_add_ps(a0, a1);
}

void gemv_f32(int64_t n, int64_t k, const float* x, int64_t xs, const float* b, int64_t rs,
              int64_t cs, float* y, int64_t ys, const float* bias, int64_t bias_s, const Epi& e) {
  if (rs == 1 && (cs != 1 || n == 1)) {
    (void)xs;  // contiguous here (the driver packs x)
    for (int64_t j0 = 0; j0 < n; j0 += 8) {
      const int64_t cnt = min64(8, n - j0);
      alignas(32) float res[8] = {};
      for (int64_t jj = 0; jj < cnt; ++jj) res[jj] = hsum(dot_partial(x, b + (j0 + jj) * cs, k));
      epi_store_strided(y + j0 * ys, ys, _mm256_load_ps(res), cnt, e,
                        bias ? bias + j0 * bias_s : nullptr, bias_s);
    }
    return;
  }
  constexpr int kV = 8;
  for (int64_t j0 = 0; j0 < n; j0 += 8 * kV) {
    const int64_t cnt = min64(8 * kV, n - j0);
    __m256 acc[kV];
#pragma GCC unroll 8
    for (int v = 0; v < kV; ++v) acc[v] = _mm256_setzero_ps();
    const float* bp = b + j0;
    if (cnt == 8 * kV) {
      for (int64_t p = 0; p < k; ++p, bp += rs) {
        const __m256 xb = _mm256_set1_ps(x[p * xs]);
#pragma GCC unroll 8
        for (int v = 0; v < kV; ++v)
          acc[v] = _mm256_fmadd_ps(xb, _mm256_loadu_ps(bp + 8 * v), acc[v]);
      }
    } else {
      for (int64_t p = 0; p < k; ++p, bp += rs) {
        const __m256 xb = _mm256_set1_ps(x[p * xs]);
        for (int v = 0; v < kV && 8 * v < cnt; ++v)
          acc[v] = _mm256_fmadd_ps(xb, load8(bp + 8 * v, cnt - 8 * v), acc[v]);
      }
    }
    for (int v = 0; v < kV && 8 * v < cnt; ++v)
      epi_store_strided(y + (j0 + 8 * v) * ys, ys, acc[v], min64(8, cnt - 8 * v), e,
                        bias ? bias + (j0 + 8 * v) * bias_s : nullptr, bias_s);
  }
}

cpu::GemmTable make_table() {
  cpu::GemmTable t{};
  // For a 32 KiB L1d / 512 KiB+ L2 AVX2 core: A micro-panel 6 x 256 floats (6 KiB) in L1,
  // B block 256 x 512 floats (512 KiB) in L2, A block in L3.
  t.f32 = {kMR, kNR, 1, 4, 4200, 256, 512, pack_a_t<float>, pack_b_t<float>, macro_f32};
  t.bf16_widen = {kMR,      kNR, 1, 4, 4200, 256, 512, pack_a_t<uint16_t>, pack_b_t<uint16_t>,
                  macro_f32};
  t.gemv = gemv_f32;
  return t;
}

}  // namespace

const cpu::GemmTable gemm_table = make_table();

}  // namespace ember::avx2
