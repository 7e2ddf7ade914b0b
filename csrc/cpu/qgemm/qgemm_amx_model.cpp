// A software model of the AMX tile instructions the int8 GEMM uses, and the tile loop
// (qgemm_amx_driver.h) instantiated on it. It follows the instruction definitions (Intel SDM,
// palette 1): 8 tiles of up to 16 rows x 64 bytes, shaped by LDTILECFG; TILELOADD reads
// rows x colsb bytes at base + row * stride and zeroes the rest of the tile; TILESTORED
// writes rows x colsb bytes; TILEZERO zeroes a tile; TDPBUSD adds, for every C row m and
// int32 column n, sum over A dwords k of the 4 products u8 A[m][4k + t] x s8 B[k][4n + t]
// (wrapping int32), and zeroes what lies outside C's configured shape. Baseline flags: it
// runs everywhere, so the tests check the AMX path's layout, tails and driver on any CPU.
#include <cstring>

#include "cpu/qgemm/qgemm_amx_driver.h"

namespace ember::cpu {
namespace {

constexpr int kTiles = 8, kMaxRows = 16, kMaxBytes = 64;

class ModelTiles {
 public:
  void config(const TileConfig& c) {
    for (int t = 0; t < kTiles; ++t) {
      rows_[t] = c.rows[t];
      colsb_[t] = c.colsb[t];
    }
    std::memset(reg_, 0, sizeof(reg_));  // LDTILECFG zeroes the tile data
  }
  void release() {
    for (int t = 0; t < kTiles; ++t) rows_[t] = colsb_[t] = 0;
    std::memset(reg_, 0, sizeof(reg_));
  }
  template <int T>
  void zero() {
    std::memset(reg_[T], 0, sizeof(reg_[T]));
  }
  template <int T>
  void load(const void* base, int64_t stride) {
    const auto* src = static_cast<const uint8_t*>(base);
    std::memset(reg_[T], 0, sizeof(reg_[T]));
    for (int r = 0; r < rows_[T]; ++r) std::memcpy(reg_[T][r], src + r * stride, colsb_[T]);
  }
  template <int T>
  void store(void* base, int64_t stride) {
    auto* dst = static_cast<uint8_t*>(base);
    for (int r = 0; r < rows_[T]; ++r) std::memcpy(dst + r * stride, reg_[T][r], colsb_[T]);
  }
  template <int C, int A, int B>
  void dpbusd() {
    uint8_t out[kMaxRows][kMaxBytes] = {};
    for (int m = 0; m < rows_[C]; ++m) {
      uint32_t acc[kMaxBytes / 4];
      std::memcpy(acc, reg_[C][m], sizeof(acc));
      for (int k = 0; k < colsb_[A] / 4; ++k)
        for (int n = 0; n < colsb_[C] / 4; ++n)
          for (int t = 0; t < 4; ++t)
            acc[n] += static_cast<uint32_t>(static_cast<int32_t>(reg_[A][m][4 * k + t]) *
                                            static_cast<int8_t>(reg_[B][k][4 * n + t]));
      std::memcpy(out[m], acc, colsb_[C]);
    }
    std::memcpy(reg_[C], out, sizeof(out));
  }

 private:
  uint8_t reg_[kTiles][kMaxRows][kMaxBytes];
  int rows_[kTiles] = {};
  int colsb_[kTiles] = {};
};

}  // namespace

void qgemm_amx_model_run(const QgemmAmxJob& job, int64_t begin, int64_t end, uint8_t* abuf,
                         int8_t* tails) {
  amx_run_tasks<ModelTiles>(job, begin, end, abuf, tails);
}

void qgemm_tile_model_dpbusd(int32_t* c, const uint8_t* a, const int8_t* b) {
  ModelTiles tiles;
  tiles.config(amx_tile_config());
  tiles.load<0>(c, kMaxBytes);
  tiles.load<4>(a, kMaxBytes);
  tiles.load<6>(b, kMaxBytes);
  tiles.dpbusd<0, 4, 6>();
  tiles.store<0>(c, kMaxBytes);
  tiles.release();
}

}  // namespace ember::cpu
