// The uint8 activation codes of the int8 GEMM, one definition for the CPU kernels and the
// CUDA ones (host and device) so both produce the same bits.
#pragma once
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define EMBER_QUANT_HD __host__ __device__ __forceinline__
#else
#define EMBER_QUANT_HD inline
#endif

namespace ember {

// One code of the static quantizer, q = clamp(round(x / scale) + z, 0, 255) rounding half to
// even (z is the zero point as a float). Baseline x86-64 driver code has no rounding
// instruction (std::nearbyint is a libm call), so v is clamped to [-512, 512] first
// (anything beyond saturates anyway, z being in [0, 255]; NaN becomes -512, code 0) and adding
// then subtracting 1.5 * 2^23 rounds it half to even. For finite x this is also the code of
// the per-row quantizer.
EMBER_QUANT_HD uint8_t quantize_u8_code(float x, float scale, float z) {
  float v = x / scale;
  v = v > -512.0f ? v : -512.0f;
  v = v < 512.0f ? v : 512.0f;
  v = (v + 12582912.0f) - 12582912.0f + z;
  v = v > 0.0f ? v : 0.0f;
  v = v < 255.0f ? v : 255.0f;
  return static_cast<uint8_t>(static_cast<int32_t>(v));
}

}  // namespace ember
