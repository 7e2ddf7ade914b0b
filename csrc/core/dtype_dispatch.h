// Compile-time element types for each DType, and a visitor that calls a
// generic lambda with a null pointer of the matching C++ type:
//   visit_dtype(t.dtype, [&](auto* tag) { using T = std::remove_pointer_t<decltype(tag)>; ... });
// Only for generic (non-ISA) translation units: see docs/architecture.md#the-one-definition-trap.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "core/dtype.h"
#include "core/error.h"

namespace ember {

struct Half {
  uint16_t bits;
};
struct BFloat16 {
  uint16_t bits;
};

// Value conversion between any two element types (float16/bfloat16 via float).
template <typename T>
inline double to_double(T v) {
  if constexpr (std::is_same_v<T, Half>)
    return half_to_float(v.bits);
  else if constexpr (std::is_same_v<T, BFloat16>)
    return bf16_to_float(v.bits);
  else
    return static_cast<double>(v);
}

template <typename D, typename S>
inline D convert(S v) {
  if constexpr (std::is_same_v<D, S>) {
    return v;
  } else if constexpr (std::is_same_v<D, Half>) {
    return Half{float_to_half(static_cast<float>(to_double(v)))};
  } else if constexpr (std::is_same_v<D, BFloat16>) {
    return BFloat16{float_to_bf16(static_cast<float>(to_double(v)))};
  } else if constexpr (std::is_same_v<D, bool>) {
    return to_double(v) != 0.0;
  } else if constexpr (std::is_same_v<S, Half> || std::is_same_v<S, BFloat16>) {
    return convert<D>(to_double(v));  // through double: integers saturate like float32's
  } else if constexpr (std::is_integral_v<D> && std::is_floating_point_v<S>) {
    // Out-of-range and NaN are undefined in C++; give them a fixed answer (0 for NaN,
    // saturation otherwise) so results never depend on the compiler.
    if (std::isnan(v)) return D(0);
    if (v >= static_cast<S>(std::numeric_limits<D>::max())) return std::numeric_limits<D>::max();
    if (v <= static_cast<S>(std::numeric_limits<D>::min())) return std::numeric_limits<D>::min();
    return static_cast<D>(v);
  } else {
    return static_cast<D>(v);
  }
}

template <typename Fn>
inline void visit_dtype(DType t, Fn&& fn) {
  switch (t) {
    case DType::Bool:
      return fn(static_cast<bool*>(nullptr));
    case DType::Int8:
      return fn(static_cast<int8_t*>(nullptr));
    case DType::Int32:
      return fn(static_cast<int32_t*>(nullptr));
    case DType::Int64:
      return fn(static_cast<int64_t*>(nullptr));
    case DType::Float16:
      return fn(static_cast<Half*>(nullptr));
    case DType::BFloat16:
      return fn(static_cast<BFloat16*>(nullptr));
    case DType::Float32:
      return fn(static_cast<float*>(nullptr));
    case DType::Float64:
      return fn(static_cast<double*>(nullptr));
  }
}

}  // namespace ember
