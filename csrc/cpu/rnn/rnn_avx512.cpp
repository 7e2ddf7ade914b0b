// float32 recurrent-cell pointwise kernels for avx512: the Vec API of cpu/simd/vec_avx512.h
// applied to rnn_kernels.inc. Everything defined here lives in ember::avx512 (see DESIGN.md,
// the one-definition trap).
#include "cpu/simd/vec_avx512.h"  // first: it wraps <immintrin.h>
//
#include "cpu/rnn/rnn.h"

namespace ember::avx512 {
#include "cpu/rnn/rnn_kernels.inc"
}  // namespace ember::avx512
