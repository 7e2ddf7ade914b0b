// Fused optimizer steps and gradient clipping over lists of tensors (one call per
// parameter group). The entry points and their checks are the CUDA module's too
// (bindings/optim_defs.h, bindings/optim_checks): every list, shape, dtype, device and
// hyperparameter is checked before a kernel touches memory; then the GIL is released
// around the kernel.
#include <tuple>

#include "bindings/bindings.h"
#include "bindings/optim_defs.h"
#include "cpu/optim/optim.h"

namespace ember::bindings {
namespace {

// The CPU kernels behind optim_defs.h's entry points.
struct Cpu {
  static OptimChecks checks(const char* op) {
    return OptimChecks(op, DeviceType::CPU, "ember CPU optimizers need CPU tensors");
  }
  static bool step(const OptimChecks&, OptimKind kind, const OptimHyper& h, const OptimLists& l,
                   bool check_finite) {
    const cpu::OptimTensors t{l.params, l.grads, l.s0,          l.s1,
                              l.s2,     l.steps, l.new_buffers, l.mu_products};
    py::gil_scoped_release nogil;
    return cpu::optim_step(kind, h, t, check_finite);
  }
  static std::tuple<double, bool> total_norm(const OptimChecks&, const TensorList& xs, double p) {
    py::gil_scoped_release nogil;
    const cpu::GradNorm r = cpu::total_norm(xs, p);
    return {r.norm, r.nonfinite};
  }
  static std::tuple<double, bool> clip_grad_norm(const OptimChecks&, const TensorList& xs,
                                                 double max_norm, double p, bool error) {
    py::gil_scoped_release nogil;
    const cpu::GradNorm r = cpu::clip_grad_norm(xs, max_norm, p, error);
    return {r.norm, r.nonfinite};
  }
  static void scale_all(const OptimChecks&, const TensorList& xs, double c) {
    py::gil_scoped_release nogil;
    cpu::scale_all(xs, c);
  }
  static void clip_grad_value(const OptimChecks&, const TensorList& xs, double clip_value) {
    py::gil_scoped_release nogil;
    cpu::clip_grad_value(xs, clip_value);
  }
};

}  // namespace

void bind_optim(py::module_& m) { def_optim<Cpu>(m, ""); }

}  // namespace ember::bindings
