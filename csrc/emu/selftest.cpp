// Kernels that break the CUDA execution model on purpose, bound as _emu_* functions of the
// emulator build only, so tests/cuda/test_cuda_emulator.py can check that the emulator
// catches what it claims to: races inside a block, deadlocks, divergent warp collectives,
// reads before cp.async lands, launch limits.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <stdexcept>
#include <string>
#include <vector>

#include <cuda_runtime.h>

#include "cuda/gemm/ptx.cuh"

namespace ember_emu {
namespace {

namespace py = pybind11;

void check_launch() {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw std::runtime_error(cudaGetErrorString(e));
}

// out[t] = t + 1 read from the neighbour's shared slot; without the barrier the neighbour
// may not have written it yet.
__global__ void neighbour_kernel(int* out, bool barrier) {
  __shared__ int slot[64];
  shared_static(slot, sizeof slot);  // what the build adds after a __shared__ in csrc/cuda
  const int t = static_cast<int>(threadIdx.x);
  slot[t] = t;
  if (barrier) __syncthreads();
  out[t] = slot[(t + 1) % 64] + 1;
}

std::vector<int> neighbour(bool barrier) {
  std::vector<int> out(64, 0);
  launch_config(1, 64).with_args(out.data(), barrier) <<=
      [](int* o, bool b) { neighbour_kernel(o, b); };
  check_launch();
  return out;
}

// Lane 0 waits at the block barrier while its warp's other lanes wait in a shuffle.
__global__ void deadlock_kernel() {
  if (threadIdx.x == 0)
    __syncthreads();
  else
    __shfl_xor_sync(0xffffffffu, 1, 1);
}

// Half a warp shuffles while the other half votes.
__global__ void divergent_kernel() {
  if (threadIdx.x < 16)
    __shfl_xor_sync(0xffffffffu, 1, 1);
  else
    __ballot_sync(0xffffffffu, 1);
}

void run_broken(const std::string& which) {
  if (which == "deadlock")
    launch_config(1, 32).with_args() <<= [] { deadlock_kernel(); };
  else
    launch_config(1, 32).with_args() <<= [] { divergent_kernel(); };
  check_launch();
}

// Each thread copies 16 bytes into shared memory with cp.async and reads them back, with or
// without waiting for its group.
__global__ void cp_async_kernel(const int* src, int* out, bool wait) {
  alignas(16) __shared__ int buf[4 * 32];
  shared_static(buf, sizeof buf);
  const int t = static_cast<int>(threadIdx.x);
  ember::cuda::gemm::cp_async_16(ember::cuda::gemm::smem_addr(buf + 4 * t), src + 4 * t, 16);
  ember::cuda::gemm::cp_async_commit();
  if (wait) ember::cuda::gemm::cp_async_wait<0>();
  for (int i = 0; i < 4; ++i) out[4 * t + i] = buf[4 * t + i];
}

std::vector<int> cp_async(bool wait) {
  alignas(16) int src[4 * 32];
  for (int i = 0; i < 4 * 32; ++i) src[i] = 1000 + i;
  std::vector<int> out(4 * 32, 0);
  launch_config(1, 32).with_args(static_cast<const int*>(src), out.data(), wait) <<=
      [](const int* s, int* o, bool w) { cp_async_kernel(s, o, w); };
  check_launch();
  return out;
}

__global__ void empty_kernel() {}

void launch_shape(unsigned grid, unsigned block, size_t smem) {
  launch_config(grid, block, smem).with_args() <<= [] { empty_kernel(); };
  check_launch();
}

}  // namespace

void bind_selftests(py::module_& m) {
  m.attr("_emulator") = true;
  m.def("_emu_neighbour_read", &neighbour, py::arg("barrier"));
  m.def("_emu_run_broken", &run_broken, py::arg("which"));
  m.def("_emu_cp_async_read", &cp_async, py::arg("wait"));
  m.def("_emu_launch_shape", &launch_shape, py::arg("grid"), py::arg("block"), py::arg("smem"));
}

}  // namespace ember_emu
