// Element types of ember tensors. The numeric codes are shared with
// python/ember/_dtype.py; keep the two in sync.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace ember {

enum class DType : int8_t {
  Bool = 0,
  Int8 = 1,
  Int32 = 2,
  Int64 = 3,
  Float16 = 4,
  BFloat16 = 5,
  Float32 = 6,
  Float64 = 7,
};
constexpr int kNumDTypes = 8;

size_t dtype_size(DType t);
const char* dtype_name(DType t);
bool dtype_is_floating(DType t);

// float16 / bfloat16 storage helpers (round to nearest even, NaN kept quiet).
// Inline and tiny so kernels can use them in any translation unit; they use
// no ISA-specific code, so every copy of them is identical.
inline float bf16_to_float(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
inline uint16_t float_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}
float half_to_float(uint16_t h);
uint16_t float_to_half(float f);

}  // namespace ember
