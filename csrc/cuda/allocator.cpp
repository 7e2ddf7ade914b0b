#include "cuda/allocator.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/error.h"
#include "cuda/cuda_check.h"
#include "cuda/runtime.h"
#include "cuda/stream.h"

#ifdef EMBER_CUDA_EMULATOR
#include "emu/asan.h"  // device memory is host memory there: AddressSanitizer marks for blocks
#else
namespace ember_emu {
inline void block_in_use(void*, size_t, size_t) {}
inline void block_freed(void*, size_t) {}
}  // namespace ember_emu
#endif

namespace ember::cuda {
namespace {

using Key = std::pair<void*, size_t>;  // (stream, size)

// A freed block some other stream was recorded on: cached once its events complete.
struct Pending {
  Block block;
  std::vector<cudaEvent_t> events;
};

struct Pool {
  std::mutex mu;
  std::multimap<Key, void*> small;        // free blocks <= kSmallLimit, by stream then size
  std::multimap<Key, void*> large;        // free blocks > kSmallLimit, by stream then size
  std::unordered_map<void*, void*> live;  // handed-out block -> its stream
  std::unordered_map<void*, std::vector<void*>> users;  // block -> streams recorded on it
  std::vector<Pending> pending;
  MemoryStats stats;
  // Bookkeeping for a block handed out (from the cache or fresh) for `used` bytes.
  Block hand_out(Block b, size_t used) {
    ember_emu::block_in_use(b.ptr, b.size, used);
    stats.allocated += b.size;
    stats.allocated_peak = std::max(stats.allocated_peak, stats.allocated);
    ++stats.active_blocks;
    ++stats.num_allocs;
    live[b.ptr] = b.stream;
    return b;
  }
  void cache(const Block& b) {
    (b.size <= kSmallLimit ? small : large).emplace(Key{b.stream, b.size}, b.ptr);
  }
};

void destroy(const std::vector<cudaEvent_t>& events) {
  for (cudaEvent_t e : events)
    if (cudaEventDestroy(e) != cudaSuccess) cudaGetLastError();
}

// Caches the pending blocks whose recorded work has finished (wait: all of them, after
// waiting for that work). The caller holds p.mu.
void settle_pending(Pool& p, bool wait) {
  auto done = [wait](const Pending& q) {
    for (cudaEvent_t e : q.events) {
      const cudaError_t err = wait ? cudaEventSynchronize(e) : cudaEventQuery(e);
      if (err == cudaErrorNotReady) {
        cudaGetLastError();
        return false;
      }
      if (err != cudaSuccess) cudaGetLastError();  // a broken event cannot be waited on
    }
    return true;
  };
  auto keep = std::partition(p.pending.begin(), p.pending.end(),
                             [&](const Pending& q) { return !done(q); });
  for (auto it = keep; it != p.pending.end(); ++it) {
    destroy(it->events);
    p.cache(it->block);
  }
  p.pending.erase(keep, p.pending.end());
}

// One event per recorded stream, marking the work queued there by now; a stream whose
// event cannot be made is waited for instead. The caller holds p.mu, device current.
std::vector<cudaEvent_t> mark_users(const std::vector<void*>& streams) {
  std::vector<cudaEvent_t> events;
  for (void* s : streams) {
    auto stream = static_cast<cudaStream_t>(s);
    cudaEvent_t e = nullptr;
    if (cudaEventCreateWithFlags(&e, cudaEventDisableTiming) == cudaSuccess &&
        cudaEventRecord(e, stream) == cudaSuccess) {
      events.push_back(e);
      continue;
    }
    cudaGetLastError();
    if (e != nullptr && cudaEventDestroy(e) != cudaSuccess) cudaGetLastError();
    if (cudaStreamSynchronize(stream) != cudaSuccess) cudaGetLastError();
  }
  return events;
}

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

// cudaFree every cached block of one pool, pending ones after their streams' work; the
// caller holds p.mu and has made the device current. cudaFree waits for the device, so
// no kernel still uses them.
void release_cached(Pool& p) {
  settle_pending(p, true);
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
  if (!p.pending.empty()) settle_pending(p, false);
  auto& m = size <= kSmallLimit ? p.small : p.large;
  auto it = m.lower_bound(Key{stream, size});
  if (it != m.end() && it->first.first == stream && it->first.second / 2 <= size) {
    Block b{it->second, it->first.second, stream};
    m.erase(it);
    return p.hand_out(b, nbytes);
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
  return p.hand_out({ptr, size, stream}, nbytes);
}

void device_free(int device, Block block) noexcept {
  if (block.ptr == nullptr || device < 0 || device >= kMaxDevices) return;
  Pool& p = pool(device);
  std::lock_guard<std::mutex> lock(p.mu);
  ember_emu::block_freed(block.ptr, block.size);
  p.stats.allocated -= block.size;
  --p.stats.active_blocks;
  p.live.erase(block.ptr);
  auto users = p.users.find(block.ptr);
  if (users == p.users.end()) return p.cache(block);
  std::vector<cudaEvent_t> events;
  try {
    DeviceGuard guard(device);
    events = mark_users(users->second);
  } catch (...) {  // no device to switch to: nothing can be waited for either
  }
  p.users.erase(users);
  if (events.empty())
    p.cache(block);
  else
    p.pending.push_back({block, std::move(events)});
}

void record_stream(int device, void* ptr, void* stream) {
  check_index(device, "ember.Tensor.record_stream");
  Pool& p = pool(device);
  std::lock_guard<std::mutex> lock(p.mu);
  auto live = p.live.find(ptr);
  if (live == p.live.end() || live->second == stream) return;
  std::vector<void*>& users = p.users[ptr];
  if (std::find(users.begin(), users.end(), stream) == users.end()) users.push_back(stream);
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
    if (p.small.empty() && p.large.empty() && p.pending.empty()) continue;
    DeviceGuard guard(d);
    release_cached(p);
  }
}

}  // namespace ember::cuda
