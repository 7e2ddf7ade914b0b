// float32 reduction and softmax row kernels for avx2: the Vec API of cpu/simd/vec_avx2.h
// applied to reduce_kernels.inc. Everything defined here lives in ember::avx2 (see
// DESIGN.md, the one-definition trap).
#include "cpu/simd/vec_avx2.h"  // first: it may wrap <immintrin.h>
//
#include "cpu/reduce/reduce.h"

namespace ember::avx2 {
#include "cpu/reduce/reduce_kernels.inc"
}  // namespace ember::avx2
