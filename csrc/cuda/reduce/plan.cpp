#include "cuda/reduce/plan.h"

#include <algorithm>

namespace ember::cuda::rows {
namespace {

// Enough independent blocks to fill a large GPU several times over; a reduced axis is only
// split when the other axes give fewer.
constexpr int64_t kTargetTasks = 1024;
constexpr int64_t kMaxSplits = 1024;
// Shortest chunk of a split axis: rows (contiguous) and columns (strided).
constexpr int64_t kRowChunkMin = 8192;
constexpr int64_t kColChunkMin = 512;

int64_t pow2_ceil(int64_t v) {
  int64_t p = 1;
  while (p < v) p *= 2;
  return p;
}

int64_t pow2_floor(int64_t v) {
  int64_t p = 1;
  while (p * 2 <= v) p *= 2;
  return p;
}

// Splits of r into chunks of at least min_chunk values, only while base tasks are too
// few; writes the chunk length (0 for r == 0). No split is empty.
int64_t choose_splits(int64_t r, int64_t base, int64_t min_chunk, int64_t* chunk) {
  int64_t splits = 1;
  if (r > 2 * min_chunk && base < kTargetTasks)
    splits = std::min({cdiv(r, min_chunk), cdiv(kTargetTasks, base), kMaxSplits});
  *chunk = cdiv(r, splits);
  return *chunk > 0 ? cdiv(r, *chunk) : 1;
}

}  // namespace

int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

RowPlan row_plan(int64_t rows, int64_t n, int max_threads) {
  RowPlan p;
  p.threads_per_row = static_cast<int>(
      std::clamp<int64_t>(pow2_ceil(cdiv(n, kValuesPerThread)), kWarp, max_threads));
  p.rows_per_block = p.threads_per_row == kWarp ? kWarpRowsPerBlock : 1;
  p.block = p.threads_per_row * p.rows_per_block;
  p.grid = std::clamp<int64_t>(cdiv(rows, p.rows_per_block), 1, kMaxGrid);
  return p;
}

ReducePlan reduce_plan(int64_t outer, int64_t r, int64_t inner) {
  ReducePlan p{};
  p.rows = inner == 1;
  if (p.rows) {
    p.splits = choose_splits(r, outer, kRowChunkMin, &p.chunk);
    p.row = row_plan(outer * p.splits, p.chunk);
    p.block_y = 1;
    p.tiles = 1;
    p.grid = p.row.grid;
  } else {
    p.tiles = cdiv(inner, kWarp);
    p.splits = choose_splits(r, outer * p.tiles, kColChunkMin, &p.chunk);
    p.row = row_plan(0, 0);
    p.block_y =
        static_cast<int>(std::min<int64_t>(pow2_floor(std::max<int64_t>(p.chunk, 1)), kWarp));
    p.grid = std::clamp<int64_t>(outer * p.tiles * p.splits, 1, kMaxGrid);
  }
  return p;
}

ParamGradPlan param_grad_plan(int64_t rows, int64_t n) {
  ParamGradPlan p;
  p.tiles = cdiv(n, kWarp);
  p.block_y = 8;
  const int64_t want =
      std::clamp<int64_t>(std::min(cdiv(rows, 64), cdiv(kTargetTasks, p.tiles)), 1, 256);
  p.chunk_rows = cdiv(rows, want);
  p.chunks = p.chunk_rows > 0 ? cdiv(rows, p.chunk_rows) : 1;
  return p;
}

}  // namespace ember::cuda::rows
