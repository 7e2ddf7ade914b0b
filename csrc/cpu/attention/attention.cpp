// Attention drivers: packing, work decomposition and threading around the per-ISA tile
// kernels (attention_kernels.cpp), plus the plain float64 path. See attention.h.
#include "cpu/attention/attention.h"

#include <cmath>
#include <limits>
#include <vector>

#include "core/isa.h"
#include "core/parallel.h"
#include "cpu/driver_util.h"
#include "cpu/gemm/gemm.h"

namespace ember::cpu {
namespace {

const AttnTable& attn_table() { return EMBER_ISA_TABLE(attn_table); }

// Work items whose cost grows with their index (causal blocks) are visited in the order
// 0, n-1, 1, n-2, ... so the static split gives each thread a similar share. Only who
// computes an item changes; its result does not.
int64_t zigzag(int64_t p, int64_t n) { return (p & 1) ? n - 1 - p / 2 : p / 2; }

// With fewer (batch, kv head) pairs than threads (and under 4) the backward splits dK / dV
// by key block and runs dQ as a second pass: more parallelism for ~40% more flops. Both
// passes compute every tile exactly as the one-pass loop does (same tile_ds, same
// accumulation order), so the choice may depend on the thread count: results do not.
bool one_pass(int64_t heads) {
  const int64_t nt = get_num_threads();
  return heads >= (nt < 4 ? nt : 4);
}

// A per-thread scratch buffer that only grows: packing into it per work item touches no
// fresh pages (a fresh buffer per call pays a page fault per 4 KiB).
template <typename E>
E* scratch(int slot, int64_t n) {
  thread_local std::vector<E> bufs[3];
  std::vector<E>& b = bufs[slot];
  if (static_cast<int64_t>(b.size()) < n) b.resize(static_cast<size_t>(n));
  return b.data();
}

// Enough (batch, kv head) pairs to parallelize over them: each work item then packs its own
// panels into scratch (in cache, no shared buffer). Results do not depend on this choice.
bool head_parallel(const AttnArgs& a) { return a.B * a.Hkv >= 4 * get_num_threads(); }

// The panels of every (batch, kv head), `panel` elements each, shared by the threads:
// pack(b, hk, dst) fills one.
template <typename E, typename Pack>
std::vector<E> pack_all(const AttnArgs& a, int64_t panel, Pack&& pack) {
  std::vector<E> buf(static_cast<size_t>(a.B * a.Hkv * panel));
  parallel_chunks(a.B * a.Hkv, 1, a.Tk * a.D, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) pack(p / a.Hkv, p % a.Hkv, buf.data() + p * panel);
  });
  return buf;
}

// k^T (or v^T) panels of float32 operand src (strides sb, sh, st) for every kv head.
std::vector<float> pack_all_t(const AttnTable& t, const AttnArgs& a, const void* src, int64_t sb,
                              int64_t sh, int64_t st) {
  const float* s = static_cast<const float*>(src);
  return pack_all<float>(
      a, cdiv(a.Tk, kAttnBk) * a.D * kAttnBk,
      [&](int64_t b, int64_t h, float* dst) { t.pack_t(s + b * sb + h * sh, st, a.Tk, a.D, dst); });
}

// The forward's work split, whatever the element type E of the panels: pack(b, hk, dst)
// fills the `panel` elements of one kv head, block(panels, b, h, i0, i1) runs one query block.
template <typename E, typename Pack, typename Block>
void forward_split(const AttnArgs& a, int64_t panel, Pack&& pack, Block&& block) {
  if (a.B * a.Hq * a.Tq == 0) return;
  const int64_t G = a.Hq / a.Hkv, nqb = cdiv(a.Tq, kAttnBq), n = a.B * a.Hq * nqb;
  if (head_parallel(a)) {
    parallel_chunks(a.B * a.Hkv, 1, G * a.Tq * a.Tk * a.D, [&](int64_t p0, int64_t p1) {
      E* kt = scratch<E>(0, panel);
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t b = p / a.Hkv, hk = p % a.Hkv;
        pack(b, hk, kt);
        for (int64_t h = hk * G; h < (hk + 1) * G; ++h)
          for (int64_t i0 = 0; i0 < a.Tq; i0 += kAttnBq)
            block(kt, b, h, i0, i0 + kAttnBq < a.Tq ? i0 + kAttnBq : a.Tq);
      }
    });
    return;
  }
  const std::vector<E> kt = pack_all<E>(a, panel, pack);
  parallel_chunks(n, 1, kAttnBq * a.Tk * a.D, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t it = a.causal ? zigzag(p, n) : p;
      const int64_t bh = it / nqb, qb = it % nqb, b = bh / a.Hq, h = bh % a.Hq;
      const int64_t i0 = qb * kAttnBq, i1 = i0 + kAttnBq < a.Tq ? i0 + kAttnBq : a.Tq;
      block(kt.data() + (b * a.Hkv + h / G) * panel, b, h, i0, i1);
    }
  });
}

// ---- float64: one query row at a time, exact softmax per row (O(Tk) scratch per row).

template <typename T>
T mask_value(const AttnArgs& a, int64_t b, int64_t h, int64_t i, int64_t j, T s) {
  if (a.causal && j > i) return -std::numeric_limits<T>::infinity();
  const int64_t off = b * a.smb + h * a.smh + i * a.smq + j * a.smk;
  if (a.mask_kind == AttnMask::Bool)
    return static_cast<const uint8_t*>(a.mask)[off] ? s : -std::numeric_limits<T>::infinity();
  if (a.mask_kind == AttnMask::Add) return s + static_cast<const T*>(a.mask)[off];
  return s;
}

// p[j] = softmax row i of head (b, h) (all zero when every key is masked); returns log-sum-exp.
template <typename T>
T softmax_row(const AttnArgs& a, int64_t b, int64_t h, int64_t i, T* p) {
  const int64_t D = a.D, hk = h / (a.Hq / a.Hkv);
  const T* q = static_cast<const T*>(a.q) + b * a.sqb + h * a.sqh + i * a.sqt;
  const T* k = static_cast<const T*>(a.k) + b * a.skb + hk * a.skh;
  T m = -std::numeric_limits<T>::infinity();
  for (int64_t j = 0; j < a.Tk; ++j) {
    T s = 0;
    for (int64_t d = 0; d < D; ++d) s += q[d] * k[j * a.skt + d];
    p[j] = mask_value<T>(a, b, h, i, j, s * static_cast<T>(a.scale));
    if (p[j] > m) m = p[j];
  }
  if (m == -std::numeric_limits<T>::infinity()) {
    for (int64_t j = 0; j < a.Tk; ++j) p[j] = 0;
    return std::numeric_limits<T>::infinity();
  }
  T l = 0;
  for (int64_t j = 0; j < a.Tk; ++j) l += (p[j] = std::exp(p[j] - m));
  for (int64_t j = 0; j < a.Tk; ++j) p[j] /= l;
  return m + std::log(l);
}

template <typename T>
void forward_rows(const AttnArgs& a) {
  const int64_t D = a.D, rows = a.B * a.Hq * a.Tq;
  parallel_chunks(rows, 16, a.Tk * D, [&](int64_t r0, int64_t r1) {
    std::vector<T> p(static_cast<size_t>(a.Tk));
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / (a.Hq * a.Tq), h = r / a.Tq % a.Hq, i = r % a.Tq;
      const int64_t hk = h / (a.Hq / a.Hkv);
      const T* v = static_cast<const T*>(a.v) + b * a.svb + hk * a.svh;
      T* o = static_cast<T*>(a.o) + b * a.sob + h * a.soh + i * a.sot;
      static_cast<AttnLse<T>*>(a.lse)[b * a.slb + h * a.slh + i] =
          softmax_row<T>(a, b, h, i, p.data());
      for (int64_t d = 0; d < D; ++d) o[d] = 0;
      for (int64_t j = 0; j < a.Tk; ++j)
        for (int64_t d = 0; d < D; ++d) o[d] += p[j] * v[j * a.svt + d];
    }
  });
}

// Parallel over (batch, kv head): the item owns dK, dV of its kv head and dQ of its q heads.
template <typename T>
void backward_rows(const AttnArgs& a) {
  const int64_t D = a.D, G = a.Hq / a.Hkv;
  parallel_chunks(a.B * a.Hkv, 1, G * a.Tq * a.Tk * D, [&](int64_t p0, int64_t p1) {
    std::vector<T> p(static_cast<size_t>(a.Tk)), dp(static_cast<size_t>(a.Tk));
    for (int64_t item = p0; item < p1; ++item) {
      const int64_t b = item / a.Hkv, hk = item % a.Hkv;
      const T* k = static_cast<const T*>(a.k) + b * a.skb + hk * a.skh;
      const T* v = static_cast<const T*>(a.v) + b * a.svb + hk * a.svh;
      T* gk = static_cast<T*>(a.gk) + b * a.sgkb + hk * a.sgkh;
      T* gv = static_cast<T*>(a.gv) + b * a.sgvb + hk * a.sgvh;
      for (int64_t j = 0; j < a.Tk; ++j)
        for (int64_t d = 0; d < D; ++d) gk[j * a.sgkt + d] = gv[j * a.sgvt + d] = 0;
      for (int64_t g = 0; g < G; ++g) {
        const int64_t h = hk * G + g;
        for (int64_t i = 0; i < a.Tq; ++i) {
          const T* q = static_cast<const T*>(a.q) + b * a.sqb + h * a.sqh + i * a.sqt;
          const T* go = static_cast<const T*>(a.go) + b * a.sgob + h * a.sgoh + i * a.sgot;
          T* gq = static_cast<T*>(a.gq) + b * a.sgqb + h * a.sgqh + i * a.sgqt;
          softmax_row<T>(a, b, h, i, p.data());
          T delta = 0;
          for (int64_t j = 0; j < a.Tk; ++j) {
            T s = 0;
            for (int64_t d = 0; d < D; ++d) s += go[d] * v[j * a.svt + d];
            dp[j] = s;
            delta += p[j] * s;
          }
          for (int64_t d = 0; d < D; ++d) gq[d] = 0;
          for (int64_t j = 0; j < a.Tk; ++j) {
            const T ds = p[j] * (dp[j] - delta) * static_cast<T>(a.scale);
            for (int64_t d = 0; d < D; ++d) {
              gq[d] += ds * k[j * a.skt + d];
              gk[j * a.sgkt + d] += ds * q[d];
              gv[j * a.sgvt + d] += p[j] * go[d];
            }
          }
        }
      }
    }
  });
}

}  // namespace

template <>
void attention_forward<float>(const AttnArgs& a) {
  const AttnTable& t = attn_table();
  forward_split<float>(
      a, cdiv(a.Tk, kAttnBk) * a.D * kAttnBk,
      [&](int64_t b, int64_t hk, float* dst) {
        t.pack_t(static_cast<const float*>(a.k) + b * a.skb + hk * a.skh, a.skt, a.Tk, a.D, dst);
      },
      [&](const float* kt, int64_t b, int64_t h, int64_t i0, int64_t i1) {
        t.fwd_block(a, kt, b, h, i0, i1);
      });
}

bool attention_bf16_native() {
  return gemm_bf16_native() && attn_table().fwd_block_bf16 != nullptr;
}

void attention_forward_bf16(const AttnArgs& a) {
  const AttnTable& t = attn_table();
  forward_split<uint16_t>(
      a, cdiv(a.Tk, kAttnBk) * attn_bf16_block_elems(a.D),
      [&](int64_t b, int64_t hk, uint16_t* dst) { t.pack_bf16(a, b, hk, dst); },
      [&](const uint16_t* kt, int64_t b, int64_t h, int64_t i0, int64_t i1) {
        t.fwd_block_bf16(a, kt, b, h, i0, i1);
      });
}

template <>
void attention_backward<float>(const AttnArgs& a) {
  if (a.B * a.Hq * a.Tq == 0 && a.B * a.Hkv * a.Tk == 0) return;
  const AttnTable& t = attn_table();
  const int64_t D = a.D, G = a.Hq / a.Hkv;
  const int64_t nkb = cdiv(a.Tk, kAttnBk), nqb = cdiv(a.Tq, kAttnBq), panel = nkb * D * kAttnBk;
  if (a.Tq == 0 || a.Tk == 0) {  // no scores: every gradient is zero
    auto zero = [&](void* g, int64_t sb, int64_t sh, int64_t st, int64_t H, int64_t T) {
      for (int64_t b = 0; b < a.B; ++b)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t i = 0; i < T; ++i)
            for (int64_t d = 0; d < D; ++d)
              static_cast<float*>(g)[b * sb + h * sh + i * st + d] = 0.0f;
    };
    zero(a.gq, a.sgqb, a.sgqh, a.sgqt, a.Hq, a.Tq);
    zero(a.gk, a.sgkb, a.sgkh, a.sgkt, a.Hkv, a.Tk);
    zero(a.gv, a.sgvb, a.sgvh, a.sgvt, a.Hkv, a.Tk);
    return;
  }
  const int64_t heads = a.B * a.Hkv;
  if (one_pass(heads) && head_parallel(a)) {
    // One pass per (batch, kv head); delta rows of its q heads, k^T and v^T in scratch.
    parallel_chunks(heads, 1, G * a.Tq * a.Tk * D, [&](int64_t p0, int64_t p1) {
      float* kt = scratch<float>(0, panel);
      float* vt = scratch<float>(1, panel);
      float* delta = scratch<float>(2, a.B * a.Hq * a.Tq);
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t b = p / a.Hkv, hk = p % a.Hkv;
        for (int64_t h = hk * G; h < (hk + 1) * G; ++h)
          t.row_delta(a, b, h, delta + (b * a.Hq + h) * a.Tq);
        t.pack_t(static_cast<const float*>(a.k) + b * a.skb + hk * a.skh, a.skt, a.Tk, D, kt);
        t.pack_t(static_cast<const float*>(a.v) + b * a.svb + hk * a.svh, a.svt, a.Tk, D, vt);
        t.bwd_kv(a, kt, vt, delta, b, hk, 0, nkb, true);
      }
    });
    return;
  }
  std::vector<float> delta(static_cast<size_t>(a.B * a.Hq * a.Tq));
  parallel_chunks(a.B * a.Hq, 1, a.Tq * D, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) t.row_delta(a, p / a.Hq, p % a.Hq, delta.data() + p * a.Tq);
  });
  const std::vector<float> kt = pack_all_t(t, a, a.k, a.skb, a.skh, a.skt);
  const std::vector<float> vt = pack_all_t(t, a, a.v, a.svb, a.svh, a.svt);
  if (one_pass(heads)) {
    parallel_chunks(heads, 1, G * a.Tq * a.Tk * D, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p)
        t.bwd_kv(a, kt.data() + p * panel, vt.data() + p * panel, delta.data(), p / a.Hkv,
                 p % a.Hkv, 0, nkb, true);
    });
    return;
  }
  const int64_t nk_items = heads * nkb;
  parallel_chunks(nk_items, 1, G * a.Tq * kAttnBk * D, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t it = a.causal ? zigzag(p, nk_items) : p;
      const int64_t hp = it / nkb, kb = it % nkb;
      t.bwd_kv(a, kt.data() + hp * panel, vt.data() + hp * panel, delta.data(), hp / a.Hkv,
               hp % a.Hkv, kb, kb + 1, false);
    }
  });
  const int64_t nq_items = a.B * a.Hq * nqb;
  parallel_chunks(nq_items, 1, kAttnBq * a.Tk * D, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t it = a.causal ? zigzag(p, nq_items) : p;
      const int64_t bh = it / nqb, qb = it % nqb, b = bh / a.Hq, h = bh % a.Hq;
      const int64_t hp = b * a.Hkv + h / G;
      const int64_t i0 = qb * kAttnBq, i1 = i0 + kAttnBq < a.Tq ? i0 + kAttnBq : a.Tq;
      t.bwd_q(a, kt.data() + hp * panel, vt.data() + hp * panel, delta.data(), b, h, i0, i1);
    }
  });
}

namespace {

// Sequence s of a packed batch as a batch-1 problem of its own lengths: the operands offset
// to its first row (lse too: (Hq, total Tq) keeps its head stride).
template <typename T>
AttnArgs sequence_args(const AttnArgs& a, const int64_t* cu_q, const int64_t* cu_k, int64_t s) {
  AttnArgs r = a;
  const int64_t q0 = cu_q[s], k0 = cu_k[s];
  r.Tq = cu_q[s + 1] - q0, r.Tk = cu_k[s + 1] - k0;
  r.q = static_cast<const T*>(a.q) + q0 * a.sqt;
  r.o = static_cast<T*>(a.o) + q0 * a.sot;
  r.lse = static_cast<AttnLse<T>*>(a.lse) + q0;
  r.k = static_cast<const T*>(a.k) + k0 * a.skt;
  r.v = static_cast<const T*>(a.v) + k0 * a.svt;
  if (a.go != nullptr) {
    r.go = static_cast<const T*>(a.go) + q0 * a.sgot;
    r.gq = static_cast<T*>(a.gq) + q0 * a.sgqt;
    r.gk = static_cast<T*>(a.gk) + k0 * a.sgkt;
    r.gv = static_cast<T*>(a.gv) + k0 * a.sgvt;
  }
  return r;
}

// Running cost of the (sequence, kv head) work items: their score tiles' area.
std::vector<int64_t> item_costs(const AttnArgs& a, const int64_t* cu_q, const int64_t* cu_k,
                                int64_t S) {
  std::vector<int64_t> prefix(static_cast<size_t>(S * a.Hkv + 1), 0);
  const int64_t G = a.Hq / a.Hkv;
  for (int64_t s = 0; s < S; ++s) {
    const int64_t lq = cu_q[s + 1] - cu_q[s], lk = cu_k[s + 1] - cu_k[s];
    const int64_t cost = G * (lq + 1) * (lk + 1) * a.D;  // + 1: empty sequences cost a little
    for (int64_t h = 0; h < a.Hkv; ++h) {
      const int64_t i = s * a.Hkv + h;
      prefix[i + 1] = prefix[i] + cost;
    }
  }
  return prefix;
}

// fn(sequence args, kv head) for every (sequence, kv head) work item of element type E, the
// items split between threads by cost.
template <typename E, typename Fn>
void for_each_item(const AttnArgs& a, const int64_t* cu_q, const int64_t* cu_k, int64_t S,
                   Fn&& fn) {
  parallel_items_by_cost(item_costs(a, cu_q, cu_k, S), [&](int64_t item) {
    fn(sequence_args<E>(a, cu_q, cu_k, item / a.Hkv), item % a.Hkv);
  });
}

}  // namespace

template <>
void attention_varlen_forward<float>(const AttnArgs& a, const int64_t* cu_q, const int64_t* cu_k,
                                     int64_t S) {
  const AttnTable& t = attn_table();
  const int64_t G = a.Hq / a.Hkv;
  for_each_item<float>(a, cu_q, cu_k, S, [&](const AttnArgs& r, int64_t hk) {
    float* kt = scratch<float>(0, cdiv(r.Tk, kAttnBk) * r.D * kAttnBk);
    t.pack_t(static_cast<const float*>(r.k) + hk * r.skh, r.skt, r.Tk, r.D, kt);
    for (int64_t h = hk * G; h < (hk + 1) * G; ++h)
      for (int64_t i0 = 0; i0 < r.Tq; i0 += kAttnBq)
        t.fwd_block(r, kt, 0, h, i0, i0 + kAttnBq < r.Tq ? i0 + kAttnBq : r.Tq);
  });
}

void attention_varlen_forward_bf16(const AttnArgs& a, const int64_t* cu_q, const int64_t* cu_k,
                                   int64_t S) {
  const AttnTable& t = attn_table();
  const int64_t G = a.Hq / a.Hkv;
  for_each_item<uint16_t>(a, cu_q, cu_k, S, [&](const AttnArgs& r, int64_t hk) {
    uint16_t* kt = scratch<uint16_t>(0, cdiv(r.Tk, kAttnBk) * attn_bf16_block_elems(r.D));
    t.pack_bf16(r, 0, hk, kt);
    for (int64_t h = hk * G; h < (hk + 1) * G; ++h)
      for (int64_t i0 = 0; i0 < r.Tq; i0 += kAttnBq)
        t.fwd_block_bf16(r, kt, 0, h, i0, i0 + kAttnBq < r.Tq ? i0 + kAttnBq : r.Tq);
  });
}

template <>
void attention_varlen_backward<float>(const AttnArgs& a, const int64_t* cu_q, const int64_t* cu_k,
                                      int64_t S) {
  const AttnTable& t = attn_table();
  const int64_t G = a.Hq / a.Hkv;
  for_each_item<float>(a, cu_q, cu_k, S, [&](const AttnArgs& r, int64_t hk) {
    if (r.Tq == 0 || r.Tk == 0) {  // no scores: the item's gradients are zero
      for (int64_t h = hk * G; h < (hk + 1) * G; ++h)
        for (int64_t i = 0; i < r.Tq; ++i)
          for (int64_t d = 0; d < r.D; ++d)
            static_cast<float*>(r.gq)[h * r.sgqh + i * r.sgqt + d] = 0;
      for (int64_t j = 0; j < r.Tk; ++j)
        for (int64_t d = 0; d < r.D; ++d)
          static_cast<float*>(r.gk)[hk * r.sgkh + j * r.sgkt + d] =
              static_cast<float*>(r.gv)[hk * r.sgvh + j * r.sgvt + d] = 0;
      return;
    }
    const int64_t panel = cdiv(r.Tk, kAttnBk) * r.D * kAttnBk;
    float* kt = scratch<float>(0, panel);
    float* vt = scratch<float>(1, panel);
    float* delta = scratch<float>(2, r.Hq * r.Tq);
    for (int64_t h = hk * G; h < (hk + 1) * G; ++h) t.row_delta(r, 0, h, delta + h * r.Tq);
    t.pack_t(static_cast<const float*>(r.k) + hk * r.skh, r.skt, r.Tk, r.D, kt);
    t.pack_t(static_cast<const float*>(r.v) + hk * r.svh, r.svt, r.Tk, r.D, vt);
    t.bwd_kv(r, kt, vt, delta, 0, hk, 0, cdiv(r.Tk, kAttnBk), true);
  });
}

// float64 (gradcheck's dtype): one sequence after another, each as its own batch-1 problem.
template <>
void attention_varlen_forward<double>(const AttnArgs& a, const int64_t* cu_q, const int64_t* cu_k,
                                      int64_t S) {
  for (int64_t s = 0; s < S; ++s) forward_rows<double>(sequence_args<double>(a, cu_q, cu_k, s));
}

template <>
void attention_varlen_backward<double>(const AttnArgs& a, const int64_t* cu_q, const int64_t* cu_k,
                                       int64_t S) {
  for (int64_t s = 0; s < S; ++s) backward_rows<double>(sequence_args<double>(a, cu_q, cu_k, s));
}

template <>
void attention_forward<double>(const AttnArgs& a) {
  forward_rows<double>(a);
}

template <>
void attention_backward<double>(const AttnArgs& a) {
  backward_rows<double>(a);  // also right for Tq = 0 or Tk = 0 (zero gradients)
}

}  // namespace ember::cpu
