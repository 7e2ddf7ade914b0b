// float32 layer norm / RMS norm row kernels, written once against the Vec API and included
// compiled once per ISA inside namespace ember::<isa> (ember_add_isa_kernels). Nothing here
// may instantiate std:: templates (see docs/architecture.md, the one-definition trap).
#include "cpu/simd/vec.h"  // first: it may wrap <immintrin.h>
//
#include "cpu/norm/norm.h"

namespace ember::EMBER_ISA_NS {

namespace {

// Sums run in blocks of kBlock values over two vector accumulators; each block's total is
// added to an outer accumulator, so a 50304-long float32 row keeps ~1e-6 relative accuracy.
constexpr int64_t kBlock = 1024;
// Lane indices, to zero the padding lanes of a row's last partial vector.
alignas(64) const float kLane[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

// Two sums in one sweep (the backward's sum(g') and sum(g' * xhat)).
template <class F>
void blocked_sum2(int64_t n, F f, float* out_a, float* out_b) {
  VecF ta = vzero(), tb = vzero();
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = n - b < kBlock ? n : b + kBlock;
    VecF sa = vzero(), sb = vzero();
    for (int64_t i = b; i < e; i += kW) f(i, e - i < kW ? static_cast<int>(e - i) : kW, &sa, &sb);
    ta = vadd(ta, sa);
    tb = vadd(tb, sb);
  }
  *out_a = vreduce_add(ta);
  *out_b = vreduce_add(tb);
}

template <bool kRms, bool kHasW, bool kHasB>
void forward_row_t(const float* x, const float* w, const float* b, float* y, int64_t n, float eps,
                   float* mean_out, float* rstd_out, bool stream) {
  // Deviations are taken from a pivot (the first value; 0 for RMS norm): x - pivot is exact
  // for rows like 1e4 + noise, so neither the sums nor y lose the noise to the large mean.
  const float pivot = kRms ? 0.0f : x[0];
  const VecF pv = vset1(pivot);
  float dmean = 0.0f;  // mean - pivot
  if (!kRms) {
    const float dev = vsum_blocked<kBlock>(
        n, [&](int64_t i, int k) { return vsub(vload_n(x + i, k, pivot), pv); });
    dmean = dev / static_cast<float>(n);
  }
  // Second pass: the variance around the mean (two-pass, no cancellation).
  const VecF mv = vset1(dmean);
  const float ss = vsum_blocked<kBlock>(n, [&](int64_t i, int k) {
    VecF d = vsub(vsub(vload_n(x + i, k, pivot), pv), mv);
    if (k < kW) d = vselect(vlt(vload(kLane), vset1(static_cast<float>(k))), d, vzero());
    return vmul(d, d);
  });
  const float rstd = 1.0f / __builtin_sqrtf(ss / static_cast<float>(n) + eps);
  if (!kRms) *mean_out = pivot + dmean;
  *rstd_out = rstd;
  const VecF rv = vset1(rstd);
  auto value = [&](int64_t i, int k) {
    VecF v = vmul(vsub(vsub(vload_n(x + i, k, 0.0f), pv), mv), rv);
    if (kHasW && kHasB)
      v = vfma(v, vload_n(w + i, k, 0.0f), vload_n(b + i, k, 0.0f));
    else if (kHasW)
      v = vmul(v, vload_n(w + i, k, 0.0f));
    else if (kHasB)
      v = vadd(v, vload_n(b + i, k, 0.0f));
    return v;
  };
  int64_t i = 0;
  if (stream && (reinterpret_cast<uintptr_t>(y) & 3) == 0) {
    // Streaming stores skip reading y's lines into cache first (an output too large to
    // stay cached anyway): a head up to the vector alignment, aligned body, tail.
    const int64_t head = static_cast<int64_t>(((0 - reinterpret_cast<uintptr_t>(y)) / 4) % kW);
    if (head > 0) {
      const int k = static_cast<int>(head < n ? head : n);
      vstore_n(y, value(0, k), k);
      i = k;
    }
    for (; i + kW <= n; i += kW) vstream(y + i, value(i, kW));
    vstream_fence();
  }
  for (; i < n; i += kW) {
    const int k = n - i < kW ? static_cast<int>(n - i) : kW;
    vstore_n(y + i, value(i, k), k);
  }
}

template <bool kRms>
void forward_row(const float* x, const float* w, const float* b, float* y, int64_t n, float eps,
                 float* mean_out, float* rstd_out, bool stream) {
  if (w && b)
    return forward_row_t<kRms, true, true>(x, w, b, y, n, eps, mean_out, rstd_out, stream);
  if (w) return forward_row_t<kRms, true, false>(x, w, b, y, n, eps, mean_out, rstd_out, stream);
  if (b) return forward_row_t<kRms, false, true>(x, w, b, y, n, eps, mean_out, rstd_out, stream);
  return forward_row_t<kRms, false, false>(x, w, b, y, n, eps, mean_out, rstd_out, stream);
}

// xhat = (x - mean) * rstd, g' = g * w:
//   layer norm: dx = rstd * (g' - mean(g') - xhat * mean(g' * xhat))
//   RMS norm:   dx = rstd * (g' - xhat * mean(g' * xhat))
// and dw += g * xhat, db += g.
template <bool kRms, bool kHasW>
void backward_row_t(const float* x, const float* g, const float* w, float mean, float rstd,
                    float* dx, float* dw_acc, float* db_acc, int64_t n) {
  const VecF mv = vset1(mean), rv = vset1(rstd);
  VecF a = vzero(), c = vzero();
  if (dx) {
    float sg, sgx;
    blocked_sum2(
        n,
        [&](int64_t i, int k, VecF* sa, VecF* sb) {
          VecF gv = vload_n(g + i, k, 0.0f);
          if (kHasW) gv = vmul(gv, vload_n(w + i, k, 0.0f));
          const VecF xh = vmul(vsub(vload_n(x + i, k, mean), mv), rv);
          *sa = vadd(*sa, gv);
          *sb = vfma(gv, xh, *sb);
        },
        &sg, &sgx);
    const float inv_n = 1.0f / static_cast<float>(n);
    a = vset1(kRms ? 0.0f : sg * inv_n);
    c = vset1(sgx * inv_n);
  }
  // One sweep writes dx and accumulates the weight / bias partials.
  for (int64_t i = 0; i < n; i += kW) {
    const int k = n - i < kW ? static_cast<int>(n - i) : kW;
    const VecF g0 = vload_n(g + i, k, 0.0f);
    const VecF xh = vmul(vsub(vload_n(x + i, k, 0.0f), mv), rv);
    if (dx) {
      const VecF gv = kHasW ? vmul(g0, vload_n(w + i, k, 0.0f)) : g0;
      vstore_n(dx + i, vmul(vsub(gv, vfma(xh, c, a)), rv), k);
    }
    if (dw_acc) vstore_n(dw_acc + i, vfma(g0, xh, vload_n(dw_acc + i, k, 0.0f)), k);
    if (db_acc) vstore_n(db_acc + i, vadd(g0, vload_n(db_acc + i, k, 0.0f)), k);
  }
}

template <bool kRms>
void backward_row(const float* x, const float* g, const float* w, float mean, float rstd, float* dx,
                  float* dw_acc, float* db_acc, int64_t n) {
  if (w) return backward_row_t<kRms, true>(x, g, w, mean, rstd, dx, dw_acc, db_acc, n);
  return backward_row_t<kRms, false>(x, g, w, mean, rstd, dx, dw_acc, db_acc, n);
}

}  // namespace

const cpu::NormTable norm_table = {
    {forward_row<false>, forward_row<true>},
    {backward_row<false>, backward_row<true>},
};

}  // namespace ember::EMBER_ISA_NS
