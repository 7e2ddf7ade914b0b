// GEMM kernels, compiled once per ISA inside namespace ember::<isa> (ember_add_isa_kernels).
// This file holds what every ISA shares, written once on the Vec API: the epilogue with its
// fused activation (the elementwise kernels' formulas, vgelu / vgelu_tanh, so a fused
// activation matches the separate op), the macro-kernel loop over micro-tiles and the GEMV's
// strided store. Only the micro-kernels, the packers an ISA needs for itself, the GEMV inner
// loops and the blocking come from gemm_<isa>.inc. Nothing here may instantiate std::
// templates (docs/architecture.md, the one-definition trap): no std:: templates, no lambdas.
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
  if (e.beta != 0.0f) x = vfma(m == kW ? vload(c) : vload_partial(c, m, 0.0f), vset1(e.beta), x);
  if (bias) x = vadd(x, m == kW ? vload(bias) : vload_partial(bias, m, 0.0f));
  if (e.act != GemmAct::None) x = activate(x, e.act);
  if (m == kW)
    vstore(c, x);
  else
    vstore_partial(c, x, m);
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

}  // namespace

// Defines, in an anonymous namespace, the ISA's micro-kernels, packers and GEMV, and
// make_table().
#if defined(EMBER_ISA_AVX512)
#include "cpu/gemm/gemm_avx512.inc"
#elif defined(EMBER_ISA_AVX2)
#include "cpu/gemm/gemm_avx2.inc"
#else
#include "cpu/gemm/gemm_generic.inc"
#endif

const cpu::GemmTable gemm_table = make_table();

}  // namespace ember::EMBER_ISA_NS
