// conv2d on CUDA as implicit GEMM (NCHW, float32 / float64): forward, grad input, grad
// weight, grad bias. No im2col buffer: the GEMM's B tile is gathered straight from the
// image (or grad output) with the index math of conv_index.cuh.
//
// GEMM view per group g (rows M, columns N, reduction R; kg = K / groups, cg = C / groups):
//   Forward         y[g kg + m, p]   = sum_r W[g kg + m, r] X(r, p)       M = kg, N = n oh ow,
//                                                                         R = cg kh kw
//   BackwardInput   gx[g cg + m, p]  = sum_r W^T(m, r) GY(r, p)           M = cg, N = n h w,
//                                                                         R = kg kh kw
//   BackwardWeight  gw[g kg + m, q]  = sum_r GY[g kg + m, r] X(q, r)      M = kg, N = cg kh kw,
//                                                                         R = n oh ow
// X(r, p) is the image read through the (channel, tap) x (image, output pixel) index map
// (zero where it reads padding); GY(r, p) the grad output read through the transposed map
// (zero where no output pixel reads input pixel p through tap r). The long grad-weight
// reduction is split into shape-determined chunks whose partial products are summed in
// chunk order by a second kernel: deterministic, no atomics.
#pragma once
#include <cstdint>
#include <vector>

#include "cpu/conv/conv.h"

namespace ember::cuda {

// One conv2d's geometry. Pixel counts (n oh ow, n h w) and reductions fit in int32 (the
// binding checks, conv_geom_fits); element offsets are formed in int64.
struct ConvGeom {
  int n, c, h, w;  // input
  int k, kh, kw;   // weight (k output channels)
  int oh, ow;      // output
  int sh, sw, ph, pw, dh, dw;
  int groups, cg, kg;  // cg = c / groups, kg = k / groups
};

enum class ConvPass : int { Forward = 0, BackwardInput = 1, BackwardWeight = 2 };

// Tiles of the SIMT kernel: bm x bn outputs per block of kConvThreads, bk reduction steps
// per shared-memory stage, each thread a tm x tn micro-tile (in 4 x 4 pieces spread over
// the tile, so a warp's shared-memory reads are contiguous). The large tile does twice the
// products per shared-memory load; it runs float32 GEMMs with M and N >= 128. Both load 4 A
// and 4 B elements per thread per stage.
struct ConvTile {
  int bm, bn, bk, tm, tn;
};
constexpr int kConvThreads = 256;
constexpr ConvTile kConvSmall{64, 64, 16, 4, 4};
constexpr ConvTile kConvLarge{128, 128, 8, 8, 8};
// Grad weight splits its reduction until about this many blocks run (shape-only rule, so
// the summation order, and the result, is the same on every GPU), at most kConvMaxSplits
// chunks of at least kConvMinChunk reduction steps.
constexpr int kConvTargetBlocks = 256, kConvMaxSplits = 64, kConvMinChunk = 512;

struct ConvPlan {
  int m, n, r;  // the GEMM of one group
  bool large;   // the tile: kConvLarge, else kConvSmall
  ConvTile tile;
  int tiles_m, tiles_n;    // bm x bn tiles per group
  int splits, chunk;       // reduction chunks (chunk a multiple of bk), splits >= 1
  int64_t grid_x, grid_y;  // grid: x = tiles_n, y = tiles_m * groups * splits
  int64_t workspace;       // elements of split partial sums (0 when splits == 1)
  int smem_bytes;          // per block, for the element size given
};

// The grad-weight reduction split: r steps over `tiles` output tiles into `splits` chunks of
// `chunk` steps (whole stages of bk, none empty), by the shape-only rule above when `split`,
// else one chunk. Shared by the SIMT and tensor-core plans.
struct ConvSplit {
  int splits, chunk;
};
ConvSplit conv_split(int r, int64_t tiles, int bk, bool split);

// False when a pixel count or reduction length exceeds int32 (the kernels' index type).
bool conv_geom_fits(const cpu::ConvShape& s);
ConvGeom conv_geom(const cpu::ConvShape& s);
ConvPlan conv_plan(const ConvGeom& g, ConvPass pass, int elem_size);

// Host test hook: for every group, the A and B offsets the kernel's loaders read (A: M x R,
// B: R x N, row-major; -1 = zero / padding) and the C offsets it writes (M x N).
struct ConvGatherTable {
  std::vector<int64_t> a, b, c;
};
ConvGatherTable conv_gather_table(const ConvGeom& g, ConvPass pass);

// The kernels on the current device and stream; every pointer on it, tensors
// contiguous and validated by the binding.
// y = act(conv(x, w) + bias); bias may be null.
template <typename T>
void conv2d_forward(const ConvGeom& g, const T* x, const T* w, const T* bias, T* y, bool relu,
                    int device);
template <typename T>
void conv2d_backward_input(const ConvGeom& g, const T* gy, const T* w, T* gx, int device);
template <typename T>
void conv2d_backward_weight(const ConvGeom& g, const T* gy, const T* x, T* gw, int device);

}  // namespace ember::cuda
