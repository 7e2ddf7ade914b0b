// float32 optimizer and grad-norm row kernels for generic: the Vec API of
// cpu/simd/vec_generic.h applied to optim_kernels.inc. Everything defined here lives in
// ember::generic (see DESIGN.md, the one-definition trap).
#include "cpu/simd/vec_generic.h"  // first: it may wrap <immintrin.h>
//
#include "cpu/optim/optim.h"

namespace ember::generic {
using Real = float;
#include "cpu/optim/optim_kernels.inc"
}  // namespace ember::generic
