// float32 layer norm / RMS norm row kernels for generic: the Vec API of cpu/simd/vec_generic.h
// applied to norm_kernels.inc. Everything defined here lives in ember::generic (see
// DESIGN.md, the one-definition trap).
#include "cpu/simd/vec_generic.h"  // first: it may wrap <immintrin.h>
//
#include "cpu/norm/norm.h"

namespace ember::generic {
#include "cpu/norm/norm_kernels.inc"
}  // namespace ember::generic
