// Device discovery and selection for ember._C_cuda. A machine without a driver
// (cudaErrorInsufficientDriver) or without a GPU (cudaErrorNoDevice) simply has
// zero devices: nothing here throws for that, except require_device().
#pragma once
#include <string>

namespace ember::cuda {

constexpr int kMaxDevices = 64;

// Number of usable GPUs; 0 when there is no driver or no device. Never throws.
int device_count() noexcept;
// Why device_count() is 0 ("" when it is not), e.g. the cudaGetDeviceCount error.
std::string unavailable_reason();
// RuntimeError if there is no GPU, ValueError if `device` is out of range.
void require_device(int device, const char* op);
// Multiprocessor count of `device` (cached), for sizing grid-stride launches.
int sm_count(int device);

// Makes `device` current for the scope and restores the previous one.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1;
};

}  // namespace ember::cuda
