// float32 depthwise-convolution and batch-norm row kernels for avx512: the Vec API of
// cpu/simd/vec_avx512.h applied to conv_kernels.inc. Everything defined here lives in
// ember::avx512 (DESIGN.md, the one-definition trap).
// GCC 12 reports -Wmaybe-uninitialized inside its AVX-512 intrinsics (GCC bug 105593) once
// they are inlined into these loops; the pragma covers only the intrinsics header.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
//
#include "cpu/simd/vec_avx512.h"
//
#include "cpu/conv/conv.h"

namespace ember::avx512 {
#include "cpu/conv/conv_kernels.inc"
}  // namespace ember::avx512
