#include "cuda/stream.h"

#include <array>
#include <atomic>
#include <mutex>

#include "core/error.h"
#include "cuda/cuda_check.h"
#include "cuda/runtime.h"

namespace ember::cuda {
namespace {

thread_local std::array<cudaStream_t, kMaxDevices> current{};  // all nullptr: the default

constexpr int kPoolSize = 32;  // per device and priority class, as torch's pool

struct StreamPool {
  std::once_flag made[2];
  cudaStream_t streams[2][kPoolSize] = {};
  std::atomic<unsigned> next[2] = {};
};

StreamPool& pool(int device) {
  static StreamPool* pools = new StreamPool[kMaxDevices];  // leaked: outlives every tensor
  return pools[device];
}

}  // namespace

cudaStream_t current_stream(int device) {
  return device >= 0 && device < kMaxDevices ? current[device] : nullptr;
}

cudaStream_t current_stream() {
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) {
    cudaGetLastError();
    return nullptr;
  }
  return current_stream(device);
}

void set_current_stream(int device, cudaStream_t stream) {
  EMBER_CHECK(device >= 0 && device < kMaxDevices, ValueError,
              "ember.cuda.stream: invalid CUDA device index ", device);
  current[device] = stream;
}

cudaStream_t pooled_stream(int device, int priority) {
  require_device(device, "ember.cuda.Stream");
  // Two classes, as torch: priority 0 (normal) and below 0 (high).
  const int cls = priority < 0 ? 1 : 0;
  StreamPool& p = pool(device);
  std::call_once(p.made[cls], [&] {
    DeviceGuard guard(device);
    int least = 0, greatest = 0;
    EMBER_CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&least, &greatest), "ember.cuda.Stream");
    for (cudaStream_t& s : p.streams[cls])
      EMBER_CUDA_CHECK(cudaStreamCreateWithPriority(&s, cudaStreamDefault, cls ? greatest : least),
                       "ember.cuda.Stream");
  });
  return p.streams[cls][p.next[cls].fetch_add(1, std::memory_order_relaxed) % kPoolSize];
}

}  // namespace ember::cuda
