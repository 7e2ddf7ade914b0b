// The tensor-core GEMM for BFloat16 inputs on mma.sync m16n8k16.
#include "cuda/gemm/gemm_tc.cuh"

namespace ember::cuda::gemm {

template void launch_tensor_core<BFloat16, float>(const Problem&, const Plan&);
template void launch_tensor_core<BFloat16, BFloat16>(const Problem&, const Plan&);

}  // namespace ember::cuda::gemm
