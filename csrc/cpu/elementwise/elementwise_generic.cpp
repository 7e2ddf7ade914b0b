// float32 elementwise row kernels for generic: the Vec API of cpu/simd/vec_generic.h
// applied to elementwise_kernels.inc. Everything defined here lives in
// ember::generic (see DESIGN.md, the one-definition trap).
#include "cpu/simd/vec_generic.h"
//
#include "cpu/elementwise/elementwise.h"

namespace ember::generic {
#include "cpu/elementwise/elementwise_kernels.inc"
}  // namespace ember::generic
