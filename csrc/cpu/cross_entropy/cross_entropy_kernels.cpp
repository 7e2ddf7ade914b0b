// float32 softmax cross-entropy row kernel, written once against the Vec API and included
// compiled once per ISA inside namespace ember::<isa> (ember_add_isa_kernels). Nothing here
// may instantiate std:: templates (see docs/architecture.md, the one-definition trap).
#include "cpu/simd/vec.h"  // first: it may wrap <immintrin.h>
//
#include "cpu/cross_entropy/cross_entropy.h"

namespace ember::EMBER_ISA_NS {

namespace {

constexpr float kInf = __builtin_inff();
// The row is cut into at most kMaxBlocks blocks of at least kMinBlock values: pass 1
// rescales its running sum once per block, and remembers each block's running max so
// pass 2 can turn the stored exp(x - running max) into softmax with one factor per block.
constexpr int64_t kMinBlock = 1024;
constexpr int64_t kMaxBlocks = 256;

// Max of x[0, n) with NaN propagating (a NaN anywhere gives NaN).
float block_max(const float* x, int64_t n) {
  VecF a0 = vset1(-kInf), a1 = a0;
  int64_t i = 0;
  for (; i + 2 * kW <= n; i += 2 * kW) {
    const VecF v0 = vload(x + i), v1 = vload(x + i + kW);
    a0 = vselect(visnan(v0), v0, vmax(v0, a0));
    a1 = vselect(visnan(v1), v1, vmax(v1, a1));
  }
  for (; i < n; i += kW) {
    const int k = n - i < kW ? static_cast<int>(n - i) : kW;
    const VecF v = vload_n(x + i, k, -kInf);
    a0 = vselect(visnan(v), v, vmax(v, a0));
  }
  float lanes[2 * kW];
  vstore(lanes, a0);
  vstore(lanes + kW, a1);
  float m = -kInf;
  // A NaN lane wins and then stays (NaN > m and lanes > NaN are both false).
  for (int j = 0; j < 2 * kW; ++j) m = (lanes[j] != lanes[j] || lanes[j] > m) ? lanes[j] : m;
  return m;
}

float cross_entropy_row(const float* x, float* d, int64_t C, int64_t target, float smoothing) {
  int64_t bs = (C + kMaxBlocks - 1) / kMaxBlocks;
  bs = bs < kMinBlock ? kMinBlock : (bs + kW - 1) / kW * kW;
  float blk_max[kMaxBlocks];
  float blk_sx[kMaxBlocks];  // sum of (x - block's running max), for label smoothing
  float m = -kInf, s = 0.0f;
  int nb = 0;
  // Pass 1: online max and sum of exp per block; d = exp(x - running max).
  for (int64_t b = 0; b < C; b += bs, ++nb) {
    const int64_t len = C - b < bs ? C - b : bs;
    const float bm = block_max(x + b, len);
    if (!(bm <= m)) {  // larger or NaN: rescale the running sum
      s = m == -kInf ? 0.0f : s * __builtin_expf(m - bm);
      m = bm;
    }
    blk_max[nb] = m;
    const VecF mv = vset1(m);
    VecF s0 = vzero(), s1 = vzero(), x0 = vzero(), x1 = vzero();
    if (m == -kInf) {  // every value so far is -inf: exp(x - m) would be NaN; they are 0
      for (int64_t i = 0; i < len; i += kW) {
        const int k = len - i < kW ? static_cast<int>(len - i) : kW;
        vstore_n(d + b + i, vzero(), k);
      }
    } else {
      // x - m <= 0 (or NaN): only the lower clamp of vexp is needed.
      const VecF lo = vset1(-105.0f);
      int64_t i = 0;
      for (; i + 2 * kW <= len; i += 2 * kW) {
        const VecF v0 = vload(x + b + i), v1 = vload(x + b + i + kW);
        const VecF e0 = vexp_core(vmax(lo, vsub(v0, mv)));
        const VecF e1 = vexp_core(vmax(lo, vsub(v1, mv)));
        vstore(d + b + i, e0);
        vstore(d + b + i + kW, e1);
        s0 = vadd(s0, e0);
        s1 = vadd(s1, e1);
        x0 = vadd(x0, vsub(v0, mv));
        x1 = vadd(x1, vsub(v1, mv));
      }
      for (; i < len; i += kW) {
        const int k = len - i < kW ? static_cast<int>(len - i) : kW;
        const VecF v = vload_n(x + b + i, k, -kInf);
        const VecF e = vexp_core(vmax(lo, vsub(v, mv)));  // padding: exp(-105) = 0
        vstore_n(d + b + i, e, k);
        s0 = vadd(s0, e);
        x0 = vadd(x0, vsub(vload_n(x + b + i, k, m), mv));
      }
    }
    s += vreduce_add(vadd(s0, s1));
    blk_sx[nb] = m == -kInf ? -kInf : vreduce_add(vadd(x0, x1));
  }
  // Everything below is taken relative to the final max m (x - m, block max - m are exact
  // for nearby floats): lse = m + log s itself would round away the softmax's accuracy for
  // logits around 1e4.
  const float log_s = __builtin_logf(s);
  const float off = smoothing / static_cast<float>(C);
  const VecF offv = vset1(off);
  // Pass 2: d = d * exp(block max - lse) - eps / C = softmax - eps / C.
  nb = 0;
  for (int64_t b = 0; b < C; b += bs, ++nb) {
    const int64_t len = C - b < bs ? C - b : bs;
    const VecF f = vset1(__builtin_expf((blk_max[nb] - m) - log_s));
    int64_t i = 0;
    for (; i + kW <= len; i += kW) vstore(d + b + i, vsub(vmul(vload(d + b + i), f), offv));
    if (i < len) {
      const int k = static_cast<int>(len - i);
      vstore_n(d + b + i, vsub(vmul(vload_n(d + b + i, k, 0.0f), f), offv), k);
    }
  }
  d[target] -= 1.0f - smoothing;
  // loss = lse - (1 - eps) x_t - eps / C sum x
  //      = log s + (1 - eps) (m - x_t) - eps / C sum (x - m)
  float loss = log_s + (1.0f - smoothing) * (m - x[target]);
  if (smoothing != 0.0f) {
    float smx = 0.0f;  // sum (x - m), from the per-block sums around each running max
    nb = 0;
    for (int64_t b = 0; b < C; b += bs, ++nb) {
      const int64_t len = C - b < bs ? C - b : bs;
      smx += blk_sx[nb] + static_cast<float>(len) * (blk_max[nb] - m);
    }
    loss -= off * smx;
  }
  return loss;
}

void scale_row(const float* d, float s, float* out, int64_t n) {
  const VecF sv = vset1(s);
  int64_t i = 0;
  for (; i + 2 * kW <= n; i += 2 * kW) {
    vstore(out + i, vmul(vload(d + i), sv));
    vstore(out + i + kW, vmul(vload(d + i + kW), sv));
  }
  for (; i < n; i += kW) {
    const int k = n - i < kW ? static_cast<int>(n - i) : kW;
    vstore_n(out + i, vmul(vload_n(d + i, k, 0.0f), sv), k);
  }
}

}  // namespace

const cpu::CrossEntropyTable cross_entropy_table = {cross_entropy_row, scale_row};

}  // namespace ember::EMBER_ISA_NS
