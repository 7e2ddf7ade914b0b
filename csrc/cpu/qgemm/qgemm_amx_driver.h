// The AMX block loop of the int8 GEMM (qgemm_amx.h), written once against a tile-operations
// policy `Tiles` (the AMX instructions, or their software model):
//   config(TileConfig), release(), zero<T>(), load<T>(base, stride), store<T>(base, stride),
//   dpbusd<C, A, B>()  (T, C, A, B: tile numbers 0..7).
// Included by qgemm_amx_hw.cpp, which is compiled with AVX-512 + AMX flags, so everything
// here has internal linkage (unnamed namespace) and uses builtins only: a weak symbol shared
// with baseline code could be resolved to the AMX object's copy (the one-definition trap in
// docs/architecture.md).
#pragma once
#include <cstdint>

#include "cpu/qgemm/qgemm_amx.h"

namespace ember::cpu {
namespace {

constexpr int64_t kAmxTileRows = 16, kAmxTileBytes = kQgemmAmxTileBytes,
                  kAmxPanelChannels = kQgemmAmxPanelChannels;

// LDTILECFG's 64-byte operand (palette 1).
struct alignas(64) TileConfig {
  uint8_t palette;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};
static_assert(sizeof(TileConfig) == 64, "LDTILECFG reads 64 bytes");

// All 8 tiles 16 rows x 64 bytes: C (int32 16 x 16), A (16 rows x 64 k), B (16 groups x 16
// channels x 4 k).
static inline TileConfig amx_tile_config() {
  TileConfig c;
  __builtin_memset(&c, 0, sizeof(c));
  c.palette = 1;
  for (int t = 0; t < 8; ++t) {
    c.colsb[t] = kAmxChunkBytes;
    c.rows[t] = kAmxTileRows;
  }
  return c;
}

static inline int64_t amx_min(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t amx_cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Tiles 0-3: C (rows 0-15 x panel 0, rows 0-15 x panel 1, rows 16-31 x panel 0, rows 16-31 x
// panel 1); 4, 5: A rows 0-15, 16-31; 6, 7: B panel 0, panel 1.
template <class Tiles>
void amx_run_tasks(const QgemmAmxJob& job, int64_t begin, int64_t end, uint8_t* abuf,
                   int8_t* tails) {
  const int64_t k4 = (job.k + 3) / 4 * 4, panel_bytes = k4 * kAmxPanelChannels;
  const int64_t chunks = amx_cdiv(k4, kAmxChunkBytes);
  const int64_t ldb = chunks * kAmxChunkBytes;  // A scratch row (qgemm_amx_abuf_ld)
  // Bytes of the last chunk that the packed panel holds (a B tile row is 64 bytes per group
  // of 4 k); a whole tile when k4 is a multiple of 64.
  const int64_t last_bytes = panel_bytes - (chunks - 1) * kAmxTileBytes;
  const bool padded_tail = last_bytes < kAmxTileBytes;
  const int64_t panels = amx_cdiv(job.n, kAmxPanelChannels);
  const int64_t nblocks = amx_cdiv(panels, kAmxTaskPanels);
  alignas(64) int32_t block[kAmxBlockRows * 2 * kAmxPanelChannels];
  constexpr int64_t kBlockLd = 2 * kAmxPanelChannels * 4;  // bytes per block row

  Tiles tiles;
  tiles.config(amx_tile_config());
  for (int64_t task = begin; task < end; ++task) {
    const int64_t i_lo = (task / nblocks) * kAmxTaskRows;
    const int64_t i_hi = amx_min(job.m, i_lo + kAmxTaskRows);
    const int64_t p_lo = (task % nblocks) * kAmxTaskPanels;
    const int64_t p_hi = amx_min(panels, p_lo + kAmxTaskPanels);
    if (padded_tail)
      for (int64_t p = p_lo; p < p_hi; ++p) {
        int8_t* dst = tails + (p - p_lo) * kAmxTileBytes;
        __builtin_memcpy(dst, job.packed + p * panel_bytes + (chunks - 1) * kAmxTileBytes,
                         last_bytes);
        __builtin_memset(dst + last_bytes, 0, kAmxTileBytes - last_bytes);
      }
    // B tile of panel p at chunk c.
    auto b_tile = [&](int64_t p, int64_t c) -> const int8_t* {
      if (padded_tail && c == chunks - 1) return tails + (p - p_lo) * kAmxTileBytes;
      return job.packed + p * panel_bytes + c * kAmxTileBytes;
    };
    for (int64_t i = i_lo; i < i_hi; i += kAmxBlockRows) {
      const int64_t mr = amx_min(kAmxBlockRows, i_hi - i);
      for (int64_t r = 0; r < kAmxBlockRows; ++r) {
        uint8_t* row = abuf + r * ldb;
        const int64_t valid = r < mr ? job.k : 0;
        if (valid) __builtin_memcpy(row, job.a + (i + r) * job.lda, valid);
        __builtin_memset(row + valid, 0, ldb - valid);
      }
      for (int64_t p = p_lo; p < p_hi; p += 2) {
        const bool pair = p + 1 < p_hi;
        tiles.template zero<0>();
        tiles.template zero<1>();
        tiles.template zero<2>();
        tiles.template zero<3>();
        for (int64_t c = 0; c < chunks; ++c) {
          tiles.template load<4>(abuf + c * kAmxChunkBytes, ldb);
          tiles.template load<5>(abuf + kAmxTileRows * ldb + c * kAmxChunkBytes, ldb);
          tiles.template load<6>(b_tile(p, c), kAmxChunkBytes);
          tiles.template load<7>(b_tile(pair ? p + 1 : p, c), kAmxChunkBytes);
          tiles.template dpbusd<0, 4, 6>();
          tiles.template dpbusd<1, 4, 7>();
          tiles.template dpbusd<2, 5, 6>();
          tiles.template dpbusd<3, 5, 7>();
        }
        tiles.template store<0>(block, kBlockLd);
        tiles.template store<1>(block + kAmxPanelChannels, kBlockLd);
        tiles.template store<2>(block + kAmxTileRows * 2 * kAmxPanelChannels, kBlockLd);
        tiles.template store<3>(block + kAmxTileRows * 2 * kAmxPanelChannels + kAmxPanelChannels,
                                kBlockLd);
        const int64_t j0 = p * kAmxPanelChannels;
        const int64_t nc = amx_min(job.n - j0, (pair ? 2 : 1) * kAmxPanelChannels);
        job.emit(job.ctx, block, i, mr, j0, nc);
      }
    }
  }
  tiles.release();
}

}  // namespace
}  // namespace ember::cpu
