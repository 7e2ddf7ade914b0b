// Portable GEMM kernels (baseline x86-64, GCC vector extensions that compile to SSE2):
// the float32 micro-kernel, packing and GEMV of the generic ISA, and the float64 kernels
// every ISA uses (float64 serves gradchecks: correctness matters, speed does not).
// Everything defined here lives in ember::generic (see DESIGN.md, the one-definition trap):
// no std:: templates or inline std:: functions, only compiler builtins.
#include "cpu/simd/vec_generic.h"
//
#include "cpu/gemm/gemm.h"

namespace ember::generic {
namespace {

using cpu::GemmAct;
using Epi = cpu::GemmEpilogue<float>;
using Epi64 = cpu::GemmEpilogue<double>;

typedef float v4sf __attribute__((vector_size(16)));
typedef double v2df __attribute__((vector_size(16)));

// float32 micro-tile 6 x 8 (2 SSE vectors per row): 12 accumulators + 2 B + 1 A of the
// 16 XMM registers.
constexpr int kMR = 6;
constexpr int kNR = 8;  // == kW of vec_generic.h, so one VecF covers a tile row

constexpr float kRsqrt2 = 0.70710678118654752f;
constexpr float kGeluK = 0.79788456080286536f;  // sqrt(2/pi)
constexpr float kGeluC = 0.044715f;

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

static inline v4sf load4(const float* p) {
  v4sf v;
  __builtin_memcpy(&v, p, sizeof(v));
  return v;
}
static inline void store4(float* p, v4sf v) { __builtin_memcpy(p, &v, sizeof(v)); }

static inline VecF activate(VecF x, GemmAct act) {
  switch (act) {
    case GemmAct::Relu:
      return vmax(vzero(), x);
    case GemmAct::Gelu:
      return vmul(x, vfma(verf(vmul(x, vset1(kRsqrt2))), vset1(0.5f), vset1(0.5f)));
    case GemmAct::GeluTanh: {
      const VecF x2 = vmul(x, x);
      const VecF u2 = vmul(x, vfma(x2, vset1(2.0f * kGeluK * kGeluC), vset1(2.0f * kGeluK)));
      return vmul(x, vsigmoid(u2));
    }
    default:
      return x;
  }
}

// c[0..n) (n <= 8) = act(alpha * acc + beta * c + bias).
static inline void epi_store(float* c, VecF acc, int n, const Epi& e, const float* bias) {
  VecF x = vmul(acc, vset1(e.alpha));
  if (e.beta != 0.0f) x = vfma(vload_partial(c, n, 0.0f), vset1(e.beta), x);
  if (bias) x = vadd(x, vload_partial(bias, n, 0.0f));
  if (e.act != GemmAct::None) x = activate(x, e.act);
  vstore_partial(c, x, n);
}

template <int M>
void ukernel_f32(int64_t k, const float* pa, const float* pb, float* c, int64_t ldc, int64_t n,
                 const Epi& e, const float* bias) {
  v4sf acc[M][2];
  for (int r = 0; r < M; ++r) acc[r][0] = acc[r][1] = v4sf{0, 0, 0, 0};
  for (int64_t p = 0; p < k; ++p) {
    const v4sf b0 = load4(pb), b1 = load4(pb + 4);
#pragma GCC unroll 6
    for (int r = 0; r < M; ++r) {
      const float a = pa[r];
      acc[r][0] += a * b0;
      acc[r][1] += a * b1;
    }
    pa += kMR;
    pb += kNR;
  }
  const int nn = static_cast<int>(n);
  for (int r = 0; r < M; ++r) {
    VecF row;
    store4(row.v, acc[r][0]);
    store4(row.v + 4, acc[r][1]);
    epi_store(c + r * ldc, row, nn, e, bias);
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

// ---- packing, shared by float32 (from float32 or bf16) and float64

static inline float widen(float x) { return x; }
static inline double widen(double x) { return x; }
static inline float widen(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  __builtin_memcpy(&f, &bits, 4);
  return f;
}

template <typename S, typename D, int MR>
void pack_a_t(const void* srcv, int64_t rs, int64_t cs, int64_t m, int64_t k, void* dstv) {
  const S* src = static_cast<const S*>(srcv);
  D* dst = static_cast<D*>(dstv);
  for (int64_t i = 0; i < m; i += MR, dst += MR * k) {
    const int64_t mm = min64(MR, m - i);
    const S* a = src + i * rs;
    for (int64_t p = 0; p < k; ++p) {
      D* d = dst + p * MR;
      int64_t r = 0;
      for (; r < mm; ++r) d[r] = widen(a[r * rs + p * cs]);
      for (; r < MR; ++r) d[r] = D(0);
    }
  }
}

template <typename S, typename D, int NR>
void pack_b_t(const void* srcv, int64_t rs, int64_t cs, int64_t k, int64_t n, void* dstv) {
  const S* src = static_cast<const S*>(srcv);
  D* dst = static_cast<D*>(dstv);
  for (int64_t j = 0; j < n; j += NR, dst += NR * k) {
    const int64_t nn = min64(NR, n - j);
    const S* b = src + j * cs;
    for (int64_t p = 0; p < k; ++p) {
      D* d = dst + p * NR;
      int64_t jj = 0;
      for (; jj < nn; ++jj) d[jj] = widen(b[p * rs + jj * cs]);
      for (; jj < NR; ++jj) d[jj] = D(0);
    }
  }
}

// ---- GEMV (float32)

static inline void epi_store_strided(float* y, int64_t ys, VecF acc, int64_t cnt, const Epi& e,
                                     const float* bias, int64_t bias_s) {
  const int n = static_cast<int>(cnt);
  VecF t = vzero(), bv = vzero();
  for (int i = 0; i < n; ++i) t.v[i] = y[i * ys];
  if (bias)
    for (int i = 0; i < n; ++i) bv.v[i] = bias[i * bias_s];
  VecF x = vmul(acc, vset1(e.alpha));
  if (e.beta != 0.0f) x = vfma(t, vset1(e.beta), x);
  if (bias) x = vadd(x, bv);
  if (e.act != GemmAct::None) x = activate(x, e.act);
  for (int i = 0; i < n; ++i) y[i * ys] = x.v[i];
}

void gemv_f32(int64_t n, int64_t k, const float* x, int64_t xs, const float* b, int64_t rs,
              int64_t cs, float* y, int64_t ys, const float* bias, int64_t bias_s, const Epi& e) {
  const bool dot = rs == 1 && (cs != 1 || n == 1);
  for (int64_t j0 = 0; j0 < n; j0 += kW) {
    const int64_t cnt = min64(kW, n - j0);
    VecF res = vzero();
    if (dot) {
      (void)xs;  // contiguous here (the driver packs x)
      for (int64_t jj = 0; jj < cnt; ++jj) {
        const float* col = b + (j0 + jj) * cs;
        v4sf s0 = {0, 0, 0, 0}, s1 = s0;
        int64_t p = 0;
        for (; p + 8 <= k; p += 8) {
          s0 += load4(x + p) * load4(col + p);
          s1 += load4(x + p + 4) * load4(col + p + 4);
        }
        const v4sf s = s0 + s1;
        float tot = (s[0] + s[2]) + (s[1] + s[3]);
        for (; p < k; ++p) tot += x[p] * col[p];
        res.v[jj] = tot;
      }
    } else {
      v4sf a0 = {0, 0, 0, 0}, a1 = a0;
      if (cnt == kW) {
        for (int64_t p = 0; p < k; ++p) {
          const float xv = x[p * xs];
          a0 += xv * load4(b + p * rs + j0);
          a1 += xv * load4(b + p * rs + j0 + 4);
        }
        store4(res.v, a0);
        store4(res.v + 4, a1);
      } else {
        for (int64_t p = 0; p < k; ++p) {
          const float xv = x[p * xs];
          for (int64_t jj = 0; jj < cnt; ++jj) res.v[jj] += xv * b[p * rs + j0 + jj];
        }
      }
    }
    epi_store_strided(y + j0 * ys, ys, res, cnt, e, bias ? bias + j0 * bias_s : nullptr, bias_s);
  }
}

// ---- float64: 4 x 4 tiles (4 SSE2 vectors of accumulators), scalar epilogue.

constexpr int kMR64 = 4;
constexpr int kNR64 = 4;

static inline double act64(double x, GemmAct act) {
  switch (act) {
    case GemmAct::Relu:
      return x < 0.0 ? 0.0 : x;  // NaN stays NaN
    case GemmAct::Gelu:
      return 0.5 * x * (1.0 + __builtin_erf(x * 0.70710678118654752440));
    case GemmAct::GeluTanh: {
      const double u = 0.79788456080286535588 * (x + 0.044715 * x * x * x);
      return 0.5 * x * (1.0 + __builtin_tanh(u));
    }
    default:
      return x;
  }
}

template <int M>
void ukernel_f64(int64_t k, const double* pa, const double* pb, double* c, int64_t ldc, int64_t n,
                 const Epi64& e, const double* bias) {
  v2df acc[M][2];
  for (int r = 0; r < M; ++r) acc[r][0] = acc[r][1] = v2df{0, 0};
  for (int64_t p = 0; p < k; ++p) {
    v2df b0, b1;
    __builtin_memcpy(&b0, pb, sizeof(b0));
    __builtin_memcpy(&b1, pb + 2, sizeof(b1));
    for (int r = 0; r < M; ++r) {
      acc[r][0] += pa[r] * b0;
      acc[r][1] += pa[r] * b1;
    }
    pa += kMR64;
    pb += kNR64;
  }
  for (int r = 0; r < M; ++r) {
    double* cr = c + r * ldc;
    for (int64_t j = 0; j < n; ++j) {
      double x = e.alpha * acc[r][j >> 1][j & 1];
      if (e.beta != 0.0) x += e.beta * cr[j];
      if (bias) x += bias[j];
      cr[j] = act64(x, e.act);
    }
  }
}

using UkernelF64 = void (*)(int64_t, const double*, const double*, double*, int64_t, int64_t,
                            const Epi64&, const double*);
const UkernelF64 kUkernelF64[kMR64 + 1] = {nullptr, ukernel_f64<1>, ukernel_f64<2>, ukernel_f64<3>,
                                           ukernel_f64<4>};

void macro_f64(int64_t m, int64_t n, int64_t k, const void* pav, const void* pbv, double* c,
               int64_t ldc, const Epi64& e) {
  const double* pa = static_cast<const double*>(pav);
  const double* pb = static_cast<const double*>(pbv);
  for (int64_t j = 0; j < n; j += kNR64) {
    const int64_t nn = min64(kNR64, n - j);
    const double* bp = pb + j * k;
    const double* bias = e.bias ? e.bias + j : nullptr;
    for (int64_t i = 0; i < m; i += kMR64) {
      const int64_t mm = min64(kMR64, m - i);
      kUkernelF64[mm](k, pa + i * k, bp, c + i * ldc + j, ldc, nn, e, bias);
    }
  }
}

cpu::GemmTable make_table() {
  cpu::GemmTable t{};
  t.f32 = {
      kMR,      kNR, 1, 4, 4200, 256, 512, pack_a_t<float, float, kMR>, pack_b_t<float, float, kNR>,
      macro_f32};
  t.bf16_widen = {kMR,
                  kNR,
                  1,
                  4,
                  4200,
                  256,
                  512,
                  pack_a_t<uint16_t, float, kMR>,
                  pack_b_t<uint16_t, float, kNR>,
                  macro_f32};
  t.gemv = gemv_f32;
  return t;
}

}  // namespace

const cpu::GemmTable gemm_table = make_table();
const cpu::GemmKernelSet<double> gemm_f64_kernels = {kMR64,
                                                     kNR64,
                                                     1,
                                                     8,
                                                     2048,
                                                     256,
                                                     512,
                                                     pack_a_t<double, double, kMR64>,
                                                     pack_b_t<double, double, kNR64>,
                                                     macro_f64};

}  // namespace ember::generic
