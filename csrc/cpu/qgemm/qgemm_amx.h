// AMX-INT8 path of the int8 GEMM (qgemm.h): the same product computed with TDPBUSD tiles.
//
// Blocking: an output block of 32 rows x 32 channels is 4 int32 C tiles (16 x 16 each),
// fed per 64 bytes of K by 2 A tiles (rows 0-15 and 16-31, 16 x 64 u8) and 2 B tiles (two
// packed panels): 8 tiles, all configured as 16 rows x 64 bytes. The packed weight layout
// needs no change: for a group g of 4 k, a panel holds the 4 bytes of each of its 16
// channels, 64 bytes, which is one row of a TDPBUSD B tile, so 16 consecutive groups of a
// panel are a B tile at row stride 64.
//
// Tails: the A rows of a block are copied into the thread's scratch with K zero-padded to a
// multiple of 64 and rows past M zeroed, so tile loads never read past the caller's rows; the
// last K chunk of a panel, when it is shorter than 16 groups, comes from a zero-padded
// 16 x 64 copy (the packed buffer ends there). A last odd panel is paired with itself; the
// duplicate columns are dropped.
//
// The block loop (qgemm_amx_driver.h) is written once against a tile-operations policy and
// instantiated twice: with the AMX instructions (qgemm_amx_hw.cpp, built only where the
// compiler takes -mamx-tile -mamx-int8; it runs only on CPUs with AMX-INT8) and with a
// software model of the same instructions (qgemm_amx_model.cpp, baseline flags), which the
// tests run on any CPU to check the layout, the tails and the driver.
#pragma once
#include <cstdint>

namespace ember::cpu {

constexpr int64_t kAmxBlockRows = 32;           // output rows per block (2 A tiles)
constexpr int64_t kAmxChunkBytes = 64;          // K bytes per tile step (16 groups of 4)
constexpr int64_t kAmxTaskRows = 96;            // rows per task: 3 blocks
constexpr int64_t kAmxTaskPanels = 8;           // panels per task: 128 channels
constexpr int64_t kQgemmAmxPanelChannels = 16;  // kQgemmNR: one panel is one B tile's width
constexpr int64_t kQgemmAmxTileBytes = 1024;    // 16 rows x 64 bytes

// One finished output block: block is kAmxBlockRows x 32 int32 (row stride 32); rows
// [i, i + mr) and columns [j0, j0 + nc) of the output are valid.
using QgemmBlockFn = void (*)(void* ctx, const int32_t* block, int64_t i, int64_t mr, int64_t j0,
                              int64_t nc);

struct QgemmAmxJob {
  const uint8_t* a;  // (m, k), row stride lda
  int64_t m, k, lda;
  const int8_t* packed;  // qgemm_pack layout, n channels
  int64_t n;
  QgemmBlockFn emit;
  void* ctx;
};

// Bytes per row of the A scratch: K padded to whole chunks.
inline int64_t qgemm_amx_abuf_ld(int64_t k) {
  return (k + kAmxChunkBytes - 1) / kAmxChunkBytes * kAmxChunkBytes;
}
// Runs tasks [begin, end) of a job on the calling thread; a job's tasks are (row blocks of
// kAmxTaskRows) x (panel blocks of kAmxTaskPanels), row blocks outer. abuf: kAmxBlockRows x
// qgemm_amx_abuf_ld(k) bytes; tails: kAmxTaskPanels x 1024 bytes (both the thread's scratch).
using QgemmAmxRunFn = void (*)(const QgemmAmxJob& job, int64_t begin, int64_t end, uint8_t* abuf,
                               int8_t* tails);

// The tile-instruction instantiation (defined only in builds with EMBER_HAVE_AMX_BUILD).
void qgemm_amx_hw_run(const QgemmAmxJob& job, int64_t begin, int64_t end, uint8_t* abuf,
                      int8_t* tails);
// The software tile model instantiation (every build).
void qgemm_amx_model_run(const QgemmAmxJob& job, int64_t begin, int64_t end, uint8_t* abuf,
                         int8_t* tails);

// Runs a whole job over the OpenMP team with `run` (fixed task split: results do not depend
// on the thread count).
void qgemm_amx_blocks(QgemmAmxRunFn run, const QgemmAmxJob& job);

// The AMX hardware path: built in, the CPU has AMX-INT8 and the OS granted the tile state.
bool qgemm_amx_available();
// Whether the int8 GEMM may use AMX (default: yes unless EMBER_QGEMM_AMX=0 at import).
bool qgemm_amx_enabled();
void qgemm_set_amx_enabled(bool enabled);

// Test hook: c (16 x 16 int32, row stride 16) += one TDPBUSD of the software model with
// a (16 x 64 u8) and b (16 x 64 s8: 16 groups of 4 k x 16 channels).
void qgemm_tile_model_dpbusd(int32_t* c, const uint8_t* a, const int8_t* b);

}  // namespace ember::cpu
