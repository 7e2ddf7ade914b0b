// float32 softmax cross-entropy row kernel for avx2: the Vec API of cpu/simd/vec_avx2.h
// applied to cross_entropy_kernels.inc. Everything defined here lives in ember::avx2 (see
// DESIGN.md, the one-definition trap).
#include "cpu/simd/vec_avx2.h"  // first: it may wrap <immintrin.h>
//
#include "cpu/loss/cross_entropy.h"

namespace ember::avx2 {
#include "cpu/loss/cross_entropy_kernels.inc"
}  // namespace ember::avx2
