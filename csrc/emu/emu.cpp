// The fiber scheduler behind emu.h: one fiber per CUDA thread of the block being run, resumed in an
// order picked by EMBER_EMU_SCHEDULE (forward, the default; reverse; or shuffle[:seed]), so that a
// race between threads of one block shows up as a result that depends on the order.
#include <sys/mman.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "emu/asan.h"
#include "emu/emu.h"
#include "emu/faults.h"

// Saves the callee-saved registers on the current stack, stores its stack pointer in
// *save, and resumes the fiber whose stack pointer is `next` (x86-64 System V). A fraction
// of swapcontext's cost, which also saves the signal mask with a system call: a warp-
// collective operation switches 64 times.
extern "C" void ember_emu_switch(void** save, void* next);
asm(R"(
  .text
  .p2align 4
  .globl ember_emu_switch
  .hidden ember_emu_switch
  .type ember_emu_switch, @function
ember_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size ember_emu_switch, .-ember_emu_switch
)");

namespace ember_emu {

uint3 g_thread_idx{0, 0, 0}, g_block_idx{0, 0, 0};
dim3 g_block_dim, g_grid_dim;

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr size_t kStackBytes = 2048 * 1024;  // ASan's redzones around every local array
#else
constexpr size_t kStackBytes = 256 * 1024;
#endif
constexpr size_t kPage = 4096;
constexpr size_t kArenaBytes = 227 * 1024;  // the most dynamic shared memory a block can opt into
alignas(128) unsigned char g_arena[kArenaBytes];

enum class State { Runnable, Barrier, Warp, Done };

struct AsyncCopy {
  void* dst;
  const void* src;
  size_t src_bytes, dst_bytes;
};

struct Fiber {
  void* sp = nullptr;  // saved stack pointer while suspended
  unsigned char* stack = nullptr;
  uint3 tid{0, 0, 0};
  int linear = 0;
  State state = State::Runnable;
  std::vector<AsyncCopy> open;                  // cp.async copies not yet committed
  std::deque<std::vector<AsyncCopy>> inflight;  // committed groups, oldest first
};

struct Warp {
  int live = 0, arrived = 0;
  WarpThunk thunk = nullptr;
  const void* op = nullptr;
  unsigned char in[kWarp][kSlotBytes];
  unsigned char out[kWarp][kSlotBytes];
};

struct Block {
  std::vector<Fiber> fibers;
  std::vector<Warp> warps;
  int live = 0, at_barrier = 0;
  bool or_acc = false, or_result = false;
};

Block g_block;
Fiber* g_current = nullptr;
void* g_scheduler_sp = nullptr;
const std::function<void()>* g_body = nullptr;
std::string g_fault;
size_t g_smem_bytes = 0;  // the running launch's dynamic shared memory
std::vector<unsigned char*> g_stacks;
std::unordered_map<void*, size_t> g_statics;  // static __shared__ arrays seen so far
// The dynamic shared memory the next launch of this host thread may use: raised by
// cudaFuncSetAttribute, back to the default after the launch. Not kept per kernel: a launch
// of a kernel template whose arguments are deduced has no kernel address to look up, and
// ember sets the attribute right before each launch that needs it.
constexpr int kDefaultSmem = 48 * 1024;
thread_local int g_smem_opt_in = kDefaultSmem;

unsigned char* stack_at(size_t i) {
  while (g_stacks.size() <= i) {
    void* p =
        mmap(nullptr, kStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      std::fprintf(stderr, "ember CUDA emulator: out of memory for fiber stacks\n");
      std::abort();
    }
    mprotect(p, kPage, PROT_NONE);  // a stack overflow faults instead of corrupting memory
    g_stacks.push_back(static_cast<unsigned char*>(p));
  }
  return g_stacks[i];
}

void yield() { ember_emu_switch(&g_current->sp, g_scheduler_sp); }

// Stops the block: the scheduler sees the fault and abandons every fiber.
[[noreturn]] void fault(const std::string& what) {
  if (g_fault.empty()) g_fault = what;
  for (;;) {
    g_current->state = State::Done;
    yield();
  }
}

void land(std::vector<AsyncCopy>& group) {
  for (const AsyncCopy& c : group) {
    std::memcpy(c.dst, c.src, c.src_bytes);
    std::memset(static_cast<unsigned char*>(c.dst) + c.src_bytes, 0, c.dst_bytes - c.src_bytes);
  }
  group.clear();
}

void release_barrier() {
  g_block.at_barrier = 0;
  g_block.or_result = g_block.or_acc;
  g_block.or_acc = false;
  for (Fiber& f : g_block.fibers)
    if (f.state == State::Barrier) f.state = State::Runnable;
}

void run_collective(int warp) {
  Warp& w = g_block.warps[static_cast<size_t>(warp)];
  uint32_t live = 0;
  const size_t first = static_cast<size_t>(warp) * kWarp;
  for (size_t i = first; i < std::min(first + kWarp, g_block.fibers.size()); ++i)
    if (g_block.fibers[i].state != State::Done) live |= 1u << (i - first);
  w.thunk(w.in, w.out, live, w.op);
  w.arrived = 0;
  for (size_t i = first; i < std::min(first + kWarp, g_block.fibers.size()); ++i)
    if (g_block.fibers[i].state == State::Warp) g_block.fibers[i].state = State::Runnable;
}

void finish_current() {
  Fiber& f = *g_current;
  while (!f.inflight.empty()) {
    land(f.inflight.front());
    f.inflight.pop_front();
  }
  land(f.open);
  f.state = State::Done;
  --g_block.live;
  Warp& w = g_block.warps[static_cast<size_t>(f.linear / kWarp)];
  --w.live;
  // Exited threads count as arrived at a barrier; a warp collective waits for live lanes.
  if (g_block.at_barrier > 0 && g_block.at_barrier == g_block.live) release_barrier();
  if (w.arrived > 0 && w.arrived == w.live) run_collective(f.linear / kWarp);
}

[[noreturn]] void fiber_main() {
  (*g_body)();
  finish_current();
  void* discarded;
  ember_emu_switch(&discarded, g_scheduler_sp);
  __builtin_unreachable();
}

// A fresh fiber's stack, as ember_emu_switch leaves a suspended one: six saved registers,
// then the address it returns to (fiber_main), then a null return address for fiber_main
// itself, so fiber_main starts with the stack aligned as after a call.
void* initial_stack(unsigned char* stack) {
  auto* top = reinterpret_cast<void**>(stack + kStackBytes);
  top[-1] = nullptr;
  top[-2] = reinterpret_cast<void*>(&fiber_main);
  for (int i = 3; i <= 8; ++i) top[-i] = nullptr;
  return top - 8;
}

std::vector<size_t> resume_order(size_t n, uint64_t block_serial) {
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  const char* env = std::getenv("EMBER_EMU_SCHEDULE");
  const std::string mode = env ? env : "forward";
  if (mode == "reverse") {
    std::reverse(order.begin(), order.end());
  } else if (mode.rfind("shuffle", 0) == 0) {
    const uint64_t seed = mode.size() > 8 ? std::strtoull(mode.c_str() + 8, nullptr, 10) : 0;
    std::mt19937_64 rng(seed * 1000003u + block_serial);
    std::shuffle(order.begin(), order.end(), rng);
  }
  return order;
}

bool run_block(dim3 block, uint64_t serial) {
  const size_t n = size_t{block.x} * block.y * block.z;
  g_block.fibers.assign(n, Fiber{});
  g_block.warps.assign((n + kWarp - 1) / kWarp, Warp{});
  g_block.live = static_cast<int>(n);
  g_block.at_barrier = 0;
  g_block.or_acc = g_block.or_result = false;
  for (size_t i = 0; i < n; ++i) {
    Fiber& f = g_block.fibers[i];
    f.linear = static_cast<int>(i);
    f.tid = uint3{static_cast<unsigned>(i % block.x), static_cast<unsigned>(i / block.x % block.y),
                  static_cast<unsigned>(i / (size_t{block.x} * block.y))};
    g_block.warps[i / kWarp].live++;
    f.stack = stack_at(i);
    stack_reused(f.stack + kPage, kStackBytes - kPage);
    f.sp = initial_stack(f.stack);
  }
  const std::vector<size_t> order = resume_order(n, serial);
  for (;;) {
    bool progressed = false, all_done = true;
    for (size_t i : order) {
      Fiber& f = g_block.fibers[i];
      if (f.state == State::Runnable) {
        g_current = &f;
        g_thread_idx = f.tid;
        ember_emu_switch(&g_scheduler_sp, f.sp);
        progressed = true;
        if (!g_fault.empty()) return false;
      }
      all_done = all_done && f.state == State::Done;
    }
    if (all_done) {
      bool done = true;
      for (const Fiber& f : g_block.fibers) done = done && f.state == State::Done;
      if (done) return true;
    }
    if (!progressed) {
      int barrier = 0, warp = 0;
      for (const Fiber& f : g_block.fibers) {
        barrier += f.state == State::Barrier;
        warp += f.state == State::Warp;
      }
      g_fault = "deadlock: " + std::to_string(barrier) + " threads wait at __syncthreads and " +
                std::to_string(warp) + " at a warp-collective operation that cannot complete";
      return false;
    }
  }
}

}  // namespace

int lane_id() { return g_current->linear % kWarp; }
int warp_id() { return g_current->linear / kWarp; }

void block_barrier() {
  ++g_block.at_barrier;
  if (g_block.at_barrier == g_block.live) {
    release_barrier();
    return;
  }
  g_current->state = State::Barrier;
  yield();
}

bool block_barrier_or(bool pred) {
  g_block.or_acc = g_block.or_acc || pred;
  block_barrier();
  return g_block.or_result;
}

void warp_exchange(const void* in, size_t in_bytes, void* out, size_t out_bytes, WarpThunk thunk,
                   const void* op) {
  const int lane = lane_id(), warp = warp_id();
  Warp& w = g_block.warps[static_cast<size_t>(warp)];
  std::memcpy(w.in[lane], in, in_bytes);
  if (w.arrived == 0) {
    w.thunk = thunk;
    w.op = op;
  } else if (w.thunk != thunk) {
    fault("warp " + std::to_string(warp) + " of block (" + std::to_string(g_block_idx.x) + ", " +
          std::to_string(g_block_idx.y) + ", " + std::to_string(g_block_idx.z) +
          "): its lanes reached different warp-collective operations");
  }
  if (++w.arrived == w.live) {
    run_collective(warp);
  } else {
    g_current->state = State::Warp;
    yield();
  }
  std::memcpy(out, w.out[lane], out_bytes);
}

unsigned char* dynamic_smem() { return g_arena; }

void shared_static(void* p, size_t bytes) {
  if (g_statics.emplace(p, bytes).second) std::memset(p, 0xff, bytes);
}

void check_shared(const unsigned char* p, size_t bytes, size_t align, const char* op) {
  const std::ptrdiff_t off = p - g_arena;
  if (reinterpret_cast<uintptr_t>(p) % align != 0)
    fault(std::string(op) + ": shared address misaligned for a " + std::to_string(align) +
          "-byte access");
  if (off >= 0 && off < static_cast<std::ptrdiff_t>(kArenaBytes) &&
      static_cast<size_t>(off) + bytes > g_smem_bytes)
    fault(std::string(op) + ": shared offset " + std::to_string(off) + " + " +
          std::to_string(bytes) + " is past the launch's " + std::to_string(g_smem_bytes) +
          " bytes of dynamic shared memory");
}

void check_global(const void* p, size_t align, const char* op) {
  if (reinterpret_cast<uintptr_t>(p) % align != 0)
    fault(std::string(op) + ": global address misaligned for a " + std::to_string(align) +
          "-byte access");
}

uint32_t shared_address(const void* p) {
  const std::ptrdiff_t off = static_cast<const unsigned char*>(p) - g_arena;
  return static_cast<uint32_t>(static_cast<int32_t>(off));
}

unsigned char* shared_pointer(uint32_t addr) { return g_arena + static_cast<int32_t>(addr); }

void async_copy(void* dst, const void* src, size_t src_bytes, size_t dst_bytes) {
  g_current->open.push_back(AsyncCopy{dst, src, src_bytes, dst_bytes});
}

void async_commit() {
  g_current->inflight.push_back(std::move(g_current->open));
  g_current->open.clear();
}

void async_wait(int pending_groups) {
  Fiber& f = *g_current;
  while (static_cast<int>(f.inflight.size()) > pending_groups) {
    land(f.inflight.front());
    f.inflight.pop_front();
  }
}

void set_smem_limit(const void*, int bytes) { g_smem_opt_in = std::max(kDefaultSmem, bytes); }

void launch(dim3 grid, dim3 block, size_t smem, const std::function<void()>& body) {
  const size_t allowed = static_cast<size_t>(g_smem_opt_in);
  g_smem_opt_in = kDefaultSmem;
  const uint64_t threads = uint64_t{block.x} * block.y * block.z;
  if (threads == 0 || threads > 1024 || block.x > 1024 || block.y > 1024 || block.z > 64 ||
      grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 2147483647u || grid.y > 65535 ||
      grid.z > 65535) {
    record_fault(cudaErrorInvalidConfiguration,
                 "invalid launch: grid (" + std::to_string(grid.x) + ", " + std::to_string(grid.y) +
                     ", " + std::to_string(grid.z) + "), block (" + std::to_string(block.x) + ", " +
                     std::to_string(block.y) + ", " + std::to_string(block.z) + ")");
    return;
  }
  if (smem > allowed || smem > kArenaBytes) {
    record_fault(cudaErrorInvalidValue, "invalid launch: " + std::to_string(smem) +
                                            " bytes of dynamic shared memory, the kernel allows " +
                                            std::to_string(allowed));
    return;
  }
  // One launch at a time, whichever host thread asks (the GPU's streams would overlap them).
  static std::recursive_mutex launching;
  const std::lock_guard<std::recursive_mutex> lock(launching);
  if (g_body != nullptr) {
    record_fault(cudaErrorLaunchFailure, "a kernel launched another kernel");
    return;
  }
  g_body = &body;
  g_smem_bytes = smem;
  g_grid_dim = grid;
  g_block_dim = block;
  g_fault.clear();
  uint64_t serial = 0;
  for (unsigned z = 0; z < grid.z && g_fault.empty(); ++z)
    for (unsigned y = 0; y < grid.y && g_fault.empty(); ++y)
      for (unsigned x = 0; x < grid.x && g_fault.empty(); ++x) {
        g_block_idx = uint3{x, y, z};
        // Shared memory starts out as garbage (NaN as float, -1 as int), as on the GPU.
        std::memset(g_arena, 0xff, smem);
        for (const auto& [p, bytes] : g_statics) std::memset(p, 0xff, bytes);
        run_block(block, serial++);
      }
  g_body = nullptr;
  g_current = nullptr;
  if (!g_fault.empty()) {
    std::fprintf(stderr, "ember CUDA emulator: %s\n", g_fault.c_str());
    record_fault(cudaErrorLaunchFailure, g_fault);
  }
}

}  // namespace ember_emu
