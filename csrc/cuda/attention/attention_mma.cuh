// Warp-level tensor-core pieces of the 16-bit attention kernels (forward and backward):
// mma.sync m16n8k16 with float32 accumulation, fragment loads from shared-memory tiles of
// pitch `Pitch` elements, and the two products every pass is made of:
//   mma_abt: C (16 x 8 NB) += A B^T, B given as NB * 8 rows (keys for S = Q K^T);
//   mma_acc: O (16 x KD) += C Y with C a previous product's accumulators, re-used in
//            registers as the A operand (P or dS: attention_plan.h, mma_p_block / mma_p_elem),
//            rounded to the operand type.
#pragma once
#include <type_traits>

#include "cuda/attention/attention_tile.cuh"
#include "cuda/gemm/ptx.cuh"

namespace ember::cuda::attn {

// Two adjacent 16-bit shared-memory elements (the first 4-byte aligned) as one register.
template <typename T>
__device__ __forceinline__ uint32_t load_pair(const T* x) {
  return *reinterpret_cast<const uint32_t*>(x);
}

// Two 16-bit elements as one register, lo in the low half.
template <typename T>
__device__ __forceinline__ uint32_t pack_bits(T lo, T hi) {
  return static_cast<uint32_t>(lo.bits) | (static_cast<uint32_t>(hi.bits) << 16);
}

template <typename T>
__device__ __forceinline__ uint32_t pack_floats(float lo, float hi) {
  return pack_bits(from_acc<T>(lo), from_acc<T>(hi));
}

// d += a b for a 16 x 16 A fragment and a 16 x 8 B fragment (the GEMM's PTX).
template <typename T>
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4],
                                          const uint32_t (&b)[2]) {
  gemm::mma_16816<std::is_same_v<T, BFloat16>>(d, a, b);
}

// Max / sum over the 4 lanes holding one fragment row (lanes 4g .. 4g + 3).
__device__ __forceinline__ float quad_max(float x) {
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
  return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
}
__device__ __forceinline__ float quad_sum(float x) {
  x += __shfl_xor_sync(0xffffffffu, x, 1);
  return x + __shfl_xor_sync(0xffffffffu, x, 2);
}

template <typename T>
__device__ __forceinline__ void zero(T& x) {
  if constexpr (std::is_array_v<T>) {
#pragma unroll
    for (auto& y : x) zero(y);
  } else {
    x = T(0);
  }
}

// The A fragment of the 16 x 16 block of a row-major tile starting at x.
template <typename T, int Pitch>
__device__ __forceinline__ void load_a(uint32_t (&a)[4], const T* x, int lane) {
#pragma unroll
  for (int r = 0; r < 4; ++r) {
    const RowCol rc = mma_a(lane, 2 * r);
    a[r] = load_pair(x + rc.r * Pitch + rc.c);
  }
}

// C (16 x 8 NB) += A B^T over one 16-column block: a is A's fragment, y points at column
// 16 kb of the NB * 8 rows of B (B^T[k][n] = y[n][k]: two adjacent k of one row).
template <typename T, int NB, int Pitch>
__device__ __forceinline__ void mma_abt(float (&c)[NB][4], const uint32_t (&a)[4], const T* y,
                                        int lane) {
#pragma unroll
  for (int n = 0; n < NB; ++n) {
    uint32_t b[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const RowCol rc = mma_b(lane, 2 * r);
      b[r] = load_pair(y + (n * 8 + rc.c) * Pitch + rc.r);
    }
    mma_16816<T>(c[n], a, b);
  }
}

// O (16 x 8 ON) += C Y: C (16 x 8 NB, NB even) the accumulators of a previous product, Y
// the NB * 8 rows of a row-major tile (Y[k][n]: two rows of one column per register).
template <typename T, int ON, int NB, int Pitch>
__device__ __forceinline__ void mma_acc(float (&o)[ON][4], const float (&c)[NB][4], const T* y,
                                        int lane) {
#pragma unroll
  for (int kb = 0; kb < NB / 2; ++kb) {
    uint32_t a[4];
#pragma unroll
    for (int r = 0; r < 4; ++r)
      a[r] = pack_floats<T>(c[mma_p_block(kb, 2 * r)][mma_p_elem(2 * r)],
                            c[mma_p_block(kb, 2 * r + 1)][mma_p_elem(2 * r + 1)]);
#pragma unroll
    for (int n = 0; n < ON; ++n) {
      uint32_t b[2];
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const RowCol r0 = mma_b(lane, 2 * r), r1 = mma_b(lane, 2 * r + 1);
        b[r] = pack_bits(y[(kb * 16 + r0.r) * Pitch + n * 8 + r0.c],
                         y[(kb * 16 + r1.r) * Pitch + n * 8 + r1.c]);
      }
      mma_16816<T>(o[n], a, b);
    }
  }
}

}  // namespace ember::cuda::attn
