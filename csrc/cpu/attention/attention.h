// Scaled-dot-product attention, forward and backward (FlashAttention-2 on the CPU).
//
// out = softmax(scale * q k^T + mask) v per (batch, head), for q (B, Hq, Tq, D),
// k, v (B, Hkv, Tk, D), Hq a multiple of Hkv (grouped-query attention: q head h reads kv
// head h / (Hq / Hkv)). Every operand is addressed through element strides for the batch,
// head and sequence dims with unit stride along D, so the (B, H, T, D) and (B, T, H, D)
// layouts, views into a fused qkv projection and a KV cache prefix all run in place.
//
// Algorithm (float32): work is cut into query blocks of kAttnBq rows and key blocks of
// kAttnBk keys. The forward keeps, per query block, the running row max, row sum and the output
// accumulator (online softmax) while it walks the key blocks; the score tile stays in
// L1/L2, the Tq x Tk matrix is never formed. It saves the output and the per-row
// log-sum-exp (float32). The backward recomputes each score tile from q, k and the saved
// log-sum-exp and forms dV += P^T dO, dK += dS^T q, dQ += dS k with
// dS = P * (dO v^T - rowsum(dO * O)). Causal masking (top-left aligned: query i sees keys
// j <= i, as PyTorch) skips fully masked tiles. Rows whose keys are all masked give a zero
// output and zero gradients (PyTorch gives NaN).
//
// Determinism: work items are (batch, kv head) when there are enough of them (each packs
// its own k^T panels), else (batch, head, query block) over shared panels for the forward
// and (batch, kv head, key block) for dK / dV plus (batch, q head, query block) for dQ for
// the backward. Every tile is computed by the same code whichever split runs, and each
// output element is accumulated by one work item in an order fixed by the shapes, so
// results are bitwise equal for any thread count.
//
// Speed notes: the score and value products run on a register-blocked tile GEMM (6 x 64 on
// AVX-512) over k^T panels packed once per (batch, kv head); unmasked rows fold the scale
// into a degree-6 exp2; causal tiles stop at the diagonal of their last row.
// float64 runs a plain row-at-a-time path (same semantics, used by gradcheck; lse float64).
//
// bfloat16: where the GEMM's bf16 path is native (gemm_bf16_native: vdpbf16ps at the fp32
// FMA rate, AMD's AVX512_BF16 parts, or forced with EMBER_GEMM_BF16=native) the forward runs
// both products on vdpbf16ps: S = q k^T from the bf16 operands, P rounded to bf16 after the
// fp32 online softmax (as FlashAttention does), O += P v; fp32 accumulation, running max /
// sum and lse, output bf16 (attention_forward_bf16). Elsewhere (Intel without AMX, where
// vdpbf16ps runs at half rate; AVX2; portable) and for float16, the Python op converts to
// float32. The backward always runs in float32 (the op widens the saved bf16 tensors).
// Arguments are validated by csrc/bindings/bind_attention.cpp; kernels trust them.
#pragma once
#include <cstdint>
#include <type_traits>

#include "core/isa.h"

namespace ember::cpu {

constexpr int64_t kAttnMaxHeadDim = 256;
constexpr int64_t kAttnBq = 64;   // query rows per block
constexpr int64_t kAttnBk = 128;  // keys per block

enum class AttnMask : int { None = 0, Bool = 1, Add = 2 };

// The saved log-sum-exp's element type for operands of type T, the accumulation type as on
// CUDA (whose backward recomputes P = exp(s - lse) from it): float64 for float64, else float32.
template <typename T>
using AttnLse = std::conditional_t<std::is_same_v<T, double>, double, float>;

// Strides are in elements; the D dim has unit stride everywhere (mask: key dim any).
struct AttnArgs {
  int64_t B, Hq, Hkv, Tq, Tk, D;
  double scale;
  bool causal;
  const void* q;
  int64_t sqb, sqh, sqt;
  const void* k;
  int64_t skb, skh, skt;
  const void* v;
  int64_t svb, svh, svt;
  void* o;  // forward output; backward: the saved forward output
  int64_t sob, soh, sot;
  void* lse;  // AttnLse<T>: (B, Hq, Tq) at lse + b * slb + h * slh + i
  int64_t slb, slh;
  AttnMask mask_kind;
  const void* mask;  // uint8 (nonzero = attend) or additive, of the input dtype
  int64_t smb, smh, smq, smk;
  // backward only
  const void* go;
  int64_t sgob, sgoh, sgot;
  void* gq;
  int64_t sgqb, sgqh, sgqt;
  void* gk;
  int64_t sgkb, sgkh, sgkt;
  void* gv;
  int64_t sgvb, sgvh, sgvt;
};

// Forward: writes o and lse.
template <typename T>
void attention_forward(const AttnArgs& a);
// bf16 forward (q, k, v, o bfloat16 bit patterns; an additive mask float32): needs
// attention_bf16_native().
bool attention_bf16_native();
void attention_forward_bf16(const AttnArgs& a);
// Backward: from go, q, k, v, o and lse writes gq, gk, gv (overwritten).
template <typename T>
void attention_backward(const AttnArgs& a);

// Variable-length (packed) attention: S sequences laid end to end along the T dim of a
// batch-1 AttnArgs (B = 1, Tq / Tk the packed totals; lse (Hq, Tq)), sequence s holding
// query rows [cu_q[s], cu_q[s + 1]) and key rows [cu_k[s], cu_k[s + 1]). Each sequence
// attends within itself only (causal: top-left aligned per sequence), as if it were its own
// batch entry with no padding, so no work is spent on pads. No mask. The offsets are
// validated by the binding (cu[0] = 0, non-decreasing, cu[S] = the packed total).
template <typename T>
void attention_varlen_forward(const AttnArgs& a, const int64_t* cu_q, const int64_t* cu_k,
                              int64_t S);
template <typename T>
void attention_varlen_backward(const AttnArgs& a, const int64_t* cu_q, const int64_t* cu_k,
                               int64_t S);
void attention_varlen_forward_bf16(const AttnArgs& a, const int64_t* cu_q, const int64_t* cu_k,
                                   int64_t S);

// bf16 panels of one (batch, kv head) for the vdpbf16ps forward, per key block: k^T as d
// pairs [D2 / 2][kAttnBk][2], then v as key pairs [kAttnBk / 2][D16][2] (D2, D16: D rounded
// up to 2, 16; zero padded), so each vdpbf16ps multiplies 16 columns by one broadcast pair.
inline int64_t attn_bf16_k_elems(int64_t D) { return (D + 1) / 2 * 2 * kAttnBk; }
inline int64_t attn_bf16_block_elems(int64_t D) {
  return attn_bf16_k_elems(D) + kAttnBk * ((D + 15) / 16 * 16);
}

// ---- per-ISA float32 kernels (attention_kernels.cpp)

struct AttnTable {
  // k^T of one (batch, kv head) as key-block panels: panel kb holds [d][kBk] (zero padded
  // beyond Tk), at dst + kb * D * kBk. Also used for v^T in the backward.
  void (*pack_t)(const float* src, int64_t st, int64_t T, int64_t D, float* dst);
  // One query block [i0, i1) of head (b, h): o and lse. kt: packed k^T of the kv head.
  void (*fwd_block)(const AttnArgs& a, const float* kt, int64_t b, int64_t h, int64_t i0,
                    int64_t i1);
  // delta[i] = sum_d go[i, d] * o[i, d] for rows [0, Tq) of head (b, h).
  void (*row_delta)(const AttnArgs& a, int64_t b, int64_t h, float* delta);
  // dK, dV of key blocks [kb0, kb1) of kv head (b, hk) over every q head of its group; with
  // with_dq also dQ of those q heads (then kb0 = 0, kb1 = all: the item owns them).
  // kt / vt: packed k^T / v^T of the kv head; delta: (Hq, Tq) of batch b.
  void (*bwd_kv)(const AttnArgs& a, const float* kt, const float* vt, const float* delta, int64_t b,
                 int64_t hk, int64_t kb0, int64_t kb1, bool with_dq);
  // dQ of query block [i0, i1) of q head (b, h).
  void (*bwd_q)(const AttnArgs& a, const float* kt, const float* vt, const float* delta, int64_t b,
                int64_t h, int64_t i0, int64_t i1);
  // bf16 forward on vdpbf16ps (null where the ISA object lacks AVX512_BF16): pack_bf16 fills
  // the panels of kv head (b, hk) (cdiv(Tk, kAttnBk) blocks of attn_bf16_block_elems(D));
  // fwd_block_bf16 is fwd_block on them.
  void (*pack_bf16)(const AttnArgs& a, int64_t b, int64_t hk, uint16_t* dst);
  void (*fwd_block_bf16)(const AttnArgs& a, const uint16_t* panels, int64_t b, int64_t h,
                         int64_t i0, int64_t i1);
};

}  // namespace ember::cpu

EMBER_ISA_TABLES(cpu::AttnTable, attn_table)
