// The AMX tile loop shared by the int8 GEMM (TDPBUSD, qgemm_amx.h) and the bf16 GEMM
// (TDPBF16PS, gemm_amx.h). Both see the same byte geometry: every tile is 16 rows x 64 bytes
// and a dword of a tile row is one group of K (4 u8 k, or a pair of bf16 k).
//
// Blocking: an output block of 32 rows x 32 channels is 4 C tiles (16 x 16 int32 or fp32),
// fed per 64 bytes of K by 2 A tiles (rows 0-15 and 16-31) and 2 B tiles (two packed
// panels): 8 tiles. B is packed in panels of 16 channels: for a group g of K, a panel holds
// the 4 bytes of each of its 16 channels, 64 bytes, one row of a B tile, so 16 consecutive
// groups of a panel are a B tile at row stride 64 (the int8 GEMM's qgemm_pack layout; the
// bf16 GEMM packs pairs of k the same way, gemm_amx.cpp).
//
// Tails: the A rows of a block are copied into the thread's scratch (by the job's fill_a)
// with K zero-padded to a multiple of 64 bytes and rows past M zeroed, so tile loads never
// read past the caller's rows; the last K chunk of a panel, when it is shorter than 16
// groups, comes from a zero-padded 16 x 64 copy (the packed buffer ends there). A last odd
// panel is paired with itself; the duplicate columns are dropped.
//
// The block loop (amx_driver.h) is written once against a tile-operations policy and
// instantiated with the AMX instructions (amx_hw.cpp, built only where the compiler takes
// -mamx-tile -mamx-int8 -mamx-bf16; it runs only on CPUs with the matching AMX feature) and
// with a software model of the same instructions (amx_model.cpp, baseline flags), which the
// tests run on any CPU to check the layout, the tails and the driver.
#pragma once
#include <cstdint>

namespace ember::cpu {

constexpr int64_t kAmxBlockRows = 32;      // output rows per block (2 A tiles)
constexpr int64_t kAmxChunkBytes = 64;     // K bytes per tile step (16 groups of 4 bytes)
constexpr int64_t kAmxTaskRows = 96;       // rows per task: 3 blocks
constexpr int64_t kAmxTaskPanels = 8;      // panels per task: 128 channels
constexpr int64_t kAmxPanelChannels = 16;  // one panel is one B tile's width
constexpr int64_t kAmxTileBytes = 1024;    // 16 rows x 64 bytes
constexpr int64_t kAmxBlockLd = 2 * kAmxPanelChannels;  // elements per block row

// The dot-product instruction of a job.
enum class AmxOp : int { Dpbusd = 0, Dpbf16ps = 1 };

// One finished output block: block is kAmxBlockRows x kAmxBlockLd 4-byte accumulators (int32
// for Dpbusd, float for Dpbf16ps); rows [i, i + mr) and columns [j0, j0 + nc) of the output
// are valid.
using AmxBlockFn = void (*)(void* ctx, const void* block, int64_t i, int64_t mr, int64_t j0,
                            int64_t nc);
// Copies the K bytes of A rows [i, i + rows) to dst (row stride ld bytes); the loop pads.
using AmxFillFn = void (*)(void* ctx, int64_t i, int64_t rows, uint8_t* dst, int64_t ld);

struct AmxJob {
  int64_t m, n;
  int64_t kbytes;  // bytes of K in an A row (k for u8, 2 k for bf16)
  AmxFillFn fill_a;
  const uint8_t* packed;  // B panels, groups of K rounded up to 4 bytes (amx_panel_bytes)
  AmxBlockFn emit;
  void* ctx;
};

// Bytes of one packed B panel for kbytes of K.
inline int64_t amx_panel_bytes(int64_t kbytes) { return (kbytes + 3) / 4 * 4 * kAmxPanelChannels; }
// Bytes per row of the A scratch: K padded to whole chunks.
inline int64_t amx_abuf_ld(int64_t kbytes) {
  return (kbytes + kAmxChunkBytes - 1) / kAmxChunkBytes * kAmxChunkBytes;
}
// Runs tasks [begin, end) of a job on the calling thread; a job's tasks are (row blocks of
// kAmxTaskRows) x (panel blocks of kAmxTaskPanels), row blocks outer. abuf: kAmxBlockRows x
// amx_abuf_ld(kbytes) bytes; tails: kAmxTaskPanels x kAmxTileBytes (both the thread's scratch).
using AmxRunFn = void (*)(const AmxJob& job, int64_t begin, int64_t end, uint8_t* abuf,
                          uint8_t* tails);

// The tile-instruction instantiations (defined only in builds with EMBER_HAVE_AMX_BUILD).
void amx_hw_run_dpbusd(const AmxJob& job, int64_t begin, int64_t end, uint8_t* abuf,
                       uint8_t* tails);
void amx_hw_run_dpbf16ps(const AmxJob& job, int64_t begin, int64_t end, uint8_t* abuf,
                         uint8_t* tails);
// The software tile model instantiations (every build).
void amx_model_run_dpbusd(const AmxJob& job, int64_t begin, int64_t end, uint8_t* abuf,
                          uint8_t* tails);
void amx_model_run_dpbf16ps(const AmxJob& job, int64_t begin, int64_t end, uint8_t* abuf,
                            uint8_t* tails);

// Runs a whole job over the OpenMP team with `run` (fixed task split: results do not depend
// on the thread count).
void amx_blocks(AmxRunFn run, const AmxJob& job);

// Test hooks: c (16 x 16, row stride 16) += one instruction of the software model on a and
// b (16 x 64 bytes each; b holds 16 groups x 16 channels x 4 bytes).
void amx_tile_model_dpbusd(int32_t* c, const uint8_t* a, const int8_t* b);
void amx_tile_model_dpbf16ps(float* c, const uint16_t* a, const uint16_t* b);

}  // namespace ember::cpu
