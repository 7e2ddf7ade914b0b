// The tensor-core GEMM kernel: 128x128x32 block tiles of 8 warps, 64x32 per warp, fed by a
// multi-stage cp.async pipeline (global -> swizzled shared memory, zero-filled tails) and
// ldmatrix (16-bit) or scalar shared loads (TF32), computing with mma.sync into float32
// registers, then the fused epilogue straight from registers. Included by the .cu file of
// each input dtype, which instantiates launch_tensor_core for it.
#pragma once
#include <type_traits>

#include "cuda/convert.cuh"
#include "cuda/cuda_check.h"
#include "cuda/gemm/epilogue.cuh"
#include "cuda/gemm/kernels.h"
#include "cuda/gemm/layout.h"
#include "cuda/gemm/ptx.cuh"
#include "cuda/stream.h"

namespace ember::cuda::gemm {

struct TcParams {
  const char* a;
  const char* b;
  void* c;
  const void* bias;
  int64_t a_batch, a_ld, b_batch, b_ld, c_batch, c_ld;  // element strides
  int64_t batch, m, n, k, m_tiles, n_tiles;
  float alpha, beta;
  Act act;
};

template <typename TIn>
struct TcTraits {
  static constexpr bool kTf32 = std::is_same_v<TIn, float>;
  static constexpr int kElem = sizeof(TIn);
  static constexpr int kVec = 16 / kElem;  // elements per 16-byte chunk
  static constexpr int kStages = kTf32 ? kTcStagesTf32 : kTcStages16;
  static constexpr int kTileA = kTcBM * kTcBK;  // elements of one stage's A tile
  static constexpr int kTileB = kTcBN * kTcBK;
  static constexpr int kStageBytes = (kTileA + kTileB) * kElem;
};

// One operand's tile of one stage: TS rows of TC elements (TC along the contiguous global
// dimension), origin (s0, c0) in the operand's (strided, contiguous) coordinates. Every
// thread issues its share of 16-byte copies; chunks past an edge are zero-filled.
template <typename TIn, int TS, int TC>
__device__ __forceinline__ void load_tile(uint32_t dst, const char* src, int64_t ld, int64_t ext_s,
                                          int64_t ext_c, int64_t s0, int64_t c0) {
  constexpr int kVec = TcTraits<TIn>::kVec, kElem = TcTraits<TIn>::kElem;
  constexpr int kChunks = TC / kVec, kTotal = TS * kChunks;
  static_assert(kTotal % kTcThreads == 0, "every thread copies the same number of chunks");
#pragma unroll
  for (int it = 0; it < kTotal / kTcThreads; ++it) {
    const int q = it * kTcThreads + static_cast<int>(threadIdx.x);
    const int r = q / kChunks, cc = q % kChunks;
    const int64_t gs = s0 + r, gc = c0 + int64_t{cc} * kVec;
    int64_t valid = ext_c - gc;
    valid = gs >= ext_s || valid < 0 ? 0 : valid > kVec ? kVec : valid;
    const char* from = valid > 0 ? src + (gs * ld + gc) * kElem : src;
    cp_async_16(dst + swizzled_offset(r, cc * kVec, kChunks, kVec) * kElem, from,
                static_cast<int>(valid) * kElem);
  }
}

// The A and B tiles of k-tile kt into stage buffer `stage`.
template <typename TIn, bool AK, bool BK>
__device__ __forceinline__ void load_stage(uint32_t stage, const TcParams& p, const char* a,
                                           const char* b, int64_t m0, int64_t n0, int kt) {
  using T = TcTraits<TIn>;
  const int64_t k0 = int64_t{kt} * kTcBK;
  if constexpr (AK)
    load_tile<TIn, kTcBM, kTcBK>(stage, a, p.a_ld, p.m, p.k, m0, k0);
  else
    load_tile<TIn, kTcBK, kTcBM>(stage, a, p.a_ld, p.k, p.m, k0, m0);
  const uint32_t sb = stage + T::kTileA * T::kElem;
  if constexpr (BK)
    load_tile<TIn, kTcBN, kTcBK>(sb, b, p.b_ld, p.n, p.k, n0, k0);
  else
    load_tile<TIn, kTcBK, kTcBN>(sb, b, p.b_ld, p.k, p.n, k0, n0);
}

// layout.h's tile_offset for this kernel's tiles.
template <typename TIn, bool KContig, int MN>
__device__ __forceinline__ int tile_offset(int mn0, int mn, int k0, int k) {
  static_assert(kTcBK / TcTraits<TIn>::kVec <= 8, "a k-contiguous row is one swizzle block");
  return tile_offset(KContig, TcTraits<TIn>::kVec, kTcBK, MN, mn0, mn, k0, k);
}

constexpr int kMiTiles = kTcWarpM / 16, kNiTiles = kTcWarpN / 8;

// acc += the warp's 64x32 share of one stage (16-bit inputs: ldmatrix + m16n8k16).
template <typename TIn, bool AK, bool BK>
__device__ __forceinline__ void mma_stage_16(float (&acc)[kMiTiles][kNiTiles][4], uint32_t sa,
                                             uint32_t sb, int wm, int wn, int lane) {
  constexpr int kElem = 2;
  const RowCol la = ldmatrix_x4_coord(lane, false, AK);
  const RowCol lb = ldmatrix_x4_coord(lane, true, BK);
#pragma unroll
  for (int ks = 0; ks < kTcBK; ks += 16) {
    uint32_t af[kMiTiles][4], bf[kNiTiles][2];
#pragma unroll
    for (int mi = 0; mi < kMiTiles; ++mi) {
      const int mn = wm * kTcWarpM + mi * 16;
      const int off = AK ? tile_offset<TIn, true, kTcBM>(mn, la.row, ks, la.col)
                         : tile_offset<TIn, false, kTcBM>(mn, la.col, ks, la.row);
      ldmatrix_x4<!AK>(af[mi], sa + off * kElem);
    }
#pragma unroll
    for (int nj = 0; nj < kNiTiles / 2; ++nj) {
      const int mn = wn * kTcWarpN + nj * 16;
      const int off = BK ? tile_offset<TIn, true, kTcBN>(mn, lb.row, ks, lb.col)
                         : tile_offset<TIn, false, kTcBN>(mn, lb.col, ks, lb.row);
      uint32_t r[4];
      ldmatrix_x4<!BK>(r, sb + off * kElem);
      bf[2 * nj][0] = r[0];
      bf[2 * nj][1] = r[1];
      bf[2 * nj + 1][0] = r[2];
      bf[2 * nj + 1][1] = r[3];
    }
#pragma unroll
    for (int mi = 0; mi < kMiTiles; ++mi)
#pragma unroll
      for (int ni = 0; ni < kNiTiles; ++ni)
        mma_16816<std::is_same_v<TIn, BFloat16>>(acc[mi][ni], af[mi], bf[ni]);
  }
}

// The same for float32 inputs: scalar shared loads rounded to TF32, m16n8k8.
template <bool AK, bool BK>
__device__ __forceinline__ void mma_stage_tf32(float (&acc)[kMiTiles][kNiTiles][4], const float* sa,
                                               const float* sb, int wm, int wn, int lane) {
  // Not unrolled: unrolled, the compiler hoists all 4 steps' 96 shared loads and spills.
#pragma unroll 1
  for (int ks = 0; ks < kTcBK; ks += 8) {
    uint32_t af[kMiTiles][4], bf[kNiTiles][2];
#pragma unroll
    for (int mi = 0; mi < kMiTiles; ++mi)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const RowCol rc = mma_tf32_a_coord(lane, i);
        af[mi][i] =
            to_tf32(sa[tile_offset<float, AK, kTcBM>(wm * kTcWarpM + mi * 16, rc.row, ks, rc.col)]);
      }
#pragma unroll
    for (int ni = 0; ni < kNiTiles; ++ni)
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        const RowCol rc = mma_tf32_b_coord(lane, i);  // {k, n}
        bf[ni][i] =
            to_tf32(sb[tile_offset<float, BK, kTcBN>(wn * kTcWarpN + ni * 8, rc.col, ks, rc.row)]);
      }
#pragma unroll
    for (int mi = 0; mi < kMiTiles; ++mi)
#pragma unroll
      for (int ni = 0; ni < kNiTiles; ++ni) mma_1688_tf32(acc[mi][ni], af[mi], bf[ni]);
  }
}

template <typename TIn, typename TOut, bool AK, bool BK>
__global__ void __launch_bounds__(kTcThreads, 1) gemm_tc_kernel(const TcParams p) {
  using T = TcTraits<TIn>;
  extern __shared__ __align__(128) unsigned char smem[];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int wm = warp / (kTcBN / kTcWarpN), wn = warp % (kTcBN / kTcWarpN);
  const RowCol tile = tile_coord(blockIdx.x, p.m_tiles, p.n_tiles, kTileGroup);
  const int64_t m0 = int64_t{tile.row} * kTcBM, n0 = int64_t{tile.col} * kTcBN;
  const int k_tiles = static_cast<int>((p.k + kTcBK - 1) / kTcBK);
  const uint32_t base = smem_addr(smem);

  for (int64_t bz = blockIdx.z; bz < p.batch; bz += gridDim.z) {
    const char* a = p.a + bz * p.a_batch * T::kElem;
    const char* b = p.b + bz * p.b_batch * T::kElem;
    float acc[kMiTiles][kNiTiles][4] = {};

    // Prologue: the first kStages - 1 k-tiles in flight, one commit group each.
#pragma unroll
    for (int s = 0; s < T::kStages - 1; ++s) {
      if (s < k_tiles) load_stage<TIn, AK, BK>(base + s * T::kStageBytes, p, a, b, m0, n0, s);
      cp_async_commit();
    }
    for (int kt = 0; kt < k_tiles; ++kt) {
      // k-tile kt has landed (this thread's copies), and after the barrier everyone's have;
      // the barrier also retires the stage computed at kt - 1, which is refilled next.
      cp_async_wait<T::kStages - 2>();
      __syncthreads();
      const int next = kt + T::kStages - 1;
      if (next < k_tiles)
        load_stage<TIn, AK, BK>(base + (next % T::kStages) * T::kStageBytes, p, a, b, m0, n0, next);
      cp_async_commit();  // possibly empty: keeps one group per k-tile for the wait count
      const int stage = kt % T::kStages;
      if constexpr (T::kTf32) {
        const float* sa = reinterpret_cast<const float*>(smem + stage * T::kStageBytes);
        mma_stage_tf32<AK, BK>(acc, sa, sa + T::kTileA, wm, wn, lane);
      } else {
        const uint32_t sa = base + stage * T::kStageBytes;
        mma_stage_16<TIn, AK, BK>(acc, sa, sa + T::kTileA * T::kElem, wm, wn, lane);
      }
    }
    cp_async_wait<0>();
    __syncthreads();  // the next batch's prologue overwrites stages others may still read

    TOut* c = static_cast<TOut*>(p.c) + bz * p.c_batch;
    const TOut* bias = static_cast<const TOut*>(p.bias);
#pragma unroll
    for (int mi = 0; mi < kMiTiles; ++mi)
#pragma unroll
      for (int ni = 0; ni < kNiTiles; ++ni)
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const RowCol rc = mma_acc_coord(lane, i);
          const int64_t row = m0 + wm * kTcWarpM + mi * 16 + rc.row;
          const int64_t col = n0 + wn * kTcWarpN + ni * 8 + rc.col;
          if (row >= p.m || col >= p.n) continue;
          TOut* dst = c + row * p.c_ld + col;
          const float old = p.beta != 0.0f ? to_float(*dst) : 0.0f;
          const float bv = bias ? to_float(bias[col]) : 0.0f;
          *dst = convert_to<TOut>(
              epilogue_value(acc[mi][ni][i], old, bv, bias != nullptr, p.alpha, p.beta, p.act));
        }
  }
}

template <typename TIn, typename TOut, bool AK, bool BK>
void launch_tc_variant(const TcParams& params, const Plan& plan) {
  auto kernel = gemm_tc_kernel<TIn, TOut, AK, BK>;
  const int smem = static_cast<int>(plan.smem_bytes);
  EMBER_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem),
                   "ember.matmul");
  const dim3 grid(static_cast<unsigned>(plan.grid_x), 1, static_cast<unsigned>(plan.grid_z));
  kernel<<<grid, kTcThreads, smem, current_stream()>>>(params);
  EMBER_CUDA_CHECK_LAUNCH("ember.matmul");
}

template <typename TIn, typename TOut>
void launch_tensor_core(const Problem& p, const Plan& plan) {
  const TcParams params{static_cast<const char*>(p.a.data),
                        static_cast<const char*>(p.b.data),
                        p.c,
                        p.bias,
                        p.a.batch_stride,
                        plan.a_ld,
                        p.b.batch_stride,
                        plan.b_ld,
                        p.c_batch_stride,
                        p.c_row_stride,
                        p.batch,
                        p.m,
                        p.n,
                        p.k,
                        plan.m_tiles,
                        plan.n_tiles,
                        static_cast<float>(p.alpha),
                        static_cast<float>(p.beta),
                        p.act};
  if (plan.a_k_contig && plan.b_k_contig)
    launch_tc_variant<TIn, TOut, true, true>(params, plan);
  else if (plan.a_k_contig)
    launch_tc_variant<TIn, TOut, true, false>(params, plan);
  else if (plan.b_k_contig)
    launch_tc_variant<TIn, TOut, false, true>(params, plan);
  else
    launch_tc_variant<TIn, TOut, false, false>(params, plan);
}

}  // namespace ember::cuda::gemm
