// Device memory for the duration of one host call: the default stream orders the next user
// of the block after the kernels that use it here, so it is returned at scope exit.
#pragma once
#include <cstddef>

#include "cuda/allocator.h"

namespace ember::cuda {

class Scratch {
 public:
  Scratch(int device, size_t bytes) : device_(device), block_(device_alloc(device, bytes)) {}
  ~Scratch() { device_free(device_, block_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <typename T>
  T* as() const {
    return static_cast<T*>(block_.ptr);
  }

 private:
  int device_;
  Block block_;
};

}  // namespace ember::cuda
