// The fused optimizer steps and gradient utilities as ember._C and ember._C_cuda both bind
// them: Python names, argument names, docstrings, the argument checks (optim_checks), then
// the device's kernels. Device supplies
//   static OptimChecks checks(const char* op);
//   static bool step(const OptimChecks&, OptimKind, const OptimHyper&, const OptimLists&,
//                    bool check_finite);
//   static std::tuple<double, bool> total_norm(const OptimChecks&, const TensorList&, double p);
//   static std::tuple<double, bool> clip_grad_norm(const OptimChecks&, const TensorList&,
//                                                  double max_norm, double p, bool error);
//   static void scale_all(const OptimChecks&, const TensorList&, double c);
//   static void clip_grad_value(const OptimChecks&, const TensorList&, double clip_value);
// each called after the checks, the kernels with the GIL released.
#pragma once
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "bindings/optim_checks.h"
#include "core/error.h"

namespace ember::bindings {

namespace py = pybind11;

// A step's tensor lists (s0..s2: the optimizer's state, in its order; empty when unused).
struct OptimLists {
  TensorList params, grads, s0, s1, s2, steps, mu_products;
  std::vector<bool> new_buffers;  // SGD: per tensor, the momentum buffer is new
};

template <class Device>
struct OptimSteps {
  using L = const TensorList&;

  static bool sgd(L params, L grads, L momentum_buffers, const std::vector<bool>& new_buffers,
                  double lr, double momentum, double dampening, double weight_decay, bool nesterov,
                  bool maximize, bool check_finite) {
    OptimChecks c = Device::checks("ember.optim.sgd");
    const OptimHyper h = check_sgd(c, params, grads, momentum_buffers, new_buffers, lr, momentum,
                                   dampening, weight_decay, nesterov, maximize);
    return Device::step(c, OptimKind::Sgd, h,
                        {params, grads, momentum_buffers, {}, {}, {}, {}, new_buffers},
                        check_finite);
  }

  static bool adagrad(L params, L grads, L sums, L steps, double lr, double lr_decay,
                      double weight_decay, double eps, bool maximize, bool check_finite) {
    OptimChecks c = Device::checks("ember.optim.adagrad");
    const OptimHyper h =
        check_adagrad(c, params, grads, sums, steps, lr, lr_decay, weight_decay, eps, maximize);
    return Device::step(c, OptimKind::Adagrad, h, {params, grads, sums, {}, {}, steps, {}, {}},
                        check_finite);
  }

  static bool rmsprop(L params, L grads, L square_avgs, L grad_avgs, L momentum_buffers, L steps,
                      double lr, double alpha, double eps, double weight_decay, double momentum,
                      bool centered, bool maximize, bool check_finite) {
    OptimChecks c = Device::checks("ember.optim.rmsprop");
    const OptimHyper h =
        check_rmsprop(c, params, grads, square_avgs, grad_avgs, momentum_buffers, steps, lr, alpha,
                      eps, weight_decay, momentum, centered, maximize);
    return Device::step(c, OptimKind::Rmsprop, h,
                        {params, grads, square_avgs, grad_avgs, momentum_buffers, steps, {}, {}},
                        check_finite);
  }

  static bool adam(L params, L grads, L exp_avgs, L exp_avg_sqs, L max_exp_avg_sqs, L steps,
                   double lr, double beta1, double beta2, double eps, double weight_decay,
                   bool amsgrad, bool maximize, bool decoupled_weight_decay, bool check_finite) {
    OptimChecks c =
        Device::checks(decoupled_weight_decay ? "ember.optim.adamw" : "ember.optim.adam");
    const OptimHyper h =
        check_adam(c, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, lr, beta1,
                   beta2, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay);
    return Device::step(c, OptimKind::Adam, h,
                        {params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, {}, {}},
                        check_finite);
  }

  static bool lion(L params, L grads, L exp_avgs, double lr, double beta1, double beta2,
                   double weight_decay, bool maximize, bool check_finite) {
    OptimChecks c = Device::checks("ember.optim.lion");
    const OptimHyper h =
        check_lion(c, params, grads, exp_avgs, lr, beta1, beta2, weight_decay, maximize);
    return Device::step(c, OptimKind::Lion, h, {params, grads, exp_avgs, {}, {}, {}, {}, {}},
                        check_finite);
  }

  static bool adadelta(L params, L grads, L square_avgs, L acc_deltas, L steps, double lr,
                       double rho, double eps, double weight_decay, bool maximize,
                       bool check_finite) {
    OptimChecks c = Device::checks("ember.optim.adadelta");
    const OptimHyper h = check_adadelta(c, params, grads, square_avgs, acc_deltas, steps, lr, rho,
                                        eps, weight_decay, maximize);
    return Device::step(c, OptimKind::Adadelta, h,
                        {params, grads, square_avgs, acc_deltas, {}, steps, {}, {}}, check_finite);
  }

  static bool adamax(L params, L grads, L exp_avgs, L exp_infs, L steps, double lr, double beta1,
                     double beta2, double eps, double weight_decay, bool maximize,
                     bool check_finite) {
    OptimChecks c = Device::checks("ember.optim.adamax");
    const OptimHyper h = check_adamax(c, params, grads, exp_avgs, exp_infs, steps, lr, beta1, beta2,
                                      eps, weight_decay, maximize);
    return Device::step(c, OptimKind::Adamax, h,
                        {params, grads, exp_avgs, exp_infs, {}, steps, {}, {}}, check_finite);
  }

  // NAdam (with mu_products) and RAdam (without): Adam's moments, their own update rules.
  static bool nadam_radam(OptimKind kind, L params, L grads, L exp_avgs, L exp_avg_sqs,
                          L mu_products, L steps, double lr, double beta1, double beta2, double eps,
                          double weight_decay, double momentum_decay, bool decoupled_weight_decay,
                          bool maximize, bool check_finite) {
    const bool nadam = kind == OptimKind::Nadam;
    OptimChecks c = Device::checks(nadam ? "ember.optim.nadam" : "ember.optim.radam");
    const OptimHyper h = check_nadam_radam(c, nadam, params, grads, exp_avgs, exp_avg_sqs,
                                           mu_products, steps, lr, beta1, beta2, eps, weight_decay,
                                           momentum_decay, decoupled_weight_decay, maximize);
    return Device::step(c, kind, h,
                        {params, grads, exp_avgs, exp_avg_sqs, {}, steps, mu_products, {}},
                        check_finite);
  }

  static bool nadam(L params, L grads, L exp_avgs, L exp_avg_sqs, L mu_products, L steps, double lr,
                    double beta1, double beta2, double eps, double weight_decay,
                    double momentum_decay, bool decoupled_weight_decay, bool maximize,
                    bool check_finite) {
    return nadam_radam(OptimKind::Nadam, params, grads, exp_avgs, exp_avg_sqs, mu_products, steps,
                       lr, beta1, beta2, eps, weight_decay, momentum_decay, decoupled_weight_decay,
                       maximize, check_finite);
  }

  static bool radam(L params, L grads, L exp_avgs, L exp_avg_sqs, L steps, double lr, double beta1,
                    double beta2, double eps, double weight_decay, bool decoupled_weight_decay,
                    bool maximize, bool check_finite) {
    return nadam_radam(OptimKind::Radam, params, grads, exp_avgs, exp_avg_sqs, {}, steps, lr, beta1,
                       beta2, eps, weight_decay, 0.0, decoupled_weight_decay, maximize,
                       check_finite);
  }

  static std::tuple<double, bool> total_norm(L xs, double norm_type) {
    OptimChecks c = Device::checks("ember.nn.utils.get_total_norm");
    c.norm_type(norm_type);
    c.grads(xs, false);
    return Device::total_norm(c, xs, norm_type);
  }

  static std::tuple<double, bool> clip_grad_norm(L xs, double max_norm, double norm_type,
                                                 bool error_if_nonfinite) {
    OptimChecks c = Device::checks("ember.nn.utils.clip_grad_norm_");
    c.norm_type(norm_type);
    EMBER_CHECK(!std::isnan(max_norm), ValueError, c.op(), ": max_norm is NaN");
    c.grads(xs, true);
    return Device::clip_grad_norm(c, xs, max_norm, norm_type, error_if_nonfinite);
  }

  static void scale_all(L xs, double factor) {
    OptimChecks c = Device::checks("ember.nn.utils.clip_grads_with_norm_");
    c.grads(xs, true);
    Device::scale_all(c, xs, factor);
  }

  static void clip_grad_value(L xs, double clip_value) {
    OptimChecks c = Device::checks("ember.nn.utils.clip_grad_value_");
    EMBER_CHECK(!std::isnan(clip_value), ValueError, c.op(), ": clip_value is NaN");
    c.grads(xs, true);
    Device::clip_grad_value(c, xs, clip_value);
  }
};

// Binds every step and utility as prefix + its name; `doc`, when given, replaces every
// docstring (the CUDA module's host emulations).
template <class Device>
void def_optim(py::module_& m, const std::string& prefix, const char* doc = nullptr) {
  using S = OptimSteps<Device>;
  auto name = [&](const char* n) { return prefix + n; };
  auto d = [&](const char* own) { return doc != nullptr ? doc : own; };
  m.def(name("sgd_step").c_str(), &S::sgd, py::arg("params"), py::arg("grads"),
        py::arg("momentum_buffers"), py::arg("new_buffers"), py::arg("lr"), py::arg("momentum"),
        py::arg("dampening"), py::arg("weight_decay"), py::arg("nesterov"), py::arg("maximize"),
        py::arg("check_finite"),
        d("One SGD step over a group (torch.optim.SGD's rule). new_buffers[i]: the momentum "
          "buffer is new and becomes the gradient. Returns False (nothing written) when "
          "check_finite is set and a gradient holds NaN/inf."));
  m.def(name("adagrad_step").c_str(), &S::adagrad, py::arg("params"), py::arg("grads"),
        py::arg("state_sums"), py::arg("steps"), py::arg("lr"), py::arg("lr_decay"),
        py::arg("weight_decay"), py::arg("eps"), py::arg("maximize"), py::arg("check_finite"),
        d("One Adagrad step over a group; steps (0-d CPU tensors) are incremented in place."));
  m.def(name("rmsprop_step").c_str(), &S::rmsprop, py::arg("params"), py::arg("grads"),
        py::arg("square_avgs"), py::arg("grad_avgs"), py::arg("momentum_buffers"), py::arg("steps"),
        py::arg("lr"), py::arg("alpha"), py::arg("eps"), py::arg("weight_decay"),
        py::arg("momentum"), py::arg("centered"), py::arg("maximize"), py::arg("check_finite"),
        d("One RMSprop step over a group; grad_avgs only when centered, momentum_buffers only "
          "when momentum > 0 (else empty lists)."));
  m.def(name("adam_step").c_str(), &S::adam, py::arg("params"), py::arg("grads"),
        py::arg("exp_avgs"), py::arg("exp_avg_sqs"), py::arg("max_exp_avg_sqs"), py::arg("steps"),
        py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"),
        py::arg("amsgrad"), py::arg("maximize"), py::arg("decoupled_weight_decay"),
        py::arg("check_finite"),
        d("One Adam (decoupled_weight_decay: AdamW) step over a group; max_exp_avg_sqs only "
          "with amsgrad."));
  m.def(name("lion_step").c_str(), &S::lion, py::arg("params"), py::arg("grads"),
        py::arg("exp_avgs"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"),
        py::arg("weight_decay"), py::arg("maximize"), py::arg("check_finite"),
        d("One Lion step over a group."));
  m.def(name("adadelta_step").c_str(), &S::adadelta, py::arg("params"), py::arg("grads"),
        py::arg("square_avgs"), py::arg("acc_deltas"), py::arg("steps"), py::arg("lr"),
        py::arg("rho"), py::arg("eps"), py::arg("weight_decay"), py::arg("maximize"),
        py::arg("check_finite"), d("One Adadelta step over a group."));
  m.def(name("adamax_step").c_str(), &S::adamax, py::arg("params"), py::arg("grads"),
        py::arg("exp_avgs"), py::arg("exp_infs"), py::arg("steps"), py::arg("lr"), py::arg("beta1"),
        py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"), py::arg("maximize"),
        py::arg("check_finite"), d("One Adamax step over a group."));
  m.def(name("nadam_step").c_str(), &S::nadam, py::arg("params"), py::arg("grads"),
        py::arg("exp_avgs"), py::arg("exp_avg_sqs"), py::arg("mu_products"), py::arg("steps"),
        py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"),
        py::arg("momentum_decay"), py::arg("decoupled_weight_decay"), py::arg("maximize"),
        py::arg("check_finite"),
        d("One NAdam step over a group; mu_products (0-d CPU tensors) are multiplied by mu_t "
          "in place."));
  m.def(name("radam_step").c_str(), &S::radam, py::arg("params"), py::arg("grads"),
        py::arg("exp_avgs"), py::arg("exp_avg_sqs"), py::arg("steps"), py::arg("lr"),
        py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"),
        py::arg("decoupled_weight_decay"), py::arg("maximize"), py::arg("check_finite"),
        d("One RAdam step over a group."));
  m.def(name("total_norm").c_str(), &S::total_norm, py::arg("tensors"), py::arg("norm_type"),
        d("(norm, nonfinite): the norm_type-norm of all tensors together, and whether any "
          "element is NaN or infinite."));
  m.def(name("clip_grad_norm").c_str(), &S::clip_grad_norm, py::arg("tensors"), py::arg("max_norm"),
        py::arg("norm_type"), py::arg("error_if_nonfinite"),
        d("Norm pass, then scale by max_norm / (norm + 1e-6) if that is < 1. With "
          "error_if_nonfinite, a non-finite norm leaves the tensors untouched. Returns (norm, "
          "nonfinite)."));
  m.def(name("scale_all").c_str(), &S::scale_all, py::arg("tensors"), py::arg("c"),
        d("Every element *= c."));
  m.def(name("clip_grad_value").c_str(), &S::clip_grad_value, py::arg("tensors"),
        py::arg("clip_value"),
        d("Every element clamped to [-clip_value, clip_value] (NaN stays NaN)."));
}

}  // namespace ember::bindings
