// float32 recurrent-cell pointwise kernels for generic: the Vec API of cpu/simd/vec_generic.h
// applied to rnn_kernels.inc. Everything defined here lives in ember::generic (see DESIGN.md,
// the one-definition trap).
#include "cpu/simd/vec_generic.h"
//
#include "cpu/rnn/rnn.h"

namespace ember::generic {
#include "cpu/rnn/rnn_kernels.inc"
}  // namespace ember::generic
