// The CUDA C++ device language on the host emulator: the qualifiers become nothing (or
// `static`, for __shared__), the built-in index variables read the running fiber's, and
// the intrinsics the kernels use are the host operations with the same rounding. Force-
// included (through cuda_runtime.h) into every source of the emulator build.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "emu/emu.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
// Function-local statics are shared by every fiber of the block, as __shared__ variables
// are by the threads of one; blocks run one after another.
#define __shared__ static
#define __constant__ static

#define threadIdx (::ember_emu::g_thread_idx)
#define blockIdx (::ember_emu::g_block_idx)
#define blockDim (::ember_emu::g_block_dim)
#define gridDim (::ember_emu::g_grid_dim)
constexpr int warpSize = 32;

inline void __syncthreads() { ember_emu::block_barrier(); }
inline int __syncthreads_or(int pred) { return ember_emu::block_barrier_or(pred != 0) ? 1 : 0; }
inline void __threadfence() {}
inline void __threadfence_block() {}

inline void __syncwarp(unsigned = 0xffffffffu) {
  ember_emu::warp_collective<char, char>(0, [](const char*, char*, uint32_t) {});
}

template <typename T>
T __shfl_sync(unsigned, T v, int src, int width = 32) {
  struct In {
    T v;
    int src;
  };
  return ember_emu::warp_collective<In, T>(In{v, src}, [width](const In* in, T* out, uint32_t) {
    for (int l = 0; l < 32; ++l) out[l] = in[(l / width) * width + (in[l].src % width)].v;
  });
}

template <typename T>
T __shfl_xor_sync(unsigned, T v, int mask, int width = 32) {
  return ember_emu::warp_collective<T, T>(v, [mask, width](const T* in, T* out, uint32_t) {
    for (int l = 0; l < 32; ++l) {
      const int src = l ^ mask;
      // A lane outside the width group reads its own value back, as the hardware does.
      out[l] = src / width == l / width ? in[src] : in[l];
    }
  });
}

inline unsigned __ballot_sync(unsigned, int pred) {
  return ember_emu::warp_collective<int, unsigned>(pred,
                                                   [](const int* in, unsigned* out, uint32_t live) {
                                                     unsigned bits = 0;
                                                     for (int l = 0; l < 32; ++l)
                                                       if ((live >> l & 1u) && in[l])
                                                         bits |= 1u << l;
                                                     for (int l = 0; l < 32; ++l) out[l] = bits;
                                                   });
}

// Only one fiber runs at a time and none yields inside these: plain read-modify-writes.
template <typename T>
T atomicAdd(T* p, T v) {
  const T old = *p;
  *p = old + v;
  return old;
}
template <typename T>
T atomicMin(T* p, T v) {
  const T old = *p;
  if (v < old) *p = v;
  return old;
}
template <typename T>
T atomicMax(T* p, T v) {
  const T old = *p;
  if (old < v) *p = v;
  return old;
}
template <typename T>
T atomicCAS(T* p, T compare, T v) {
  const T old = *p;
  if (old == compare) *p = v;
  return old;
}
template <typename T>
T atomicExch(T* p, T v) {
  const T old = *p;
  *p = v;
  return old;
}

// Bit casts and explicitly rounded arithmetic. The emulator build compiles with
// -ffp-contract=off, so a * b + c rounds twice here, as __fmul_rn/__fadd_rn do on the GPU.
inline unsigned __float_as_uint(float f) {
  unsigned u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float __uint_as_float(unsigned u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline int __float_as_int(float f) { return static_cast<int>(__float_as_uint(f)); }
inline float __int_as_float(int i) { return __uint_as_float(static_cast<unsigned>(i)); }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __dadd_rn(double a, double b) { return a + b; }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }

inline size_t __cvta_generic_to_shared(const void* p) { return ember_emu::shared_address(p); }

// CUDA's global min/max overloads (mixed integer types compare in their common type).
template <typename A, typename B>
std::common_type_t<A, B> min(A a, B b) {
  return b < a ? b : a;
}
template <typename A, typename B>
std::common_type_t<A, B> max(A a, B b) {
  return a < b ? b : a;
}
