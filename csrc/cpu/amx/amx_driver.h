// The AMX block loop (amx.h), written once against a tile-operations policy `Tiles` (the AMX
// instructions, or their software model):
//   config(TileConfig), release(), zero<T>(), load<T>(base, stride), store<T>(base, stride),
//   dpbusd<C, A, B>(), dpbf16ps<C, A, B>()  (T, C, A, B: tile numbers 0..7).
// Included by amx_hw.cpp, which is compiled with AVX-512 + AMX flags, so everything here has
// internal linkage (unnamed namespace) and uses builtins only: a weak symbol shared with
// baseline code could be resolved to the AMX object's copy (the one-definition trap in
// docs/architecture.md).
#pragma once
#include <cstdint>

#include "cpu/amx/amx.h"

namespace ember::cpu {
namespace {

constexpr int64_t kAmxTileRows = 16;

// LDTILECFG's 64-byte operand (palette 1).
struct alignas(64) TileConfig {
  uint8_t palette;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};
static_assert(sizeof(TileConfig) == 64, "LDTILECFG reads 64 bytes");

// All 8 tiles 16 rows x 64 bytes: C (16 x 16 dwords), A (16 rows x 16 groups), B (16 groups
// x 16 channels x 4 bytes).
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

template <AmxOp Op, int C, int A, int B, class Tiles>
static inline void amx_dot(Tiles& tiles) {
  if constexpr (Op == AmxOp::Dpbusd)
    tiles.template dpbusd<C, A, B>();
  else
    tiles.template dpbf16ps<C, A, B>();
}

// Tiles 0-3: C (rows 0-15 x panel 0, rows 0-15 x panel 1, rows 16-31 x panel 0, rows 16-31 x
// panel 1); 4, 5: A rows 0-15, 16-31; 6, 7: B panel 0, panel 1.
template <class Tiles, AmxOp Op>
void amx_run_tasks(const AmxJob& job, int64_t begin, int64_t end, uint8_t* abuf, uint8_t* tails) {
  const int64_t panel_bytes = amx_panel_bytes(job.kbytes);
  const int64_t k4 = panel_bytes / kAmxPanelChannels;  // K bytes, whole groups
  const int64_t chunks = amx_cdiv(k4, kAmxChunkBytes);
  const int64_t ldb = chunks * kAmxChunkBytes;  // A scratch row (amx_abuf_ld)
  // Bytes of the last chunk that the packed panel holds (a B tile row is 64 bytes per group);
  // a whole tile when k4 is a multiple of 64.
  const int64_t last_bytes = panel_bytes - (chunks - 1) * kAmxTileBytes;
  const bool padded_tail = last_bytes < kAmxTileBytes;
  const int64_t panels = amx_cdiv(job.n, kAmxPanelChannels);
  const int64_t nblocks = amx_cdiv(panels, kAmxTaskPanels);
  alignas(64) int32_t block[kAmxBlockRows * kAmxBlockLd];
  constexpr int64_t kBlockStride = kAmxBlockLd * 4;  // bytes per block row

  Tiles tiles;
  tiles.config(amx_tile_config());
  for (int64_t task = begin; task < end; ++task) {
    const int64_t i_lo = (task / nblocks) * kAmxTaskRows;
    const int64_t i_hi = amx_min(job.m, i_lo + kAmxTaskRows);
    const int64_t p_lo = (task % nblocks) * kAmxTaskPanels;
    const int64_t p_hi = amx_min(panels, p_lo + kAmxTaskPanels);
    if (padded_tail)
      for (int64_t p = p_lo; p < p_hi; ++p) {
        uint8_t* dst = tails + (p - p_lo) * kAmxTileBytes;
        __builtin_memcpy(dst, job.packed + p * panel_bytes + (chunks - 1) * kAmxTileBytes,
                         last_bytes);
        __builtin_memset(dst + last_bytes, 0, kAmxTileBytes - last_bytes);
      }
    // B tile of panel p at chunk c.
    auto b_tile = [&](int64_t p, int64_t c) -> const uint8_t* {
      if (padded_tail && c == chunks - 1) return tails + (p - p_lo) * kAmxTileBytes;
      return job.packed + p * panel_bytes + c * kAmxTileBytes;
    };
    for (int64_t i = i_lo; i < i_hi; i += kAmxBlockRows) {
      const int64_t mr = amx_min(kAmxBlockRows, i_hi - i);
      job.fill_a(job.ctx, i, mr, abuf, ldb);
      for (int64_t r = 0; r < kAmxBlockRows; ++r) {
        const int64_t valid = r < mr ? job.kbytes : 0;
        __builtin_memset(abuf + r * ldb + valid, 0, ldb - valid);
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
          amx_dot<Op, 0, 4, 6>(tiles);
          amx_dot<Op, 1, 4, 7>(tiles);
          amx_dot<Op, 2, 5, 6>(tiles);
          amx_dot<Op, 3, 5, 7>(tiles);
        }
        tiles.template store<0>(block, kBlockStride);
        tiles.template store<1>(block + kAmxPanelChannels, kBlockStride);
        tiles.template store<2>(block + kAmxTileRows * kAmxBlockLd, kBlockStride);
        tiles.template store<3>(block + kAmxTileRows * kAmxBlockLd + kAmxPanelChannels,
                                kBlockStride);
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
