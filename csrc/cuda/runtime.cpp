#include "cuda/runtime.h"

#include <cuda_runtime.h>

#include <atomic>
#include <mutex>

#include "core/error.h"
#include "cuda/cuda_check.h"

namespace ember::cuda {

void throw_cuda_error(cudaError_t err, const char* op, const char* call) {
  cudaGetLastError();  // reset the non-sticky error state
  throw CudaError(cat_str(op, ": CUDA error: ", cudaGetErrorString(err), " (",
                          cudaGetErrorName(err), ") in ", call));
}

namespace {

struct Discovery {
  int count = 0;
  std::string reason;
};

// The device set cannot change while the process runs, so ask the runtime once.
const Discovery& discovery() {
  static const Discovery d = [] {
    Discovery r;
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) {
      cudaGetLastError();
      // 35 (no driver) and 100 (no device) are the usual answers on a CPU machine;
      // any other error also means "no usable GPU", with its name kept for the message.
      r.reason = cat_str(cudaGetErrorString(err), " (", cudaGetErrorName(err), ")");
    } else if (n <= 0) {
      r.reason = "no CUDA device found";
    } else {
      r.count = n < kMaxDevices ? n : kMaxDevices;
    }
    return r;
  }();
  return d;
}

}  // namespace

int device_count() noexcept {
  try {
    return discovery().count;
  } catch (...) {
    return 0;
  }
}

std::string unavailable_reason() { return discovery().reason; }

void require_device(int device, const char* op) {
  const Discovery& d = discovery();
  if (d.count == 0) {
    throw CudaError(cat_str(op, ": no CUDA GPU is available: ", d.reason));
  }
  EMBER_CHECK(device >= 0 && device < d.count, ValueError, op, ": invalid CUDA device index ",
              device, " (", d.count, " device", d.count == 1 ? "" : "s", " available)");
}

int sm_count(int device) {
  static std::atomic<int> cache[kMaxDevices] = {};
  int n = cache[device].load(std::memory_order_relaxed);
  if (n == 0) {
    EMBER_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device),
                     "ember.cuda");
    if (n <= 0) n = 1;
    cache[device].store(n, std::memory_order_relaxed);
  }
  return n;
}

DeviceGuard::DeviceGuard(int device) {
  int current = 0;
  EMBER_CUDA_CHECK(cudaGetDevice(&current), "ember.cuda");
  if (current != device) {
    EMBER_CUDA_CHECK(cudaSetDevice(device), "ember.cuda");
    previous_ = current;
  }
}

DeviceGuard::~DeviceGuard() {
  if (previous_ >= 0 && cudaSetDevice(previous_) != cudaSuccess) cudaGetLastError();
}

}  // namespace ember::cuda
