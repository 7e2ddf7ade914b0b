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

EMBER_HD uint32_t float_bits(float f) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(f);
#else
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
#endif
}

EMBER_HD float bits_float(uint32_t b) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(b);
#else
  float f;
  std::memcpy(&f, &b, 4);
  return f;
#endif
}

EMBER_HD float half_to_float_hd(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: renormalize
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400u) == 0);
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (mant & 0x3ffu) << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | mant << 13;
  } else {
    bits = sign | (exp + 112) << 23 | mant << 13;
  }
  return bits_float(bits);
}

EMBER_HD uint16_t float_to_half_hd(float f) {
  uint32_t bits = float_bits(f);
  uint32_t sign = (bits >> 16) & 0x8000u;
  uint32_t abs = bits & 0x7fffffffu;
  if (abs > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);   // NaN
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
  if (abs < 0x38800000u) {  // subnormal or zero: adding 0.5 rounds at the half ulp 2^-24
    float af = bits_float(abs) + 0.5f;
    return static_cast<uint16_t>(sign | (float_bits(af) - 0x3f000000u));
  }
  uint32_t mant_odd = (abs >> 13) & 1u;
  abs += 0xc8000fffu + mant_odd;  // rebias exponent and round to nearest even
  return static_cast<uint16_t>(sign | (abs >> 13));
}

EMBER_HD float bf16_to_float_hd(uint16_t h) { return bits_float(static_cast<uint32_t>(h) << 16); }

EMBER_HD uint16_t float_to_bf16_hd(float f) {
  uint32_t bits = float_bits(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

// Value as float, the way the CPU gets there (integers via double).
template <typename S>
EMBER_HD float to_float(S v) {
  if constexpr (std::is_same_v<S, Half>)
    return half_to_float_hd(v.bits);
  else if constexpr (std::is_same_v<S, BFloat16>)
    return bf16_to_float_hd(v.bits);
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
    return Half{float_to_half_hd(to_float(v))};
  } else if constexpr (std::is_same_v<D, BFloat16>) {
    return BFloat16{float_to_bf16_hd(to_float(v))};
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
