// ember._C_cuda: CUDA tensors, copies and elementwise kernels. Imported lazily
// by ember.cuda; on a machine without a driver or GPU it still imports, and
// is_available() is False. TensorImpl is the type ember._C registers: this
// module imports ember._C first so pybind11 can pass it across the two.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cuda_runtime.h>

#include "bindings/exceptions.h"
#include "core/error.h"
#include "core/tensor_impl.h"
#include "cuda/allocator.h"
#include "cuda/cuda_check.h"
#include "cuda/ops.h"
#include "cuda/runtime.h"

namespace py = pybind11;

namespace ember::cuda {
namespace {

using TensorRef = const TensorImpl&;

DType dtype_from_int(int code) {
  EMBER_CHECK(code >= 0 && code < kNumDTypes, ValueError, "ember: unknown dtype code ", code);
  return static_cast<DType>(code);
}

// Memory statistics need no GPU: they are 0 until something is allocated.
void check_stat_device(int device, const char* op) {
  const int n = device_count();
  EMBER_CHECK(device >= 0 && (n == 0 || device < n), ValueError, op, ": invalid CUDA device index ",
              device);
}

}  // namespace

// Bindings kept beside their code (bind_<family>.cpp, one file each).
void bind_attention(py::module_& m);
void bind_batchnorm(py::module_& m);
void bind_conv(py::module_& m);
void bind_gemm(py::module_& m);
void bind_index(py::module_& m);
void bind_optim(py::module_& m);
void bind_pool(py::module_& m);
void bind_qgemm(py::module_& m);
void bind_reduce(py::module_& m);
void bind_rnn(py::module_& m);
void bind_streams(py::module_& m);
}  // namespace ember::cuda

#ifdef EMBER_CUDA_EMULATOR
namespace ember_emu {
void bind_selftests(pybind11::module_& m);  // emu/selftest.cpp: checks of the emulator itself
}
#endif

PYBIND11_MODULE(_C_cuda, m) {
  using namespace ember;
  using namespace ember::cuda;
  m.doc() = "ember CUDA kernels";
  py::module_::import("ember._C");  // registers TensorImpl with pybind11

  bindings::register_exception_translator();

  m.def(
      "is_available", [] { return device_count() > 0; },
      "True if a CUDA driver and at least one GPU are present. Never raises.");
  m.def("device_count", [] { return device_count(); }, "Number of GPUs (0 without driver/GPU).");
  m.def(
      "unavailable_reason", [] { return unavailable_reason(); },
      "Why is_available() is False ('' when it is True).");
  m.def(
      "synchronize",
      [](int device) {
        require_device(device, "ember.cuda.synchronize");
        py::gil_scoped_release nogil;
        DeviceGuard guard(device);
        EMBER_CUDA_CHECK(cudaDeviceSynchronize(), "ember.cuda.synchronize");
      },
      py::arg("device") = 0, "Wait for all work on the device to finish.");
  m.def(
      "memory_allocated",
      [](int device) {
        check_stat_device(device, "ember.cuda.memory_allocated");
        return memory_allocated(device);
      },
      py::arg("device") = 0, "Bytes held by live tensors (rounded block sizes).");
  m.def(
      "memory_reserved",
      [](int device) {
        check_stat_device(device, "ember.cuda.memory_reserved");
        return memory_reserved(device);
      },
      py::arg("device") = 0, "Bytes held by the caching allocator (live and cached).");
  m.def(
      "memory_stats",
      [](int device) {
        check_stat_device(device, "ember.cuda.memory_stats");
        const MemoryStats s = memory_stats(device);
        py::dict d;
        d["allocated_bytes.all.current"] = s.allocated;
        d["allocated_bytes.all.peak"] = s.allocated_peak;
        d["reserved_bytes.all.current"] = s.reserved;
        d["reserved_bytes.all.peak"] = s.reserved_peak;
        d["active.all.current"] = s.active_blocks;
        d["allocation.all.allocated"] = s.num_allocs;
        d["segment.all.allocated"] = s.num_cuda_mallocs;
        d["num_alloc_retries"] = s.num_alloc_retries;
        d["num_ooms"] = s.num_ooms;
        return d;
      },
      py::arg("device") = 0, "The caching allocator's counters (torch's key names).");
  m.def(
      "reset_peak_memory_stats",
      [](int device) {
        check_stat_device(device, "ember.cuda.reset_peak_memory_stats");
        reset_peak_stats(device);
      },
      py::arg("device") = 0, "Restart the peak counters from the current values.");
  bind_attention(m);
  bind_batchnorm(m);
  bind_conv(m);
  bind_gemm(m);
  bind_index(m);
  bind_optim(m);
  bind_pool(m);
  bind_qgemm(m);
  bind_reduce(m);
  bind_rnn(m);
  bind_streams(m);
#ifdef EMBER_CUDA_EMULATOR
  ember_emu::bind_selftests(m);
#endif
  m.def(
      "empty_cache",
      [] {
        py::gil_scoped_release nogil;
        empty_cache();
      },
      "Return every cached, unused block to the driver.");
  m.def(
      "get_device_name",
      [](int device) {
        require_device(device, "ember.cuda.get_device_name");
        cudaDeviceProp prop;
        EMBER_CUDA_CHECK(cudaGetDeviceProperties(&prop, device), "ember.cuda.get_device_name");
        return std::string(prop.name);
      },
      py::arg("device") = 0);

  m.def(
      "empty",
      [](const Shape& shape, int dtype, int device) {
        DType d = dtype_from_int(dtype);
        py::gil_scoped_release nogil;
        return cuda::empty(shape, d, device);
      },
      py::arg("shape"), py::arg("dtype"), py::arg("device") = 0,
      "Uninitialized contiguous CUDA tensor.");
  m.def(
      "copy",
      [](TensorRef src, TensorRef dst) {
        py::gil_scoped_release nogil;
        cuda::copy(src, dst);
      },
      py::arg("src"), py::arg("dst"),
      "dst[...] = src (broadcast, dtype conversion); CPU<->CUDA or CUDA<->CUDA.");
  m.def(
      "fill",
      [](TensorRef dst, double value) {
        py::gil_scoped_release nogil;
        cuda::fill(dst, value);
      },
      py::arg("dst"), py::arg("value"));
  m.def(
      "unary",
      [](const std::string& op, TensorRef x, TensorRef out, double alpha, double beta) {
        py::gil_scoped_release nogil;
        cuda::unary(op, x, out, alpha, beta);
      },
      py::arg("op"), py::arg("x"), py::arg("out"), py::arg("alpha") = 0.0, py::arg("beta") = 0.0,
      "out = op(x) elementwise (clamp: alpha=min, beta=max).");
  m.def(
      "unary_backward",
      [](const std::string& op, TensorRef x, TensorRef y, TensorRef grad_out, TensorRef grad_in,
         double alpha, double beta) {
        py::gil_scoped_release nogil;
        cuda::unary_backward(op, x, y, grad_out, grad_in, alpha, beta);
      },
      py::arg("op"), py::arg("x"), py::arg("y"), py::arg("grad_out"), py::arg("grad_in"),
      py::arg("alpha") = 0.0, py::arg("beta") = 0.0,
      "grad_in = grad_out * op'(x); tanh and sigmoid use the forward output y.");
  m.def(
      "binary",
      [](const std::string& op, TensorRef a, TensorRef b, TensorRef out) {
        py::gil_scoped_release nogil;
        cuda::binary(op, a, b, out);
      },
      py::arg("op"), py::arg("a"), py::arg("b"), py::arg("out"),
      "out = a op b with a and b broadcast to out.shape.");
  m.def(
      "where",
      [](TensorRef cond, TensorRef a, TensorRef b, TensorRef out) {
        py::gil_scoped_release nogil;
        cuda::where(cond, a, b, out);
      },
      py::arg("cond"), py::arg("a"), py::arg("b"), py::arg("out"), "out = cond ? a : b.");
}
