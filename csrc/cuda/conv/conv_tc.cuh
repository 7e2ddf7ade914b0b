// The tensor-core conv kernel (conv_tc.h) and its launchers, included by the .cu file of each
// 16-bit dtype. One block computes a 128 x BN tile of one group's C (one reduction chunk of
// it for grad weight). Per stage every thread gathers its runs of the A and B tiles into
// registers (conv_tc_index.cuh), and stores them as 16-byte chunks into the swizzled,
// R-contiguous layout of gemm's tensor-core tiles; the warps then multiply with gemm's
// mma_stage_16 (ldmatrix + mma.sync m16n8k16). Two shared-memory stages: the next stage's
// global loads are in flight while the current one is multiplied, one barrier per stage.
#pragma once
#include <type_traits>

#include "cuda/conv/conv_tc.h"
#include "cuda/conv/conv_tc_index.cuh"
#include "cuda/conv/splits.cuh"
#include "cuda/convert.cuh"
#include "cuda/cuda_check.h"
#include "cuda/gemm/gemm_tc.cuh"
#include "cuda/runtime.h"
#include "cuda/scratch.h"
#include "cuda/stream.h"

namespace ember::cuda {

static_assert(kConvTcBK == gemm::kTcBK && gemm::kTcWarpM == 64 && gemm::kTcWarpN == 32 &&
                  kConvTcBM == 2 * gemm::kTcWarpM,
              "the conv tiles are gemm's: 2 warps of 64 rows, BK = 32");

// Gathers a run of N steps of one row into packed pairs of 16-bit values (zeros where the
// gather says so).
template <int N, typename G>
__device__ __forceinline__ void gather_run(const G& row, const ConvGeom& g, int k, int r_end,
                                           const uint16_t* __restrict__ src, uint32_t (&v)[N / 2]) {
  int64_t off[N];
  row.run(g, k, r_end, off);
#pragma unroll
  for (int e = 0; e < N / 2; ++e) {
    const uint32_t lo = off[2 * e] >= 0 ? src[off[2 * e]] : 0u;
    const uint32_t hi = off[2 * e + 1] >= 0 ? src[off[2 * e + 1]] : 0u;
    v[e] = lo | (hi << 16);
  }
}

// Stores a thread's run (packed pairs) at chunks first.. of row `row` of a swizzled
// R-contiguous tile (gemm's layout: 4 chunks of 8 steps per row).
template <int Run>
__device__ __forceinline__ void store_run(uint16_t* tile, int row, int first,
                                          const uint32_t (&v)[Run * 4]) {
  constexpr int kChunks = kConvTcBK / 8;
#pragma unroll
  for (int q = 0; q < Run; ++q)
    *reinterpret_cast<uint4*>(tile + gemm::swizzled_offset(row, (first + q) * 8, kChunks, 8)) =
        make_uint4(v[4 * q], v[4 * q + 1], v[4 * q + 2], v[4 * q + 3]);
}

// C = A B^T of one group (A: plan.m x plan.r, B: plan.n x plan.r, gathered) into out: T for
// the forward (+ bias, ReLU) and grad input; float32 partials of split `split` for grad
// weight (out + split * groups * m * n).
template <typename T, ConvPass P, int BN>
__global__ void __launch_bounds__(TcLayout<BN>::kThreads, 1)
    conv_tc_kernel(const ConvGeom g, const ConvTcPlan plan, const T* __restrict__ a,
                   const T* __restrict__ b, const T* __restrict__ bias,
                   std::conditional_t<P == ConvPass::BackwardWeight, float, T>* __restrict__ out,
                   bool relu) {
  using L = TcLayout<BN>;
  constexpr int BM = kConvTcBM, BK = kConvTcBK;
  __shared__ alignas(128) uint16_t As[2][BM * BK];
  __shared__ alignas(128) uint16_t Bs[2][BN * BK];

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int wm = warp / L::kWarpsN, wn = warp % L::kWarpsN;
  const TcBlock blk = conv_tc_block(blockIdx.y, plan.tiles_n, g.groups);
  const int m0 = blockIdx.x * BM, n0 = blk.tile_n * BN;
  const int r_begin = blk.split * plan.chunk;
  const int r_end = min(plan.r, r_begin + plan.chunk);

  const int ra = tc_row(tid, BM), ca = tc_first_chunk(tid, BM, L::kRunA);
  const int rb = tc_row(tid, BN), cb = tc_first_chunk(tid, BN, L::kRunB);
  typename TcGathers<P>::A ga;
  typename TcGathers<P>::B gb;
  ga.init(g, blk.grp, m0 + ra, plan.m);
  gb.init(g, blk.grp, n0 + rb, plan.n);
  const auto* src_a = reinterpret_cast<const uint16_t*>(a);
  const auto* src_b = reinterpret_cast<const uint16_t*>(b);
  uint32_t va[L::kRunA * 4], vb[L::kRunB * 4];
  auto load = [&](int k0) {
    gather_run<L::kRunA * 8>(ga, g, k0 + ca * 8, r_end, src_a, va);
    gather_run<L::kRunB * 8>(gb, g, k0 + cb * 8, r_end, src_b, vb);
  };
  auto store = [&](int s) {
    store_run<L::kRunA>(As[s], ra, ca, va);
    store_run<L::kRunB>(Bs[s], rb, cb, vb);
  };

  float acc[gemm::kMiTiles][gemm::kNiTiles][4] = {};
  if (r_begin < r_end) {
    load(r_begin);
    store(0);
  }
  __syncthreads();
  int s = 0;
  for (int k0 = r_begin; k0 < r_end; k0 += BK) {
    const bool more = k0 + BK < r_end;
    if (more) load(k0 + BK);  // in flight during the products below
    gemm::mma_stage_16<T, true, true>(acc, gemm::smem_addr(As[s]), gemm::smem_addr(Bs[s]), wm, wn,
                                      lane);
    // Stage s ^ 1 was last read before the previous barrier.
    if (more) store(s ^ 1);
    __syncthreads();
    s ^= 1;
  }

  const int64_t col_stride = conv_tc_c_col_stride(g, P);
  auto* dst = out;
  if constexpr (P == ConvPass::BackwardWeight)
    dst += static_cast<int64_t>(blk.split) * g.groups * plan.m * plan.n;
#pragma unroll
  for (int mi = 0; mi < gemm::kMiTiles; ++mi)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int row = m0 + wm * gemm::kTcWarpM + mi * 16 + gemm::mma_acc_coord(lane, 2 * h).row;
      if (row >= plan.m) continue;
      const int64_t row_off = conv_tc_c_row(g, P, blk.grp, row);
#pragma unroll
      for (int ni = 0; ni < gemm::kNiTiles; ++ni)
#pragma unroll
        for (int j = 0; j < 2; ++j) {
          const int col = n0 + wn * gemm::kTcWarpN + ni * 8 + gemm::mma_acc_coord(lane, j).col;
          if (col >= plan.n) continue;
          float v = acc[mi][ni][2 * h + j];
          if constexpr (P == ConvPass::BackwardWeight) {
            dst[row_off + col * col_stride] = v;
          } else {
            if (P == ConvPass::Forward && bias) v += to_float(bias[blk.grp * g.kg + col]);
            if (relu && v < 0.0f) v = 0.0f;
            dst[row_off + col * col_stride] = convert_to<T>(v);
          }
        }
    }
}

template <typename T, ConvPass P, typename TOut>
void launch_conv_tc(const ConvTcPlan& plan, const ConvGeom& g, const T* a, const T* b,
                    const T* bias, TOut* out, bool relu) {
  const dim3 grid(static_cast<unsigned>(plan.grid_x), static_cast<unsigned>(plan.grid_y));
  if (plan.bn == 64)
    conv_tc_kernel<T, P, 64>
        <<<grid, TcLayout<64>::kThreads, 0, current_stream()>>>(g, plan, a, b, bias, out, relu);
  else
    conv_tc_kernel<T, P, 128>
        <<<grid, TcLayout<128>::kThreads, 0, current_stream()>>>(g, plan, a, b, bias, out, relu);
  EMBER_CUDA_CHECK_LAUNCH("ember.conv2d");
}

template <typename T>
void conv2d_tc_forward(const ConvGeom& g, const T* x, const T* w, const T* bias, T* y, bool relu,
                       int device) {
  const ConvTcPlan plan = conv_tc_plan(g, ConvPass::Forward);
  if (plan.m == 0 || plan.n == 0) return;
  DeviceGuard guard(device);
  launch_conv_tc<T, ConvPass::Forward>(plan, g, x, w, bias, y, relu);
}

template <typename T>
void conv2d_tc_backward_input(const ConvGeom& g, const T* gy, const T* w, T* gx, int device) {
  const ConvTcPlan plan = conv_tc_plan(g, ConvPass::BackwardInput);
  if (plan.m == 0 || plan.n == 0) return;
  DeviceGuard guard(device);
  launch_conv_tc<T, ConvPass::BackwardInput>(plan, g, gy, w, static_cast<const T*>(nullptr), gx,
                                             false);
}

template <typename T>
void conv2d_tc_backward_weight(const ConvGeom& g, const T* gy, const T* x, T* gw, int device) {
  const ConvTcPlan plan = conv_tc_plan(g, ConvPass::BackwardWeight);
  if (plan.m == 0 || plan.n == 0) return;
  DeviceGuard guard(device);
  Scratch partials(device, plan.workspace * sizeof(float));
  float* part = partials.as<float>();
  launch_conv_tc<T, ConvPass::BackwardWeight>(plan, g, x, gy, static_cast<const T*>(nullptr), part,
                                              false);
  sum_splits(part, plan.splits, static_cast<int64_t>(g.groups) * plan.m * plan.n, gw,
             "ember.conv2d");
}

#define EMBER_CONV_TC_INSTANTIATE(T)                                                          \
  template void conv2d_tc_forward<T>(const ConvGeom&, const T*, const T*, const T*, T*, bool, \
                                     int);                                                    \
  template void conv2d_tc_backward_input<T>(const ConvGeom&, const T*, const T*, T*, int);    \
  template void conv2d_tc_backward_weight<T>(const ConvGeom&, const T*, const T*, T*, int);

}  // namespace ember::cuda
