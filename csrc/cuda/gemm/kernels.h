// Launchers of the GEMM kernels (defined and instantiated in the .cu files of this folder),
// called by run() in gemm.cu with a plan from make_plan.
#pragma once
#include "cuda/gemm/gemm.h"
#include "cuda/gemm/plan.h"

namespace ember::cuda::gemm {

// Tensor-core paths: TIn = BFloat16 or Half (m16n8k16) or float (TF32 m16n8k8); TOut =
// float or TIn.
template <typename TIn, typename TOut>
void launch_tensor_core(const Problem& p, const Plan& plan);

// SIMT path: any strides; Acc = double for double inputs, float otherwise.
template <typename TIn, typename TOut, typename Acc>
void launch_simt(const Problem& p, const Plan& plan);

}  // namespace ember::cuda::gemm
