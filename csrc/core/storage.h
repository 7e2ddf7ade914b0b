// A Storage is one contiguous block of bytes on a device. ember allocates CPU
// storage 64-byte aligned; storage may also wrap memory owned by someone else
// (a numpy array, a DLPack producer, the CUDA caching allocator), in which case
// `release` runs when the last tensor viewing it goes away. Wrapped memory may be
// read-only (a read-only numpy array, a bytes object, a read-only mmap, a DLPack tensor
// flagged read-only): every output check (check_writable, core/overlap.h) refuses it, so
// no kernel writes there. The flag sits on the storage so every view shares it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

namespace ember {

enum class DeviceType : int8_t { CPU = 0, CUDA = 1 };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
};

class Storage {
 public:
  // Owned CPU memory, 64-byte aligned, uninitialized.
  static std::shared_ptr<Storage> allocate_cpu(size_t nbytes);
  // Memory owned elsewhere; `release` (may be empty) runs on destruction.
  Storage(void* data, size_t nbytes, Device device, std::function<void()> release,
          bool read_only = false);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  bool read_only() const { return read_only_; }

 private:
  void* data_;
  size_t nbytes_;
  Device device_;
  std::function<void()> release_;
  bool read_only_;
};

constexpr size_t kCpuAlignment = 64;

}  // namespace ember
