// Index math of the tensor-core GEMM, as __host__ __device__ functions so the CPU tests
// check exactly what the kernels compute: the XOR swizzle of shared-memory tiles, the
// lane -> shared-memory row a ldmatrix.x4 reads, the lane -> (row, col) of the mma.sync
// accumulators, and the grouped rasterization of block tiles.
#pragma once
#include <cstdint>

#ifdef __CUDACC__
#define EMBER_GEMM_HD __host__ __device__ __forceinline__
#else
#define EMBER_GEMM_HD inline
#endif

namespace ember::cuda::gemm {

// A shared-memory tile holds `rows` rows of `chunks` 16-byte chunks (each the tile's
// contiguous global dimension). Chunk c of row r lives at physical chunk
// r * chunks + swizzle_chunk(r, c, chunks): the 8 rows one ldmatrix phase (or one
// quarter-warp of scalar loads) reads at one logical chunk land in 8 different 16-byte
// bank groups, with no padding. chunks is 4 or a multiple of 8.
EMBER_GEMM_HD int swizzle_chunk(int row, int chunk, int chunks) {
  if (chunks >= 8) return chunk ^ (row & 7);  // wide rows: XOR the low 3 chunk bits
  return chunk ^ ((row >> 1) & 3);            // 64-byte rows: two rows share 128 bytes
}

// Element offset of (row, col) in a swizzled tile of `chunks` chunks per row with `vec`
// elements per chunk.
EMBER_GEMM_HD int swizzled_offset(int row, int col, int chunks, int vec) {
  return (row * chunks + swizzle_chunk(row, col / vec, chunks)) * vec + col % vec;
}

// swizzled_offset(row0 + r, col0 + c) when row0 is a multiple of 8 and col0 of the swizzle's
// block (min(chunks, 8) chunks): the swizzle permutes chunks only inside such blocks and
// depends on the row only modulo 8, so the kernels pass their warp/unrolled-loop origins as
// row0/col0 and only the small lane-dependent part is computed at run time.
EMBER_GEMM_HD int swizzled_offset_split(int row0, int col0, int r, int c, int chunks, int vec) {
  return row0 * chunks * vec + col0 + swizzled_offset(r, c, chunks, vec);
}

// Element offset of (mn0 + mn, k0 + k) in a stage tile of an operand with extent mn_extent
// along m (or n) and bk along k, stored [mn][k] when k_contig, else [k][mn], with `vec`
// elements per chunk. mn0 and k0 are the warp's and the unrolled loops' origins (multiples
// of 8), mn and k the lane's part: split so that only the latter costs registers.
EMBER_GEMM_HD int tile_offset(bool k_contig, int vec, int bk, int mn_extent, int mn0, int mn,
                              int k0, int k) {
  const int chunks = (k_contig ? bk : mn_extent) / vec;
  if (k_contig) return swizzled_offset_split(mn0, 0, mn, k0 + k, chunks, vec);  // bk: one block
  const int block = (chunks < 8 ? chunks : 8) * vec;
  const int col0 = mn0 / block * block;
  return swizzled_offset_split(k0, col0, k, mn0 - col0 + mn, chunks, vec);
}

// ldmatrix.x4 for one 16x16 (16-bit) fragment pair: lane l supplies the address of row
// l % 8 of matrix l / 8. For operand A (16 m x 16 k) the matrices are a0..a3 = (m 0-7,
// k 0-7), (m 8-15, k 0-7), (m 0-7, k 8-15), (m 8-15, k 8-15); for operand B (16 n x 16 k,
// two n8 tiles) they are (n 0-7, k 0-7), (n 0-7, k 8-15), (n 8-15, k 0-7), (n 8-15, k 8-15).
// k_contig: the tile is stored [mn][k] (plain ldmatrix), else [k][mn] (ldmatrix.trans).
// Returns the stored (row, col) of the 8 elements the lane points at, relative to the
// fragment's origin.
struct RowCol {
  int row, col;
};
EMBER_GEMM_HD RowCol ldmatrix_x4_coord(int lane, bool operand_b, bool k_contig) {
  const int j = lane >> 3, i = lane & 7;
  const int mn_off = operand_b ? (j >> 1) * 8 : (j & 1) * 8;
  const int k_off = operand_b ? (j & 1) * 8 : (j >> 1) * 8;
  if (k_contig) return {mn_off + i, k_off};
  return {k_off + i, mn_off};
}

// The (row, col) of accumulator i (0..3) of `lane` in an m16n8 mma.sync tile (f16/bf16
// m16n8k16 and tf32 m16n8k8 alike): c0, c1 on row lane / 4, c2, c3 eight rows below, at
// columns 2 (lane % 4) + (i % 2).
EMBER_GEMM_HD RowCol mma_acc_coord(int lane, int i) {
  return {(lane >> 2) + (i >> 1) * 8, (lane & 3) * 2 + (i & 1)};
}

// tf32 m16n8k8 operand fragments (scalar shared loads): A register i of `lane` holds
// A[row][k], B register i holds B[k][col].
EMBER_GEMM_HD RowCol mma_tf32_a_coord(int lane, int i) {
  return {(lane >> 2) + (i & 1) * 8, (lane & 3) + (i >> 1) * 4};
}
EMBER_GEMM_HD RowCol mma_tf32_b_coord(int lane, int i) {
  return {(lane & 3) + i * 4, lane >> 2};  // {k, n}
}

// Block tile `linear` of an m_tiles x n_tiles grid, rasterized in groups of `group` tile
// rows: consecutive blocks sweep a group's rows before moving right, so the A rows and B
// columns they share stay in L2. Returns {tile_m, tile_n}.
EMBER_GEMM_HD RowCol tile_coord(int64_t linear, int64_t m_tiles, int64_t n_tiles, int group) {
  const int64_t per_group = int64_t{group} * n_tiles;
  const int64_t g = linear / per_group;
  const int64_t first_m = g * group;
  const int64_t rows = m_tiles - first_m < group ? m_tiles - first_m : group;
  const int64_t in_group = linear - g * per_group;
  return {static_cast<int>(first_m + in_group % rows), static_cast<int>(in_group / rows)};
}

}  // namespace ember::cuda::gemm
