// The int8 GEMM's per-lane index math and per-element arithmetic, __host__ __device__ so the
// CPU tests check them (through hooks.h) on a machine without a GPU.
#pragma once
#include <cstdint>

#include "cuda/math.cuh"
#include "cuda/qgemm/plan.h"

namespace ember::cuda::qgemm {

struct RowCol {
  int row, col;
};

// mma.sync.m16n8k32 fragments (g = lane / 4, t = lane % 4). A (16 x 32, row-major): register
// r holds 4 consecutive k of row g (+ 8 for odd r) from k = 4t (+ 16 for r >= 2); e is the
// byte in it.
EMBER_HD RowCol mma_a_coord(int lane, int r, int e) {
  return {(lane >> 2) + 8 * (r & 1), 4 * (lane & 3) + e + 16 * (r >> 1)};
}
// B (32 x 8, column-major: (k, n)): register r holds 4 consecutive k of column g from
// k = 4t (+ 16 for r = 1).
EMBER_HD RowCol mma_b_coord(int lane, int r, int e) {
  return {4 * (lane & 3) + e + 16 * r, lane >> 2};
}
// C (16 x 8 int32): element i is (g (+ 8 for i >= 2), 2t + i % 2).
EMBER_HD RowCol mma_c_coord(int lane, int i) {
  return {(lane >> 2) + 8 * (i >> 1), 2 * (lane & 3) + (i & 1)};
}

// The IMMA kernel's shared-memory addressing. Chunk c (of 16 bytes) of a stage tile is
// (tile row, first k byte); warp w's 64 x 32 output tile starts at (row, col) of the block
// tile; a fragment register of m tile mt / n tile nt at k step ks is 4 bytes at a byte offset
// of the A / B stage tile (rows of kImmaLds bytes; B is stored [n][k]).
EMBER_HD RowCol imma_chunk(int c) { return {c / (kImmaBK / 16), (c % (kImmaBK / 16)) * 16}; }
EMBER_HD RowCol imma_warp_origin(int warp) {
  return {(warp / kImmaWarpsN) * kImmaWarpM, (warp % kImmaWarpsN) * kImmaWarpN};
}
EMBER_HD int imma_a_offset(int warp, int lane, int mt, int r, int ks) {
  const RowCol rc = mma_a_coord(lane, r, 0);
  return (imma_warp_origin(warp).row + mt * 16 + rc.row) * kImmaLds + ks + rc.col;
}
EMBER_HD int imma_b_offset(int warp, int lane, int nt, int r, int ks) {
  const RowCol rc = mma_b_coord(lane, r, 0);
  return (imma_warp_origin(warp).col + nt * 8 + rc.col) * kImmaLds + ks + rc.row;
}
// (row, col) in the block tile of accumulator i of the warp's (mt, nt) tile.
EMBER_HD RowCol imma_c_coord(int warp, int lane, int mt, int nt, int i) {
  const RowCol o = imma_warp_origin(warp), rc = mma_c_coord(lane, i);
  return {o.row + mt * 16 + rc.row, o.col + nt * 8 + rc.col};
}

// Bytes a 16-byte cp.async copies of the input's row `row`, columns [kk, kk + 16): the rest
// (past K, or a row past M) is zero-filled.
EMBER_HD int a_chunk_bytes(int64_t row, int64_t m, int64_t kk, int64_t k) {
  if (row >= m || kk >= k) return 0;
  return k - kk >= 16 ? 16 : static_cast<int>(k - kk);
}

// Output tile (m tile, n tile) of block `linear` of the 1-D grid: consecutive blocks share
// an input row block (read from L2) and walk the weight.
EMBER_HD RowCol tile_of(int64_t linear, int64_t n_tiles) {
  return {static_cast<int>(linear / n_tiles), static_cast<int>(linear % n_tiles)};
}

// act(a_scale * w_scale * (acc - a_zero * colsum) + bias) in the CPU epilogue's order: the
// zero-point fold wraps in int32 (the true value fits, K <= 65536), then float, times
// a_scale, times w_scale, plus bias; act 0 none, 1 relu, 2 erf-gelu (the elementwise
// kernels' formulas).
EMBER_HD float epilogue(int32_t acc, float a_scale, int32_t a_zero, float w_scale, int32_t colsum,
                        float bias, bool has_bias, int act) {
  const int32_t centered = static_cast<int32_t>(
      static_cast<uint32_t>(acc) - static_cast<uint32_t>(a_zero) * static_cast<uint32_t>(colsum));
  float x = mul_rn(mul_rn(static_cast<float>(centered), a_scale), w_scale);
  if (has_bias) x = add_rn(x, bias);
  if (act == 1) return unary_value<UOp::Relu>(x, 0.0f, 0.0f);
  if (act == 2) return unary_value<UOp::Gelu>(x, 0.0f, 0.0f);
  return x;
}

// quantize_rows_u8's qparams of a row whose range is [lo, hi] = [min(0, min x), max(0,
// max x)], as the CPU computes them: scale = (hi - lo) / 255 (1 for an all-zero row),
// zero = clamp(round(-lo / scale), 0, 255) rounding half to even.
struct RowQParams {
  float scale, zero;
};
EMBER_HD RowQParams row_qparams(float lo, float hi) {
  const float s = hi > lo ? (hi - lo) / 255.0f : 1.0f;
#ifdef __CUDA_ARCH__
  const float r = rintf(-lo / s);
#else
  const float r = std::nearbyint(-lo / s);
#endif
  return {s, fminf(fmaxf(r, 0.0f), 255.0f)};
}

}  // namespace ember::cuda::qgemm
