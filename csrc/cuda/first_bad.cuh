// The first element of a device array that fails a check, found on the device: the scan
// behind the checks that raise before anything is written (index bounds, pooling indices,
// int8 zero points). One kernel and one wait on the device; the offending value is read
// back only when there is one.
#pragma once
#include <algorithm>
#include <climits>
#include <cstdint>

#include "cuda/cuda_check.h"
#include "cuda/runtime.h"
#include "cuda/scratch.h"
#include "cuda/stream.h"

namespace ember::cuda {

template <typename T, typename Bad>
__global__ void first_bad_kernel(const T* x, int64_t n, Bad bad, unsigned long long* first) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    if (bad(x[i])) atomicMin(first, static_cast<unsigned long long>(i));
}

struct BadElement {
  int64_t position;  // -1: every element passed
  int64_t value;
};

// The smallest i in [0, n) with bad(x[i]) (a functor with a __device__ call operator), and
// x[i]. Runs on the current device and stream.
template <typename T, typename Bad>
BadElement first_bad(int device, const T* x, int64_t n, Bad bad, const char* op) {
  if (n <= 0) return {-1, 0};
  Scratch flag(device, sizeof(unsigned long long));
  auto* first = flag.as<unsigned long long>();
  EMBER_CUDA_CHECK(cudaMemsetAsync(first, 0xFF, sizeof *first, current_stream()), op);  // max
  constexpr int kBlock = 256;
  const int64_t blocks =
      std::min<int64_t>((n + kBlock - 1) / kBlock, int64_t{4} * sm_count(device));
  first_bad_kernel<<<static_cast<unsigned>(blocks), kBlock, 0, current_stream()>>>(x, n, bad,
                                                                                   first);
  EMBER_CUDA_CHECK_LAUNCH(op);
  unsigned long long at = 0;  // the synchronous copy waits for the scan (and every stream)
  EMBER_CUDA_CHECK(cudaMemcpy(&at, first, sizeof at, cudaMemcpyDeviceToHost), op);
  if (at == ULLONG_MAX) return {-1, 0};
  T value{};
  EMBER_CUDA_CHECK(cudaMemcpy(&value, x + at, sizeof value, cudaMemcpyDeviceToHost), op);
  return {static_cast<int64_t>(at), static_cast<int64_t>(value)};
}

// Outside [lo, hi].
template <typename T>
struct OutsideRange {
  int64_t lo, hi;
  __device__ bool operator()(T v) const { return v < lo || v > hi; }
};

}  // namespace ember::cuda
