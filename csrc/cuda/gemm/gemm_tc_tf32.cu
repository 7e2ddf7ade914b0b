// The tensor-core GEMM for float32 inputs on TF32 tensor cores (opt-in).
#include "cuda/gemm/gemm_tc.cuh"

namespace ember::cuda::gemm {

template void launch_tensor_core<float, float>(const Problem&, const Plan&);

}  // namespace ember::cuda::gemm
