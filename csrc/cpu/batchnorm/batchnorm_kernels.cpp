// float32 batch-norm row kernels, written once against the Vec API and compiled once per ISA
// inside namespace ember::<isa> (ember_add_isa_kernels). Nothing here may instantiate std::
// templates (docs/architecture.md#the-one-definition-trap). Each row is summed with four
// vector accumulators folded in a fixed tree: the order depends on the length alone.
#include "cpu/simd/vec.h"  // first: it may wrap <immintrin.h>
//
#include "cpu/batchnorm/batchnorm.h"

namespace ember::EMBER_ISA_NS {

namespace {

float row_sum(const float* x, int64_t n) {
  VecF a0 = vzero(), a1 = vzero(), a2 = vzero(), a3 = vzero();
  int64_t i = 0;
  for (; i + 4 * kW <= n; i += 4 * kW) {
    a0 = vadd(a0, vload(x + i));
    a1 = vadd(a1, vload(x + i + kW));
    a2 = vadd(a2, vload(x + i + 2 * kW));
    a3 = vadd(a3, vload(x + i + 3 * kW));
  }
  for (; i + kW <= n; i += kW) a0 = vadd(a0, vload(x + i));
  if (i < n) a1 = vadd(a1, vload_partial(x + i, static_cast<int>(n - i), 0.0f));
  return vreduce_add(vadd(vadd(a0, a1), vadd(a2, a3)));
}

float row_sqdev(const float* x, int64_t n, float mean) {
  const VecF m = vset1(mean);
  VecF a0 = vzero(), a1 = vzero(), a2 = vzero(), a3 = vzero();
  int64_t i = 0;
  for (; i + 4 * kW <= n; i += 4 * kW) {
    const VecF d0 = vsub(vload(x + i), m), d1 = vsub(vload(x + i + kW), m);
    const VecF d2 = vsub(vload(x + i + 2 * kW), m), d3 = vsub(vload(x + i + 3 * kW), m);
    a0 = vfma(d0, d0, a0);
    a1 = vfma(d1, d1, a1);
    a2 = vfma(d2, d2, a2);
    a3 = vfma(d3, d3, a3);
  }
  for (; i + kW <= n; i += kW) {
    const VecF d = vsub(vload(x + i), m);
    a0 = vfma(d, d, a0);
  }
  if (i < n) {
    const VecF d = vsub(vload_partial(x + i, static_cast<int>(n - i), mean), m);
    a1 = vfma(d, d, a1);
  }
  return vreduce_add(vadd(vadd(a0, a1), vadd(a2, a3)));
}

void row_dot2(const float* x, const float* dy, int64_t n, float mean, float* sdy, float* sdyx) {
  const VecF m = vset1(mean);
  VecF s0 = vzero(), s1 = vzero(), p0 = vzero(), p1 = vzero();
  int64_t i = 0;
  for (; i + 2 * kW <= n; i += 2 * kW) {
    const VecF g0 = vload(dy + i), g1 = vload(dy + i + kW);
    s0 = vadd(s0, g0);
    s1 = vadd(s1, g1);
    p0 = vfma(g0, vsub(vload(x + i), m), p0);
    p1 = vfma(g1, vsub(vload(x + i + kW), m), p1);
  }
  if (i + kW <= n) {
    const VecF g = vload(dy + i);
    s0 = vadd(s0, g);
    p0 = vfma(g, vsub(vload(x + i), m), p0);
    i += kW;
  }
  if (i < n) {
    const int r = static_cast<int>(n - i);
    const VecF g = vload_partial(dy + i, r, 0.0f);
    s1 = vadd(s1, g);
    p1 = vfma(g, vsub(vload_partial(x + i, r, mean), m), p1);
  }
  *sdy = vreduce_add(vadd(s0, s1));
  *sdyx = vreduce_add(vadd(p0, p1));
}

void row_affine(const float* x, float* y, int64_t n, float a, float b) {
  const VecF av = vset1(a), bv = vset1(b);
  int64_t i = 0;
  for (; i + kW <= n; i += kW) vstore(y + i, vfma(vload(x + i), av, bv));
  if (i < n) {
    const int r = static_cast<int>(n - i);
    vstore_partial(y + i, vfma(vload_partial(x + i, r, 0.0f), av, bv), r);
  }
}

void row_bn_backward(const float* x, const float* dy, float* dx, int64_t n, float a, float b,
                     float c) {
  const VecF av = vset1(a), bv = vset1(b), cv = vset1(c);
  int64_t i = 0;
  for (; i + kW <= n; i += kW) vstore(dx + i, vfma(vload(dy + i), av, vfma(vload(x + i), bv, cv)));
  if (i < n) {
    const int r = static_cast<int>(n - i);
    const VecF g = vload_partial(dy + i, r, 0.0f), xv = vload_partial(x + i, r, 0.0f);
    vstore_partial(dx + i, vfma(g, av, vfma(xv, bv, cv)), r);
  }
}

}  // namespace

const cpu::BatchNormTable batchnorm_table = {row_sum, row_sqdev, row_dot2, row_affine,
                                             row_bn_backward};

}  // namespace ember::EMBER_ISA_NS
