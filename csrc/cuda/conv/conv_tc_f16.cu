// The tensor-core conv (conv_tc.h) for float16.
#include "cuda/conv/conv_tc.cuh"

namespace ember::cuda {

EMBER_CONV_TC_INSTANTIATE(Half)

}  // namespace ember::cuda
