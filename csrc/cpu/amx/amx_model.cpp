// A software model of the AMX tile instructions the GEMMs use, and the tile loop
// (amx_driver.h) instantiated on it. It follows the instruction definitions (Intel SDM,
// palette 1): 8 tiles of up to 16 rows x 64 bytes, shaped by LDTILECFG; TILELOADD reads
// rows x colsb bytes at base + row * stride and zeroes the rest of the tile; TILESTORED
// writes rows x colsb bytes; TILEZERO zeroes a tile. Both dot products zero what lies
// outside C's configured shape:
// - TDPBUSD adds, for every C row m and int32 column n, sum over A dwords k of the 4 products
//   u8 A[m][4k + t] x s8 B[k][4n + t] (wrapping int32);
// - TDPBF16PS keeps, for every C row m and fp32 column n, two fp32 sums starting at 0: the
//   even one adds A[m][2k] x B[k][2n] and the odd one A[m][2k + 1] x B[k][2n + 1] for k in
//   order, then C[m][n] += (even + odd). Every step rounds to nearest even with denormal
//   inputs read as zero and denormal results flushed to zero (MXCSR is not used).
// Baseline flags: it runs everywhere, so the tests check the AMX paths' layout, tails and
// driver on any CPU.
#include <cstring>

#include "cpu/amx/amx_driver.h"

namespace ember::cpu {
namespace {

constexpr int kTiles = 8, kMaxRows = 16, kMaxBytes = 64;

// A denormal float (or bf16, widened) as a zero of its sign: the DAZ / FTZ of TDPBF16PS.
float flush_denormal(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  if ((bits & 0x7f800000u) == 0) bits &= 0x80000000u;
  std::memcpy(&x, &bits, 4);
  return x;
}

float bf16_operand(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float x;
  std::memcpy(&x, &bits, 4);
  return flush_denormal(x);
}

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
  // The product of two bf16 values is exact in fp32 (8-bit significands) while it stays in
  // fp32's normal range, so a float multiply and add round once, as the instruction's FMA.
  template <int C, int A, int B>
  void dpbf16ps() {
    uint8_t out[kMaxRows][kMaxBytes] = {};
    for (int m = 0; m < rows_[C]; ++m) {
      float acc[kMaxBytes / 4];
      std::memcpy(acc, reg_[C][m], sizeof(acc));
      for (int n = 0; n < colsb_[C] / 4; ++n) {
        float even = 0.0f, odd = 0.0f;
        for (int k = 0; k < colsb_[A] / 4; ++k) {
          even = flush_denormal(even + bf16_operand(&reg_[A][m][4 * k]) *
                                           bf16_operand(&reg_[B][k][4 * n]));
          odd = flush_denormal(odd + bf16_operand(&reg_[A][m][4 * k + 2]) *
                                         bf16_operand(&reg_[B][k][4 * n + 2]));
        }
        const float pair = flush_denormal(flush_denormal(even) + flush_denormal(odd));
        acc[n] = flush_denormal(flush_denormal(acc[n]) + pair);
      }
      std::memcpy(out[m], acc, colsb_[C]);
    }
    std::memcpy(reg_[C], out, sizeof(out));
  }

 private:
  uint8_t reg_[kTiles][kMaxRows][kMaxBytes];
  int rows_[kTiles] = {};
  int colsb_[kTiles] = {};
};

// c (16 x 16 dwords) += one dot product of the model on a and b (16 x 64 bytes each).
template <AmxOp Op>
void tile_model_dot(void* c, const void* a, const void* b) {
  ModelTiles tiles;
  tiles.config(amx_tile_config());
  tiles.load<0>(c, kMaxBytes);
  tiles.load<4>(a, kMaxBytes);
  tiles.load<6>(b, kMaxBytes);
  amx_dot<Op, 0, 4, 6>(tiles);
  tiles.store<0>(c, kMaxBytes);
  tiles.release();
}

}  // namespace

void amx_model_run_dpbusd(const AmxJob& job, int64_t begin, int64_t end, uint8_t* abuf,
                          uint8_t* tails) {
  amx_run_tasks<ModelTiles, AmxOp::Dpbusd>(job, begin, end, abuf, tails);
}

void amx_model_run_dpbf16ps(const AmxJob& job, int64_t begin, int64_t end, uint8_t* abuf,
                            uint8_t* tails) {
  amx_run_tasks<ModelTiles, AmxOp::Dpbf16ps>(job, begin, end, abuf, tails);
}

void amx_tile_model_dpbusd(int32_t* c, const uint8_t* a, const int8_t* b) {
  tile_model_dot<AmxOp::Dpbusd>(c, a, b);
}

void amx_tile_model_dpbf16ps(float* c, const uint16_t* a, const uint16_t* b) {
  tile_model_dot<AmxOp::Dpbf16ps>(c, a, b);
}

}  // namespace ember::cpu
