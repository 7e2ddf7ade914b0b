// Fused optimizer steps and gradient clipping over lists of tensors (one call per
// parameter group). Every list, shape, dtype, device and hyperparameter is checked first
// (bindings/optim_checks, shared with the CUDA bindings), before a kernel touches memory;
// then the GIL is released around the kernel.
#include <cmath>
#include <tuple>
#include <vector>

#include "bindings/bindings.h"
#include "bindings/optim_checks.h"
#include "core/error.h"
#include "cpu/optim/optim.h"

namespace ember::bindings {
namespace {

using List = TensorList;

// The checks of one op on CPU tensors.
OptimChecks cpu_checks(const char* op) {
  return OptimChecks(op, DeviceType::CPU, "ember CPU optimizers need CPU tensors");
}

bool run(OptimKind kind, const OptimHyper& h, const cpu::OptimTensors& t, bool check_finite) {
  py::gil_scoped_release nogil;
  return cpu::optim_step(kind, h, t, check_finite);
}

bool sgd_step(const List& params, const List& grads, const List& momentum_buffers,
              const std::vector<bool>& new_buffers, double lr, double momentum, double dampening,
              double weight_decay, bool nesterov, bool maximize, bool check_finite) {
  OptimChecks c = cpu_checks("ember.optim.sgd");
  const OptimHyper h = check_sgd(c, params, grads, momentum_buffers, new_buffers, lr, momentum,
                                 dampening, weight_decay, nesterov, maximize);
  cpu::OptimTensors t{params, grads, momentum_buffers, {}, {}, {}, new_buffers, {}};
  return run(OptimKind::Sgd, h, t, check_finite);
}

bool adagrad_step(const List& params, const List& grads, const List& sums, const List& steps,
                  double lr, double lr_decay, double weight_decay, double eps, bool maximize,
                  bool check_finite) {
  OptimChecks c = cpu_checks("ember.optim.adagrad");
  const OptimHyper h =
      check_adagrad(c, params, grads, sums, steps, lr, lr_decay, weight_decay, eps, maximize);
  cpu::OptimTensors t{params, grads, sums, {}, {}, steps, {}, {}};
  return run(OptimKind::Adagrad, h, t, check_finite);
}

bool rmsprop_step(const List& params, const List& grads, const List& square_avgs,
                  const List& grad_avgs, const List& momentum_buffers, const List& steps, double lr,
                  double alpha, double eps, double weight_decay, double momentum, bool centered,
                  bool maximize, bool check_finite) {
  OptimChecks c = cpu_checks("ember.optim.rmsprop");
  const OptimHyper h =
      check_rmsprop(c, params, grads, square_avgs, grad_avgs, momentum_buffers, steps, lr, alpha,
                    eps, weight_decay, momentum, centered, maximize);
  cpu::OptimTensors t{params, grads, square_avgs, grad_avgs, momentum_buffers, steps, {}, {}};
  return run(OptimKind::Rmsprop, h, t, check_finite);
}

bool adam_step(const List& params, const List& grads, const List& exp_avgs, const List& exp_avg_sqs,
               const List& max_exp_avg_sqs, const List& steps, double lr, double beta1,
               double beta2, double eps, double weight_decay, bool amsgrad, bool maximize,
               bool decoupled_weight_decay, bool check_finite) {
  OptimChecks c = cpu_checks(decoupled_weight_decay ? "ember.optim.adamw" : "ember.optim.adam");
  const OptimHyper h =
      check_adam(c, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, lr, beta1, beta2,
                 eps, weight_decay, amsgrad, maximize, decoupled_weight_decay);
  cpu::OptimTensors t{params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, {}, {}};
  return run(OptimKind::Adam, h, t, check_finite);
}

bool lion_step(const List& params, const List& grads, const List& exp_avgs, double lr, double beta1,
               double beta2, double weight_decay, bool maximize, bool check_finite) {
  OptimChecks c = cpu_checks("ember.optim.lion");
  const OptimHyper h =
      check_lion(c, params, grads, exp_avgs, lr, beta1, beta2, weight_decay, maximize);
  cpu::OptimTensors t{params, grads, exp_avgs, {}, {}, {}, {}, {}};
  return run(OptimKind::Lion, h, t, check_finite);
}

bool adadelta_step(const List& params, const List& grads, const List& square_avgs,
                   const List& acc_deltas, const List& steps, double lr, double rho, double eps,
                   double weight_decay, bool maximize, bool check_finite) {
  OptimChecks c = cpu_checks("ember.optim.adadelta");
  const OptimHyper h = check_adadelta(c, params, grads, square_avgs, acc_deltas, steps, lr, rho,
                                      eps, weight_decay, maximize);
  cpu::OptimTensors t{params, grads, square_avgs, acc_deltas, {}, steps, {}, {}};
  return run(OptimKind::Adadelta, h, t, check_finite);
}

bool adamax_step(const List& params, const List& grads, const List& exp_avgs, const List& exp_infs,
                 const List& steps, double lr, double beta1, double beta2, double eps,
                 double weight_decay, bool maximize, bool check_finite) {
  OptimChecks c = cpu_checks("ember.optim.adamax");
  const OptimHyper h = check_adamax(c, params, grads, exp_avgs, exp_infs, steps, lr, beta1, beta2,
                                    eps, weight_decay, maximize);
  cpu::OptimTensors t{params, grads, exp_avgs, exp_infs, {}, steps, {}, {}};
  return run(OptimKind::Adamax, h, t, check_finite);
}

// NAdam (with mu_products) and RAdam (without): Adam's moments, their own update rules.
bool nadam_radam_step(OptimKind kind, const List& params, const List& grads, const List& exp_avgs,
                      const List& exp_avg_sqs, const List& mu_products, const List& steps,
                      double lr, double beta1, double beta2, double eps, double weight_decay,
                      double momentum_decay, bool decoupled_weight_decay, bool maximize,
                      bool check_finite) {
  const bool nadam = kind == OptimKind::Nadam;
  OptimChecks c = cpu_checks(nadam ? "ember.optim.nadam" : "ember.optim.radam");
  const OptimHyper h = check_nadam_radam(c, nadam, params, grads, exp_avgs, exp_avg_sqs,
                                         mu_products, steps, lr, beta1, beta2, eps, weight_decay,
                                         momentum_decay, decoupled_weight_decay, maximize);
  cpu::OptimTensors t{params, grads, exp_avgs, exp_avg_sqs, {}, steps, {}, mu_products};
  return run(kind, h, t, check_finite);
}

}  // namespace

void bind_optim(py::module_& m) {
  m.def("sgd_step", &sgd_step, py::arg("params"), py::arg("grads"), py::arg("momentum_buffers"),
        py::arg("new_buffers"), py::arg("lr"), py::arg("momentum"), py::arg("dampening"),
        py::arg("weight_decay"), py::arg("nesterov"), py::arg("maximize"), py::arg("check_finite"),
        "One SGD step over a group (torch.optim.SGD's rule). new_buffers[i]: the momentum "
        "buffer is new and becomes the gradient. Returns False (nothing written) when "
        "check_finite is set and a gradient holds NaN/inf.");
  m.def("adagrad_step", &adagrad_step, py::arg("params"), py::arg("grads"), py::arg("state_sums"),
        py::arg("steps"), py::arg("lr"), py::arg("lr_decay"), py::arg("weight_decay"),
        py::arg("eps"), py::arg("maximize"), py::arg("check_finite"),
        "One Adagrad step over a group; steps (0-d tensors) are incremented in place.");
  m.def("rmsprop_step", &rmsprop_step, py::arg("params"), py::arg("grads"), py::arg("square_avgs"),
        py::arg("grad_avgs"), py::arg("momentum_buffers"), py::arg("steps"), py::arg("lr"),
        py::arg("alpha"), py::arg("eps"), py::arg("weight_decay"), py::arg("momentum"),
        py::arg("centered"), py::arg("maximize"), py::arg("check_finite"),
        "One RMSprop step over a group; grad_avgs only when centered, momentum_buffers only "
        "when momentum > 0 (else empty lists).");
  m.def("adam_step", &adam_step, py::arg("params"), py::arg("grads"), py::arg("exp_avgs"),
        py::arg("exp_avg_sqs"), py::arg("max_exp_avg_sqs"), py::arg("steps"), py::arg("lr"),
        py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"),
        py::arg("amsgrad"), py::arg("maximize"), py::arg("decoupled_weight_decay"),
        py::arg("check_finite"),
        "One Adam (decoupled_weight_decay: AdamW) step over a group; max_exp_avg_sqs only "
        "with amsgrad.");
  m.def("lion_step", &lion_step, py::arg("params"), py::arg("grads"), py::arg("exp_avgs"),
        py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("weight_decay"),
        py::arg("maximize"), py::arg("check_finite"), "One Lion step over a group.");
  m.def("adadelta_step", &adadelta_step, py::arg("params"), py::arg("grads"),
        py::arg("square_avgs"), py::arg("acc_deltas"), py::arg("steps"), py::arg("lr"),
        py::arg("rho"), py::arg("eps"), py::arg("weight_decay"), py::arg("maximize"),
        py::arg("check_finite"), "One Adadelta step over a group.");
  m.def("adamax_step", &adamax_step, py::arg("params"), py::arg("grads"), py::arg("exp_avgs"),
        py::arg("exp_infs"), py::arg("steps"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"),
        py::arg("eps"), py::arg("weight_decay"), py::arg("maximize"), py::arg("check_finite"),
        "One Adamax step over a group.");
  m.def(
      "nadam_step",
      [](const List& params, const List& grads, const List& exp_avgs, const List& exp_avg_sqs,
         const List& mu_products, const List& steps, double lr, double beta1, double beta2,
         double eps, double weight_decay, double momentum_decay, bool decoupled_weight_decay,
         bool maximize, bool check_finite) {
        return nadam_radam_step(OptimKind::Nadam, params, grads, exp_avgs, exp_avg_sqs, mu_products,
                                steps, lr, beta1, beta2, eps, weight_decay, momentum_decay,
                                decoupled_weight_decay, maximize, check_finite);
      },
      py::arg("params"), py::arg("grads"), py::arg("exp_avgs"), py::arg("exp_avg_sqs"),
      py::arg("mu_products"), py::arg("steps"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"),
      py::arg("eps"), py::arg("weight_decay"), py::arg("momentum_decay"),
      py::arg("decoupled_weight_decay"), py::arg("maximize"), py::arg("check_finite"),
      "One NAdam step over a group; mu_products (0-d tensors) are multiplied by mu_t in place.");
  m.def(
      "radam_step",
      [](const List& params, const List& grads, const List& exp_avgs, const List& exp_avg_sqs,
         const List& steps, double lr, double beta1, double beta2, double eps, double weight_decay,
         bool decoupled_weight_decay, bool maximize, bool check_finite) {
        return nadam_radam_step(OptimKind::Radam, params, grads, exp_avgs, exp_avg_sqs, {}, steps,
                                lr, beta1, beta2, eps, weight_decay, 0.0, decoupled_weight_decay,
                                maximize, check_finite);
      },
      py::arg("params"), py::arg("grads"), py::arg("exp_avgs"), py::arg("exp_avg_sqs"),
      py::arg("steps"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"),
      py::arg("weight_decay"), py::arg("decoupled_weight_decay"), py::arg("maximize"),
      py::arg("check_finite"), "One RAdam step over a group.");
  m.def(
      "total_norm",
      [](const List& xs, double norm_type) {
        OptimChecks c = cpu_checks("ember.nn.utils.get_total_norm");
        c.norm_type(norm_type);
        c.grads(xs, false);
        py::gil_scoped_release nogil;
        const cpu::GradNorm r = cpu::total_norm(xs, norm_type);
        return std::make_tuple(r.norm, r.nonfinite);
      },
      py::arg("tensors"), py::arg("norm_type"),
      "(norm, nonfinite): the norm_type-norm of all tensors together, and whether any "
      "element is NaN or infinite.");
  m.def(
      "clip_grad_norm",
      [](const List& xs, double max_norm, double norm_type, bool error_if_nonfinite) {
        OptimChecks c = cpu_checks("ember.nn.utils.clip_grad_norm_");
        c.norm_type(norm_type);
        EMBER_CHECK(!std::isnan(max_norm), ValueError, c.op(), ": max_norm is NaN");
        c.grads(xs, true);
        py::gil_scoped_release nogil;
        const cpu::GradNorm r = cpu::clip_grad_norm(xs, max_norm, norm_type, error_if_nonfinite);
        return std::make_tuple(r.norm, r.nonfinite);
      },
      py::arg("tensors"), py::arg("max_norm"), py::arg("norm_type"), py::arg("error_if_nonfinite"),
      "Norm pass, then scale by max_norm / (norm + 1e-6) if that is < 1. With "
      "error_if_nonfinite, a non-finite norm leaves the tensors untouched. Returns (norm, "
      "nonfinite).");
  m.def(
      "scale_all",
      [](const List& xs, double c) {
        cpu_checks("ember.nn.utils.clip_grads_with_norm_").grads(xs, true);
        py::gil_scoped_release nogil;
        cpu::scale_all(xs, c);
      },
      py::arg("tensors"), py::arg("c"), "Every element *= c.");
  m.def(
      "clip_grad_value",
      [](const List& xs, double clip_value) {
        OptimChecks c = cpu_checks("ember.nn.utils.clip_grad_value_");
        EMBER_CHECK(!std::isnan(clip_value), ValueError, c.op(), ": clip_value is NaN");
        c.grads(xs, true);
        py::gil_scoped_release nogil;
        cpu::clip_grad_value(xs, clip_value);
      },
      py::arg("tensors"), py::arg("clip_value"),
      "Every element clamped to [-clip_value, clip_value] (NaN stays NaN).");
}

}  // namespace ember::bindings
