// ember._C_cuda's fused optimizer steps and gradient clipping: the entry points and checks
// of ember._C's (bindings/optim_defs.h), on CUDA tensors. Each is also bound as
// `_host_<name>`, which runs the same kernel bodies on the host over CPU tensors: the tests
// compare it with ember._C's CPU step without a GPU.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <tuple>
#include <vector>

#include "bindings/optim_defs.h"
#include "cuda/optim/optim.h"
#include "cuda/optim/table.h"
#include "cuda/runtime.h"

namespace py = pybind11;

namespace ember::cuda {
namespace {

using bindings::OptimChecks;
using bindings::OptimLists;
using bindings::TensorList;
using optim::Where;

// The CUDA kernels behind bindings/optim_defs.h's entry points: on the checked tensors'
// device (every tensor on one), or for Where::Host on the host over CPU tensors.
template <Where W>
struct Cuda {
  static OptimChecks checks(const char* op) {
    if constexpr (W == Where::Device)
      return OptimChecks(op, DeviceType::CUDA,
                         "ember CUDA optimizers need every tensor on one CUDA device");
    else
      return OptimChecks(op, DeviceType::CPU,
                         "the host emulation of the CUDA kernels needs CPU tensors");
  }

  // fn() with the GIL released, on the checked tensors' device for Where::Device.
  template <class Fn>
  static auto run(const OptimChecks& c, Fn&& fn) {
    if constexpr (W == Where::Device) {
      require_device(c.device(), c.op());
      py::gil_scoped_release nogil;
      DeviceGuard guard(c.device());
      return fn();
    } else {
      py::gil_scoped_release nogil;
      return fn();
    }
  }

  static bool step(const OptimChecks& c, OptimKind kind, const OptimHyper& h, const OptimLists& l,
                   bool check_finite) {
    if (l.params.empty()) return true;
    const optim::StepTensors t{l.params, l.grads, l.s0,          l.s1,
                               l.s2,     l.steps, l.mu_products, l.new_buffers};
    return run(c, [&] { return optim::optim_step(kind, h, t, check_finite, W); });
  }
  static std::tuple<double, bool> total_norm(const OptimChecks& c, const TensorList& xs, double p) {
    if (xs.empty()) return {0.0, false};
    const optim::GradNorm r = run(c, [&] { return optim::total_norm(xs, p, W); });
    return {r.norm, r.nonfinite};
  }
  static std::tuple<double, bool> clip_grad_norm(const OptimChecks& c, const TensorList& xs,
                                                 double max_norm, double p, bool error) {
    if (xs.empty()) return {0.0, false};
    const optim::GradNorm r =
        run(c, [&] { return optim::clip_grad_norm(xs, max_norm, p, error, W); });
    return {r.norm, r.nonfinite};
  }
  static void scale_all(const OptimChecks& c, const TensorList& xs, double factor) {
    if (!xs.empty()) run(c, [&] { optim::scale_all(xs, factor, W); });
  }
  static void clip_grad_value(const OptimChecks& c, const TensorList& xs, double clip_value) {
    if (!xs.empty()) run(c, [&] { optim::clip_grad_value(xs, clip_value, W); });
  }
};

}  // namespace

void bind_optim(py::module_& m) {
  bindings::def_optim<Cuda<Where::Device>>(m, "");
  bindings::def_optim<Cuda<Where::Host>>(m, "_host_", "Host emulation of the CUDA kernel (tests).");
  m.def(
      "_optim_chunks",
      [](const std::vector<int64_t>& numels, int64_t chunk) {
        std::vector<std::tuple<int, int>> out;
        for (const optim::Chunk& c : optim::build_chunks(numels, chunk, "ember._optim_chunks"))
          out.emplace_back(c.slot, c.index);
        return out;
      },
      py::arg("numels"), py::arg("chunk"),
      "The multi-tensor chunk list [(tensor, chunk index)] for tensors of these sizes.");
  m.attr("_optim_chunk") = optim::kChunk;
  m.attr("_optim_block") = optim::kBlock;
}

}  // namespace ember::cuda
