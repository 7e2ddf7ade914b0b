// Flash attention forward (FlashAttention-2), SIMT (float32, float64, and 16-bit operands at
// head dims above 128; the others run attention_fwd_mma.cuh's tensor-core kernel): one block per
// (batch * query head, query tile of kRows rows); key / value tiles stream through shared memory
// while each row group keeps its row's running max, sum and output accumulator in registers (online
// softmax, accumulation in float32, float64 for float64). The Tq x Tk score matrix is never formed;
// under causal masking key tiles past the block's last diagonal are skipped.
#include "cuda/attention/attention_fwd_mma.cuh"
#include "cuda/attention/attention_tile.cuh"
#include "cuda/cuda_check.h"
#include "cuda/stream.h"

namespace ember::cuda::attn {
namespace {

template <typename T, int KD>
__global__ void __launch_bounds__(kThreads, kMinBlocks) forward_kernel(const Params p) {
  using C = Config<T, KD>;
  using A = typename C::A;
  constexpr int kTile = C::kFwdTile, kPitch = C::kPitch, kCols = C::kCols;
  constexpr int kPer = kTile / kLanes;  // scores per thread per key tile
  extern __shared__ __align__(16) unsigned char smem[];
  T* sq = reinterpret_cast<T*>(smem);
  T* sk = sq + kRows * kPitch;
  T* sv = sk + kTile * kPitch;
  A* sp = reinterpret_cast<A*>(sv + kTile * kPitch);  // P tile, row group r owns row r

  const int row = threadIdx.x / kLanes, lane = threadIdx.x % kLanes;
  const Segment sg = segment(p, false);
  const int64_t b = sg.b, h = sg.h, hk = kv_head(h, p.Hq, p.Hkv);
  const int64_t q0 = sg.tile * kRows, i = q0 + row;  // rows within the sequence
  const T* k = head_ptr<T>(p.k, b, hk, sg.k_begin);
  const T* v = head_ptr<T>(p.v, b, hk, sg.k_begin);
  const A scale = static_cast<A>(p.scale);

  load_rows<T, KD>(sq, head_ptr<T>(p.q, b, h, sg.q_begin), p.q.st, q0, sg.tq, kRows, p.D);
  A m = neg_inf<A>(), l = A(0), o[kCols];
#pragma unroll
  for (int c = 0; c < kCols; ++c) o[c] = A(0);

  const int64_t ntiles = key_tiles(q0, sg.tq, sg.tk, kTile, p.causal);
  for (int64_t t = 0; t < ntiles; ++t) {
    const int64_t k0 = t * kTile;
    __syncthreads();  // every thread is done with the previous K / V / P tiles
    load_rows<T, KD>(sk, k, p.k.st, k0, sg.tk, kTile, p.D);
    load_rows<T, KD>(sv, v, p.v.st, k0, sg.tk, kTile, p.D);
    __syncthreads();

    A s[kPer];
    A tmax = neg_inf<A>();
#pragma unroll
    for (int u = 0; u < kPer; ++u) {
      const int j = lane + u * kLanes;
      const A raw = dot_rows<A, T, KD>(sq + row * kPitch, sk + j * kPitch);
      s[u] = masked_score(p, sg, h, raw, scale, i, k0 + j);
      tmax = s[u] > tmax ? s[u] : tmax;
    }
    const A alpha = softmax_rescale(m, l, group_max(tmax));
    A sum = A(0);
#pragma unroll
    for (int u = 0; u < kPer; ++u) {
      const A pr = softmax_prob(s[u], m);
      sum += pr;
      sp[row * kTile + lane + u * kLanes] = pr;
    }
    l += group_sum(sum);
    __syncwarp();  // the row group's P row is complete
#pragma unroll
    for (int c = 0; c < kCols; ++c) o[c] *= alpha;
    for (int j = 0; j < kTile; ++j) {
      const A pr = sp[row * kTile + j];
      const T* vr = sv + j * kPitch + lane;
#pragma unroll
      for (int c = 0; c < kCols; ++c) o[c] += pr * to_acc<A>(vr[c * kLanes]);
    }
  }

  if (i >= sg.tq) return;                    // after the last barrier
  const A inv = l > A(0) ? A(1) / l : A(0);  // every key masked: zeros
  T* out = head_ptr_mut<T>(p.o, b, h, sg.q_begin + i);
#pragma unroll
  for (int c = 0; c < kCols; ++c) {
    const int col = lane + c * kLanes;
    if (col < p.D) out[col] = from_acc<T>(o[c] * inv);
  }
  if (lane == 0) static_cast<A*>(p.lse)[(b * p.Hq + h) * p.Tq + sg.q_begin + i] = row_lse(m, l);
}

}  // namespace

int64_t query_blocks(const Params& p) { return p.B * p.Hq * cdiv(p.Tq, kRows); }
int64_t key_blocks(const Params& p) { return p.B * p.Hkv * cdiv(p.Tk, kRows); }

void forward(DType dtype, const Params& p, int64_t q_blocks, const char* op) {
  if (q_blocks == 0) return;
  visit_config(dtype, p.D, [&](auto cfg) {
    using C = decltype(cfg);
    using T = typename C::Elem;
    if constexpr (mma_forward(sizeof(T), C::kD)) {
      launch_forward_mma<T, C::kD>(p, q_blocks, op);
    } else {
      constexpr int64_t smem =
          smem_bytes(Pass::Forward, C::kD, sizeof(T), sizeof(typename C::A), C::kFwdTile);
      auto* kernel = forward_kernel<T, C::kD>;
      set_smem(reinterpret_cast<const void*>(kernel), smem, op);
      kernel<<<static_cast<unsigned>(q_blocks), kThreads, smem, current_stream()>>>(p);
      EMBER_CUDA_CHECK_LAUNCH(op);
    }
  });
}

}  // namespace ember::cuda::attn
