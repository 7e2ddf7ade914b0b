// Which kernel a GEMM runs and how it is launched, decided on the host from the shapes,
// dtypes, strides and alignment alone (no GPU needed, so the CPU tests check it).
#pragma once
#include <cstdint>

#include "core/dtype.h"
#include "cuda/gemm/gemm.h"

namespace ember::cuda::gemm {

enum class Path : int {
  TensorCore,  // bfloat16/float16 inputs: mma.sync m16n8k16, float32 accumulation
  TF32,        // float32 inputs with TF32 allowed: mma.sync m16n8k8
  Simt,        // everything else: register-blocked FMA in the accumulation dtype
};
const char* path_name(Path p);

// The tensor-core tiles: 128x128x32 blocks of 8 warps (2x4), 64x32 per warp (64x64 warp
// tiles need more than the 255 registers a thread has, and spill).
constexpr int kTcBM = 128, kTcBN = 128, kTcBK = 32, kTcWarpM = 64, kTcWarpN = 32;
constexpr int kTcThreads = 32 * (kTcBM / kTcWarpM) * (kTcBN / kTcWarpN);
constexpr int kTcStages16 = 4;    // 16 KiB per stage for 16-bit inputs
constexpr int kTcStagesTf32 = 3;  // 32 KiB per stage for float32 inputs
// The SIMT tiles: 64x64x16 blocks of 256 threads, 4x4 outputs each.
constexpr int kSimtBM = 64, kSimtBN = 64, kSimtBK = 16, kSimtThreads = 256;
// Block tiles are rasterized in groups of this many tile rows (layout.h tile_coord).
constexpr int kTileGroup = 8;
constexpr int64_t kMaxGridZ = 65535;  // batches beyond it loop inside the kernel

// Where an operand's elements are: element strides of its (batch, rows, cols) view and the
// byte address of element 0.
struct OperandLayout {
  int64_t batch_stride, row_stride, col_stride;
  uint64_t address;
};

struct Plan {
  Path path;
  // Tensor-core paths: whether each operand's tiles are contiguous along k (A stored
  // [m][k], B stored [n][k]) or along m / n; its stride between those rows (elements).
  bool a_k_contig = false, b_k_contig = false;
  int64_t a_ld = 0, b_ld = 0;
  int bm, bn, bk, stages, threads;
  int64_t smem_bytes;  // dynamic shared memory per block
  int64_t m_tiles, n_tiles, grid_x, grid_z;
  const char* reason;  // why this path
};

// in: Float32, Float64, BFloat16 or Float16. a is (batch, m, k), b is (batch, k, n).
Plan make_plan(int64_t batch, int64_t m, int64_t n, int64_t k, DType in, const OperandLayout& a,
               const OperandLayout& b, bool allow_tf32);

}  // namespace ember::cuda::gemm
