// The CUDA host emulator's core: runs a kernel launch on the CPU, one fiber per CUDA thread,
// one block at a time, so that the kernels of _C_cuda can be tested on a machine without a
// GPU (docs/architecture.md, "CUDA host emulator"). A fiber runs until it reaches a block
// barrier or a warp-collective operation, then the next one runs; a barrier (or collective)
// releases its fibers once every live thread of the block (or warp) has reached it, and a
// state where nothing can run is reported as a deadlock instead of hanging. Atomics need
// nothing: only one fiber runs at a time and it never yields inside one.
//
// Only the emulator build of _C_cuda (CMake option EMBER_CUDA_EMULATOR) includes this.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
};

// The vector types the kernels load 16 or 8 bytes at a time with.
struct alignas(8) uint2 {
  unsigned x, y;
};
struct alignas(16) uint4 {
  unsigned x, y, z, w;
};
struct alignas(8) float2 {
  float x, y;
};
struct alignas(16) float4 {
  float x, y, z, w;
};

inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }
inline uint2 make_uint2(unsigned x, unsigned y) { return {x, y}; }

struct CUstream_st;
typedef CUstream_st* cudaStream_t;

namespace ember_emu {

constexpr int kWarp = 32;

// The indices of the fiber that is running (set by the scheduler before it resumes one).
extern uint3 g_thread_idx, g_block_idx;
extern dim3 g_block_dim, g_grid_dim;

// This thread's lane and warp within its block (threads are linearized x fastest, as on
// the GPU).
int lane_id();
int warp_id();

// __syncthreads(); with a predicate, the OR of every live thread's (__syncthreads_or).
void block_barrier();
bool block_barrier_or(bool pred);

// Every live lane of the calling warp passes `in` and gets back its entry of `out`,
// which `op(ins, outs, live_mask)` fills once all have arrived (the last one to arrive
// runs it). Entries of lanes that have exited are unspecified.
constexpr size_t kSlotBytes = 64;
using WarpThunk = void (*)(const unsigned char (*in)[kSlotBytes], unsigned char (*out)[kSlotBytes],
                           uint32_t live, const void* op);
void warp_exchange(const void* in, size_t in_bytes, void* out, size_t out_bytes, WarpThunk thunk,
                   const void* op);

template <typename In, typename Out, typename Op>
Out warp_collective(const In& in, const Op& op) {
  static_assert(sizeof(In) <= kSlotBytes && sizeof(Out) <= kSlotBytes, "warp slot too small");
  static_assert(std::is_trivially_copyable_v<In> && std::is_trivially_copyable_v<Out>);
  const WarpThunk thunk = [](const unsigned char (*slots_in)[kSlotBytes],
                             unsigned char (*slots_out)[kSlotBytes], uint32_t live,
                             const void* fn) {
    In ins[kWarp];
    Out outs[kWarp];
    std::memset(static_cast<void*>(ins), 0, sizeof ins);
    std::memset(static_cast<void*>(outs), 0, sizeof outs);
    for (int l = 0; l < kWarp; ++l) std::memcpy(&ins[l], slots_in[l], sizeof(In));
    (*static_cast<const Op*>(fn))(ins, outs, live);
    for (int l = 0; l < kWarp; ++l) std::memcpy(slots_out[l], &outs[l], sizeof(Out));
  };
  Out out;
  warp_exchange(&in, sizeof(In), &out, sizeof(Out), thunk, &op);
  return out;
}

// Shared memory. The dynamic arena (extern __shared__) is a static buffer of the module, so
// that it and the static __shared__ arrays (function-local statics) lie within 2 GiB of
// each other: a shared-window address (__cvta_generic_to_shared, the operand of ldmatrix
// and cp.async) is the signed 32-bit offset from the arena.
unsigned char* dynamic_smem();
// Registers a static __shared__ array (the build adds the call after its declaration): it
// is filled with 0xff bytes now and at the start of every block, as the arena is.
void shared_static(void* p, size_t bytes);
uint32_t shared_address(const void* p);
unsigned char* shared_pointer(uint32_t addr);
// Faults the launch (cudaErrorLaunchFailure, naming op) on an access the hardware would
// fault on: misaligned, or past the launch's dynamic shared memory.
void check_shared(const unsigned char* p, size_t bytes, size_t align, const char* op);
void check_global(const void* p, size_t align, const char* op);

// Kernel launches: the build rewrites `k<<<g, b, s, st>>>(args);` into
// `::ember_emu::launch_config(g, b, s, st).with_args(args) <<=
// [&](const auto&... ember_emu_args) { k(ember_emu_args...); };`
// so the arguments are evaluated once, and a kernel template deduces its parameters from
// them as under nvcc. Every thread calls k with its own copies.
template <typename... A>
struct PendingLaunch;
struct LaunchConfig {
  dim3 grid, block;
  size_t smem;
  template <typename... A>
  PendingLaunch<std::decay_t<A>...> with_args(A&&... a) const {
    return {*this, std::tuple<std::decay_t<A>...>(std::forward<A>(a)...)};
  }
};
inline LaunchConfig launch_config(dim3 grid, dim3 block, size_t smem = 0, cudaStream_t = nullptr) {
  return {grid, block, smem};
}

// Runs body once per thread of every block (or records why the launch is invalid, as the
// runtime would: cudaGetLastError reports it).
void launch(dim3 grid, dim3 block, size_t smem, const std::function<void()>& body);

template <typename... A>
struct PendingLaunch {
  LaunchConfig config;
  std::tuple<A...> args;
  template <typename Kernel>
  void operator<<=(const Kernel& kernel) const {
    launch(config.grid, config.block, config.smem, [&] { std::apply(kernel, args); });
  }
};

// cp.async: the copies of each commit group land when a wait retires the group (the latest
// moment the PTX memory model allows), so a kernel that reads a stage before waiting for it
// reads stale data here too.
void async_copy(void* dst, const void* src, size_t src_bytes, size_t dst_bytes);
void async_commit();
void async_wait(int pending_groups);

}  // namespace ember_emu
