// float32 attention kernels for avx2: the Vec API of cpu/simd/vec_avx2.h applied to
// attention_kernels.inc. Everything defined here lives in ember::avx2 (DESIGN.md, the
// one-definition trap).
#include "cpu/simd/vec_avx2.h"  // first: it wraps <immintrin.h>
//
#include "cpu/attention/attention.h"

namespace ember::avx2 {
#include "cpu/attention/attention_kernels.inc"
}  // namespace ember::avx2
