// float32 reduction and softmax row kernels for avx512: the Vec API of cpu/simd/vec_avx512.h
// applied to reduce_kernels.inc. Everything defined here lives in ember::avx512 (see
// DESIGN.md, the one-definition trap).
// GCC 12 also reports -Wmaybe-uninitialized inside its AVX-512 intrinsics (the
// _mm512_undefined_* idiom, GCC bug 105593) once they are inlined into these loops; the
// pragma covers only the intrinsics header, which vec_avx512.h then finds included.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
//
#include "cpu/simd/vec_avx512.h"
//
#include "cpu/reduce/reduce.h"

namespace ember::avx512 {
#include "cpu/reduce/reduce_kernels.inc"
}  // namespace ember::avx512
