// float32 layer norm / RMS norm row kernels for avx2: the Vec API of cpu/simd/vec_avx2.h
// applied to norm_kernels.inc. Everything defined here lives in ember::avx2 (see
// DESIGN.md, the one-definition trap).
#include "cpu/simd/vec_avx2.h"  // first: it may wrap <immintrin.h>
//
#include "cpu/norm/norm.h"

namespace ember::avx2 {
#include "cpu/norm/norm_kernels.inc"
}  // namespace ember::avx2
