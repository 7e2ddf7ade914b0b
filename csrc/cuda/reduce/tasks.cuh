// Which values a reduce task covers: the index math of the reduce kernels as
// __host__ __device__ functions, so the CPU tests can check that the tasks of a plan cover
// every value of every output exactly once (ember._C_cuda._reduce_tasks).
#pragma once
#include <cstdint>

#include "cuda/convert.cuh"
#include "cuda/reduce/plan.h"

namespace ember::cuda::rows {

// Task: outer index o, split s, first column k0 (a 32-column tile; 0 for rows) and the
// range [j0, j1) of the reduced axis. Its results go to (o * splits + s) * inner + k.
struct ReduceTask {
  int64_t o, s, k0, j0, j1;
};

EMBER_HD ReduceTask split_range(int64_t o, int64_t s, int64_t k0, int64_t chunk, int64_t r) {
  const int64_t j0 = s * chunk;
  return {o, s, k0, j0, j0 + chunk < r ? j0 + chunk : r};
}

// Row kernel (inner == 1): task = o * splits + s.
EMBER_HD ReduceTask row_task(int64_t task, int64_t splits, int64_t chunk, int64_t r) {
  return split_range(task / splits, task % splits, 0, chunk, r);
}

// Column kernel: task = (o * splits + s) * tiles + tile.
EMBER_HD ReduceTask col_task(int64_t task, int64_t tiles, int64_t splits, int64_t chunk,
                             int64_t r) {
  const int64_t os = task / tiles;
  return split_range(os / splits, os % splits, (task % tiles) * kWarp, chunk, r);
}

}  // namespace ember::cuda::rows
