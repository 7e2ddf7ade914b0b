#include "bindings/optim_checks.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "core/error.h"
#include "core/overlap.h"

namespace ember::bindings {
namespace {

bool is_float(DType t) { return t == DType::Float32 || t == DType::Float64; }

// The hyperparameters and gradients every Adam-style optimizer (Adam/AdamW, Adamax, NAdam,
// RAdam) takes, checked in torch's order.
OptimHyper check_adam_family(OptimChecks& c, const TensorList& params, const TensorList& grads,
                             double lr, double beta1, double beta2, double eps,
                             double weight_decay) {
  c.nonneg("learning rate", lr);
  c.beta(0, beta1);
  c.beta(1, beta2);
  c.nonneg("epsilon value", eps);
  c.nonneg("weight_decay value", weight_decay);
  c.params(params, grads);
  OptimHyper h;
  h.lr = lr;
  h.beta1 = beta1;
  h.beta2 = beta2;
  h.eps = eps;
  h.weight_decay = weight_decay;
  return h;
}

}  // namespace

OptimChecks::OptimChecks(std::string op, DeviceType dev, const char* need)
    : op_(std::move(op)), dev_(dev), need_(need) {}

void OptimChecks::device_of(const char* list, size_t i, const TensorImpl& t) {
  const Device d = t.device();
  EMBER_CHECK(d.type == dev_, ValueError, op_, ": ", list, "[", i, "] is on ",
              d.type == DeviceType::CPU ? "cpu" : "cuda", "; ", need_);
  if (dev_ != DeviceType::CUDA) return;
  if (device_ < 0) {
    device_ = d.index;
    first_ = cat_str(list, "[", i, "]");
    return;
  }
  EMBER_CHECK(d.index == device_, ValueError, op_, ": expected all tensors on one device, got ",
              first_, " on cuda:", device_, " and ", list, "[", i, "] on cuda:", d.index);
}

void OptimChecks::tensor(const char* list, size_t i, const TensorImpl* t, const TensorImpl* like) {
  EMBER_CHECK(t != nullptr, TypeError, op_, ": ", list, "[", i, "] is None");
  device_of(list, i, *t);
  EMBER_CHECK(is_float(t->dtype), TypeError, op_, ": ", list, "[", i, "] has dtype ",
              dtype_name(t->dtype), " (expected float32 or float64)");
  EMBER_CHECK(t->is_contiguous(), ValueError, op_, ": ", list, "[", i, "] of shape ",
              shape_str(t->shape), " must be contiguous");
  if (like == nullptr) return;
  EMBER_CHECK(t->dtype == like->dtype, TypeError, op_, ": ", list, "[", i, "] has dtype ",
              dtype_name(t->dtype), " but params[", i, "] has dtype ", dtype_name(like->dtype));
  EMBER_CHECK(t->shape == like->shape, ValueError, op_, ": ", list, "[", i, "] has shape ",
              shape_str(t->shape), " but params[", i, "] has shape ", shape_str(like->shape));
}

void OptimChecks::written(const char* list, const TensorList& xs) const {
  for (size_t i = 0; i < xs.size(); ++i)
    check_writable(*xs[i], op_.c_str(), cat_str(list, "[", i, "]").c_str());
}

void OptimChecks::matching(const char* name, const TensorList& xs, const TensorList& params,
                           bool needed, const char* why) {
  if (!needed) {
    EMBER_CHECK(xs.empty(), ValueError, op_, ": ", name, " must be empty", why, " (got ", xs.size(),
                " tensors)");
    return;
  }
  EMBER_CHECK(xs.size() == params.size(), ValueError, op_, ": ", name, " has ", xs.size(),
              " tensors but params has ", params.size());
  for (size_t i = 0; i < xs.size(); ++i) tensor(name, i, xs[i], params[i]);
  if (std::string(name) != "grads") written(name, xs);
}

void OptimChecks::params(const TensorList& params, const TensorList& grads) {
  for (size_t i = 0; i < params.size(); ++i) tensor("params", i, params[i], nullptr);
  written("params", params);
  matching("grads", grads, params, true);
  // A parameter listed twice (or two overlapping views) would be updated twice.
  std::vector<std::pair<const char*, size_t>> spans;
  spans.reserve(params.size());
  for (size_t i = 0; i < params.size(); ++i)
    if (params[i]->numel() > 0) spans.emplace_back(params[i]->data(), i);
  std::sort(spans.begin(), spans.end());
  for (size_t k = 1; k < spans.size(); ++k) {
    const TensorImpl* prev = params[spans[k - 1].second];
    const char* prev_end = prev->data() + prev->numel() * prev->itemsize();
    EMBER_CHECK(spans[k].first >= prev_end, ValueError, op_, ": params[", spans[k - 1].second,
                "] and params[", spans[k].second, "] overlap in memory");
  }
}

void OptimChecks::scalars(const char* name, const TensorList& xs, const TensorList& params) const {
  EMBER_CHECK(xs.size() == params.size(), ValueError, op_, ": ", name, " has ", xs.size(),
              " tensors but params has ", params.size());
  for (size_t i = 0; i < xs.size(); ++i) {
    const TensorImpl* s = xs[i];
    EMBER_CHECK(s != nullptr, TypeError, op_, ": ", name, "[", i, "] is None");
    EMBER_CHECK(s->device().type == DeviceType::CPU && s->numel() == 1 && is_float(s->dtype),
                ValueError, op_, ": ", name, "[", i,
                "] must be a one-element float32 or float64 CPU tensor (got ", dtype_name(s->dtype),
                " of shape ", shape_str(s->shape), ")");
  }
  written(name, xs);
}

void OptimChecks::nonneg(const char* what, double v) const {
  EMBER_CHECK(v >= 0.0, ValueError, op_, ": invalid ", what, ": ", v, " (must be >= 0)");
}

void OptimChecks::beta(int i, double b) const {
  EMBER_CHECK(b >= 0.0 && b < 1.0, ValueError, op_, ": invalid beta parameter at index ", i, ": ",
              b, " (must be in [0, 1))");
}

void OptimChecks::grads(const TensorList& xs, bool written_too) {
  for (size_t i = 0; i < xs.size(); ++i) tensor("tensors", i, xs[i], nullptr);
  if (written_too) written("tensors", xs);
}

void OptimChecks::norm_type(double p) const {
  EMBER_CHECK(p > 0 && !std::isnan(p), ValueError, op_, ": norm_type must be positive or inf (got ",
              p, ")");
}

OptimHyper check_sgd(OptimChecks& c, const TensorList& params, const TensorList& grads,
                     const TensorList& momentum_buffers, const std::vector<bool>& new_buffers,
                     double lr, double momentum, double dampening, double weight_decay,
                     bool nesterov, bool maximize) {
  c.nonneg("learning rate", lr);
  c.nonneg("momentum value", momentum);
  c.nonneg("weight_decay value", weight_decay);
  EMBER_CHECK(std::isfinite(dampening), ValueError, c.op(), ": invalid dampening: ", dampening);
  EMBER_CHECK(!nesterov || (momentum > 0 && dampening == 0), ValueError, c.op(),
              ": Nesterov momentum requires a momentum and zero dampening");
  c.params(params, grads);
  const bool mom = momentum != 0;
  c.matching("momentum_buffers", momentum_buffers, params, mom, " when momentum is 0");
  EMBER_CHECK(new_buffers.size() == (mom ? params.size() : 0), ValueError, c.op(),
              ": new_buffers has ", new_buffers.size(), " flags but ", mom ? params.size() : 0,
              " are needed");
  OptimHyper h;
  h.lr = lr;
  h.momentum = momentum;
  h.dampening = dampening;
  h.weight_decay = weight_decay;
  h.nesterov = nesterov;
  h.maximize = maximize;
  return h;
}

OptimHyper check_adagrad(OptimChecks& c, const TensorList& params, const TensorList& grads,
                         const TensorList& sums, const TensorList& steps, double lr,
                         double lr_decay, double weight_decay, double eps, bool maximize) {
  c.nonneg("learning rate", lr);
  c.nonneg("lr_decay value", lr_decay);
  c.nonneg("weight_decay value", weight_decay);
  c.nonneg("epsilon value", eps);
  c.params(params, grads);
  c.matching("state_sums", sums, params, true);
  c.scalars("steps", steps, params);
  OptimHyper h;
  h.lr = lr;
  h.lr_decay = lr_decay;
  h.weight_decay = weight_decay;
  h.eps = eps;
  h.maximize = maximize;
  return h;
}

OptimHyper check_rmsprop(OptimChecks& c, const TensorList& params, const TensorList& grads,
                         const TensorList& square_avgs, const TensorList& grad_avgs,
                         const TensorList& momentum_buffers, const TensorList& steps, double lr,
                         double alpha, double eps, double weight_decay, double momentum,
                         bool centered, bool maximize) {
  c.nonneg("learning rate", lr);
  c.nonneg("alpha value", alpha);
  c.nonneg("epsilon value", eps);
  c.nonneg("weight_decay value", weight_decay);
  c.nonneg("momentum value", momentum);
  c.params(params, grads);
  c.matching("square_avgs", square_avgs, params, true);
  c.matching("grad_avgs", grad_avgs, params, centered, " when centered is False");
  c.matching("momentum_buffers", momentum_buffers, params, momentum > 0, " when momentum is 0");
  c.scalars("steps", steps, params);
  OptimHyper h;
  h.lr = lr;
  h.alpha = alpha;
  h.eps = eps;
  h.weight_decay = weight_decay;
  h.momentum = momentum;
  h.centered = centered;
  h.maximize = maximize;
  return h;
}

OptimHyper check_adam(OptimChecks& c, const TensorList& params, const TensorList& grads,
                      const TensorList& exp_avgs, const TensorList& exp_avg_sqs,
                      const TensorList& max_exp_avg_sqs, const TensorList& steps, double lr,
                      double beta1, double beta2, double eps, double weight_decay, bool amsgrad,
                      bool maximize, bool decoupled_weight_decay) {
  OptimHyper h = check_adam_family(c, params, grads, lr, beta1, beta2, eps, weight_decay);
  c.matching("exp_avgs", exp_avgs, params, true);
  c.matching("exp_avg_sqs", exp_avg_sqs, params, true);
  c.matching("max_exp_avg_sqs", max_exp_avg_sqs, params, amsgrad, " when amsgrad is False");
  c.scalars("steps", steps, params);
  h.amsgrad = amsgrad;
  h.maximize = maximize;
  h.decoupled_weight_decay = decoupled_weight_decay;
  return h;
}

OptimHyper check_lion(OptimChecks& c, const TensorList& params, const TensorList& grads,
                      const TensorList& exp_avgs, double lr, double beta1, double beta2,
                      double weight_decay, bool maximize) {
  c.nonneg("learning rate", lr);
  c.beta(0, beta1);
  c.beta(1, beta2);
  c.nonneg("weight_decay value", weight_decay);
  c.params(params, grads);
  c.matching("exp_avgs", exp_avgs, params, true);
  OptimHyper h;
  h.lr = lr;
  h.beta1 = beta1;
  h.beta2 = beta2;
  h.weight_decay = weight_decay;
  h.maximize = maximize;
  return h;
}

OptimHyper check_adadelta(OptimChecks& c, const TensorList& params, const TensorList& grads,
                          const TensorList& square_avgs, const TensorList& acc_deltas,
                          const TensorList& steps, double lr, double rho, double eps,
                          double weight_decay, bool maximize) {
  c.nonneg("learning rate", lr);
  EMBER_CHECK(rho >= 0.0 && rho <= 1.0, ValueError, c.op(), ": invalid rho value: ", rho,
              " (must be in [0, 1])");
  c.nonneg("epsilon value", eps);
  c.nonneg("weight_decay value", weight_decay);
  c.params(params, grads);
  c.matching("square_avgs", square_avgs, params, true);
  c.matching("acc_deltas", acc_deltas, params, true);
  c.scalars("steps", steps, params);
  OptimHyper h;
  h.lr = lr;
  h.rho = rho;
  h.eps = eps;
  h.weight_decay = weight_decay;
  h.maximize = maximize;
  return h;
}

OptimHyper check_adamax(OptimChecks& c, const TensorList& params, const TensorList& grads,
                        const TensorList& exp_avgs, const TensorList& exp_infs,
                        const TensorList& steps, double lr, double beta1, double beta2, double eps,
                        double weight_decay, bool maximize) {
  OptimHyper h = check_adam_family(c, params, grads, lr, beta1, beta2, eps, weight_decay);
  c.matching("exp_avgs", exp_avgs, params, true);
  c.matching("exp_infs", exp_infs, params, true);
  c.scalars("steps", steps, params);
  h.maximize = maximize;
  return h;
}

OptimHyper check_nadam_radam(OptimChecks& c, bool nadam, const TensorList& params,
                             const TensorList& grads, const TensorList& exp_avgs,
                             const TensorList& exp_avg_sqs, const TensorList& mu_products,
                             const TensorList& steps, double lr, double beta1, double beta2,
                             double eps, double weight_decay, double momentum_decay,
                             bool decoupled_weight_decay, bool maximize) {
  OptimHyper h = check_adam_family(c, params, grads, lr, beta1, beta2, eps, weight_decay);
  c.matching("exp_avgs", exp_avgs, params, true);
  c.matching("exp_avg_sqs", exp_avg_sqs, params, true);
  c.scalars("steps", steps, params);
  if (nadam) {
    c.nonneg("momentum_decay value", momentum_decay);
    c.scalars("mu_products", mu_products, params);
  }
  h.momentum_decay = momentum_decay;
  h.decoupled_weight_decay = decoupled_weight_decay;
  h.maximize = maximize;
  return h;
}

}  // namespace ember::bindings
