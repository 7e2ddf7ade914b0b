// Tensor-core flash attention forward for float16 / bfloat16 (head dims up to 128): the
// SIMT forward's structure (one block per (batch * head, kRows query rows), key tiles
// streamed through shared memory, online softmax, causal tiles skipped) with S = Q K^T and
// O += P V on mma.sync m16n8k16, float32 accumulation. Each warp owns 16 query rows; Q stays
// in registers as A fragments, and P goes from the S accumulators to the A operand of the
// second product without leaving them (attention_plan.h: mma_p_block / mma_p_elem).
#pragma once
#include "cuda/attention/attention_mma.cuh"
#include "cuda/cuda_check.h"
#include "cuda/stream.h"

namespace ember::cuda::attn {

template <typename T, int KD>
__global__ void __launch_bounds__(kMmaThreads) forward_mma_kernel(const Params p) {
  constexpr int kPitch = mma_pitch(KD);
  constexpr int kDB = KD / 16;       // k blocks of S = Q K^T
  constexpr int kON = KD / 8;        // n blocks of O
  constexpr int kSN = kMmaKeys / 8;  // n blocks of S
  extern __shared__ __align__(16) unsigned char smem[];
  T* sq = reinterpret_cast<T*>(smem);
  T* sk = sq + kRows * kPitch;
  T* sv = sk + kMmaKeys * kPitch;

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const Segment sg = segment(p, false);
  const int64_t b = sg.b, h = sg.h, hk = kv_head(h, p.Hq, p.Hkv);
  const int64_t q0 = sg.tile * kRows + warp * 16;  // the warp's first row in the sequence
  const T* k = head_ptr<T>(p.k, b, hk, sg.k_begin);
  const T* v = head_ptr<T>(p.v, b, hk, sg.k_begin);
  const float scale = static_cast<float>(p.scale);

  load_rows<T, KD, kPitch, kMmaThreads>(sq, head_ptr<T>(p.q, b, h, sg.q_begin), p.q.st,
                                        sg.tile * kRows, sg.tq, kRows, p.D);
  __syncthreads();
  uint32_t qa[kDB][4];
#pragma unroll
  for (int kb = 0; kb < kDB; ++kb)
    load_a<T, kPitch>(qa[kb], sq + warp * 16 * kPitch + kb * 16, lane);

  float o[kON][4], m[2] = {neg_inf<float>(), neg_inf<float>()}, l[2] = {0.0f, 0.0f};
  zero(o);

  const int64_t ntiles = key_tiles(sg.tile * kRows, sg.tq, sg.tk, kMmaKeys, p.causal);
  for (int64_t t = 0; t < ntiles; ++t) {
    const int64_t k0 = t * kMmaKeys;
    __syncthreads();  // every warp is done with the previous K / V tiles
    load_rows<T, KD, kPitch, kMmaThreads>(sk, k, p.k.st, k0, sg.tk, kMmaKeys, p.D);
    load_rows<T, KD, kPitch, kMmaThreads>(sv, v, p.v.st, k0, sg.tk, kMmaKeys, p.D);
    __syncthreads();

    float s[kSN][4];
    zero(s);
#pragma unroll
    for (int kb = 0; kb < kDB; ++kb) mma_abt<T, kSN, kPitch>(s, qa[kb], sk + kb * 16, lane);

    float tmax[2] = {neg_inf<float>(), neg_inf<float>()};
#pragma unroll
    for (int n = 0; n < kSN; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const RowCol rc = mma_c(lane, e);
        s[n][e] = masked_score(p, sg, h, s[n][e], scale, q0 + rc.r, k0 + n * 8 + rc.c);
        tmax[e >> 1] = fmaxf(tmax[e >> 1], s[n][e]);
      }
    float alpha[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) alpha[r] = softmax_rescale(m[r], l[r], quad_max(tmax[r]));
#pragma unroll
    for (int n = 0; n < kSN; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        s[n][e] = softmax_prob(s[n][e], m[e >> 1]);
        l[e >> 1] += s[n][e];  // this lane's part of the row sum
      }
#pragma unroll
    for (int n = 0; n < kON; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) o[n][e] *= alpha[e >> 1];

    mma_acc<T, kON, kSN, kPitch>(o, s, sv, lane);  // P from the S accumulators
  }

  float inv[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    l[r] = quad_sum(l[r]);
    inv[r] = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;  // every key masked: zeros
  }
#pragma unroll
  for (int n = 0; n < kON; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const RowCol rc = mma_c(lane, e);
      const int64_t i = q0 + rc.r;
      const int col = n * 8 + rc.c;
      if (i < sg.tq && col < p.D)
        head_ptr_mut<T>(p.o, b, h, sg.q_begin + i)[col] = from_acc<T>(o[n][e] * inv[e >> 1]);
    }
  if ((lane & 3) == 0)
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int64_t i = q0 + (lane >> 2) + 8 * r;
      if (i < sg.tq)
        static_cast<float*>(p.lse)[(b * p.Hq + h) * p.Tq + sg.q_begin + i] = row_lse(m[r], l[r]);
    }
}

template <typename T, int KD>
void launch_forward_mma(const Params& p, int64_t q_blocks, const char* op) {
  constexpr int64_t smem = mma_smem_bytes(KD);
  auto* kernel = forward_mma_kernel<T, KD>;
  set_smem(reinterpret_cast<const void*>(kernel), smem, op);
  kernel<<<static_cast<unsigned>(q_blocks), kMmaThreads, smem, current_stream()>>>(p);
  EMBER_CUDA_CHECK_LAUNCH(op);
}

}  // namespace ember::cuda::attn
