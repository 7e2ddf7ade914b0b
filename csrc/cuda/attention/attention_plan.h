// Tiling plan and per-row math of the CUDA flash attention (FlashAttention-2 structure), as
// __host__ __device__ functions: the kernels and the CPU tests (through the _C_cuda test
// hooks) run the same code for tile sizes, shared-memory sizes, which (query tile, key tile)
// pairs a pass visits, the GQA head map and the online-softmax step.
//
// Every kernel runs kThreads threads as kRows row groups of kLanes consecutive lanes. The
// forward and the dQ pass give each group one query row (a block owns kRows query rows and
// streams key tiles through shared memory); the dK/dV pass gives each group one key row (a
// block owns kRows keys and streams query tiles). The streamed tile is as large as the
// shared-memory budget allows for the head dim and element size (a compile-time choice, so
// per-thread score arrays stay in registers).
#pragma once
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <vector>

namespace ember::cuda::attn {

constexpr int kThreads = 256;
// Blocks per SM the kernels are compiled for (__launch_bounds__): at most 128 registers per
// thread, where every configuration fits without spills; ptxas's own choice spilled some.
constexpr int kMinBlocks = 2;
constexpr int kLanes = 8;                   // threads per row group (a power of 2 <= 32)
constexpr int kRows = kThreads / kLanes;    // rows a block owns
constexpr int kMaxHeadDim = 256;            // as the CPU kernels (kAttnMaxHeadDim)
constexpr int64_t kSmemBudget = 96 * 1024;  // fits every sm_80+ part's opt-in limit
constexpr int kMaxStreamTile = 64;          // streamed tiles: 64, 32, 16 or 8 rows

enum class Pass : int { Forward = 0, GradQ = 1, GradKV = 2 };
enum class MaskKind : int { None = 0, Bool = 1, Add = 2 };

// The head dim the kernels are compiled for: D rounded up to 32, 64, 128 or 256 (0 if D is
// out of range). Shared-memory rows are zero padded from D to it.
__host__ __device__ constexpr int padded_head_dim(int64_t d) {
  return d < 1 || d > kMaxHeadDim ? 0 : d <= 32 ? 32 : d <= 64 ? 64 : d <= 128 ? 128 : 256;
}

// Shared-memory row pitch in elements: one 4-byte bank past kd so the rows a warp reads
// at one column fall in different banks.
__host__ __device__ constexpr int row_pitch(int kd, int elem_bytes) {
  return kd + (elem_bytes >= 4 ? 1 : 4 / elem_bytes);
}

// Bytes of dynamic shared memory of a pass with streamed tile `tile` (elem: operand bytes,
// acc: accumulation-type bytes).
//   forward: Q (kRows) + K, V (tile) rows, and the P tile kRows x tile;
//   dQ:      Q, dO (kRows) + K, V (tile) rows, and the dS tile;
//   dK/dV:   K, V (kRows) + Q, dO (tile) rows, the P and dS tiles, lse and delta of the tile.
__host__ __device__ constexpr int64_t smem_bytes(Pass pass, int kd, int elem, int acc, int tile) {
  const int64_t row = int64_t{row_pitch(kd, elem)} * elem;
  const int64_t sq = int64_t{kRows} * tile * acc;
  switch (pass) {
    case Pass::Forward:
      return (kRows + 2 * tile) * row + sq;
    case Pass::GradQ:
      return (2 * kRows + 2 * tile) * row + sq;
    default:
      return (2 * kRows + 2 * tile) * row + 2 * sq + 2 * int64_t{tile} * acc;
  }
}

// The largest candidate streamed tile whose pass fits kSmemBudget; 0 if none does (float64
// at head dims above 128).
__host__ __device__ constexpr int stream_tile(Pass pass, int kd, int elem, int acc) {
  for (int t = kMaxStreamTile; t >= kLanes; t /= 2)
    if (smem_bytes(pass, kd, elem, acc, t) <= kSmemBudget) return t;
  return 0;
}

__host__ __device__ constexpr int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// A 1-D grid's block -> (head, tile) over `ntiles` tiles per head, the last tile first: under
// causal masking it is the longest, so it starts early rather than trailing at the end.
struct TileCoord {
  int64_t head, tile;
};
__host__ __device__ constexpr TileCoord tile_coord(int64_t block, int64_t ntiles) {
  return {block / ntiles, ntiles - 1 - block % ntiles};
}

// Variable-length (packed) attention: the work items of a pass as (sequence, tile) pairs,
// flattened, for sequences s owning rows [cu[s], cu[s + 1]) of the dim the pass tiles by kRows
// (queries for the forward and dQ, keys for dK / dV). Per sequence the last tile comes first,
// as tile_coord orders them; empty sequences have none.
inline std::vector<int64_t> varlen_items(const int64_t* cu, int64_t sequences) {
  std::vector<int64_t> items;
  for (int64_t s = 0; s < sequences; ++s)
    for (int64_t t = cdiv(cu[s + 1] - cu[s], kRows) - 1; t >= 0; --t) {
      items.push_back(s);
      items.push_back(t);
    }
  return items;
}

// GQA: the kv head query head h reads (Hq a multiple of Hkv).
__host__ __device__ constexpr int64_t kv_head(int64_t h, int64_t hq, int64_t hkv) {
  return h / (hq / hkv);
}

// Key tiles (of `tile` keys) the query rows [q0, q0 + kRows) of Tq visit: all of them, or
// under causal masking (top-left aligned: row i sees keys j <= i) those up to the last row's
// diagonal. Tiles past it are masked for every row and skipped.
__host__ __device__ constexpr int64_t key_tiles(int64_t q0, int64_t tq, int64_t tk, int tile,
                                                bool causal) {
  const int64_t n = cdiv(tk, tile);
  if (!causal) return n;
  const int64_t last = (q0 + kRows < tq ? q0 + kRows : tq) - 1;
  const int64_t need = last / tile + 1;
  return need < n ? need : n;
}

// The first query tile (of `tile` rows, of Tq) that sees any key of [k0, k0 + kRows): 0, or
// under causal masking the tile holding row k0 (earlier rows see only earlier keys), past
// the last tile when no row reaches k0.
__host__ __device__ constexpr int64_t first_query_tile(int64_t k0, int64_t tq, int tile,
                                                       bool causal) {
  return !causal ? 0 : k0 < tq ? k0 / tile : cdiv(tq, tile);
}

// Whether query i sees key j under causality and the sequence ends (the mask aside).
__host__ __device__ constexpr bool visible(int64_t i, int64_t j, int64_t tq, int64_t tk,
                                           bool causal) {
  return i < tq && j < tk && (!causal || j <= i);
}

// ---- tensor-core forward (float16 / bfloat16, head dims up to 128): mma.sync m16n8k16 with
// float32 accumulation. A block owns the same kRows query rows (kMmaWarps warps of 16 rows)
// and streams key tiles of kMmaKeys; S = Q K^T and O += P V run on the tensor cores, the
// online softmax on the S fragments in registers (P never leaves them).

constexpr int kMmaWarps = kRows / 16;
constexpr int kMmaThreads = kMmaWarps * 32;
constexpr int kMmaKeys = 64;
constexpr int kMmaMaxHeadDim = 128;  // the O accumulator of 256 columns would not fit

// Whether the forward of this operand size (2: float16 / bfloat16) and padded head dim runs
// on the tensor cores.
__host__ __device__ constexpr bool mma_forward(int elem_bytes, int kd) {
  return elem_bytes == 2 && kd <= kMmaMaxHeadDim;
}

// Its shared-memory row pitch (16 bytes past kd: the 8 rows of a fragment load start in
// different banks) and bytes: Q (kRows) + K, V (kMmaKeys) rows.
__host__ __device__ constexpr int mma_pitch(int kd) { return kd + 8; }
__host__ __device__ constexpr int64_t mma_smem_bytes(int kd) {
  return int64_t{kRows + 2 * kMmaKeys} * mma_pitch(kd) * 2;
}

// ---- tensor-core backward (the same operands and head dims): the dK / dV block owns kRows
// keys (a warp per 16) and streams query tiles, the dQ block owns kRows queries and streams
// key tiles, both of mma_bwd_tile rows: 32 at head dim 128, where the dK and dV (or dQ)
// accumulators take 128 registers, 64 below.
__host__ __device__ constexpr bool mma_backward(int elem_bytes, int kd) {
  return mma_forward(elem_bytes, kd);
}
__host__ __device__ constexpr int mma_bwd_tile(int kd) { return kd <= 64 ? 64 : 32; }

// Its shared-memory bytes at the forward's pitch: dQ: Q, dO (kRows) + K, V (tile) rows;
// dK / dV: K, V (kRows) + Q, dO (tile) rows and the tile's float32 lse and delta.
__host__ __device__ constexpr int64_t mma_bwd_smem_bytes(Pass pass, int kd) {
  const int64_t tile = mma_bwd_tile(kd);
  const int64_t rows = (2 * kRows + 2 * tile) * mma_pitch(kd) * 2;
  return pass == Pass::GradKV ? rows + 2 * tile * 4 : rows;
}

// Fragment coordinates of mma.m16n8k16 (PTX ISA, "matrix fragments for mma.m16n8k16" with
// 16-bit inputs) for lane `lane`: element e of A (16 x 16, e < 8, two per 32-bit register,
// low half first), of B (16 x 8 as (k, n), e < 4) and of the float32 C / D (16 x 8, e < 4).
struct RowCol {
  int r, c;
};
__host__ __device__ constexpr RowCol mma_a(int lane, int e) {
  return {(lane >> 2) + 8 * ((e >> 1) & 1), (lane & 3) * 2 + (e & 1) + 8 * (e >> 2)};
}
__host__ __device__ constexpr RowCol mma_b(int lane, int e) {
  return {(lane & 3) * 2 + (e & 1) + 8 * (e >> 1), lane >> 2};
}
__host__ __device__ constexpr RowCol mma_c(int lane, int e) {
  return {(lane >> 2) + 8 * (e >> 1), (lane & 3) * 2 + (e & 1)};
}
// P as the A operand of O += P V over keys [16 kb, 16 kb + 16): its element e is element
// e & 3 of the S accumulator of key columns [8 n, 8 n + 8), n = 2 kb + (e >> 2), the same
// lane's (the C and A layouts agree, so P stays in registers).
__host__ __device__ constexpr int mma_p_block(int kb, int e) { return 2 * kb + (e >> 2); }
__host__ __device__ constexpr int mma_p_elem(int e) { return e & 3; }

// ---- online softmax, one row: running max m and sum l of exp(s - m) over the tiles so far.

template <typename A>
__host__ __device__ inline A neg_inf() {
  return -static_cast<A>(INFINITY);
}

template <typename A>
__host__ __device__ inline A exp_acc(A x) {
  if constexpr (sizeof(A) == 4)
    return expf(x);
  else
    return exp(x);
}

// A new tile with row max tmax arrives: moves m to the new max, rescales l, and returns the
// factor the output accumulator must be scaled by (0 while nothing was visible before, 1 when
// the max did not change).
template <typename A>
__host__ __device__ inline A softmax_rescale(A& m, A& l, A tmax) {
  const A mnew = tmax > m ? tmax : m;
  const A alpha = m == mnew ? A(1) : m == neg_inf<A>() ? A(0) : exp_acc(m - mnew);
  m = mnew;
  l *= alpha;
  return alpha;
}

// exp(s - m), 0 for a masked score (s = -inf), also while the row has seen no visible key.
template <typename A>
__host__ __device__ inline A softmax_prob(A s, A m) {
  return s == neg_inf<A>() ? A(0) : exp_acc(s - m);
}

// The backward's score gradient dS = P (dP - delta), delta = rowsum(dO * O) = rowsum(P dP);
// its P = softmax_prob(s, lse) is 0 for a masked score and on a row whose every key is
// masked (lse = +inf).
template <typename A>
__host__ __device__ inline A grad_score(A p, A dp, A delta) {
  return p * (dp - delta);
}

// The row's log-sum-exp from its final max and sum (+inf when every key is masked, as the
// CPU kernels: the backward's exp(s - lse) is then 0).
template <typename A>
__host__ __device__ inline A row_lse(A m, A l) {
  if (!(l > A(0))) return static_cast<A>(INFINITY);
  if constexpr (sizeof(A) == 4)
    return m + logf(l);
  else
    return m + log(l);
}

}  // namespace ember::cuda::attn
