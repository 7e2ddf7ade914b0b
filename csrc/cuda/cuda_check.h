// Error checking for CUDA runtime calls. A failed call throws CudaError, a
// std::runtime_error, which pybind11 turns into a Python RuntimeError whose
// message names the ember op, the failing call and cudaGetErrorString.
#pragma once
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace ember::cuda {

struct CudaError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Clears the runtime's last-error slot (so a later launch check does not report
// this failure again) and throws CudaError.
[[noreturn]] void throw_cuda_error(cudaError_t err, const char* op, const char* call);

}  // namespace ember::cuda

#define EMBER_CUDA_CHECK(call, op)                                                         \
  do {                                                                                     \
    cudaError_t ember_err_ = (call);                                                       \
    if (ember_err_ != cudaSuccess) ::ember::cuda::throw_cuda_error(ember_err_, op, #call); \
  } while (0)

// After every kernel launch: catches bad launch configurations at once (and any
// earlier asynchronous error the runtime has recorded).
#define EMBER_CUDA_CHECK_LAUNCH(op) EMBER_CUDA_CHECK(cudaGetLastError(), op)
