// float32 reduction and softmax row kernels for generic: the Vec API of cpu/simd/vec_generic.h
// applied to reduce_kernels.inc. Everything defined here lives in ember::generic (see
// DESIGN.md, the one-definition trap).
#include "cpu/simd/vec_generic.h"  // first: it may wrap <immintrin.h>
//
#include "cpu/reduce/reduce.h"

namespace ember::generic {
#include "cpu/reduce/reduce_kernels.inc"
}  // namespace ember::generic
