// Device pieces shared by the attention kernels: per-(dtype, head dim) configuration, tile
// loads into shared memory, row-group reductions and the masked score.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "core/dtype_dispatch.h"
#include "cuda/attention/attention.h"

namespace ember::cuda::attn {

// Products accumulate in float32 (float64 for float64 operands); so do the softmax
// statistics.
template <typename T>
using acc_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

// 16-bit conversions by the hardware instructions (the portable bit-twiddling ones in
// convert.cuh cost registers in the hot loops).
template <typename A, typename T>
__device__ __forceinline__ A to_acc(T v) {
  if constexpr (std::is_same_v<T, Half>)
    return __half2float(__ushort_as_half(v.bits));
  else if constexpr (std::is_same_v<T, BFloat16>)
    return __bfloat162float(__ushort_as_bfloat16(v.bits));
  else
    return static_cast<A>(v);
}

// Round to nearest even.
template <typename T, typename A>
__device__ __forceinline__ T from_acc(A x) {
  if constexpr (std::is_same_v<T, Half>)
    return Half{__half_as_ushort(__float2half_rn(x))};
  else if constexpr (std::is_same_v<T, BFloat16>)
    return BFloat16{__bfloat16_as_ushort(__float2bfloat16_rn(x))};
  else
    return static_cast<T>(x);
}

template <typename T, int KD>
struct Config {
  using Elem = T;
  using A = acc_t<T>;
  static constexpr int kD = KD;
  static constexpr int kPitch = row_pitch(KD, sizeof(T));
  static constexpr int kCols = KD / kLanes;  // output columns per thread: lane + c * kLanes
  static constexpr int kFwdTile = stream_tile(Pass::Forward, KD, sizeof(T), sizeof(A));
  static constexpr int kDqTile = stream_tile(Pass::GradQ, KD, sizeof(T), sizeof(A));
  static constexpr int kKvTile = stream_tile(Pass::GradKV, KD, sizeof(T), sizeof(A));
};

// Calls fn(Config<T, kd>{}) for the operand dtype and padded head dim, for the
// configurations whose every pass fits the shared-memory budget (others are refused by
// supported() first).
template <typename Fn>
void visit_config(DType dtype, int64_t D, Fn&& fn) {
  const int kd = padded_head_dim(D);
  auto by_head_dim = [&](auto tag) {
    using T = decltype(tag);
    auto run = [&](auto cfg) {
      using C = decltype(cfg);
      if constexpr (C::kFwdTile > 0 && C::kDqTile > 0 && C::kKvTile > 0) fn(cfg);
    };
    if (kd == 32) return run(Config<T, 32>{});
    if (kd == 64) return run(Config<T, 64>{});
    if (kd == 128) return run(Config<T, 128>{});
    return run(Config<T, 256>{});
  };
  if (dtype == DType::Float32) return by_head_dim(float{});
  if (dtype == DType::Float64) return by_head_dim(double{});
  if (dtype == DType::Float16) return by_head_dim(Half{});
  return by_head_dim(BFloat16{});
}

// Rows [r0, r0 + rows) of one head's (T, D) slice (row stride st) into dst at the
// shared-memory pitch, by a block of NThreads; rows at or past n and columns at or past D are
// zero.
template <typename T, int KD, int Pitch = Config<T, KD>::kPitch, int NThreads = kThreads>
__device__ __forceinline__ void load_rows(T* dst, const T* src, int64_t st, int64_t r0, int64_t n,
                                          int rows, int64_t D) {
  for (int idx = threadIdx.x; idx < rows * KD; idx += NThreads) {
    const int r = idx / KD, c = idx % KD;
    T v{};
    if (r0 + r < n && c < D) v = src[(r0 + r) * st + c];
    dst[r * Pitch + c] = v;
  }
}

// Dot product of two zero-padded shared-memory rows.
template <typename A, typename T, int KD>
__device__ __forceinline__ A dot_rows(const T* a, const T* b) {
  A s = A(0);
#pragma unroll 16
  for (int d = 0; d < KD; ++d) s += to_acc<A>(a[d]) * to_acc<A>(b[d]);
  return s;
}

// Max / sum over the kLanes lanes of a row group (every lane of the warp takes part).
template <typename A>
__device__ __forceinline__ A group_max(A x) {
#pragma unroll
  for (int o = kLanes / 2; o > 0; o >>= 1) {
    const A y = __shfl_xor_sync(0xffffffffu, x, o);
    x = y > x ? y : x;
  }
  return x;
}

template <typename A>
__device__ __forceinline__ A group_sum(A x) {
#pragma unroll
  for (int o = kLanes / 2; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}

// What a block works on: batch b, head h (the query head; the kv head in the dK / dV pass),
// its sequence's query rows [q_begin, q_begin + tq) and key rows [k_begin, k_begin + tk),
// and its tile of kRows rows (queries; keys for dK / dV) within the sequence. Dense
// attention has one sequence per batch entry, starting at row 0.
struct Segment {
  int64_t b, h, q_begin, tq, k_begin, tk, tile;
};

__device__ __forceinline__ Segment segment(const Params& p, bool kv_pass) {
  const int64_t heads = kv_pass ? p.Hkv : p.Hq, blk = blockIdx.x;
  if (p.cu_q == nullptr) {
    const TileCoord tc = tile_coord(blk, cdiv(kv_pass ? p.Tk : p.Tq, kRows));
    return {tc.head / heads, tc.head % heads, 0, p.Tq, 0, p.Tk, tc.tile};
  }
  const int64_t* it = (kv_pass ? p.items_k : p.items_q) + 2 * (blk / heads);
  const int64_t s = it[0];
  return {
      0,    blk % heads, p.cu_q[s], p.cu_q[s + 1] - p.cu_q[s], p.cu_k[s], p.cu_k[s + 1] - p.cu_k[s],
      it[1]};
}

// The score of query i, key j of the segment (rows within its sequence) under head h from
// the raw product q.k: scale * raw plus the additive mask, -inf where the bool mask,
// causality or a sequence end hides the key.
template <typename A>
__device__ __forceinline__ A masked_score(const Params& p, const Segment& sg, int64_t h, A raw,
                                          A scale, int64_t i, int64_t j) {
  if (!visible(i, j, sg.tq, sg.tk, p.causal)) return neg_inf<A>();
  A s = raw * scale;
  if (p.mask_kind != MaskKind::None) {  // never with varlen
    const int64_t off = sg.b * p.smb + h * p.smh + i * p.smq + j * p.smk;
    if (p.mask_kind == MaskKind::Bool) {
      if (static_cast<const uint8_t*>(p.mask)[off] == 0) return neg_inf<A>();
    } else {
      s += static_cast<const A*>(p.mask)[off];
    }
  }
  return s;
}

// Row `row0` of head (b, h) of an operand.
template <typename T>
__device__ __forceinline__ const T* head_ptr(const Operand& x, int64_t b, int64_t h, int64_t row0) {
  return static_cast<const T*>(x.p) + b * x.sb + h * x.sh + row0 * x.st;
}

template <typename T>
__device__ __forceinline__ T* head_ptr_mut(const Operand& x, int64_t b, int64_t h, int64_t row0) {
  return static_cast<T*>(x.p) + b * x.sb + h * x.sh + row0 * x.st;
}

}  // namespace ember::cuda::attn
