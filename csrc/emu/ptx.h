// The PTX of cuda/gemm/ptx.cuh on the host emulator, written from the PTX ISA's fragment
// layouts (not from the kernels' coordinate helpers, which these emulations are meant to
// check). Lane l of a warp has group g = l / 4 and thread-in-group t = l % 4.
#pragma once
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "core/half.h"
#include "emu/device.h"
#include "emu/emu.h"

namespace ember::cuda::gemm {

inline uint32_t smem_addr(const void* p) { return ember_emu::shared_address(p); }

// cp.async.cg: 16 bytes, src_bytes of them read from global memory, the rest zero.
inline void cp_async_16(uint32_t dst, const void* src, int src_bytes) {
  unsigned char* d = ember_emu::shared_pointer(dst);
  ember_emu::check_shared(d, 16, 16, "cp.async");
  if (src_bytes > 0) ember_emu::check_global(src, 16, "cp.async");
  ember_emu::async_copy(d, src, static_cast<size_t>(src_bytes), 16);
}
inline void cp_async_commit() { ember_emu::async_commit(); }
template <int N>
inline void cp_async_wait() {
  ember_emu::async_wait(N);
}

// ldmatrix.m8n8.x4.b16: lanes 8j..8j+7 give the row addresses of 8x8 matrix j; lane l gets,
// of each matrix, elements (g, 2t) and (g, 2t + 1), or with .trans (2t, g) and (2t + 1, g),
// the first in the low half of the register.
template <bool Trans>
inline void ldmatrix_x4(uint32_t (&r)[4], uint32_t addr) {
  struct Out {
    uint32_t r[4];
  };
  const Out out =
      ember_emu::warp_collective<uint32_t, Out>(addr, [](const uint32_t* rows, Out* o, uint32_t) {
        auto elem = [&](int m, int row, int col) {
          const unsigned char* p = ember_emu::shared_pointer(rows[8 * m + row]);
          ember_emu::check_shared(p, 16, 16, "ldmatrix");
          uint16_t v;
          std::memcpy(&v, p + 2 * col, 2);
          return uint32_t{v};
        };
        for (int l = 0; l < 32; ++l) {
          const int g = l / 4, t = l % 4;
          for (int m = 0; m < 4; ++m) {
            const uint32_t lo = Trans ? elem(m, 2 * t, g) : elem(m, g, 2 * t);
            const uint32_t hi = Trans ? elem(m, 2 * t + 1, g) : elem(m, g, 2 * t + 1);
            o[l].r[m] = lo | hi << 16;
          }
        }
      });
  std::memcpy(r, out.r, sizeof r);
}

namespace emu_detail {
struct MmaIn {
  uint32_t a[4], b[2];
  uint32_t c[4];  // float or int32 bits
};
struct MmaOut {
  uint32_t d[4];
};
// The accumulator layout every mma shape here shares: c0, c1 at (g, 2t), (g, 2t + 1),
// c2, c3 at (g + 8, 2t), (g + 8, 2t + 1) of the 16x8 result.
inline int acc_row(int l, int i) { return l / 4 + (i >= 2 ? 8 : 0); }
inline int acc_col(int l, int i) { return 2 * (l % 4) + (i & 1); }

// d = a (16 x K) @ b (K x 8) + c, with a(row, k) and b(k, col) reading the lanes' fragments
// (each element decoded once). Float products of 16-bit or tf32 operands are exact in
// float32; they are added to c one at a time in float32, which rounds about as often as the
// tensor cores do (the PTX ISA leaves their order and rounding unspecified), rather than
// once in float64, which would pass a kernel whose error the hardware would not.
template <typename Acc, int K, typename A, typename B>
void mma(const MmaIn* in, MmaOut* out, A a, B b) {
  using V = std::conditional_t<std::is_same_v<Acc, float>, float, int64_t>;
  V am[16][K], bm[K][8];
  for (int row = 0; row < 16; ++row)
    for (int k = 0; k < K; ++k) am[row][k] = static_cast<V>(a(row, k));
  for (int k = 0; k < K; ++k)
    for (int col = 0; col < 8; ++col) bm[k][col] = static_cast<V>(b(k, col));
  for (int l = 0; l < 32; ++l)
    for (int i = 0; i < 4; ++i) {
      const int row = acc_row(l, i), col = acc_col(l, i);
      if constexpr (std::is_same_v<Acc, float>) {
        float sum = __uint_as_float(in[l].c[i]);
        for (int k = 0; k < K; ++k) sum += am[row][k] * bm[k][col];
        out[l].d[i] = __float_as_uint(sum);
      } else {
        int64_t sum = static_cast<int32_t>(in[l].c[i]);
        for (int k = 0; k < K; ++k) sum += am[row][k] * bm[k][col];
        out[l].d[i] = static_cast<uint32_t>(static_cast<int32_t>(sum));  // wraps, as s32 adds do
      }
    }
}
inline float half_of(uint32_t reg, int which, bool bf16) {
  const uint16_t h = static_cast<uint16_t>(reg >> (16 * which));
  return bf16 ? ember::bf16_to_float(h) : ember::half_to_float(h);
}

// One mma.sync of the calling warp: the lanes' fragments in, each lane's d out.
// fa(x, row, k) and fb(x, k, col) read an element of A and B from all lanes' fragments x.
template <typename Acc, int K, typename FA, typename FB>
void mma_sync(Acc (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2], FA fa, FB fb) {
  MmaIn in{};
  std::memcpy(in.a, a, sizeof a);
  std::memcpy(in.b, b, sizeof b);
  std::memcpy(in.c, d, sizeof d);
  const MmaOut out =
      ember_emu::warp_collective<MmaIn, MmaOut>(in, [fa, fb](const MmaIn* x, MmaOut* o, uint32_t) {
        mma<Acc, K>(
            x, o, [&](int row, int k) { return fa(x, row, k); },
            [&](int k, int col) { return fb(x, k, col); });
      });
  std::memcpy(d, out.d, sizeof d);
}
}  // namespace emu_detail

// mma.m16n8k16 (f16 / bf16 in, f32 accumulators). A: a0 (g, 2t..2t+1), a1 (g + 8, 2t..),
// a2 (g, 2t + 8..), a3 (g + 8, 2t + 8..). B: b0 (2t..2t+1, g), b1 (2t + 8.., g).
template <bool Bf16>
inline void mma_16816(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  using emu_detail::MmaIn;
  emu_detail::mma_sync<float, 16>(
      d, a, b,
      [](const MmaIn* x, int row, int k) {
        const int reg = (row >= 8 ? 1 : 0) + (k >= 8 ? 2 : 0);
        return emu_detail::half_of(x[(row % 8) * 4 + (k % 8) / 2].a[reg], k % 2, Bf16);
      },
      [](const MmaIn* x, int k, int col) {
        return emu_detail::half_of(x[col * 4 + (k % 8) / 2].b[k >= 8 ? 1 : 0], k % 2, Bf16);
      });
}

// mma.m16n8k8 (tf32 in, f32 accumulators); the hardware reads the top 19 bits of each
// operand. A: a0 (g, t), a1 (g + 8, t), a2 (g, t + 4), a3 (g + 8, t + 4). B: b0 (t, g),
// b1 (t + 4, g).
inline void mma_1688_tf32(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  using emu_detail::MmaIn;
  auto tf32 = [](uint32_t u) { return __uint_as_float(u & 0xffffe000u); };
  emu_detail::mma_sync<float, 8>(
      d, a, b,
      [tf32](const MmaIn* x, int row, int k) {
        return tf32(x[(row % 8) * 4 + k % 4].a[(row >= 8 ? 1 : 0) + (k >= 4 ? 2 : 0)]);
      },
      [tf32](const MmaIn* x, int k, int col) {
        return tf32(x[col * 4 + k % 4].b[k >= 4 ? 1 : 0]);
      });
}

// cvt.rna.tf32.f32: round to 10 mantissa bits, ties away from zero; Inf and NaN kept.
inline uint32_t to_tf32(float x) {
  const uint32_t u = __float_as_uint(x);
  if ((u & 0x7f800000u) == 0x7f800000u) return u;
  return (u + 0x1000u) & 0xffffe000u;
}

// mma.m16n8k32 (u8 A, s8 B, s32 accumulators). A: a0 (g, 4t..4t+3), a1 (g + 8, 4t..),
// a2 (g, 4t + 16..), a3 (g + 8, 4t + 16..). B: b0 (4t..4t+3, g), b1 (4t + 16.., g).
inline void mma_16832(int32_t (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  using emu_detail::MmaIn;
  emu_detail::mma_sync<int32_t, 32>(
      d, a, b,
      [](const MmaIn* x, int row, int k) {
        const uint32_t reg =
            x[(row % 8) * 4 + (k % 16) / 4].a[(row >= 8 ? 1 : 0) + (k >= 16 ? 2 : 0)];
        return int32_t{static_cast<uint8_t>(reg >> (8 * (k % 4)))};
      },
      [](const MmaIn* x, int k, int col) {
        const uint32_t reg = x[col * 4 + (k % 16) / 4].b[k >= 16 ? 1 : 0];
        return int32_t{static_cast<int8_t>(static_cast<uint8_t>(reg >> (8 * (k % 4))))};
      });
}

// dp4a.u32.s32: c + the dot product of a's 4 unsigned bytes with b's 4 signed ones.
inline int32_t dp4a_us(uint32_t a, uint32_t b, int32_t c) {
  int64_t sum = c;
  for (int i = 0; i < 4; ++i)
    sum += int64_t{static_cast<uint8_t>(a >> (8 * i))} *
           int64_t{static_cast<int8_t>(static_cast<uint8_t>(b >> (8 * i)))};
  return static_cast<int32_t>(static_cast<uint32_t>(sum));
}

}  // namespace ember::cuda::gemm
