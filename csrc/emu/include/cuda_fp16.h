// cuda_fp16.h on the host emulator: the conversions the kernels use, with the CPU's
// round-to-nearest-even bit conversions.
#pragma once
#include <cstdint>

#include "core/half.h"

struct __half {
  uint16_t bits;
};
inline float __half2float(__half h) { return ember::half_to_float(h.bits); }
inline __half __float2half_rn(float f) { return __half{ember::float_to_half(f)}; }
inline __half __ushort_as_half(unsigned short u) { return __half{u}; }
inline unsigned short __half_as_ushort(__half h) { return h.bits; }
