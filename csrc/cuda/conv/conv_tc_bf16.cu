// The tensor-core conv (conv_tc.h) for bfloat16.
#include "cuda/conv/conv_tc.cuh"

namespace ember::cuda {

EMBER_CONV_TC_INSTANTIATE(BFloat16)

}  // namespace ember::cuda
