// Caching allocator for CUDA memory, one pool per device. cudaMalloc/cudaFree
// are slow and synchronize the device, so freed blocks are kept in free lists keyed by
// (stream, size) and reused. A block is allocated on the current stream (cuda/stream.h)
// and, once freed, handed out again only on that stream, whose order puts its next use
// after every earlier one: it can be reused as soon as its tensor is gone, without
// waiting for the kernels that read it. A tensor used on another stream too must stay
// alive until that stream's work is done, or be marked with record_stream: its block
// then returns to the cache only once the work queued on those streams by the time it
// was freed has finished (an event per stream, polled at the next allocation).
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
  size_t size = 0;         // rounded size actually held
  void* stream = nullptr;  // the cudaStream_t it was allocated on (and is reused on)
};

// A block of at least `nbytes` on `device`, for the current stream (nullptr/0 for 0 bytes). On
// cudaErrorMemoryAllocation the device's cache is emptied and the call retried
// once; then CudaError "ember.cuda: out of memory allocating N bytes (...)".
Block device_alloc(int device, size_t nbytes);
// Returns a block to its device's free list. Never throws (runs in destructors).
void device_free(int device, Block block) noexcept;

// Marks the live block at `ptr` as used by `stream` too (torch's record_stream). Memory
// the allocator did not hand out (e.g. imported through DLPack) is left alone.
void record_stream(int device, void* ptr, void* stream);

// Storage over a fresh block; dropping the last reference returns the block.
std::shared_ptr<Storage> allocate_storage(int device, size_t nbytes);

// Counters of one device's pool since start (peaks since the last reset_peak_stats).
struct MemoryStats {
  size_t allocated = 0;       // bytes in blocks handed out (live tensors, temporaries)
  size_t allocated_peak = 0;  // the most `allocated` has been
  size_t reserved = 0;        // bytes obtained from cudaMalloc and not released: live + cached
  size_t reserved_peak = 0;
  size_t active_blocks = 0;  // blocks handed out now
  size_t num_allocs = 0;     // requests served (from the cache or cudaMalloc)
  size_t num_cuda_mallocs = 0;
  size_t num_alloc_retries = 0;  // cudaMalloc failures retried after emptying the cache
  size_t num_ooms = 0;           // requests that failed even then
};
MemoryStats memory_stats(int device);
// Peaks restart from the current values.
void reset_peak_stats(int device);
size_t memory_allocated(int device);
size_t memory_reserved(int device);
// cudaFree every cached (unused) block on every device.
void empty_cache();

}  // namespace ember::cuda
