// Block dot products of qblock_linear (a weight row's blocks against Q8_0 activations),
// compiled once per ISA inside namespace ember::<isa> (ember_add_isa_kernels). Integer dot
// products are not expressible on the float Vec API: the x86 ones sit in qblock_x86.inc, the
// portable ones below. Nothing here may instantiate std:: templates
// (docs/architecture.md#the-one-definition-trap).
#include "cpu/simd/vec.h"  // first: it may wrap <immintrin.h>
//
#include "cpu/qblock/qblock.h"

namespace ember::EMBER_ISA_NS {

#if defined(EMBER_ISA_AVX512) || defined(EMBER_ISA_AVX2)
#include "cpu/qblock/qblock_x86.inc"
#else
namespace {

// fp16 bits -> float (core/half.h is not included: its inline code would be compiled once
// per ISA under one name).
float scale_of(const uint8_t* block) {
  uint16_t h;
  __builtin_memcpy(&h, block, 2);
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu,
                 mant = h & 0x3ffu;
  if (exp == 0) {  // zero or subnormal: mant * 2^-24
    const float v = static_cast<float>(mant) * 5.9604645e-08f;
    return sign ? -v : v;
  }
  const uint32_t bits =
      exp == 31 ? (sign | 0x7f800000u | mant << 13) : (sign | (exp + 112) << 23 | mant << 13);
  float f;
  __builtin_memcpy(&f, &bits, 4);
  return f;
}

float dot_q8_0(const uint8_t* w, const cpu::QActs& x, int64_t nb) {
  float acc = 0.0f;
  for (int64_t b = 0; b < nb; ++b, w += cpu::kQ8_0Bytes) {
    const int8_t* xq = x.q + b * 32;
    int32_t s = 0;
    for (int j = 0; j < 32; ++j) s += static_cast<int8_t>(w[2 + j]) * xq[j];
    acc += scale_of(w) * x.d[b] * static_cast<float>(s);
  }
  return acc;
}

float dot_q4_0(const uint8_t* w, const cpu::QActs& x, int64_t nb) {
  float acc = 0.0f;
  for (int64_t b = 0; b < nb; ++b, w += cpu::kQ4_0Bytes) {
    const int8_t* xq = x.q + b * 32;
    int32_t s = 0;
    for (int j = 0; j < 16; ++j)
      s += ((w[2 + j] & 0x0F) - 8) * xq[j] + ((w[2 + j] >> 4) - 8) * xq[j + 16];
    acc += scale_of(w) * x.d[b] * static_cast<float>(s);
  }
  return acc;
}

}  // namespace
#endif

const cpu::QBlockTable qblock_table = {dot_q8_0, dot_q4_0};

}  // namespace ember::EMBER_ISA_NS
