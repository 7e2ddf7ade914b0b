// Host side of the attention launches: which configurations exist, and the shared-memory
// opt-in above the 48 KiB default.
#include <cuda_runtime.h>

#include "core/error.h"
#include "cuda/attention/attention.h"
#include "cuda/cuda_check.h"

namespace ember::cuda::attn {

bool supported(DType dtype, int64_t D) {
  const int kd = padded_head_dim(D);
  if (kd == 0) return false;
  const int eb = dtype == DType::Float64 ? 8 : dtype == DType::Float32 ? 4 : 2;
  const int ab = dtype == DType::Float64 ? 8 : 4;
  return stream_tile(Pass::Forward, kd, eb, ab) > 0 && stream_tile(Pass::GradQ, kd, eb, ab) > 0 &&
         stream_tile(Pass::GradKV, kd, eb, ab) > 0;
}

void set_smem(const void* kernel, int64_t bytes, const char* op) {
  int device = 0, limit = 0;
  EMBER_CUDA_CHECK(cudaGetDevice(&device), op);
  EMBER_CUDA_CHECK(cudaDeviceGetAttribute(&limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device),
                   op);
  if (bytes > limit)
    throw CudaError(cat_str(op, ": the attention kernel needs ", bytes,
                            " bytes of shared memory per block, this GPU allows ", limit));
  EMBER_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        static_cast<int>(bytes)),
                   op);
}

}  // namespace ember::cuda::attn
