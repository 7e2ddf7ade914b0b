// conv2d on CUDA tensor cores for bfloat16 / float16 (NCHW): implicit GEMMs on mma.sync
// m16n8k16 with float32 accumulation, output in the input dtype. The GEMMs of conv.h,
// transposed so that the long pixel dimension is M and a channel count is N:
//   Forward         y[img, g kg + n, q]   M = n oh ow (output pixels)   N = kg   R = cg kh kw
//   BackwardInput   gx[img, g cg + n, q]  M = n h w (input pixels)      N = cg   R = kg kh kw
//   BackwardWeight  gw[g kg + n, m]       M = cg kh kw                  N = kg   R = n oh ow
// Both operand tiles (A: BM x BK, B: BN x BK) are gathered from the NCHW tensors through
// registers into R-contiguous shared memory (zero for padding and every tail), then read
// with ldmatrix as the GEMM's tensor-core kernel reads its tiles. Grad weight accumulates
// its shape-determined reduction chunks in float32 and sums them in order (splits.cuh).
#pragma once
#include <cstdint>
#include <vector>

#include "core/dtype_dispatch.h"
#include "cuda/conv/conv.h"

namespace ember::cuda {

// Block tiles: BM = 128 rows of M, BK = 32 reduction steps per stage (gemm's kTcBK), BN = 64
// (4 warps, 2 x 2) when N <= 64, else 128 (8 warps, 2 x 4); every warp computes 64 x 32
// (gemm's warp tile), so a block has 2 BN threads.
constexpr int kConvTcBM = 128, kConvTcBK = 32;

struct ConvTcPlan {
  int m, n, r;  // the GEMM of one group
  int bn, threads;
  int tiles_m, tiles_n;
  int splits, chunk;       // reduction chunks (grad weight; else splits == 1)
  int64_t grid_x, grid_y;  // x = tiles_m, y = tiles_n * groups * splits
  int64_t workspace;       // float32 partial sums of grad weight (else 0)
  int smem_bytes;          // two stages of both tiles, static shared memory
};
ConvTcPlan conv_tc_plan(const ConvGeom& g, ConvPass pass);

// Host test hook, from the kernel's own gather code walked as its blocks and threads walk it:
// per group, the offsets read for A (tiles_m * BM rows x splits * chunk steps) and B
// (tiles_n * bn rows x the same), -1 where a zero is stored (padding, tails), -2 where
// nothing is loaded; and the output offset of C[m][n], c_row[m] + n * c_col_stride.
struct ConvTcGatherTable {
  int rows_a, rows_b, steps;
  std::vector<int64_t> a, b, c_row;
  int64_t c_col_stride;
};
ConvTcGatherTable conv_tc_gather_table(const ConvGeom& g, ConvPass pass);

// The kernels on the current device and stream, T = BFloat16 or Half; pointers as for
// conv.h's. y = act(conv(x, w) + bias), bias may be null.
template <typename T>
void conv2d_tc_forward(const ConvGeom& g, const T* x, const T* w, const T* bias, T* y, bool relu,
                       int device);
template <typename T>
void conv2d_tc_backward_input(const ConvGeom& g, const T* gy, const T* w, T* gx, int device);
template <typename T>
void conv2d_tc_backward_weight(const ConvGeom& g, const T* gy, const T* x, T* gw, int device);

}  // namespace ember::cuda
