// float32 optimizer and grad-norm row kernels for avx512: the Vec API of
// cpu/simd/vec_avx512.h applied to optim_kernels.inc. Everything defined here lives in
// ember::avx512 (see DESIGN.md, the one-definition trap).
#include "cpu/simd/vec_avx512.h"  // first: it may wrap <immintrin.h>
//
#include "cpu/optim/optim.h"

namespace ember::avx512 {
using Real = float;
#include "cpu/optim/optim_kernels.inc"
}  // namespace ember::avx512
