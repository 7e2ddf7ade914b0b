// Launch plans of the row families, chosen on the host from the shapes alone (never from
// the device), so a shape always reduces in the same order and gives the same bits. CPU
// tests check them through ember._C_cuda._reduce_plan / _row_plan / _param_grad_plan.
#pragma once
#include <cstdint>

namespace ember::cuda::rows {

constexpr int kWarp = 32;
constexpr int kMaxThreads = 1024;
constexpr int64_t kMaxGrid = int64_t{1} << 20;  // blocks; kernels grid-stride past it
constexpr int kValuesPerThread = 8;             // a row gets about n / 8 threads
constexpr int kWarpRowsPerBlock = 8;            // rows of a block when a warp does a row
constexpr int kFlatBlock = 256;                 // kernels with one value (or column) a thread

// Rows of n values (softmax, norms, cross-entropy; reductions with inner == 1): a group of
// threads_per_row threads (a power of two, 32..1024) per row; a warp-sized group shares its
// block with other rows, a larger group is the whole block.
struct RowPlan {
  int threads_per_row;
  int rows_per_block;
  int block;     // threads_per_row * rows_per_block
  int64_t grid;  // blocks, at most kMaxGrid
};
RowPlan row_plan(int64_t rows, int64_t n, int max_threads = kMaxThreads);

// The largest row group of the row kernels that accumulate in A: float64 rows take half,
// so those kernels have 128 registers a thread and do not spill.
template <typename A>
constexpr int max_row_threads() {
  return sizeof(A) == 8 ? kMaxThreads / 2 : kMaxThreads;
}

// reduce / reduce_arg over the middle axis of (outer, r, inner). Long reduced axes with
// few outputs are cut into `splits` chunks of `chunk` values: the first pass writes
// (outer, splits, inner) partial states, the second reduces those (its own plan, with
// splits == 1). inner == 1 runs a row kernel (row); inner > 1 a column kernel whose
// blocks are 32 columns by block_y lanes along r, merged by a fixed tree in shared memory.
struct ReducePlan {
  bool rows;  // inner == 1
  int64_t splits;
  int64_t chunk;
  RowPlan row;    // rows: one task per (outer, split)
  int block_y;    // columns: lanes along r (power of two, 1..32)
  int64_t tiles;  // columns: 32-column tiles per outer index
  int64_t grid;   // columns: blocks, at most kMaxGrid
};
ReducePlan reduce_plan(int64_t outer, int64_t r, int64_t inner);

// Layer / RMS norm weight and bias gradients: columns summed over fixed chunks of
// chunk_rows rows into (chunks, n) partials, then the partials in chunk order.
struct ParamGradPlan {
  int64_t chunks;
  int64_t chunk_rows;
  int64_t tiles;  // 32-column tiles
  int block_y;    // lanes along the rows of a chunk
};
ParamGradPlan param_grad_plan(int64_t rows, int64_t n);

int64_t cdiv(int64_t a, int64_t b);

}  // namespace ember::cuda::rows
