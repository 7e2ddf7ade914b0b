// The CUDA int8 GEMM's packed layout and launch plan (host code; the CPU tests read it through
// _C_cuda._qgemm_plan).
//
// Packed weights: the (N, K) int8 weight row-major with each row's K padded with zeros to
// a multiple of kKAlign, so a weight tile of any k block is whole 16-byte chunks (cp.async)
// and the padding contributes 0 to every sum. N is not padded: tile rows past N are
// zero-filled by the loads.
//
// Paths: "imma" (mma.sync m16n8k32 u8 x s8 -> s32 on cp.async-staged shared tiles) needs the
// input's rows 16-byte aligned (base and row stride), because its A tiles are 16-byte cp.async
// copies; every other input runs "dp4a" (SIMT, byte loads, dp4a.u32.s32). Both sum each output
// in full over K in int32, so both give the exact accumulators.
#pragma once
#include <cstdint>

namespace ember::cuda::qgemm {

constexpr int64_t kKAlign = 64;  // packed row stride granule: the IMMA path's k block

// The packed row stride (K rounded up to kKAlign) and the packed weight's size in bytes.
constexpr int64_t packed_ld(int64_t k) { return (k + kKAlign - 1) / kKAlign * kKAlign; }
constexpr int64_t packed_bytes(int64_t n, int64_t k) { return n * packed_ld(k); }

// IMMA: 128 x 128 output tiles, k blocks of 64, 3 cp.async stages, 8 warps of 64 x 32.
// Shared rows are 80 bytes (64 + 16 of padding) so a fragment load's 32 lanes (8 rows x 4
// words) hit 32 distinct banks.
constexpr int kImmaBM = 128, kImmaBN = 128, kImmaBK = 64, kImmaStages = 3, kImmaThreads = 256;
constexpr int kImmaWarpsN = 4, kImmaWarpM = 64, kImmaWarpN = 32;
constexpr int kImmaLds = kImmaBK + 16;
constexpr int kImmaStageBytes = (kImmaBM + kImmaBN) * kImmaLds;
constexpr int kImmaSmem = kImmaStages * kImmaStageBytes;
static_assert(kImmaBK == kKAlign, "a weight k block is whole packed chunks");
static_assert((kImmaBM / kImmaWarpM) * (kImmaBN / kImmaWarpN) * 32 == kImmaThreads,
              "one warp tile per warp");

// dp4a: 64 x 64 output tiles, k blocks of 32, 16 x 16 threads of 4 x 4 outputs. Shared rows
// are 36 bytes: word loads, 16 lanes reading 16 rows hit 16 distinct banks.
constexpr int kDp4aBM = 64, kDp4aBN = 64, kDp4aBK = 32, kDp4aThreads = 256, kDp4aLds = 36;
static_assert(kKAlign % kDp4aBK == 0, "a weight k block never passes the packed row");

enum class Path : int { Imma, Dp4a };
const char* path_name(Path p);

struct Plan {
  Path path;
  const char* reason;
  int bm, bn, bk, stages, threads;
  int smem_bytes;
  int64_t m_tiles, n_tiles, blocks;  // blocks = m_tiles * n_tiles, one 1-D grid
};

// The plan of an (m, n) product (any K: both paths zero-fill K tails) whose input rows start
// at a_address with row stride lda.
Plan make_plan(int64_t m, int64_t n, int64_t lda, uint64_t a_address);

}  // namespace ember::cuda::qgemm
