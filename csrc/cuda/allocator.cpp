#include "cuda/allocator.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <utility>

#include "core/error.h"
#include "cuda/cuda_check.h"
#include "cuda/runtime.h"
#include "cuda/stream.h"

namespace ember::cuda {
namespace {

using Key = std::pair<void*, size_t>;  // (stream, size)

struct Pool {
  std::mutex mu;
  std::multimap<Key, void*> small;  // free blocks <= kSmallLimit, by stream then size
  std::multimap<Key, void*> large;  // free blocks > kSmallLimit, by stream then size
  MemoryStats stats;
  // Bookkeeping for a block handed out (from the cache or fresh).
  void hand_out(size_t size) {
    stats.allocated += size;
    stats.allocated_peak = std::max(stats.allocated_peak, stats.allocated);
    ++stats.active_blocks;
    ++stats.num_allocs;
  }
};

// Leaked on purpose: tensors freed during interpreter shutdown still return their
// blocks here after static destructors would have run.
Pool& pool(int device) {
  static Pool* pools = new Pool[kMaxDevices];
  return pools[device];
}

void check_index(int device, const char* op) {
  EMBER_CHECK(device >= 0 && device < kMaxDevices, ValueError, op, ": invalid CUDA device index ",
              device);
}

// cudaFree every cached block of one pool; the caller holds p.mu and has made the
// device current. cudaFree waits for the device, so no kernel still uses them.
void release_cached(Pool& p) {
  cudaError_t first = cudaSuccess;
  for (auto* m : {&p.small, &p.large}) {
    for (auto& [key, ptr] : *m) {
      cudaError_t err = cudaFree(ptr);
      if (err != cudaSuccess && first == cudaSuccess) first = err;
      p.stats.reserved -= key.second;
    }
    m->clear();
  }
  if (first != cudaSuccess) throw_cuda_error(first, "ember.cuda.empty_cache", "cudaFree");
}

size_t round_size(size_t nbytes, int device) {
  size_t r = nbytes <= kSmallLimit ? kSmallRound : kLargeRound;
  EMBER_CHECK(nbytes <= SIZE_MAX - r, cuda::CudaError, "ember.cuda: out of memory allocating ",
              nbytes, " bytes on cuda:", device);
  return (nbytes + r - 1) / r * r;
}

}  // namespace

Block device_alloc(int device, size_t nbytes) {
  check_index(device, "ember.cuda");
  if (nbytes == 0) return {};
  const size_t size = round_size(nbytes, device);
  void* stream = current_stream(device);
  Pool& p = pool(device);
  std::lock_guard<std::mutex> lock(p.mu);

  // Smallest cached block of this stream that fits, unless it is more than twice the
  // request: a small tensor must not pin a huge block (blocks are never split).
  auto& m = size <= kSmallLimit ? p.small : p.large;
  auto it = m.lower_bound(Key{stream, size});
  if (it != m.end() && it->first.first == stream && it->first.second / 2 <= size) {
    Block b{it->second, it->first.second, stream};
    m.erase(it);
    p.hand_out(b.size);
    return b;
  }

  DeviceGuard guard(device);
  void* ptr = nullptr;
  cudaError_t err = cudaMalloc(&ptr, size);
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    ++p.stats.num_alloc_retries;
    release_cached(p);
    err = cudaMalloc(&ptr, size);
  }
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    ++p.stats.num_ooms;
    throw CudaError(cat_str("ember.cuda: out of memory allocating ", nbytes, " bytes (allocated ",
                            p.stats.allocated, ", reserved ", p.stats.reserved, ")"));
  }
  if (err != cudaSuccess) throw_cuda_error(err, "ember.cuda", "cudaMalloc");
  ++p.stats.num_cuda_mallocs;
  p.stats.reserved += size;
  p.stats.reserved_peak = std::max(p.stats.reserved_peak, p.stats.reserved);
  p.hand_out(size);
  return {ptr, size, stream};
}

void device_free(int device, Block block) noexcept {
  if (block.ptr == nullptr || device < 0 || device >= kMaxDevices) return;
  Pool& p = pool(device);
  std::lock_guard<std::mutex> lock(p.mu);
  p.stats.allocated -= block.size;
  --p.stats.active_blocks;
  (block.size <= kSmallLimit ? p.small : p.large).emplace(Key{block.stream, block.size}, block.ptr);
}

std::shared_ptr<Storage> allocate_storage(int device, size_t nbytes) {
  Block b = device_alloc(device, nbytes);
  return std::make_shared<Storage>(b.ptr, nbytes, Device{DeviceType::CUDA, device},
                                   [device, b] { device_free(device, b); });
}

MemoryStats memory_stats(int device) {
  check_index(device, "ember.cuda.memory_stats");
  Pool& p = pool(device);
  std::lock_guard<std::mutex> lock(p.mu);
  return p.stats;
}

void reset_peak_stats(int device) {
  check_index(device, "ember.cuda.reset_peak_memory_stats");
  Pool& p = pool(device);
  std::lock_guard<std::mutex> lock(p.mu);
  p.stats.allocated_peak = p.stats.allocated;
  p.stats.reserved_peak = p.stats.reserved;
}

size_t memory_allocated(int device) { return memory_stats(device).allocated; }

size_t memory_reserved(int device) { return memory_stats(device).reserved; }

void empty_cache() {
  const int n = device_count();
  for (int d = 0; d < n; ++d) {
    Pool& p = pool(d);
    std::lock_guard<std::mutex> lock(p.mu);
    if (p.small.empty() && p.large.empty()) continue;
    DeviceGuard guard(d);
    release_cached(p);
  }
}

}  // namespace ember::cuda
