// Device memory for the duration of one host call: the block is reused only on the stream
// the call runs on, which orders its next user after the call's kernels, so it is returned
// at scope exit.
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
