// The AMX instantiations of the tile loop (amx.h): TDPBUSD for the int8 GEMM, TDPBF16PS for
// the bf16 GEMM. Compiled only where the compiler takes -mamx-tile -mamx-int8 -mamx-bf16
// (plus the AVX-512 flags), and run only where the CPU has the instruction's feature and the
// OS granted the tile state; the software model (amx_model.cpp) instantiates the same loop
// and is what the tests check on CPUs without AMX.
#include <immintrin.h>

#include "cpu/amx/amx_driver.h"

namespace ember::cpu {
namespace {

// The intrinsics are macros that paste the tile number into the instruction, so each tile
// number gets its own specialization. Their asm names no memory operand, so compiler barriers
// order the scratch writes before the loads and the block reads after the stores.
struct HwTiles {
  void config(const TileConfig& c) {
    // The intrinsic's asm names only the first 8 bytes of its operand as read: make sure all
    // 64 are in memory.
    __asm__ volatile("" : : "m"(c) : "memory");
    _tile_loadconfig(&c);
  }
  void release() { _tile_release(); }
  template <int T>
  void zero();
  template <int T>
  void load(const void* base, int64_t stride);
  template <int T>
  void store(void* base, int64_t stride);
  template <int C, int A, int B>
  void dpbusd();
  template <int C, int A, int B>
  void dpbf16ps();
};

// Only the tiles the loop uses that way: C tiles 0-3 are zeroed and stored, A / B tiles 4-7
// loaded.
#define EMBER_AMX_C_TILE(T)                            \
  template <>                                          \
  void HwTiles::zero<T>() {                            \
    _tile_zero(T);                                     \
  }                                                    \
  template <>                                          \
  void HwTiles::store<T>(void* base, int64_t stride) { \
    _tile_stored(T, base, stride);                     \
    __asm__ volatile("" ::: "memory");                 \
  }
#define EMBER_AMX_IN_TILE(T)                                \
  template <>                                               \
  void HwTiles::load<T>(const void* base, int64_t stride) { \
    __asm__ volatile("" ::: "memory");                      \
    _tile_loadd(T, base, stride);                           \
  }
EMBER_AMX_C_TILE(0)
EMBER_AMX_C_TILE(1)
EMBER_AMX_C_TILE(2)
EMBER_AMX_C_TILE(3)
EMBER_AMX_IN_TILE(4)
EMBER_AMX_IN_TILE(5)
EMBER_AMX_IN_TILE(6)
EMBER_AMX_IN_TILE(7)
#undef EMBER_AMX_IN_TILE
#undef EMBER_AMX_C_TILE

#define EMBER_AMX_DOT(C, A, B)        \
  template <>                         \
  void HwTiles::dpbusd<C, A, B>() {   \
    _tile_dpbusd(C, A, B);            \
  }                                   \
  template <>                         \
  void HwTiles::dpbf16ps<C, A, B>() { \
    _tile_dpbf16ps(C, A, B);          \
  }
EMBER_AMX_DOT(0, 4, 6)
EMBER_AMX_DOT(1, 4, 7)
EMBER_AMX_DOT(2, 5, 6)
EMBER_AMX_DOT(3, 5, 7)
#undef EMBER_AMX_DOT

}  // namespace

void amx_hw_run_dpbusd(const AmxJob& job, int64_t begin, int64_t end, uint8_t* abuf,
                       uint8_t* tails) {
  amx_run_tasks<HwTiles, AmxOp::Dpbusd>(job, begin, end, abuf, tails);
}

void amx_hw_run_dpbf16ps(const AmxJob& job, int64_t begin, int64_t end, uint8_t* abuf,
                         uint8_t* tails) {
  amx_run_tasks<HwTiles, AmxOp::Dpbf16ps>(job, begin, end, abuf, tails);
}

}  // namespace ember::cpu
