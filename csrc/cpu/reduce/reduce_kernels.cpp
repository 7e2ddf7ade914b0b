// float32 reduction and softmax row kernels, written once against the Vec API and
// compiled once per ISA inside namespace ember::<isa> (ember_add_isa_kernels).
// Every op is a small struct; the loops are templates on it, so the inner loop has no
// switch. Nothing here may instantiate std:: templates (see docs/architecture.md, the
// one-definition trap): scalars use compiler builtins only.
#include "cpu/simd/vec.h"  // first: it may wrap <immintrin.h>
//
#include "cpu/reduce/reduce.h"

namespace ember::EMBER_ISA_NS {

namespace {

constexpr float kInf = __builtin_inff();

// Each op: the identity, a vector step acc = op(acc, x), and its scalar twin.
// Max/min propagate NaN: vmax/vmin follow x86 (second operand on NaN), so vmax(x, acc)
// keeps a NaN already in acc and the select lets a new NaN in.
struct OpSum {
  static float ident() { return 0.0f; }
  static VecF step(VecF acc, VecF x) { return vadd(acc, x); }
  static float sstep(float acc, float x) { return acc + x; }
};
struct OpProd {
  static float ident() { return 1.0f; }
  static VecF step(VecF acc, VecF x) { return vmul(acc, x); }
  static float sstep(float acc, float x) { return acc * x; }
};
struct OpMax {
  static float ident() { return -kInf; }
  static VecF step(VecF acc, VecF x) { return vselect(visnan(x), x, vmax(x, acc)); }
  static float sstep(float acc, float x) {
    return acc != acc ? acc : (x != x || x > acc ? x : acc);
  }
};
struct OpMin {
  static float ident() { return kInf; }
  static VecF step(VecF acc, VecF x) { return vselect(visnan(x), x, vmin(x, acc)); }
  static float sstep(float acc, float x) {
    return acc != acc ? acc : (x != x || x < acc ? x : acc);
  }
};

// Lanes folded left to right (a fixed order).
template <class Op>
float fold_lanes(VecF a) {
  float lanes[kW];
  vstore(lanes, a);
  float r = lanes[0];
  for (int i = 1; i < kW; ++i) r = Op::sstep(r, lanes[i]);
  return r;
}

// Four independent vector accumulators (4 * kW interleaved partial results, so a block of
// 16384 values sums in runs of 16384 / (4 * kW)), folded in a fixed tree at the end.
template <class Op>
float row_reduce(const float* x, int64_t n) {
  const VecF id = vset1(Op::ident());
  VecF a0 = id, a1 = id, a2 = id, a3 = id;
  int64_t i = 0;
  for (; i + 4 * kW <= n; i += 4 * kW) {
    a0 = Op::step(a0, vload(x + i));
    a1 = Op::step(a1, vload(x + i + kW));
    a2 = Op::step(a2, vload(x + i + 2 * kW));
    a3 = Op::step(a3, vload(x + i + 3 * kW));
  }
  for (; i + kW <= n; i += kW) a0 = Op::step(a0, vload(x + i));
  if (i < n) a1 = Op::step(a1, vload_partial(x + i, static_cast<int>(n - i), Op::ident()));
  return fold_lanes<Op>(Op::step(Op::step(a0, a1), Op::step(a2, a3)));
}

// Column strips of up to 4 vectors stay in registers while the rows stream by; every
// column is a plain left-to-right fold over the rows, whichever strip it falls in.
template <class Op>
void col_reduce(const float* x, int64_t rows, int64_t stride, int64_t ncols, float* out) {
  const VecF id = vset1(Op::ident());
  int64_t c = 0;
  for (; c + 4 * kW <= ncols; c += 4 * kW) {
    VecF a0 = id, a1 = id, a2 = id, a3 = id;
    const float* p = x + c;
    for (int64_t r = 0; r < rows; ++r, p += stride) {
      a0 = Op::step(a0, vload(p));
      a1 = Op::step(a1, vload(p + kW));
      a2 = Op::step(a2, vload(p + 2 * kW));
      a3 = Op::step(a3, vload(p + 3 * kW));
    }
    vstore(out + c, a0);
    vstore(out + c + kW, a1);
    vstore(out + c + 2 * kW, a2);
    vstore(out + c + 3 * kW, a3);
  }
  for (; c + kW <= ncols; c += kW) {
    VecF a = id;
    const float* p = x + c;
    for (int64_t r = 0; r < rows; ++r, p += stride) a = Op::step(a, vload(p));
    vstore(out + c, a);
  }
  if (c < ncols) {
    const int m = static_cast<int>(ncols - c);
    VecF a = id;
    const float* p = x + c;
    for (int64_t r = 0; r < rows; ++r, p += stride)
      a = Op::step(a, vload_partial(p, m, Op::ident()));
    vstore_partial(out + c, a, m);
  }
}

// Values per block of the row sums (vsum_blocked).
constexpr int64_t kSumBlock = 2048;

// y = exp(x - max) / sum. NaN anywhere -> NaN row; all -inf -> NaN row (-inf - -inf).
void softmax_row(const float* x, float* y, int64_t n) {
  const VecF m = vset1(row_reduce<OpMax>(x, n));
  // exp(x - max) goes to y on the way; padding lanes give exp(-inf) = 0.
  const float sum = vsum_blocked<kSumBlock>(n, [&](int64_t i, int k) {
    const VecF e = vexp(vsub(vload_n(x + i, k, -kInf), m));
    vstore_n(y + i, e, k);
    return e;
  });
  const VecF inv = vset1(1.0f / sum);
  int64_t i = 0;
  for (; i + kW <= n; i += kW) vstore(y + i, vmul(vload(y + i), inv));
  if (i < n) {
    const int k = static_cast<int>(n - i);
    vstore_partial(y + i, vmul(vload_partial(y + i, k, 0.0f), inv), k);
  }
}

// y = (x - max) - log(sum exp(x - max)).
void log_softmax_row(const float* x, float* y, int64_t n) {
  const float mx = row_reduce<OpMax>(x, n);
  const VecF m = vset1(mx);
  const float sum = vsum_blocked<kSumBlock>(
      n, [&](int64_t i, int k) { return vexp(vsub(vload_n(x + i, k, -kInf), m)); });
  const VecF lse = vset1(__builtin_logf(sum));
  int64_t i = 0;
  for (; i + kW <= n; i += kW) vstore(y + i, vsub(vsub(vload(x + i), m), lse));
  if (i < n) {
    const int k = static_cast<int>(n - i);
    vstore_partial(y + i, vsub(vsub(vload_partial(x + i, k, 0.0f), m), lse), k);
  }
}

// grad_in = y * (g - sum(g * y)).
void softmax_backward_row(const float* y, const float* g, float* gi, int64_t n) {
  const VecF dot = vset1(vsum_blocked<kSumBlock>(
      n, [&](int64_t i, int k) { return vmul(vload_n(g + i, k, 0.0f), vload_n(y + i, k, 0.0f)); }));
  int64_t i = 0;
  for (; i + kW <= n; i += kW) vstore(gi + i, vmul(vload(y + i), vsub(vload(g + i), dot)));
  if (i < n) {
    const int k = static_cast<int>(n - i);
    const VecF v = vmul(vload_partial(y + i, k, 0.0f), vsub(vload_partial(g + i, k, 0.0f), dot));
    vstore_partial(gi + i, v, k);
  }
}

// grad_in = g - exp(y) * sum(g).
void log_softmax_backward_row(const float* y, const float* g, float* gi, int64_t n) {
  const VecF s =
      vset1(vsum_blocked<kSumBlock>(n, [&](int64_t i, int k) { return vload_n(g + i, k, 0.0f); }));
  int64_t i = 0;
  for (; i + kW <= n; i += kW) vstore(gi + i, vsub(vload(g + i), vmul(vexp(vload(y + i)), s)));
  if (i < n) {
    const int k = static_cast<int>(n - i);
    const VecF v =
        vsub(vload_partial(g + i, k, 0.0f), vmul(vexp(vload_partial(y + i, k, 0.0f)), s));
    vstore_partial(gi + i, v, k);
  }
}

}  // namespace

const cpu::ReduceTable reduce_table = {
    {row_reduce<OpSum>, row_reduce<OpProd>, row_reduce<OpMax>, row_reduce<OpMin>},
    {col_reduce<OpSum>, col_reduce<OpProd>, col_reduce<OpMax>, col_reduce<OpMin>},
    {softmax_row, log_softmax_row},
    {softmax_backward_row, log_softmax_backward_row},
};

}  // namespace ember::EMBER_ISA_NS
