// The SIMT GEMM: any strides, any alignment, float64 and everything the tensor-core paths
// do not take. 64x64x16 block tiles of 256 threads; each thread keeps a 4x4 block of
// outputs in registers (rows ty + 16 i, columns tx + 16 j, so the shared loads of a
// quarter-warp hit distinct banks or broadcast). Operands are converted to the
// accumulation dtype as they enter shared memory.
#include "cuda/convert.cuh"
#include "cuda/cuda_check.h"
#include "cuda/gemm/epilogue.cuh"
#include "cuda/gemm/kernels.h"
#include "cuda/gemm/layout.h"
#include "cuda/stream.h"

namespace ember::cuda::gemm {
namespace {

constexpr int kTM = 4, kTN = 4, kTx = kSimtBN / kTN, kPad = 4;  // pad: k-major fills
static_assert(kTx * (kSimtBM / kTM) == kSimtThreads, "one thread per 4x4 output block");

template <typename Acc>
struct SimtParams {
  const void* a;
  const void* b;
  void* c;
  const void* bias;
  Operand sa, sb;  // strides (data unused)
  int64_t c_batch, c_ld;
  int64_t batch, m, n, k, m_tiles, n_tiles;
  Acc alpha, beta;
  Act act;
  bool a_m_fast, b_n_fast;  // which index varies fastest across threads when loading
};

template <typename TIn, typename Acc>
__device__ __forceinline__ Acc load_acc(const TIn* p) {
  if constexpr (std::is_same_v<Acc, double>)
    return static_cast<double>(*p);
  else
    return to_float(*p);
}

// Fills tile[k][rc] (BK x R) from operand elements (r0 + rc, k0 + k) of a (R, K)-like view
// with strides (s_r, s_k); out-of-range elements are 0. r_fast: consecutive threads take
// consecutive r (coalesced when s_r == 1), else consecutive k.
template <typename TIn, typename Acc, int R>
__device__ __forceinline__ void fill_tile(Acc (*tile)[R + kPad], const TIn* src, int64_t s_r,
                                          int64_t s_k, int64_t ext_r, int64_t ext_k, int64_t r0,
                                          int64_t k0, bool r_fast) {
  constexpr int kTotal = R * kSimtBK;
#pragma unroll
  for (int it = 0; it < kTotal / kSimtThreads; ++it) {
    const int e = it * kSimtThreads + static_cast<int>(threadIdx.x);
    const int r = r_fast ? e % R : e / kSimtBK;
    const int kk = r_fast ? e / R : e % kSimtBK;
    const int64_t gr = r0 + r, gk = k0 + kk;
    tile[kk][r] = gr < ext_r && gk < ext_k ? load_acc<TIn, Acc>(src + gr * s_r + gk * s_k) : Acc(0);
  }
}

template <typename TIn, typename TOut, typename Acc>
__global__ void __launch_bounds__(kSimtThreads, 1) gemm_simt_kernel(const SimtParams<Acc> p) {
  __shared__ Acc as[kSimtBK][kSimtBM + kPad];
  __shared__ Acc bs[kSimtBK][kSimtBN + kPad];
  const int tx = threadIdx.x % kTx, ty = threadIdx.x / kTx;
  const RowCol tile = tile_coord(blockIdx.x, p.m_tiles, p.n_tiles, kTileGroup);
  const int64_t m0 = int64_t{tile.row} * kSimtBM, n0 = int64_t{tile.col} * kSimtBN;
  for (int64_t bz = blockIdx.z; bz < p.batch; bz += gridDim.z) {
    const TIn* a = static_cast<const TIn*>(p.a) + bz * p.sa.batch_stride;
    const TIn* b = static_cast<const TIn*>(p.b) + bz * p.sb.batch_stride;
    Acc acc[kTM][kTN] = {};
    for (int64_t k0 = 0; k0 < p.k; k0 += kSimtBK) {
      // A as (m, k) with strides (row, col); B as (n, k) with strides (col, row).
      fill_tile<TIn, Acc, kSimtBM>(as, a, p.sa.row_stride, p.sa.col_stride, p.m, p.k, m0, k0,
                                   p.a_m_fast);
      fill_tile<TIn, Acc, kSimtBN>(bs, b, p.sb.col_stride, p.sb.row_stride, p.n, p.k, n0, k0,
                                   p.b_n_fast);
      __syncthreads();
#pragma unroll
      for (int kk = 0; kk < kSimtBK; ++kk) {
        Acc av[kTM], bv[kTN];
#pragma unroll
        for (int i = 0; i < kTM; ++i) av[i] = as[kk][ty + i * (kSimtBM / kTM)];
#pragma unroll
        for (int j = 0; j < kTN; ++j) bv[j] = bs[kk][tx + j * kTx];
#pragma unroll
        for (int i = 0; i < kTM; ++i)
#pragma unroll
          for (int j = 0; j < kTN; ++j) acc[i][j] = m_fma(av[i], bv[j], acc[i][j]);
      }
      __syncthreads();  // the tiles are refilled next
    }
    TOut* c = static_cast<TOut*>(p.c) + bz * p.c_batch;
    const TOut* bias = static_cast<const TOut*>(p.bias);
#pragma unroll
    for (int i = 0; i < kTM; ++i)
#pragma unroll
      for (int j = 0; j < kTN; ++j) {
        const int64_t row = m0 + ty + i * (kSimtBM / kTM), col = n0 + tx + j * kTx;
        if (row >= p.m || col >= p.n) continue;
        TOut* dst = c + row * p.c_ld + col;
        const Acc old = p.beta != Acc(0) ? load_acc<TOut, Acc>(dst) : Acc(0);
        const Acc bv = bias ? load_acc<TOut, Acc>(bias + col) : Acc(0);
        *dst = convert_to<TOut>(
            epilogue_value(acc[i][j], old, bv, bias != nullptr, p.alpha, p.beta, p.act));
      }
  }
}

}  // namespace

template <typename TIn, typename TOut, typename Acc>
void launch_simt(const Problem& p, const Plan& plan) {
  // Coalesce loads along whichever of the two dimensions has unit stride.
  const bool a_m_fast = p.a.row_stride == 1 && p.a.col_stride != 1;
  const bool b_n_fast = p.b.col_stride == 1 || p.b.row_stride != 1;
  const SimtParams<Acc> params{p.a.data,
                               p.b.data,
                               p.c,
                               p.bias,
                               p.a,
                               p.b,
                               p.c_batch_stride,
                               p.c_row_stride,
                               p.batch,
                               p.m,
                               p.n,
                               p.k,
                               plan.m_tiles,
                               plan.n_tiles,
                               static_cast<Acc>(p.alpha),
                               static_cast<Acc>(p.beta),
                               p.act,
                               a_m_fast,
                               b_n_fast};
  const dim3 grid(static_cast<unsigned>(plan.grid_x), 1, static_cast<unsigned>(plan.grid_z));
  gemm_simt_kernel<TIn, TOut, Acc><<<grid, kSimtThreads, 0, current_stream()>>>(params);
  EMBER_CUDA_CHECK_LAUNCH("ember.matmul");
}

template void launch_simt<float, float, float>(const Problem&, const Plan&);
template void launch_simt<double, double, double>(const Problem&, const Plan&);
template void launch_simt<BFloat16, float, float>(const Problem&, const Plan&);
template void launch_simt<BFloat16, BFloat16, float>(const Problem&, const Plan&);
template void launch_simt<Half, float, float>(const Problem&, const Plan&);
template void launch_simt<Half, Half, float>(const Problem&, const Plan&);

}  // namespace ember::cuda::gemm
