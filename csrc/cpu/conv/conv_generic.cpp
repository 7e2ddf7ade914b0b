// float32 depthwise-convolution and batch-norm row kernels for generic: the Vec API of
// cpu/simd/vec_generic.h applied to conv_kernels.inc. Everything defined here lives in
// ember::generic (DESIGN.md, the one-definition trap).
#include "cpu/simd/vec_generic.h"  // first: it wraps <immintrin.h>
//
#include "cpu/conv/conv.h"

namespace ember::generic {
#include "cpu/conv/conv_kernels.inc"
}  // namespace ember::generic
