// The second step of the split grad-weight reduction: the chunks' partial sums added in
// chunk order (deterministic, no atomics), then converted to the output dtype. Acc is the
// partials' type (float32 for the 16-bit kernels, else the output's).
#pragma once
#include <algorithm>
#include <cstdint>

#include "cuda/convert.cuh"
#include "cuda/cuda_check.h"
#include "cuda/stream.h"

namespace ember::cuda {

// out[e] = sum over s of part[s * total + e], s in order.
template <typename Acc, typename T>
__global__ void sum_splits_kernel(const Acc* __restrict__ part, int splits, int64_t total,
                                  T* __restrict__ out) {
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    Acc s = part[e];
    for (int k = 1; k < splits; ++k) s += part[k * total + e];
    out[e] = convert_to<T>(s);
  }
}

template <typename Acc, typename T>
void sum_splits(const Acc* part, int splits, int64_t total, T* out, const char* op) {
  if (total == 0) return;
  const int blocks = static_cast<int>(std::min<int64_t>((total + 255) / 256, 4096));
  sum_splits_kernel<Acc, T><<<blocks, 256, 0, current_stream()>>>(part, splits, total, out);
  EMBER_CUDA_CHECK_LAUNCH(op);
}

}  // namespace ember::cuda
