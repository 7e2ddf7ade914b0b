// Fused optimizer steps and gradient clipping over lists of tensors (one call per
// parameter group). Every list, shape, dtype, device and hyperparameter is checked here,
// before a kernel touches memory; then the GIL is released around the kernel.
#include <algorithm>
#include <cmath>
#include <string>
#include <tuple>
#include <utility>

#include "bindings/bindings.h"
#include "core/error.h"
#include "core/overlap.h"
#include "cpu/optim/optim.h"

namespace ember::bindings {
namespace {

using List = std::vector<const TensorImpl*>;

bool is_float(DType t) { return t == DType::Float32 || t == DType::Float64; }

// A CPU, contiguous float32/float64 tensor; `like` (if given) fixes its shape and dtype.
void check_tensor(const std::string& op, const char* list, size_t i, const TensorImpl* t,
                  const TensorImpl* like) {
  EMBER_CHECK(t != nullptr, TypeError, op, ": ", list, "[", i, "] is None");
  EMBER_CHECK(t->device().type == DeviceType::CPU, ValueError, op, ": ", list, "[", i,
              "] is on cuda; ember CPU optimizers need CPU tensors");
  EMBER_CHECK(is_float(t->dtype), TypeError, op, ": ", list, "[", i, "] has dtype ",
              dtype_name(t->dtype), " (expected float32 or float64)");
  EMBER_CHECK(t->is_contiguous(), ValueError, op, ": ", list, "[", i, "] of shape ",
              shape_str(t->shape), " must be contiguous");
  if (like == nullptr) return;
  EMBER_CHECK(t->dtype == like->dtype, TypeError, op, ": ", list, "[", i, "] has dtype ",
              dtype_name(t->dtype), " but params[", i, "] has dtype ", dtype_name(like->dtype));
  EMBER_CHECK(t->shape == like->shape, ValueError, op, ": ", list, "[", i, "] has shape ",
              shape_str(t->shape), " but params[", i, "] has shape ", shape_str(like->shape));
}

// The tensors a step writes (parameters, state, steps, clipped gradients): not read-only
// memory, so a parameter wrapping a read-only numpy array raises instead of faulting.
void check_written(const std::string& op, const char* list, const List& xs) {
  for (size_t i = 0; i < xs.size(); ++i)
    check_writable(*xs[i], op.c_str(), cat_str(list, "[", i, "]").c_str());
}

// A list that matches params one to one, or (when !needed) is empty. Every such list but
// grads is state the step writes.
void check_matching(const std::string& op, const char* name, const List& xs, const List& params,
                    bool needed, const char* why = "") {
  if (!needed) {
    EMBER_CHECK(xs.empty(), ValueError, op, ": ", name, " must be empty", why, " (got ", xs.size(),
                " tensors)");
    return;
  }
  EMBER_CHECK(xs.size() == params.size(), ValueError, op, ": ", name, " has ", xs.size(),
              " tensors but params has ", params.size());
  for (size_t i = 0; i < xs.size(); ++i) check_tensor(op, name, i, xs[i], params[i]);
  if (std::string(name) != "grads") check_written(op, name, xs);
}

void check_params(const std::string& op, const List& params, const List& grads) {
  for (size_t i = 0; i < params.size(); ++i) check_tensor(op, "params", i, params[i], nullptr);
  check_written(op, "params", params);
  check_matching(op, "grads", grads, params, true);
  // A parameter listed twice (or two overlapping views) would be updated twice.
  std::vector<std::pair<const char*, size_t>> spans;
  spans.reserve(params.size());
  for (size_t i = 0; i < params.size(); ++i)
    if (params[i]->numel() > 0) spans.emplace_back(params[i]->data(), i);
  std::sort(spans.begin(), spans.end());
  for (size_t k = 1; k < spans.size(); ++k) {
    const TensorImpl* prev = params[spans[k - 1].second];
    const char* prev_end = prev->data() + prev->numel() * prev->itemsize();
    EMBER_CHECK(spans[k].first >= prev_end, ValueError, op, ": params[", spans[k - 1].second,
                "] and params[", spans[k].second, "] overlap in memory");
  }
}

// One-element float counters the driver updates in place (steps, NAdam's mu_products).
void check_scalars(const std::string& op, const char* name, const List& xs, const List& params) {
  EMBER_CHECK(xs.size() == params.size(), ValueError, op, ": ", name, " has ", xs.size(),
              " tensors but params has ", params.size());
  for (size_t i = 0; i < xs.size(); ++i) {
    const TensorImpl* s = xs[i];
    EMBER_CHECK(s != nullptr, TypeError, op, ": ", name, "[", i, "] is None");
    EMBER_CHECK(s->device().type == DeviceType::CPU && s->numel() == 1 && is_float(s->dtype),
                ValueError, op, ": ", name, "[", i,
                "] must be a one-element float32 or float64 CPU tensor (got ", dtype_name(s->dtype),
                " of shape ", shape_str(s->shape), ")");
  }
  check_written(op, name, xs);
}
void check_steps(const std::string& op, const List& steps, const List& params) {
  check_scalars(op, "steps", steps, params);
}

void check_nonneg(const std::string& op, const char* what, double v) {
  EMBER_CHECK(v >= 0.0, ValueError, op, ": invalid ", what, ": ", v, " (must be >= 0)");
}
void check_beta(const std::string& op, int i, double b) {
  EMBER_CHECK(b >= 0.0 && b < 1.0, ValueError, op, ": invalid beta parameter at index ", i, ": ", b,
              " (must be in [0, 1))");
}

bool run(OptimKind kind, const OptimHyper& h, const cpu::OptimTensors& t, bool check_finite) {
  py::gil_scoped_release nogil;
  return cpu::optim_step(kind, h, t, check_finite);
}

bool sgd_step(const List& params, const List& grads, const List& momentum_buffers,
              const std::vector<bool>& new_buffers, double lr, double momentum, double dampening,
              double weight_decay, bool nesterov, bool maximize, bool check_finite) {
  const std::string op = "ember.optim.sgd";
  check_nonneg(op, "learning rate", lr);
  check_nonneg(op, "momentum value", momentum);
  check_nonneg(op, "weight_decay value", weight_decay);
  EMBER_CHECK(std::isfinite(dampening), ValueError, op, ": invalid dampening: ", dampening);
  EMBER_CHECK(!nesterov || (momentum > 0 && dampening == 0), ValueError, op,
              ": Nesterov momentum requires a momentum and zero dampening");
  check_params(op, params, grads);
  const bool mom = momentum != 0;
  check_matching(op, "momentum_buffers", momentum_buffers, params, mom, " when momentum is 0");
  EMBER_CHECK(new_buffers.size() == (mom ? params.size() : 0), ValueError, op, ": new_buffers has ",
              new_buffers.size(), " flags but ", mom ? params.size() : 0, " are needed");
  OptimHyper h;
  h.lr = lr;
  h.momentum = momentum;
  h.dampening = dampening;
  h.weight_decay = weight_decay;
  h.nesterov = nesterov;
  h.maximize = maximize;
  cpu::OptimTensors t{params, grads, momentum_buffers, {}, {}, {}, new_buffers, {}};
  return run(OptimKind::Sgd, h, t, check_finite);
}

bool adagrad_step(const List& params, const List& grads, const List& sums, const List& steps,
                  double lr, double lr_decay, double weight_decay, double eps, bool maximize,
                  bool check_finite) {
  const std::string op = "ember.optim.adagrad";
  check_nonneg(op, "learning rate", lr);
  check_nonneg(op, "lr_decay value", lr_decay);
  check_nonneg(op, "weight_decay value", weight_decay);
  check_nonneg(op, "epsilon value", eps);
  check_params(op, params, grads);
  check_matching(op, "state_sums", sums, params, true);
  check_steps(op, steps, params);
  OptimHyper h;
  h.lr = lr;
  h.lr_decay = lr_decay;
  h.weight_decay = weight_decay;
  h.eps = eps;
  h.maximize = maximize;
  cpu::OptimTensors t{params, grads, sums, {}, {}, steps, {}, {}};
  return run(OptimKind::Adagrad, h, t, check_finite);
}

bool rmsprop_step(const List& params, const List& grads, const List& square_avgs,
                  const List& grad_avgs, const List& momentum_buffers, const List& steps, double lr,
                  double alpha, double eps, double weight_decay, double momentum, bool centered,
                  bool maximize, bool check_finite) {
  const std::string op = "ember.optim.rmsprop";
  check_nonneg(op, "learning rate", lr);
  check_nonneg(op, "alpha value", alpha);
  check_nonneg(op, "epsilon value", eps);
  check_nonneg(op, "weight_decay value", weight_decay);
  check_nonneg(op, "momentum value", momentum);
  check_params(op, params, grads);
  check_matching(op, "square_avgs", square_avgs, params, true);
  check_matching(op, "grad_avgs", grad_avgs, params, centered, " when centered is False");
  check_matching(op, "momentum_buffers", momentum_buffers, params, momentum > 0,
                 " when momentum is 0");
  check_steps(op, steps, params);
  OptimHyper h;
  h.lr = lr;
  h.alpha = alpha;
  h.eps = eps;
  h.weight_decay = weight_decay;
  h.momentum = momentum;
  h.centered = centered;
  h.maximize = maximize;
  cpu::OptimTensors t{params, grads, square_avgs, grad_avgs, momentum_buffers, steps, {}, {}};
  return run(OptimKind::Rmsprop, h, t, check_finite);
}

// The hyperparameters and gradients every Adam-style optimizer (Adam/AdamW, Adamax, NAdam,
// RAdam) takes, checked in torch's order.
void check_adam_family(const std::string& op, const List& params, const List& grads, double lr,
                       double beta1, double beta2, double eps, double weight_decay) {
  check_nonneg(op, "learning rate", lr);
  check_beta(op, 0, beta1);
  check_beta(op, 1, beta2);
  check_nonneg(op, "epsilon value", eps);
  check_nonneg(op, "weight_decay value", weight_decay);
  check_params(op, params, grads);
}

bool adam_step(const List& params, const List& grads, const List& exp_avgs, const List& exp_avg_sqs,
               const List& max_exp_avg_sqs, const List& steps, double lr, double beta1,
               double beta2, double eps, double weight_decay, bool amsgrad, bool maximize,
               bool decoupled_weight_decay, bool check_finite) {
  const std::string op = decoupled_weight_decay ? "ember.optim.adamw" : "ember.optim.adam";
  check_adam_family(op, params, grads, lr, beta1, beta2, eps, weight_decay);
  check_matching(op, "exp_avgs", exp_avgs, params, true);
  check_matching(op, "exp_avg_sqs", exp_avg_sqs, params, true);
  check_matching(op, "max_exp_avg_sqs", max_exp_avg_sqs, params, amsgrad, " when amsgrad is False");
  check_steps(op, steps, params);
  OptimHyper h;
  h.lr = lr;
  h.beta1 = beta1;
  h.beta2 = beta2;
  h.eps = eps;
  h.weight_decay = weight_decay;
  h.amsgrad = amsgrad;
  h.maximize = maximize;
  h.decoupled_weight_decay = decoupled_weight_decay;
  cpu::OptimTensors t{params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, {}, {}};
  return run(OptimKind::Adam, h, t, check_finite);
}

bool lion_step(const List& params, const List& grads, const List& exp_avgs, double lr, double beta1,
               double beta2, double weight_decay, bool maximize, bool check_finite) {
  const std::string op = "ember.optim.lion";
  check_nonneg(op, "learning rate", lr);
  check_beta(op, 0, beta1);
  check_beta(op, 1, beta2);
  check_nonneg(op, "weight_decay value", weight_decay);
  check_params(op, params, grads);
  check_matching(op, "exp_avgs", exp_avgs, params, true);
  OptimHyper h;
  h.lr = lr;
  h.beta1 = beta1;
  h.beta2 = beta2;
  h.weight_decay = weight_decay;
  h.maximize = maximize;
  cpu::OptimTensors t{params, grads, exp_avgs, {}, {}, {}, {}, {}};
  return run(OptimKind::Lion, h, t, check_finite);
}

bool adadelta_step(const List& params, const List& grads, const List& square_avgs,
                   const List& acc_deltas, const List& steps, double lr, double rho, double eps,
                   double weight_decay, bool maximize, bool check_finite) {
  const std::string op = "ember.optim.adadelta";
  check_nonneg(op, "learning rate", lr);
  EMBER_CHECK(rho >= 0.0 && rho <= 1.0, ValueError, op, ": invalid rho value: ", rho,
              " (must be in [0, 1])");
  check_nonneg(op, "epsilon value", eps);
  check_nonneg(op, "weight_decay value", weight_decay);
  check_params(op, params, grads);
  check_matching(op, "square_avgs", square_avgs, params, true);
  check_matching(op, "acc_deltas", acc_deltas, params, true);
  check_steps(op, steps, params);
  OptimHyper h;
  h.lr = lr;
  h.rho = rho;
  h.eps = eps;
  h.weight_decay = weight_decay;
  h.maximize = maximize;
  cpu::OptimTensors t{params, grads, square_avgs, acc_deltas, {}, steps, {}, {}};
  return run(OptimKind::Adadelta, h, t, check_finite);
}

bool adamax_step(const List& params, const List& grads, const List& exp_avgs, const List& exp_infs,
                 const List& steps, double lr, double beta1, double beta2, double eps,
                 double weight_decay, bool maximize, bool check_finite) {
  const std::string op = "ember.optim.adamax";
  check_adam_family(op, params, grads, lr, beta1, beta2, eps, weight_decay);
  check_matching(op, "exp_avgs", exp_avgs, params, true);
  check_matching(op, "exp_infs", exp_infs, params, true);
  check_steps(op, steps, params);
  OptimHyper h;
  h.lr = lr;
  h.beta1 = beta1;
  h.beta2 = beta2;
  h.eps = eps;
  h.weight_decay = weight_decay;
  h.maximize = maximize;
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
  const std::string op = nadam ? "ember.optim.nadam" : "ember.optim.radam";
  check_adam_family(op, params, grads, lr, beta1, beta2, eps, weight_decay);
  check_matching(op, "exp_avgs", exp_avgs, params, true);
  check_matching(op, "exp_avg_sqs", exp_avg_sqs, params, true);
  check_steps(op, steps, params);
  if (nadam) {
    check_nonneg(op, "momentum_decay value", momentum_decay);
    check_scalars(op, "mu_products", mu_products, params);
  }
  OptimHyper h;
  h.lr = lr;
  h.beta1 = beta1;
  h.beta2 = beta2;
  h.eps = eps;
  h.weight_decay = weight_decay;
  h.momentum_decay = momentum_decay;
  h.decoupled_weight_decay = decoupled_weight_decay;
  h.maximize = maximize;
  cpu::OptimTensors t{params, grads, exp_avgs, exp_avg_sqs, {}, steps, {}, mu_products};
  return run(kind, h, t, check_finite);
}

// The gradients a utility reads, and with `written` scales or clamps in place.
void check_grads(const std::string& op, const List& xs, bool written) {
  for (size_t i = 0; i < xs.size(); ++i) check_tensor(op, "tensors", i, xs[i], nullptr);
  if (written) check_written(op, "tensors", xs);
}
void check_norm_type(const std::string& op, double p) {
  EMBER_CHECK(p > 0 && !std::isnan(p), ValueError, op, ": norm_type must be positive or inf (got ",
              p, ")");
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
        const std::string op = "ember.nn.utils.get_total_norm";
        check_norm_type(op, norm_type);
        check_grads(op, xs, false);
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
        const std::string op = "ember.nn.utils.clip_grad_norm_";
        check_norm_type(op, norm_type);
        EMBER_CHECK(!std::isnan(max_norm), ValueError, op, ": max_norm is NaN");
        check_grads(op, xs, true);
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
        check_grads("ember.nn.utils.clip_grads_with_norm_", xs, true);
        py::gil_scoped_release nogil;
        cpu::scale_all(xs, c);
      },
      py::arg("tensors"), py::arg("c"), "Every element *= c.");
  m.def(
      "clip_grad_value",
      [](const List& xs, double clip_value) {
        const std::string op = "ember.nn.utils.clip_grad_value_";
        EMBER_CHECK(!std::isnan(clip_value), ValueError, op, ": clip_value is NaN");
        check_grads(op, xs, true);
        py::gil_scoped_release nogil;
        cpu::clip_grad_value(xs, clip_value);
      },
      py::arg("tensors"), py::arg("clip_value"),
      "Every element clamped to [-clip_value, clip_value] (NaN stays NaN).");
}

}  // namespace ember::bindings
