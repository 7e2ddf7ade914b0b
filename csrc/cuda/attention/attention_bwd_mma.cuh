// Tensor-core flash attention backward for float16 / bfloat16 (head dims up to 128): the SIMT
// backward's passes and order (attention_bwd.cu; deterministic, no atomics) with every
// product on mma.sync m16n8k16, float32 accumulation, a warp per 16 rows of the block's
// kRows (attention_mma.cuh). P and dS never leave the registers: they are recomputed as
// accumulators and re-used as the A operand of the next product (rounded to T, as the
// forward's P). Tiles stream through shared memory at the forward's pitch.
#pragma once
#include "cuda/attention/attention_mma.cuh"
#include "cuda/cuda_check.h"
#include "cuda/stream.h"

namespace ember::cuda::attn {

// dK, dV of the block's kRows keys: for each query head of the GQA group and each query tile
// from the first that sees the keys (causal) on, the transposed products
//   S^T = K Q^T, P^T = exp(scale S^T - lse), dV += P^T dO,
//   dP^T = V dO^T, dS^T = P^T (dP^T - delta), dK += dS^T Q,
// then dK *= scale.
template <typename T, int KD>
__global__ void __launch_bounds__(kMmaThreads)
    grad_kv_mma_kernel(const Params p, const float* delta) {
  constexpr int kPitch = mma_pitch(KD), kTile = mma_bwd_tile(KD);
  constexpr int kDB = KD / 16, kON = KD / 8, kSN = kTile / 8;
  extern __shared__ __align__(16) unsigned char smem[];
  T* sk = reinterpret_cast<T*>(smem);
  T* sv = sk + kRows * kPitch;
  T* sq = sv + kRows * kPitch;
  T* sdo = sq + kTile * kPitch;
  float* slse = reinterpret_cast<float*>(sdo + kTile * kPitch);
  float* sdl = slse + kTile;

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const Segment sg = segment(p, true);
  const int64_t b = sg.b, hk = sg.h;
  const int64_t k0 = sg.tile * kRows, kw = k0 + warp * 16;  // keys within the sequence
  const float scale = static_cast<float>(p.scale);
  load_rows<T, KD, kPitch, kMmaThreads>(sk, head_ptr<T>(p.k, b, hk, sg.k_begin), p.k.st, k0, sg.tk,
                                        kRows, p.D);
  load_rows<T, KD, kPitch, kMmaThreads>(sv, head_ptr<T>(p.v, b, hk, sg.k_begin), p.v.st, k0, sg.tk,
                                        kRows, p.D);
  const T* kwarp = sk + warp * 16 * kPitch;  // the warp's 16 keys (A operands)
  const T* vwarp = sv + warp * 16 * kPitch;
  float dk[kON][4], dv[kON][4];
  zero(dk);
  zero(dv);

  const int64_t group = p.Hq / p.Hkv, nq = cdiv(sg.tq, kTile);
  for (int64_t g = 0; g < group; ++g) {
    const int64_t h = hk * group + g;
    const T* q = head_ptr<T>(p.q, b, h, sg.q_begin);
    const T* go = head_ptr<T>(p.go, b, h, sg.q_begin);
    const float* lse = static_cast<const float*>(p.lse) + (b * p.Hq + h) * p.Tq + sg.q_begin;
    const float* dl = delta + (b * p.Hq + h) * p.Tq + sg.q_begin;
    for (int64_t qt = first_query_tile(k0, sg.tq, kTile, p.causal); qt < nq; ++qt) {
      const int64_t i0 = qt * kTile;
      __syncthreads();  // every warp is done with the previous Q / dO tiles
      load_rows<T, KD, kPitch, kMmaThreads>(sq, q, p.q.st, i0, sg.tq, kTile, p.D);
      load_rows<T, KD, kPitch, kMmaThreads>(sdo, go, p.go.st, i0, sg.tq, kTile, p.D);
      for (int r = threadIdx.x; r < kTile; r += kMmaThreads) {
        const bool in = i0 + r < sg.tq;
        slse[r] = in ? lse[i0 + r] : INFINITY;
        sdl[r] = in ? dl[i0 + r] : 0.0f;
      }
      __syncthreads();

      float s[kSN][4], dp[kSN][4];  // S^T, dP^T: the warp's keys x the tile's queries
      zero(s);
      zero(dp);
#pragma unroll
      for (int kb = 0; kb < kDB; ++kb) {
        uint32_t a[4];
        load_a<T, kPitch>(a, kwarp + kb * 16, lane);
        mma_abt<T, kSN, kPitch>(s, a, sq + kb * 16, lane);
        load_a<T, kPitch>(a, vwarp + kb * 16, lane);
        mma_abt<T, kSN, kPitch>(dp, a, sdo + kb * 16, lane);
      }
#pragma unroll
      for (int n = 0; n < kSN; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const RowCol rc = mma_c(lane, e);  // (key, query) within the tiles
          const int ii = n * 8 + rc.c;
          const float sc = masked_score(p, sg, h, s[n][e], scale, i0 + ii, kw + rc.r);
          s[n][e] = softmax_prob(sc, slse[ii]);
          dp[n][e] = grad_score(s[n][e], dp[n][e], sdl[ii]);
        }
      mma_acc<T, kON, kSN, kPitch>(dv, s, sdo, lane);
      mma_acc<T, kON, kSN, kPitch>(dk, dp, sq, lane);
    }
  }
#pragma unroll
  for (int n = 0; n < kON; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const RowCol rc = mma_c(lane, e);
      const int64_t j = kw + rc.r;
      const int col = n * 8 + rc.c;
      if (j < sg.tk && col < p.D) {
        head_ptr_mut<T>(p.gk, b, hk, sg.k_begin + j)[col] = from_acc<T>(dk[n][e] * scale);
        head_ptr_mut<T>(p.gv, b, hk, sg.k_begin + j)[col] = from_acc<T>(dv[n][e]);
      }
    }
}

// dQ of the block's kRows queries: for each key tile the row sees (causal tiles skipped),
//   S = Q K^T, P = exp(scale S - lse), dP = dO V^T, dS = P (dP - delta), dQ += dS K,
// then dQ *= scale.
template <typename T, int KD>
__global__ void __launch_bounds__(kMmaThreads)
    grad_q_mma_kernel(const Params p, const float* delta) {
  constexpr int kPitch = mma_pitch(KD), kTile = mma_bwd_tile(KD);
  constexpr int kDB = KD / 16, kON = KD / 8, kSN = kTile / 8;
  extern __shared__ __align__(16) unsigned char smem[];
  T* sq = reinterpret_cast<T*>(smem);
  T* sdo = sq + kRows * kPitch;
  T* sk = sdo + kRows * kPitch;
  T* sv = sk + kTile * kPitch;

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const Segment sg = segment(p, false);
  const int64_t b = sg.b, h = sg.h, hk = kv_head(h, p.Hq, p.Hkv);
  const int64_t qw = sg.tile * kRows + warp * 16;  // the warp's first row in the sequence
  const T* k = head_ptr<T>(p.k, b, hk, sg.k_begin);
  const T* v = head_ptr<T>(p.v, b, hk, sg.k_begin);
  const float scale = static_cast<float>(p.scale);
  load_rows<T, KD, kPitch, kMmaThreads>(sq, head_ptr<T>(p.q, b, h, sg.q_begin), p.q.st,
                                        sg.tile * kRows, sg.tq, kRows, p.D);
  load_rows<T, KD, kPitch, kMmaThreads>(sdo, head_ptr<T>(p.go, b, h, sg.q_begin), p.go.st,
                                        sg.tile * kRows, sg.tq, kRows, p.D);
  const T* qwarp = sq + warp * 16 * kPitch;  // the warp's 16 rows (A operands)
  const T* dowarp = sdo + warp * 16 * kPitch;
  float lse[2], dl[2];  // of the lane's two fragment rows
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int64_t i = qw + (lane >> 2) + 8 * r;
    const int64_t at = (b * p.Hq + h) * p.Tq + sg.q_begin + i;
    lse[r] = i < sg.tq ? static_cast<const float*>(p.lse)[at] : INFINITY;
    dl[r] = i < sg.tq ? delta[at] : 0.0f;
  }
  float dq[kON][4];
  zero(dq);

  const int64_t ntiles = key_tiles(sg.tile * kRows, sg.tq, sg.tk, kTile, p.causal);
  for (int64_t t = 0; t < ntiles; ++t) {
    const int64_t k0 = t * kTile;
    __syncthreads();  // every warp is done with the previous K / V tiles (and Q, dO are in)
    load_rows<T, KD, kPitch, kMmaThreads>(sk, k, p.k.st, k0, sg.tk, kTile, p.D);
    load_rows<T, KD, kPitch, kMmaThreads>(sv, v, p.v.st, k0, sg.tk, kTile, p.D);
    __syncthreads();

    float s[kSN][4], dp[kSN][4];  // S, dP: the warp's rows x the tile's keys
    zero(s);
    zero(dp);
#pragma unroll
    for (int kb = 0; kb < kDB; ++kb) {
      uint32_t a[4];
      load_a<T, kPitch>(a, qwarp + kb * 16, lane);
      mma_abt<T, kSN, kPitch>(s, a, sk + kb * 16, lane);
      load_a<T, kPitch>(a, dowarp + kb * 16, lane);
      mma_abt<T, kSN, kPitch>(dp, a, sv + kb * 16, lane);
    }
#pragma unroll
    for (int n = 0; n < kSN; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const RowCol rc = mma_c(lane, e);
        const float sc = masked_score(p, sg, h, s[n][e], scale, qw + rc.r, k0 + n * 8 + rc.c);
        dp[n][e] = grad_score(softmax_prob(sc, lse[e >> 1]), dp[n][e], dl[e >> 1]);
      }
    mma_acc<T, kON, kSN, kPitch>(dq, dp, sk, lane);
  }
#pragma unroll
  for (int n = 0; n < kON; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const RowCol rc = mma_c(lane, e);
      const int64_t i = qw + rc.r;
      const int col = n * 8 + rc.c;
      if (i < sg.tq && col < p.D)
        head_ptr_mut<T>(p.gq, b, h, sg.q_begin + i)[col] = from_acc<T>(dq[n][e] * scale);
    }
}

// The dQ and dK / dV launches (delta already computed, float32).
template <typename T, int KD>
void launch_backward_mma(const Params& p, const float* delta, int64_t q_blocks, int64_t kv_blocks,
                         const char* op) {
  if (q_blocks > 0) {
    constexpr int64_t smem = mma_bwd_smem_bytes(Pass::GradQ, KD);
    auto* kernel = grad_q_mma_kernel<T, KD>;
    set_smem(reinterpret_cast<const void*>(kernel), smem, op);
    kernel<<<static_cast<unsigned>(q_blocks), kMmaThreads, smem, current_stream()>>>(p, delta);
    EMBER_CUDA_CHECK_LAUNCH(op);
  }
  if (kv_blocks > 0) {
    constexpr int64_t smem = mma_bwd_smem_bytes(Pass::GradKV, KD);
    auto* kernel = grad_kv_mma_kernel<T, KD>;
    set_smem(reinterpret_cast<const void*>(kernel), smem, op);
    kernel<<<static_cast<unsigned>(kv_blocks), kMmaThreads, smem, current_stream()>>>(p, delta);
    EMBER_CUDA_CHECK_LAUNCH(op);
  }
}

}  // namespace ember::cuda::attn
