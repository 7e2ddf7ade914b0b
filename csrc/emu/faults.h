// Errors the emulator reports through the runtime API (cudaGetLastError), as the driver
// would for the same launch.
#pragma once
#include <string>

#include <cuda_runtime.h>

namespace ember_emu {
void record_fault(cudaError_t error, const std::string& detail);
void set_smem_limit(const void* kernel, int bytes);
}  // namespace ember_emu
