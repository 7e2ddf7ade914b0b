// float32 attention kernels for generic: the Vec API of cpu/simd/vec_generic.h applied to
// attention_kernels.inc. Everything defined here lives in ember::generic (DESIGN.md, the
// one-definition trap).
#include "cpu/simd/vec_generic.h"  // first: it wraps <immintrin.h>
//
#include "cpu/attention/attention.h"

namespace ember::generic {
#include "cpu/attention/attention_kernels.inc"
}  // namespace ember::generic
