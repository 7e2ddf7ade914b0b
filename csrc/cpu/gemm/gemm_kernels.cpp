// GEMM kernels, compiled once per ISA inside namespace ember::<isa> (ember_add_isa_kernels).
// What every ISA shares is written here once, on the Vec API: the epilogue and its fused
// activation (vgelu / vgelu_tanh, the elementwise kernels' formulas, so a fused activation
// matches the separate op), the macro-kernel loop over micro-tiles, the packers for any
// strides and the GEMV. gemm_<isa>.inc adds only the micro-kernels, the packers an ISA needs
// for itself and the blocking. Nothing here may instantiate std:: templates
// (docs/architecture.md, the one-definition trap).
#include "cpu/simd/vec.h"  // first: it may wrap <immintrin.h>
//
#include "cpu/gemm/gemm.h"

namespace ember::EMBER_ISA_NS {
namespace {

using cpu::GemmAct;
using Epi = cpu::GemmEpilogue<float>;

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

static inline VecF activate(VecF x, GemmAct act) {
  switch (act) {
    case GemmAct::Relu:
      return vmax(vzero(), x);  // zero first: relu(NaN) = NaN
    case GemmAct::Gelu:
      return vgelu(x);
    case GemmAct::GeluTanh:
      return vgelu_tanh(x);
    default:
      return x;
  }
}

// c[0..n) (n <= kW; nothing when n <= 0) = act(alpha * acc + beta * c + bias).
static inline void epi_store(float* c, VecF acc, int64_t n, const Epi& e, const float* bias) {
  if (n <= 0) return;
  const int m = n >= kW ? kW : static_cast<int>(n);
  VecF x = vmul(acc, vset1(e.alpha));
  if (e.beta != 0.0f) x = vfma(vload_n(c, m, 0.0f), vset1(e.beta), x);
  if (bias) x = vadd(x, vload_n(bias, m, 0.0f));
  if (e.act != GemmAct::None) x = activate(x, e.act);
  vstore_n(c, x, m);
}

// The epilogue of a rows x NR accumulator tile parked in `tile` (n valid columns). Out of
// line so the activation's temporaries do not crowd the micro-kernel's registers.
template <int NR>
__attribute__((noinline)) void epi_tile(const float* tile, int rows, float* c, int64_t ldc,
                                        int64_t n, const Epi& e, const float* bias) {
  for (int r = 0; r < rows; ++r)
    for (int v = 0; v < NR; v += kW)
      epi_store(c + r * ldc + v, vload(tile + r * NR + v), n - v, e, bias ? bias + v : nullptr);
}

void epilogue_rows(const float* acc, int64_t ld, int64_t rows, int64_t n, float* c, int64_t ldc,
                   const Epi& e) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t v = 0; v < n; v += kW) {
      const int m = n - v >= kW ? kW : static_cast<int>(n - v);
      epi_store(c + r * ldc + v, vload_n(acc + r * ld + v, m, 0.0f), n - v, e,
                e.bias ? e.bias + v : nullptr);
    }
}

// y[i * ys] for i < cnt (<= kW) = act(alpha * acc + beta * y + bias[i * bias_s]).
static inline void epi_store_strided(float* y, int64_t ys, VecF acc, int64_t cnt, const Epi& e,
                                     const float* bias, int64_t bias_s) {
  if (ys == 1 && (bias == nullptr || bias_s == 1)) return epi_store(y, acc, cnt, e, bias);
  alignas(64) float t[kW] = {}, bv[kW] = {};
  VecF x = vmul(acc, vset1(e.alpha));
  if (e.beta != 0.0f) {
    for (int64_t i = 0; i < cnt; ++i) t[i] = y[i * ys];
    x = vfma(vload(t), vset1(e.beta), x);
  }
  if (bias) {
    for (int64_t i = 0; i < cnt; ++i) bv[i] = bias[i * bias_s];
    x = vadd(x, vload(bv));
  }
  if (e.act != GemmAct::None) x = activate(x, e.act);
  vstore(t, x);
  for (int64_t i = 0; i < cnt; ++i) y[i * ys] = t[i];
}

// C tile (M rows, n <= NR columns) = epilogue(A panel . B panel), for M = 1..MR (M < MR
// serves the bottom edge with the same per-element arithmetic); P is the packed element.
template <typename P>
using Ukernel = void (*)(int64_t k, const P* pa, const P* pb, float* c, int64_t ldc, int64_t n,
                         const Epi& e, const float* bias);

// C block = epilogue(packed A (m x k) @ packed B (k x n)), k the packed k. i outer, j inner:
// one A micro-panel (MR x k) stays in L1 while the B block streams from L2 in full-width
// loads, as BLIS keeps its broadcast operand in L1. Measured on avx512: 142 vs 131 GFLOP/s at
// 2048^3 against the opposite order, whose 32 KiB B micro-panel does not stay in a 48 KiB L1.
template <typename P, int MR, int NR, const Ukernel<P> (&kUkernels)[MR + 1]>
void macro_kernel(int64_t m, int64_t n, int64_t k, const void* pav, const void* pbv, float* c,
                  int64_t ldc, const Epi& e) {
  const P* pa = static_cast<const P*>(pav);
  const P* pb = static_cast<const P*>(pbv);
  for (int64_t i = 0; i < m; i += MR) {
    const Ukernel<P> uk = kUkernels[min64(MR, m - i)];
    for (int64_t j = 0; j < n; j += NR)
      uk(k, pa + i * k, pb + j * k, c + i * ldc + j, ldc, min64(NR, n - j), e,
         e.bias ? e.bias + j : nullptr);
  }
}

// The small-GEMM form's micro-kernel: C tile (M rows, n <= NR columns) = epilogue(A rows in
// place (row r at a + r * as, unit k step; or k step as, rows adjacent) . B panel (row p at
// b + p * b_rs)).
using DirectUkernel = void (*)(int64_t k, const float* a, int64_t as, const float* b, int64_t b_rs,
                               float* c, int64_t ldc, int64_t n, const Epi& e, const float* bias);

// GemmDirectFn (gemm.h): the loops of macro_kernel over tiles, A read in place. kRows serves
// A with unit column stride (cs == 1), kCols A with unit row stride.
template <int MR, int NR, const DirectUkernel (&kRows)[MR + 1],
          const DirectUkernel (&kCols)[MR + 1]>
void direct_macro(int64_t m, int64_t n, int64_t k, const float* a, int64_t rs, int64_t cs,
                  const float* b, int64_t b_rs, int64_t b_ps, float* c, int64_t ldc, const Epi& e) {
  const bool rows = cs == 1;
  for (int64_t i = 0; i < m; i += MR) {
    const int64_t mm = min64(MR, m - i);
    const DirectUkernel uk = rows ? kRows[mm] : kCols[mm];
    for (int64_t j = 0; j < n; j += NR)
      uk(k, a + i * rs, rows ? rs : cs, b + j / NR * b_ps, b_rs, c + i * ldc + j, ldc,
         min64(NR, n - j), e, e.bias ? e.bias + j : nullptr);
  }
}

// ---- packing (see gemm.h for the panel layouts): float32 panels from float32 or bf16
// sources, float64 panels from float64. The ISAs with faster forms for some strides (avx512
// transposes in registers) call these for the others.

static inline float widen(float x) { return x; }
static inline double widen(double x) { return x; }
static inline float widen(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  __builtin_memcpy(&f, &bits, 4);
  return f;
}
// Up to kW source values (n of them; none when n <= 0) as float32 lanes, the rest 0.
static inline VecF load_widen(const float* p, int64_t n) {
  return n >= kW ? vload(p) : n <= 0 ? vzero() : vload_partial(p, static_cast<int>(n), 0.0f);
}
static inline VecF load_widen(const uint16_t* p, int64_t n) {
  return vload_bf16(p, n >= kW ? kW : n <= 0 ? 0 : static_cast<int>(n));
}

// One A micro-panel: rows [0, mm) of a (element (r, p) at a[r * rs + p * cs]) into
// dst[p * MR + r], rows [mm, MR) zero.
template <int MR, typename S, typename D>
static inline void pack_a_panel(const S* a, int64_t rs, int64_t cs, int64_t mm, int64_t k, D* dst) {
  for (int64_t p = 0; p < k; ++p) {
    D* d = dst + p * MR;
    int64_t r = 0;
    for (; r < mm; ++r) d[r] = widen(a[r * rs + p * cs]);
    for (; r < MR; ++r) d[r] = D(0);
  }
}

// One B micro-panel: columns [0, nn) of b (element (p, j) at b[p * rs + j * cs]) into
// dst[p * NR + j], columns [nn, NR) zero. Any strides: element by element, down each column.
template <int NR, typename S, typename D>
static inline void pack_b_panel(const S* b, int64_t rs, int64_t cs, int64_t nn, int64_t k, D* dst) {
  for (int64_t jj = 0; jj < nn; ++jj)
    for (int64_t p = 0; p < k; ++p) dst[p * NR + jj] = widen(b[jj * cs + p * rs]);
  for (int64_t p = 0; p < k; ++p)
    for (int64_t jj = nn; jj < NR; ++jj) dst[p * NR + jj] = D(0);
}
// The same for unit column stride into float32 panels: whole vectors along each row.
template <int NR, typename S>
static inline void pack_b_panel_rows(const S* b, int64_t rs, int64_t nn, int64_t k, float* dst) {
  for (int64_t p = 0; p < k; ++p)
    for (int v = 0; v < NR; v += kW) vstore(dst + p * NR + v, load_widen(b + p * rs + v, nn - v));
}
template <int NR, typename S>
static inline void pack_b_any(const S* b, int64_t rs, int64_t cs, int64_t nn, int64_t k,
                              float* dst) {
  if (cs == 1)
    pack_b_panel_rows<NR>(b, rs, nn, k, dst);
  else
    pack_b_panel<NR>(b, rs, cs, nn, k, dst);
}
template <int NR>
static inline void pack_b_any(const double* b, int64_t rs, int64_t cs, int64_t nn, int64_t k,
                              double* dst) {
  pack_b_panel<NR>(b, rs, cs, nn, k, dst);
}

// GemmPackFn over whole blocks, panel after panel.
template <typename S, typename D, int MR>
void pack_a(const void* srcv, int64_t rs, int64_t cs, int64_t m, int64_t k, void* dstv) {
  const S* src = static_cast<const S*>(srcv);
  D* dst = static_cast<D*>(dstv);
  for (int64_t i = 0; i < m; i += MR, dst += MR * k)
    pack_a_panel<MR>(src + i * rs, rs, cs, min64(MR, m - i), k, dst);
}
template <typename S, typename D, int NR>
void pack_b(const void* srcv, int64_t rs, int64_t cs, int64_t k, int64_t n, void* dstv) {
  const S* src = static_cast<const S*>(srcv);
  D* dst = static_cast<D*>(dstv);
  for (int64_t j = 0; j < n; j += NR, dst += NR * k)
    pack_b_any<NR>(src + j * cs, rs, cs, min64(NR, n - j), k, dst);
}

// ---- GEMV (float32): M == 1 or N == 1 problems, where packing would cost more than it saves.

// sum_p x[p] * col[p] in kW-lane partial sums over k (two accumulators), added.
static inline VecF dot_partial(const float* x, const float* col, int64_t k) {
  VecF a0 = vzero(), a1 = vzero();
  int64_t p = 0;
  for (; p + 2 * kW <= k; p += 2 * kW) {
    a0 = vfma(vload(x + p), vload(col + p), a0);
    a1 = vfma(vload(x + p + kW), vload(col + p + kW), a1);
  }
  for (; p < k; p += kW) a0 = vfma(load_widen(x + p, k - p), load_widen(col + p, k - p), a0);
  return vadd(a0, a1);
}

void gemv_f32(int64_t n, int64_t k, const float* x, int64_t xs, const float* b, int64_t rs,
              int64_t cs, float* y, int64_t ys, const float* bias, int64_t bias_s, const Epi& e) {
  if (rs == 1 && (cs != 1 || n == 1)) {
    // Columns of B contiguous along k: dot products, 4 columns at a time share x loads.
    (void)xs;  // the driver makes x contiguous for this form
    for (int64_t j0 = 0; j0 < n; j0 += kW) {
      const int64_t cnt = min64(kW, n - j0);
      alignas(64) float res[kW] = {};
      int64_t jj = 0;
      for (; jj + 4 <= cnt; jj += 4) {
        const float* c0 = b + (j0 + jj) * cs;
        VecF s[4], t[4];
        for (int q = 0; q < 4; ++q) s[q] = t[q] = vzero();
        int64_t p = 0;
        for (; p + 2 * kW <= k; p += 2 * kW) {
          const VecF x0 = vload(x + p), x1 = vload(x + p + kW);
#pragma GCC unroll 4
          for (int q = 0; q < 4; ++q) {
            s[q] = vfma(x0, vload(c0 + q * cs + p), s[q]);
            t[q] = vfma(x1, vload(c0 + q * cs + p + kW), t[q]);
          }
        }
        for (; p < k; p += kW) {
          const VecF x0 = load_widen(x + p, k - p);
#pragma GCC unroll 4
          for (int q = 0; q < 4; ++q) s[q] = vfma(x0, load_widen(c0 + q * cs + p, k - p), s[q]);
        }
        // Same arithmetic as dot_partial, column by column.
        for (int q = 0; q < 4; ++q) res[jj + q] = vreduce_add(vadd(s[q], t[q]));
      }
      for (; jj < cnt; ++jj) res[jj] = vreduce_add(dot_partial(x, b + (j0 + jj) * cs, k));
      epi_store_strided(y + j0 * ys, ys, vload(res), cnt, e, bias ? bias + j0 * bias_s : nullptr,
                        bias_s);
    }
    return;
  }
  // Rows of B contiguous along n: stream each row segment of up to kSeg columns whole (long
  // sequential runs the prefetchers follow) into accumulators parked in L1, four rows per
  // pass. Each y[j] still sums its products in increasing p, one FMA at a time.
  constexpr int64_t kSeg = 2048;
  alignas(64) float acc[kSeg];
  for (int64_t j0 = 0; j0 < n; j0 += kSeg) {
    const int64_t cnt = min64(kSeg, n - j0), full = cnt / kW * kW;
    const int tail = static_cast<int>(cnt - full);
    for (int64_t j = 0; j < cnt; j += kW) vstore(acc + j, vzero());
    const float* bp = b + j0;
    int64_t p = 0;
    for (; p + 4 <= k; p += 4, bp += 4 * rs) {
      const VecF x0 = vset1(x[p * xs]), x1 = vset1(x[(p + 1) * xs]), x2 = vset1(x[(p + 2) * xs]),
                 x3 = vset1(x[(p + 3) * xs]);
      int64_t j = 0;
      for (; j < full; j += kW) {
        VecF v = vload(acc + j);
        v = vfma(x0, vload(bp + j), v);
        v = vfma(x1, vload(bp + rs + j), v);
        v = vfma(x2, vload(bp + 2 * rs + j), v);
        v = vfma(x3, vload(bp + 3 * rs + j), v);
        vstore(acc + j, v);
      }
      if (j < cnt) {
        VecF v = vload(acc + j);
        v = vfma(x0, vload_partial(bp + j, tail, 0.0f), v);
        v = vfma(x1, vload_partial(bp + rs + j, tail, 0.0f), v);
        v = vfma(x2, vload_partial(bp + 2 * rs + j, tail, 0.0f), v);
        v = vfma(x3, vload_partial(bp + 3 * rs + j, tail, 0.0f), v);
        vstore(acc + j, v);
      }
    }
    for (; p < k; ++p, bp += rs) {
      const VecF x0 = vset1(x[p * xs]);
      for (int64_t j = 0; j < cnt; j += kW)
        vstore(acc + j, vfma(x0, load_widen(bp + j, cnt - j), vload(acc + j)));
    }
    for (int64_t j = 0; j < cnt; j += kW)
      epi_store_strided(y + (j0 + j) * ys, ys, vload(acc + j), min64(kW, cnt - j), e,
                        bias ? bias + (j0 + j) * bias_s : nullptr, bias_s);
  }
}

}  // namespace

// Defines, in an anonymous namespace, the ISA's micro-kernels (and the packers it needs for
// itself) and make_table(), its blocking.
#if defined(EMBER_ISA_AVX512)
#include "cpu/gemm/gemm_avx512.inc"
#elif defined(EMBER_ISA_AVX2)
#include "cpu/gemm/gemm_avx2.inc"
#else
#include "cpu/gemm/gemm_generic.inc"
#endif

const cpu::GemmTable gemm_table = make_table();

}  // namespace ember::EMBER_ISA_NS
