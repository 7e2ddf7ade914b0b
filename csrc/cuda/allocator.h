// Caching allocator for CUDA memory, one pool per device. cudaMalloc/cudaFree
// are slow and synchronize the device, so freed blocks are kept in size-keyed
// free lists and reused. All work runs on the legacy default stream, which
// orders a block's next use after every earlier use: a block can be reused as
// soon as its tensor is gone, without waiting for the kernels that read it.
#pragma once
#include <cstddef>
#include <memory>

#include "core/storage.h"

namespace ember::cuda {

// Requests up to this size are "small" and rounded up to kSmallRound bytes;
// larger ones are rounded up to kLargeRound (2 MiB, the driver's own granularity).
constexpr size_t kSmallLimit = size_t{1} << 20;
constexpr size_t kSmallRound = 512;
constexpr size_t kLargeRound = size_t{2} << 20;

struct Block {
  void* ptr = nullptr;
  size_t size = 0;  // rounded size actually held
};

// A block of at least `nbytes` on `device` (nullptr/0 for 0 bytes). On
// cudaErrorMemoryAllocation the device's cache is emptied and the call retried
// once; then CudaError "ember.cuda: out of memory allocating N bytes (...)".
Block device_alloc(int device, size_t nbytes);
// Returns a block to its device's free list. Never throws (runs in destructors).
void device_free(int device, Block block) noexcept;

// Storage over a fresh block; dropping the last reference returns the block.
std::shared_ptr<Storage> allocate_storage(int device, size_t nbytes);

// Bytes in blocks handed out (live tensors and temporaries), as rounded sizes.
size_t memory_allocated(int device);
// Bytes obtained from cudaMalloc and not yet released: live plus cached.
size_t memory_reserved(int device);
// cudaFree every cached (unused) block on every device.
void empty_cache();

}  // namespace ember::cuda
