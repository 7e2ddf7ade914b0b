// float32 attention kernels for avx512: the Vec API of cpu/simd/vec_avx512.h applied to
// attention_kernels.inc. Everything defined here lives in ember::avx512 (DESIGN.md, the
// one-definition trap).
#include "cpu/simd/vec_avx512.h"  // first: it wraps <immintrin.h>
//
#include "cpu/attention/attention.h"

namespace ember::avx512 {
#include "cpu/attention/attention_kernels.inc"
}  // namespace ember::avx512
