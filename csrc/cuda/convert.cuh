// Element conversions for CUDA kernels, bit-for-bit the same as the CPU's
// ember::convert (csrc/core/dtype_dispatch.h): float16/bfloat16 go through float
// with the same rounding and NaN encoding, float -> integer saturates and maps
// NaN to 0, integers reach float through double. __host__ __device__ so the
// same code can be checked on a machine without a GPU.
#pragma once
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "core/dtype_dispatch.h"

#define EMBER_HD __host__ __device__ __forceinline__

namespace ember::cuda {

// std::numeric_limits is not callable from device code without relaxed constexpr.
template <typename T>
struct IntLimits;
template <>
struct IntLimits<int8_t> {
  static constexpr int8_t lo = INT8_MIN, hi = INT8_MAX;
};
template <>
struct IntLimits<int32_t> {
  static constexpr int32_t lo = INT32_MIN, hi = INT32_MAX;
};
template <>
struct IntLimits<int64_t> {
  static constexpr int64_t lo = INT64_MIN, hi = INT64_MAX;
};

template <typename T>
constexpr bool is_half_like_v = std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>;

// Value as float, the way the CPU gets there (integers via double).
template <typename S>
EMBER_HD float to_float(S v) {
  if constexpr (std::is_same_v<S, Half>)
    return half_to_float(v.bits);
  else if constexpr (std::is_same_v<S, BFloat16>)
    return bf16_to_float(v.bits);
  else if constexpr (std::is_same_v<S, float>)
    return v;
  else
    return static_cast<float>(static_cast<double>(v));
}

template <typename D, typename S>
EMBER_HD D convert_to(S v) {
  if constexpr (std::is_same_v<D, S>) {
    return v;
  } else if constexpr (std::is_same_v<D, Half>) {
    return Half{float_to_half(to_float(v))};
  } else if constexpr (std::is_same_v<D, BFloat16>) {
    return BFloat16{float_to_bf16(to_float(v))};
  } else if constexpr (std::is_same_v<D, bool>) {
    if constexpr (is_half_like_v<S>)
      return to_float(v) != 0.0f;
    else
      return v != S(0);
  } else if constexpr (is_half_like_v<S>) {
    return convert_to<D>(to_float(v));
  } else if constexpr (std::is_integral_v<D> && std::is_floating_point_v<S>) {
    if (v != v) return D(0);
    if (v >= static_cast<S>(IntLimits<D>::hi)) return IntLimits<D>::hi;
    if (v <= static_cast<S>(IntLimits<D>::lo)) return IntLimits<D>::lo;
    return static_cast<D>(v);
  } else {
    return static_cast<D>(v);
  }
}

}  // namespace ember::cuda
