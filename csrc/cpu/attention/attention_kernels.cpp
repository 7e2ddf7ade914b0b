// float32 attention kernels written once against the Vec API (cpu/simd/vec.h), compiled
// once per ISA inside ember::<isa> (ember_add_isa_kernels). See attention.h for the
// algorithm. Everything here is in an anonymous namespace (the one-definition trap): no
// std:: templates, scalar math through compiler builtins.
#include "cpu/simd/vec.h"  // first: it may wrap <immintrin.h>
//
#include "cpu/attention/attention.h"

namespace ember::EMBER_ISA_NS {

namespace {

using cpu::AttnArgs;
using cpu::AttnMask;
using cpu::kAttnBk;
using cpu::kAttnBq;
using cpu::kAttnMaxHeadDim;

// Register block of the tile GEMM: kMR rows x kNV vectors of C in registers.
constexpr int kMR = kW == 16 ? 6 : 4;
constexpr int kNV = kW == 16 ? 4 : 3;
constexpr float kNegInf = -__builtin_inff();

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

// C[MR x (NV-1) * kW + last] (+)= A[MR x K] B[K x ...]: A(i, k) at A[i * ars + k * acs]
// (broadcast), row k of B at B + k * ldb (vector loads), row i of C at C + i * ldc. The
// sum over k runs in order from the old C (acc) or zero: fixed by the shapes.
template <int MR, int NV, bool PART>
void micro(int64_t K, const float* A, int64_t ars, int64_t acs, const float* B, int64_t ldb,
           float* C, int64_t ldc, int last, bool acc) {
  VecF c[MR][NV];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      if (!acc)
        c[r][v] = vzero();
      else if (PART && v == NV - 1)
        c[r][v] = vload_partial(C + r * ldc + v * kW, last, 0.0f);
      else
        c[r][v] = vload(C + r * ldc + v * kW);
    }
  }
  for (int64_t k = 0; k < K; ++k) {
    const float* b = B + k * ldb;
    VecF bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      bv[v] = (PART && v == NV - 1) ? vload_partial(b + v * kW, last, 0.0f) : vload(b + v * kW);
    const float* a = A + k * acs;
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const VecF av = vset1(a[r * ars]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) c[r][v] = vfma(av, bv[v], c[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      if (PART && v == NV - 1)
        vstore_partial(C + r * ldc + v * kW, c[r][v], last);
      else
        vstore(C + r * ldc + v * kW, c[r][v]);
    }
  }
}

using MicroFn = void (*)(int64_t, const float*, int64_t, int64_t, const float*, int64_t, float*,
                         int64_t, int, bool);

template <int MR>
struct MicroRow {
  static MicroFn get(int nv, bool part) {
    switch (nv) {
      case 1:
        return part ? micro<MR, 1, true> : micro<MR, 1, false>;
      case 2:
        return part ? micro<MR, 2, true> : micro<MR, 2, false>;
      case 3:
        return part ? micro<MR, 3, true> : micro<MR, 3, false>;
      default:
        return part ? micro<MR, (kNV >= 4 ? 4 : 3), true> : micro<MR, (kNV >= 4 ? 4 : 3), false>;
    }
  }
};

MicroFn micro_fn(int mr, int nv, bool part) {
  switch (mr) {
    case 1:
      return MicroRow<1>::get(nv, part);
    case 2:
      return MicroRow<2>::get(nv, part);
    case 3:
      return MicroRow<3>::get(nv, part);
    case 4:
      return MicroRow<4>::get(nv, part);
    case 5:
      return MicroRow<(kMR >= 5 ? 5 : 4)>::get(nv, part);
    default:
      return MicroRow<kMR>::get(nv, part);
  }
}

// C[M x N] (+)= A[M x K] B[K x N] with the strides of `micro`.
void tile_gemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t ars, int64_t acs,
               const float* B, int64_t ldb, float* C, int64_t ldc, bool acc) {
  for (int64_t j = 0; j < N; j += kNV * kW) {
    const int64_t n = imin(N - j, kNV * kW);
    const int nv = static_cast<int>((n + kW - 1) / kW);
    const int last = static_cast<int>(n - (nv - 1) * kW);
    const bool part = last < kW;
    for (int64_t i = 0; i < M; i += kMR) {
      const int mr = static_cast<int>(imin(kMR, M - i));
      micro_fn(mr, nv, part)(K, A + i * ars, ars, acs, B + j, ldb, C + i * ldc + j, ldc, last, acc);
    }
  }
}

void pack_t(const float* src, int64_t st, int64_t T, int64_t D, float* dst) {
  const int64_t nb = (T + kAttnBk - 1) / kAttnBk;
  for (int64_t kb = 0; kb < nb; ++kb) {
    float* p = dst + kb * D * kAttnBk;
    const int64_t j0 = kb * kAttnBk, nk = imin(kAttnBk, T - j0);
    int64_t j = 0;
    // Gathers read one column of kW keys at a time (about 3x the scalar transposition).
    if (st * kW < (int64_t{1} << 31)) {
      for (; j + kW <= nk; j += kW) {
        const float* s = src + (j0 + j) * st;
        for (int64_t d = 0; d < D; ++d)
          vstore(p + d * kAttnBk + j, vgather(s + d, static_cast<int>(st)));
      }
    }
    for (; j < kAttnBk; ++j) {
      if (j < nk) {
        const float* s = src + (j0 + j) * st;
        for (int64_t d = 0; d < D; ++d) p[d * kAttnBk + j] = s[d];
      } else {
        for (int64_t d = 0; d < D; ++d) p[d * kAttnBk + j] = 0.0f;
      }
    }
  }
}

// Scale the raw scores of row i (keys [j0, j0 + nk)) and apply the mask and causality:
// s = scale * s + mask, masked keys -inf.
void mask_row(const AttnArgs& a, int64_t b, int64_t h, int64_t i, int64_t j0, int64_t nk,
              const float* madd, float* s) {
  const VecF sc = vset1(static_cast<float>(a.scale));
  int64_t j = 0;
  if (madd != nullptr) {  // the row-invariant mask, prepared by mask_tile_row
    for (; j + kW <= nk; j += kW) vstore(s + j, vfma(vload(s + j), sc, vload(madd + j)));
    if (j < nk) {
      const int r = static_cast<int>(nk - j);
      const VecF x = vfma(vload_partial(s + j, r, 0.0f), sc, vload_partial(madd + j, r, 0.0f));
      vstore_partial(s + j, x, r);
    }
  } else {
    for (; j + kW <= nk; j += kW) vstore(s + j, vmul(vload(s + j), sc));
    if (j < nk) {
      const int r = static_cast<int>(nk - j);
      vstore_partial(s + j, vmul(vload_partial(s + j, r, 0.0f), sc), r);
    }
    if (a.mask_kind == AttnMask::Bool) {
      const uint8_t* m =
          static_cast<const uint8_t*>(a.mask) + b * a.smb + h * a.smh + i * a.smq + j0 * a.smk;
      for (int64_t t = 0; t < nk; ++t)
        if (!m[t * a.smk]) s[t] = kNegInf;
    } else if (a.mask_kind == AttnMask::Add) {
      const float* m =
          static_cast<const float*>(a.mask) + b * a.smb + h * a.smh + i * a.smq + j0 * a.smk;
      for (int64_t t = 0; t < nk; ++t) s[t] += m[t * a.smk];
    }
  }
  if (a.causal) {
    for (int64_t t = imax(0, i - j0 + 1); t < nk; ++t) s[t] = kNegInf;
  }
}

// A mask that does not vary along the query dim (key padding (B, 1, 1, Tk), per-head
// biases) is read once per tile into madd as an additive row (bool: 0 / -inf); returns
// madd, or null when the mask varies per row (mask_row then reads it element by element).
const float* mask_tile_row(const AttnArgs& a, int64_t b, int64_t h, int64_t j0, int64_t nk,
                           float* madd) {
  if (a.mask_kind == AttnMask::None || a.smq != 0) return nullptr;
  if (a.mask_kind == AttnMask::Bool) {
    const uint8_t* m = static_cast<const uint8_t*>(a.mask) + b * a.smb + h * a.smh + j0 * a.smk;
    for (int64_t t = 0; t < nk; ++t) madd[t] = m[t * a.smk] ? 0.0f : kNegInf;
  } else {
    const float* m = static_cast<const float*>(a.mask) + b * a.smb + h * a.smh + j0 * a.smk;
    for (int64_t t = 0; t < nk; ++t) madd[t] = m[t * a.smk];
  }
  return madd;
}

float row_max(const float* s, int64_t n) {
  VecF m = vset1(kNegInf);
  int64_t j = 0;
  for (; j + kW <= n; j += kW) m = vmax(vload(s + j), m);
  if (j < n) m = vmax(vload_partial(s + j, static_cast<int>(n - j), kNegInf), m);
  return vreduce_max(m);
}

constexpr float kLog2e = 1.44269504088896341f;

// 2^t for t <= 1 (t = -inf gives 0, NaN stays NaN): degree-6 Taylor polynomial of 2^f on
// f in [-0.5, 0.5] (relative error < 2e-7), then the exponent. Four operations fewer than
// vexp on the hot path: the caller folds log2(e) into its scale.
inline VecF vexp2_neg(VecF t) {
  t = vmax(vset1(-150.0f), t);
  const VecF n = vround(t);
  const VecF f = vsub(t, n);
  VecF p = vset1(1.5403530393381606e-4f);
  p = vfma(p, f, vset1(1.3333558146428443e-3f));
  p = vfma(p, f, vset1(9.6181291076284772e-3f));
  p = vfma(p, f, vset1(5.5504108664821580e-2f));
  p = vfma(p, f, vset1(2.4022650695910071e-1f));
  p = vfma(p, f, vset1(6.9314718055994531e-1f));
  p = vfma(p, f, vset1(1.0f));
  return vldexp(p, n);
}

// s = exp(scale * s - m) in place (unmasked rows: the scale pass is folded in); returns the
// sum (fixed order).
float row_exp_sum_scaled(float* s, int64_t n, float scale, float m) {
  const VecF sc = vset1(scale * kLog2e), nm = vset1(-m * kLog2e);
  VecF acc0 = vzero(), acc1 = vzero();
  int64_t j = 0;
  for (; j + 2 * kW <= n; j += 2 * kW) {
    const VecF p0 = vexp2_neg(vfma(vload(s + j), sc, nm));
    const VecF p1 = vexp2_neg(vfma(vload(s + j + kW), sc, nm));
    vstore(s + j, p0);
    vstore(s + j + kW, p1);
    acc0 = vadd(acc0, p0);
    acc1 = vadd(acc1, p1);
  }
  for (; j < n; j += kW) {
    const int r = static_cast<int>(imin(kW, n - j));
    const VecF p = vexp2_neg(vfma(vload_partial(s + j, r, kNegInf), sc, nm));
    vstore_partial(s + j, p, r);
    acc0 = vadd(acc0, p);
  }
  return vreduce_add(vadd(acc0, acc1));
}

// Rows go through mask_row with a mask or a non-positive scale; otherwise the fast path
// takes the max before scaling and handles causality by a visible-key count.
bool slow_rows(const AttnArgs& a) { return a.mask_kind != AttnMask::None || !(a.scale > 0); }

// Keys of block [j0, j0 + nk) that query rows before i1 can see: causal tiles stop at the
// last row's diagonal (columns past it are masked for every row and never computed).
int64_t tile_cols(const AttnArgs& a, int64_t j0, int64_t nk, int64_t i1) {
  return a.causal ? imin(nk, i1 - j0) : nk;
}

// Visible keys of row i in a block starting at j0 with nc computed columns (fast path).
int64_t visible(const AttnArgs& a, int64_t i, int64_t j0, int64_t nc) {
  return a.causal ? imax(0, imin(nc, i - j0 + 1)) : nc;
}

void row_scale(float* x, int64_t n, float f) {
  const VecF fv = vset1(f);
  int64_t j = 0;
  for (; j + kW <= n; j += kW) vstore(x + j, vmul(vload(x + j), fv));
  if (j < n) {
    const int r = static_cast<int>(n - j);
    vstore_partial(x + j, vmul(vload_partial(x + j, r, 0.0f), fv), r);
  }
}

void row_zero(float* x, int64_t n) {
  int64_t j = 0;
  for (; j + kW <= n; j += kW) vstore(x + j, vzero());
  if (j < n) vstore_partial(x + j, vzero(), static_cast<int>(n - j));
}

// Number of key blocks query rows [i0, i1) see.
int64_t key_blocks(const AttnArgs& a, int64_t i1) {
  int64_t nkb = (a.Tk + kAttnBk - 1) / kAttnBk;
  if (a.causal) nkb = imin(nkb, (i1 - 1) / kAttnBk + 1);
  return nkb;
}

// Online softmax over the score tile S (query rows [i0, i0 + M) of head (b, h), computed
// columns [0, nc) of the key block at j0): S becomes P = exp(s - m_new) (zero where masked
// or not visible), the running max / sum of each row move on and its output accumulator
// (row r at O + r * ldo, D columns) is rescaled. Shared by the float32 and bf16 forwards.
void softmax_tile(const AttnArgs& a, int64_t b, int64_t h, int64_t i0, int64_t M, int64_t j0,
                  int64_t nc, float* S, float* O, int64_t ldo, float* mrow, float* lrow) {
  const bool slow = slow_rows(a);
  float mbuf[kAttnBk];
  const float* madd = slow ? mask_tile_row(a, b, h, j0, nc, mbuf) : nullptr;
  for (int64_t r = 0; r < M; ++r) {
    float* s = S + r * kAttnBk;
    float mnew, sum;
    if (slow) {
      mask_row(a, b, h, i0 + r, j0, nc, madd, s);
      mnew = __builtin_fmaxf(mrow[r], row_max(s, nc));
      if (mnew == kNegInf) {  // nothing visible yet: p = 0
        row_zero(s, nc);
        continue;
      }
      sum = row_exp_sum_scaled(s, nc, 1.0f, mnew);
    } else {
      const int64_t vis = visible(a, i0 + r, j0, nc);
      if (vis == 0) {
        row_zero(s, nc);
        continue;
      }
      // scale > 0: max(scale * s) = scale * max(s), exactly.
      mnew = __builtin_fmaxf(mrow[r], static_cast<float>(a.scale) * row_max(s, vis));
      sum = row_exp_sum_scaled(s, vis, static_cast<float>(a.scale), mnew);
      if (vis < nc) row_zero(s + vis, nc - vis);
    }
    const float alpha = mrow[r] == mnew      ? 1.0f
                        : mrow[r] == kNegInf ? 0.0f
                                             : __builtin_expf(mrow[r] - mnew);
    lrow[r] = lrow[r] * alpha + sum;
    mrow[r] = mnew;
    if (alpha != 1.0f) row_scale(O + r * ldo, a.D, alpha);
  }
}

// A row's log-sum-exp from its final max and sum (+inf when every key is masked).
float row_lse(float m, float l) { return l > 0.0f ? m + __builtin_logf(l) : __builtin_inff(); }

void fwd_block(const AttnArgs& a, const float* kt, int64_t b, int64_t h, int64_t i0, int64_t i1) {
  const int64_t D = a.D, M = i1 - i0, hk = h / (a.Hq / a.Hkv);
  const float* q = static_cast<const float*>(a.q) + b * a.sqb + h * a.sqh + i0 * a.sqt;
  const float* v = static_cast<const float*>(a.v) + b * a.svb + hk * a.svh;
  float* o = static_cast<float*>(a.o) + b * a.sob + h * a.soh + i0 * a.sot;
  float* lse = static_cast<float*>(a.lse) + b * a.slb + h * a.slh + i0;
  alignas(64) float S[kAttnBq * kAttnBk];
  alignas(64) float O[kAttnBq * kAttnMaxHeadDim];
  float mrow[kAttnBq], lrow[kAttnBq];
  for (int64_t r = 0; r < M; ++r) {
    row_zero(O + r * D, D);
    mrow[r] = kNegInf;
    lrow[r] = 0.0f;
  }
  const int64_t nkb = key_blocks(a, i1);
  for (int64_t kb = 0; kb < nkb; ++kb) {
    const int64_t j0 = kb * kAttnBk, nc = tile_cols(a, j0, imin(kAttnBk, a.Tk - j0), i1);
    tile_gemm(M, nc, D, q, a.sqt, 1, kt + kb * D * kAttnBk, kAttnBk, S, kAttnBk, false);
    softmax_tile(a, b, h, i0, M, j0, nc, S, O, D, mrow, lrow);
    const float* vb = v + j0 * a.svt;
    tile_gemm(M, D, nc, S, kAttnBk, 1, vb, a.svt, O, D, true);
  }
  for (int64_t r = 0; r < M; ++r) {
    const float l = lrow[r];
    const VecF iv = vset1(l > 0.0f ? 1.0f / l : 0.0f);
    float* orow = o + r * a.sot;
    const float* acc = O + r * D;
    int64_t d = 0;
    for (; d + kW <= D; d += kW) vstore(orow + d, vmul(vload(acc + d), iv));
    if (d < D) {
      const int rr = static_cast<int>(D - d);
      vstore_partial(orow + d, vmul(vload_partial(acc + d, rr, 0.0f), iv), rr);
    }
    lse[r] = row_lse(mrow[r], l);
  }
}

float dot(const float* x, const float* y, int64_t n) {
  VecF acc = vzero();
  int64_t j = 0;
  for (; j + kW <= n; j += kW) acc = vfma(vload(x + j), vload(y + j), acc);
  if (j < n) {
    const int r = static_cast<int>(n - j);
    acc = vfma(vload_partial(x + j, r, 0.0f), vload_partial(y + j, r, 0.0f), acc);
  }
  return vreduce_add(acc);
}

void row_delta(const AttnArgs& a, int64_t b, int64_t h, float* delta) {
  const float* go = static_cast<const float*>(a.go) + b * a.sgob + h * a.sgoh;
  const float* o = static_cast<const float*>(a.o) + b * a.sob + h * a.soh;
  for (int64_t i = 0; i < a.Tq; ++i) delta[i] = dot(go + i * a.sgot, o + i * a.sot, a.D);
}

// For the tile (query rows [i0, i0 + M) of q head h, keys [j0, j0 + nk)): P into S and
// scale * dS into dS. Shared by both backward passes so they agree bit for bit.
void tile_ds(const AttnArgs& a, const float* ktp, const float* vtp, const float* delta, int64_t b,
             int64_t h, int64_t i0, int64_t M, int64_t j0, int64_t nc, float* S, float* dS) {
  const int64_t D = a.D;
  const float* q = static_cast<const float*>(a.q) + b * a.sqb + h * a.sqh + i0 * a.sqt;
  const float* go = static_cast<const float*>(a.go) + b * a.sgob + h * a.sgoh + i0 * a.sgot;
  const float* lse = static_cast<const float*>(a.lse) + b * a.slb + h * a.slh + i0;
  const float* dl = delta + (b * a.Hq + h) * a.Tq + i0;
  tile_gemm(M, nc, D, q, a.sqt, 1, ktp, kAttnBk, S, kAttnBk, false);
  tile_gemm(M, nc, D, go, a.sgot, 1, vtp, kAttnBk, dS, kAttnBk, false);
  const bool slow = slow_rows(a);
  const VecF sc = vset1(static_cast<float>(a.scale));
  float mbuf[kAttnBk];
  const float* madd = slow ? mask_tile_row(a, b, h, j0, nc, mbuf) : nullptr;
  for (int64_t r = 0; r < M; ++r) {
    float* s = S + r * kAttnBk;
    float* ds = dS + r * kAttnBk;
    // Unmasked rows fold the scale into the exponent (like the forward's fast path).
    int64_t vis = nc;
    if (slow)
      mask_row(a, b, h, i0 + r, j0, nc, madd, s);
    else
      vis = visible(a, i0 + r, j0, nc);
    const VecF l = vset1(-lse[r] * kLog2e), dv = vset1(dl[r]);
    const VecF ps = vset1((slow ? 1.0f : static_cast<float>(a.scale)) * kLog2e);
    for (int64_t j = 0; j < vis; j += kW) {
      const int n = static_cast<int>(imin(kW, vis - j));
      // Rows with every key masked have lse = +inf: p = exp(-inf) = 0.
      const VecF p = vexp2_neg(vfma(vload_partial(s + j, n, kNegInf), ps, l));
      const VecF g = vmul(vmul(p, vsub(vload_partial(ds + j, n, 0.0f), dv)), sc);
      vstore_partial(s + j, p, n);
      vstore_partial(ds + j, g, n);
    }
    if (vis < nc) {
      row_zero(s + vis, nc - vis);
      row_zero(ds + vis, nc - vis);
    }
  }
}

void zero_rows(float* x, int64_t st, int64_t rows, int64_t D) {
  for (int64_t r = 0; r < rows; ++r) row_zero(x + r * st, D);
}

void bwd_kv(const AttnArgs& a, const float* kt, const float* vt, const float* delta, int64_t b,
            int64_t hk, int64_t kb0, int64_t kb1, bool with_dq) {
  const int64_t D = a.D, G = a.Hq / a.Hkv;
  const int64_t nqb = (a.Tq + kAttnBq - 1) / kAttnBq;
  const float* k = static_cast<const float*>(a.k) + b * a.skb + hk * a.skh;
  float* gk = static_cast<float*>(a.gk) + b * a.sgkb + hk * a.sgkh;
  float* gv = static_cast<float*>(a.gv) + b * a.sgvb + hk * a.sgvh;
  alignas(64) float S[kAttnBq * kAttnBk];
  alignas(64) float dS[kAttnBq * kAttnBk];
  if (with_dq) {
    for (int64_t g = 0; g < G; ++g) {
      const int64_t h = hk * G + g;
      zero_rows(static_cast<float*>(a.gq) + b * a.sgqb + h * a.sgqh, a.sgqt, a.Tq, D);
    }
  }
  for (int64_t kb = kb0; kb < kb1; ++kb) {
    const int64_t j0 = kb * kAttnBk, nk = imin(kAttnBk, a.Tk - j0);
    float* gkb = gk + j0 * a.sgkt;
    float* gvb = gv + j0 * a.sgvt;
    zero_rows(gkb, a.sgkt, nk, D);
    zero_rows(gvb, a.sgvt, nk, D);
    const int64_t qb0 = a.causal ? j0 / kAttnBq : 0;
    for (int64_t g = 0; g < G; ++g) {
      const int64_t h = hk * G + g;
      const float* q = static_cast<const float*>(a.q) + b * a.sqb + h * a.sqh;
      const float* go = static_cast<const float*>(a.go) + b * a.sgob + h * a.sgoh;
      float* gq = static_cast<float*>(a.gq) + b * a.sgqb + h * a.sgqh;
      for (int64_t qb = qb0; qb < nqb; ++qb) {
        const int64_t i0 = qb * kAttnBq, M = imin(kAttnBq, a.Tq - i0);
        if (a.causal && j0 > i0 + M - 1) continue;
        const int64_t nc = tile_cols(a, j0, nk, i0 + M);
        tile_ds(a, kt + kb * D * kAttnBk, vt + kb * D * kAttnBk, delta, b, h, i0, M, j0, nc, S, dS);
        tile_gemm(nc, D, M, S, 1, kAttnBk, go + i0 * a.sgot, a.sgot, gvb, a.sgvt, true);
        tile_gemm(nc, D, M, dS, 1, kAttnBk, q + i0 * a.sqt, a.sqt, gkb, a.sgkt, true);
        if (with_dq)
          tile_gemm(M, D, nc, dS, kAttnBk, 1, k + j0 * a.skt, a.skt, gq + i0 * a.sgqt, a.sgqt,
                    true);
      }
    }
  }
}

void bwd_q(const AttnArgs& a, const float* kt, const float* vt, const float* delta, int64_t b,
           int64_t h, int64_t i0, int64_t i1) {
  const int64_t D = a.D, M = i1 - i0, hk = h / (a.Hq / a.Hkv);
  const float* k = static_cast<const float*>(a.k) + b * a.skb + hk * a.skh;
  float* gq = static_cast<float*>(a.gq) + b * a.sgqb + h * a.sgqh + i0 * a.sgqt;
  alignas(64) float S[kAttnBq * kAttnBk];
  alignas(64) float dS[kAttnBq * kAttnBk];
  zero_rows(gq, a.sgqt, M, D);
  const int64_t nkb = key_blocks(a, i1);
  for (int64_t kb = 0; kb < nkb; ++kb) {
    const int64_t j0 = kb * kAttnBk, nc = tile_cols(a, j0, imin(kAttnBk, a.Tk - j0), i1);
    tile_ds(a, kt + kb * D * kAttnBk, vt + kb * D * kAttnBk, delta, b, h, i0, M, j0, nc, S, dS);
    tile_gemm(M, D, nc, dS, kAttnBk, 1, k + j0 * a.skt, a.skt, gq, a.sgqt, true);
  }
}

// The bf16 forward on vdpbf16ps, hand-written for AVX512_BF16: only in the avx512 object
// where the compiler has it; elsewhere its table entries are null.
#if defined(EMBER_ISA_AVX512) && defined(__AVX512BF16__)
#include "cpu/attention/attention_bf16.inc"
#else
constexpr void (*pack_bf16)(const AttnArgs&, int64_t, int64_t, uint16_t*) = nullptr;
constexpr void (*fwd_block_bf16)(const AttnArgs&, const uint16_t*, int64_t, int64_t, int64_t,
                                 int64_t) = nullptr;
#endif

}  // namespace

const cpu::AttnTable attn_table = {pack_t, fwd_block, row_delta,     bwd_kv,
                                   bwd_q,  pack_bf16, fwd_block_bf16};

}  // namespace ember::EMBER_ISA_NS
