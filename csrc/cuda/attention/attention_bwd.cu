// Flash attention backward (FlashAttention-2), deterministic (no float atomics): every
// gradient element is accumulated by one thread in an order fixed by the shapes.
//   1. delta = rowsum(dO * O) per query row (scratch, accumulation type);
//   2. dK, dV: one block per (batch * kv head, key tile of kRows keys), looping over the
//      query heads of its GQA group and their query tiles (from the diagonal on under causal
//      masking); P = exp(s - lse) is recomputed from the saved lse,
//      dV += P^T dO, dK += scale * dS^T Q with dS = P (dO V^T - delta);
//   3. dQ: one block per (batch * query head, query tile), streaming key tiles as the
//      forward does: dQ += scale * dS K.
// float16 / bfloat16 at head dims up to 128 run passes 2 and 3 on the tensor cores
// (attention_bwd_mma.cuh); the rest on the SIMT kernels here.
#include "cuda/attention/attention_bwd_mma.cuh"
#include "cuda/attention/attention_tile.cuh"
#include "cuda/cuda_check.h"
#include "cuda/stream.h"

namespace ember::cuda::attn {
namespace {

template <typename T, typename A>
__global__ void __launch_bounds__(kThreads, kMinBlocks) delta_kernel(const Params p, A* delta) {
  const int row = threadIdx.x / kLanes, lane = threadIdx.x % kLanes;
  const int64_t r = static_cast<int64_t>(blockIdx.x) * kRows + row;  // over (B, Hq, Tq)
  const bool live = r < p.B * p.Hq * p.Tq;
  const int64_t i = live ? r % p.Tq : 0, bh = live ? r / p.Tq : 0;
  const int64_t b = bh / p.Hq, h = bh % p.Hq;
  A s = A(0);
  if (live) {
    const T* go = head_ptr<T>(p.go, b, h, i);
    const T* o = head_ptr<T>(p.o, b, h, i);
    for (int64_t d = lane; d < p.D; d += kLanes) s += to_acc<A>(go[d]) * to_acc<A>(o[d]);
  }
  s = group_sum(s);
  if (live && lane == 0) delta[r] = s;
}

template <typename T, int KD>
__global__ void __launch_bounds__(kThreads, kMinBlocks)
    grad_q_kernel(const Params p, const typename Config<T, KD>::A* delta) {
  using C = Config<T, KD>;
  using A = typename C::A;
  constexpr int kTile = C::kDqTile, kPitch = C::kPitch, kCols = C::kCols;
  constexpr int kPer = kTile / kLanes;
  extern __shared__ __align__(16) unsigned char smem[];
  T* sq = reinterpret_cast<T*>(smem);
  T* sdo = sq + kRows * kPitch;
  T* sk = sdo + kRows * kPitch;
  T* sv = sk + kTile * kPitch;
  A* sds = reinterpret_cast<A*>(sv + kTile * kPitch);  // dS tile, row group r owns row r

  const int row = threadIdx.x / kLanes, lane = threadIdx.x % kLanes;
  const Segment sg = segment(p, false);
  const int64_t b = sg.b, h = sg.h, hk = kv_head(h, p.Hq, p.Hkv);
  const int64_t q0 = sg.tile * kRows, i = q0 + row;  // rows within the sequence
  const T* k = head_ptr<T>(p.k, b, hk, sg.k_begin);
  const T* v = head_ptr<T>(p.v, b, hk, sg.k_begin);
  const A scale = static_cast<A>(p.scale);
  const bool live = i < sg.tq;
  const int64_t r = (b * p.Hq + h) * p.Tq + sg.q_begin + i;  // lse / delta index
  const A lse = live ? static_cast<const A*>(p.lse)[r] : static_cast<A>(INFINITY);
  const A dl = live ? delta[r] : A(0);

  load_rows<T, KD>(sq, head_ptr<T>(p.q, b, h, sg.q_begin), p.q.st, q0, sg.tq, kRows, p.D);
  load_rows<T, KD>(sdo, head_ptr<T>(p.go, b, h, sg.q_begin), p.go.st, q0, sg.tq, kRows, p.D);
  A dq[kCols];
#pragma unroll
  for (int c = 0; c < kCols; ++c) dq[c] = A(0);

  const int64_t ntiles = key_tiles(q0, sg.tq, sg.tk, kTile, p.causal);
  for (int64_t t = 0; t < ntiles; ++t) {
    const int64_t k0 = t * kTile;
    __syncthreads();  // every thread is done with the previous K / V / dS tiles
    load_rows<T, KD>(sk, k, p.k.st, k0, sg.tk, kTile, p.D);
    load_rows<T, KD>(sv, v, p.v.st, k0, sg.tk, kTile, p.D);
    __syncthreads();
#pragma unroll
    for (int u = 0; u < kPer; ++u) {
      const int j = lane + u * kLanes;
      const A raw = dot_rows<A, T, KD>(sq + row * kPitch, sk + j * kPitch);
      const A s = masked_score(p, sg, h, raw, scale, i, k0 + j);
      const A dp = dot_rows<A, T, KD>(sdo + row * kPitch, sv + j * kPitch);
      sds[row * kTile + j] = grad_score(softmax_prob(s, lse), dp, dl);
    }
    __syncwarp();  // the row group's dS row is complete
    for (int j = 0; j < kTile; ++j) {
      const A ds = sds[row * kTile + j];
      const T* kr = sk + j * kPitch + lane;
#pragma unroll
      for (int c = 0; c < kCols; ++c) dq[c] += ds * to_acc<A>(kr[c * kLanes]);
    }
  }
  if (!live) return;  // after the last barrier
  T* gq = head_ptr_mut<T>(p.gq, b, h, sg.q_begin + i);
#pragma unroll
  for (int c = 0; c < kCols; ++c) {
    const int col = lane + c * kLanes;
    if (col < p.D) gq[col] = from_acc<T>(dq[c] * scale);
  }
}

template <typename T, int KD>
__global__ void __launch_bounds__(kThreads, kMinBlocks)
    grad_kv_kernel(const Params p, const typename Config<T, KD>::A* delta) {
  using C = Config<T, KD>;
  using A = typename C::A;
  constexpr int kTile = C::kKvTile, kPitch = C::kPitch, kCols = C::kCols;
  constexpr int kPer = kTile / kLanes;
  extern __shared__ __align__(16) unsigned char smem[];
  T* sk = reinterpret_cast<T*>(smem);
  T* sv = sk + kRows * kPitch;
  T* sq = sv + kRows * kPitch;
  T* sdo = sq + kTile * kPitch;
  A* sp = reinterpret_cast<A*>(sdo + kTile * kPitch);  // P^T and dS^T: row group r owns row r
  A* sds = sp + kRows * kTile;
  A* slse = sds + kRows * kTile;
  A* sdl = slse + kTile;

  const int row = threadIdx.x / kLanes, lane = threadIdx.x % kLanes;
  const Segment sg = segment(p, true);
  const int64_t b = sg.b, hk = sg.h;
  const int64_t k0 = sg.tile * kRows, j = k0 + row;  // keys within the sequence
  const A scale = static_cast<A>(p.scale);
  load_rows<T, KD>(sk, head_ptr<T>(p.k, b, hk, sg.k_begin), p.k.st, k0, sg.tk, kRows, p.D);
  load_rows<T, KD>(sv, head_ptr<T>(p.v, b, hk, sg.k_begin), p.v.st, k0, sg.tk, kRows, p.D);
  A dk[kCols], dv[kCols];
#pragma unroll
  for (int c = 0; c < kCols; ++c) dk[c] = dv[c] = A(0);

  const int64_t group = p.Hq / p.Hkv, nq = cdiv(sg.tq, kTile);
  for (int64_t g = 0; g < group; ++g) {
    const int64_t h = hk * group + g;
    const T* q = head_ptr<T>(p.q, b, h, sg.q_begin);
    const T* go = head_ptr<T>(p.go, b, h, sg.q_begin);
    const A* lse = static_cast<const A*>(p.lse) + (b * p.Hq + h) * p.Tq + sg.q_begin;
    const A* dl = delta + (b * p.Hq + h) * p.Tq + sg.q_begin;
    for (int64_t qt = first_query_tile(k0, sg.tq, kTile, p.causal); qt < nq; ++qt) {
      const int64_t i0 = qt * kTile;
      __syncthreads();  // every thread is done with the previous Q / dO / P / dS tiles
      load_rows<T, KD>(sq, q, p.q.st, i0, sg.tq, kTile, p.D);
      load_rows<T, KD>(sdo, go, p.go.st, i0, sg.tq, kTile, p.D);
      for (int r = threadIdx.x; r < kTile; r += kThreads) {
        const bool in = i0 + r < sg.tq;
        slse[r] = in ? lse[i0 + r] : static_cast<A>(INFINITY);
        sdl[r] = in ? dl[i0 + r] : A(0);
      }
      __syncthreads();
#pragma unroll
      for (int u = 0; u < kPer; ++u) {
        const int ii = lane + u * kLanes;
        const A raw = dot_rows<A, T, KD>(sq + ii * kPitch, sk + row * kPitch);
        const A s = masked_score(p, sg, h, raw, scale, i0 + ii, j);
        const A pr = softmax_prob(s, slse[ii]);
        const A dp = dot_rows<A, T, KD>(sdo + ii * kPitch, sv + row * kPitch);
        sp[row * kTile + ii] = pr;
        sds[row * kTile + ii] = grad_score(pr, dp, sdl[ii]);
      }
      __syncwarp();  // the row group's P and dS rows are complete
      for (int ii = 0; ii < kTile; ++ii) {
        const A pr = sp[row * kTile + ii], ds = sds[row * kTile + ii];
        const T* qr = sq + ii * kPitch + lane;
        const T* dor = sdo + ii * kPitch + lane;
#pragma unroll
        for (int c = 0; c < kCols; ++c) {
          dv[c] += pr * to_acc<A>(dor[c * kLanes]);
          dk[c] += ds * to_acc<A>(qr[c * kLanes]);
        }
      }
    }
  }
  if (j >= sg.tk) return;  // after the last barrier
  T* gk = head_ptr_mut<T>(p.gk, b, hk, sg.k_begin + j);
  T* gv = head_ptr_mut<T>(p.gv, b, hk, sg.k_begin + j);
#pragma unroll
  for (int c = 0; c < kCols; ++c) {
    const int col = lane + c * kLanes;
    if (col < p.D) {
      gk[col] = from_acc<T>(dk[c] * scale);
      gv[col] = from_acc<T>(dv[c]);
    }
  }
}

// The SIMT dQ and dK / dV launches of configuration C.
template <typename C>
void launch_backward_simt(const Params& p, const typename C::A* delta, int64_t q_blocks,
                          int64_t kv_blocks, const char* op) {
  using T = typename C::Elem;
  constexpr int kd = C::kD, eb = sizeof(T), ab = sizeof(typename C::A);
  if (q_blocks > 0) {
    constexpr int64_t smem = smem_bytes(Pass::GradQ, kd, eb, ab, C::kDqTile);
    auto* kernel = grad_q_kernel<T, kd>;
    set_smem(reinterpret_cast<const void*>(kernel), smem, op);
    kernel<<<static_cast<unsigned>(q_blocks), kThreads, smem, current_stream()>>>(p, delta);
    EMBER_CUDA_CHECK_LAUNCH(op);
  }
  if (kv_blocks > 0) {
    constexpr int64_t smem = smem_bytes(Pass::GradKV, kd, eb, ab, C::kKvTile);
    auto* kernel = grad_kv_kernel<T, kd>;
    set_smem(reinterpret_cast<const void*>(kernel), smem, op);
    kernel<<<static_cast<unsigned>(kv_blocks), kThreads, smem, current_stream()>>>(p, delta);
    EMBER_CUDA_CHECK_LAUNCH(op);
  }
}

}  // namespace

void backward(DType dtype, int device, const Params& p, int64_t q_blocks, int64_t kv_blocks,
              const char* op) {
  visit_config(dtype, p.D, [&](auto cfg) {
    using C = decltype(cfg);
    using T = typename C::Elem;
    using A = typename C::A;
    const int64_t rows = p.B * p.Hq * p.Tq;
    Scratch scratch(device, static_cast<size_t>(rows) * sizeof(A));
    A* delta = scratch.as<A>();
    if (rows > 0) {
      delta_kernel<T, A>
          <<<static_cast<unsigned>(cdiv(rows, kRows)), kThreads, 0, current_stream()>>>(p, delta);
      EMBER_CUDA_CHECK_LAUNCH(op);
    }
    if constexpr (mma_backward(sizeof(T), C::kD))
      launch_backward_mma<T, C::kD>(p, delta, q_blocks, kv_blocks, op);
    else
      launch_backward_simt<C>(p, delta, q_blocks, kv_blocks, op);
  });
}

}  // namespace ember::cuda::attn
