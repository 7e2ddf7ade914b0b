// float32 optimizer and grad-norm row kernels for avx2: the Vec API of
// cpu/simd/vec_avx2.h applied to optim_kernels.inc. Everything defined here lives in
// ember::avx2 (see DESIGN.md, the one-definition trap).
#include "cpu/simd/vec_avx2.h"  // first: it may wrap <immintrin.h>
//
#include "cpu/optim/optim.h"

namespace ember::avx2 {
using Real = float;
#include "cpu/optim/optim_kernels.inc"
}  // namespace ember::avx2
