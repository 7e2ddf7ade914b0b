// Deterministic merges of per-thread states across a warp and across a row's group of
// warps: a fixed xor butterfly inside a warp, then every thread folds the warp results in
// warp order. Same shape, same order, same bits; no atomics.
#pragma once
#include <cstring>

#include "cuda/reduce/plan.h"

namespace ember::cuda::rows {

// __shfl_xor_sync (xor = true) or __shfl_sync of any trivially copyable state, one 32-bit
// word at a time.
template <typename S>
__device__ __forceinline__ S shfl(S v, int lane_or_mask, bool xor_mask) {
  static_assert(sizeof(S) % 4 == 0, "states are whole 32-bit words");
  constexpr int kWords = sizeof(S) / 4;
  int w[kWords];
  memcpy(w, &v, sizeof(S));
#pragma unroll
  for (int i = 0; i < kWords; ++i)
    w[i] = xor_mask ? __shfl_xor_sync(0xffffffffu, w[i], lane_or_mask)
                    : __shfl_sync(0xffffffffu, w[i], lane_or_mask);
  memcpy(&v, w, sizeof(S));
  return v;
}

// Every lane of the warp gets lane 0's merge of all 32 lanes' states (a merge need not be
// bitwise symmetric, e.g. Welford's, so lanes of the butterfly can differ in the last bit).
template <class Op>
__device__ __forceinline__ typename Op::State warp_allreduce(typename Op::State v) {
#pragma unroll
  for (int m = kWarp / 2; m > 0; m /= 2) v = Op::combine(v, shfl(v, m, true));
  return shfl(v, 0, false);
}

// Every thread of a row's group (threads_per_row threads: one warp, or the whole block)
// gets the merge of the group's states. smem holds kWarp states; a group larger than a
// warp is the whole block, so every thread of the block must call this.
template <class Op>
__device__ __forceinline__ typename Op::State group_allreduce(typename Op::State v,
                                                              typename Op::State* smem,
                                                              int threads_per_row) {
  v = warp_allreduce<Op>(v);
  if (threads_per_row <= kWarp) return v;
  __syncthreads();  // an earlier call may still be reading smem
  if (threadIdx.x % kWarp == 0) smem[threadIdx.x / kWarp] = v;
  __syncthreads();
  v = smem[0];
  for (int i = 1; i < threads_per_row / kWarp; ++i) v = Op::combine(v, smem[i]);
  return v;
}

// Shared memory for n states of type S (states have no constructors to run).
template <typename S, int n>
__device__ __forceinline__ S* state_smem() {
  __shared__ alignas(16) unsigned char buf[n * sizeof(S)];
  return reinterpret_cast<S*>(buf);
}

}  // namespace ember::cuda::rows
