// float32 softmax cross-entropy row kernel for avx512: the Vec API of cpu/simd/vec_avx512.h
// applied to cross_entropy_kernels.inc. Everything defined here lives in ember::avx512 (see
// DESIGN.md, the one-definition trap).
#include "cpu/simd/vec_avx512.h"  // first: it may wrap <immintrin.h>
//
#include "cpu/loss/cross_entropy.h"

namespace ember::avx512 {
#include "cpu/loss/cross_entropy_kernels.inc"
}  // namespace ember::avx512
