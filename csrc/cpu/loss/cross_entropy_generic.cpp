// float32 softmax cross-entropy row kernel for generic: the Vec API of cpu/simd/vec_generic.h
// applied to cross_entropy_kernels.inc. Everything defined here lives in ember::generic (see
// DESIGN.md, the one-definition trap).
#include "cpu/simd/vec_generic.h"  // first: it may wrap <immintrin.h>
//
#include "cpu/loss/cross_entropy.h"

namespace ember::generic {
#include "cpu/loss/cross_entropy_kernels.inc"
}  // namespace ember::generic
