// The tensor-core GEMM for Half inputs on mma.sync m16n8k16.
#include "cuda/gemm/gemm_tc.cuh"

namespace ember::cuda::gemm {

template void launch_tensor_core<Half, float>(const Problem&, const Plan&);
template void launch_tensor_core<Half, Half>(const Problem&, const Plan&);

}  // namespace ember::cuda::gemm
