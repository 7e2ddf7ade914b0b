// ember._C_cuda's fused optimizer steps and gradient clipping: the same names, signatures
// and checks as ember._C's (csrc/bindings/bind_optim.cpp), on CUDA tensors. Each is also
// bound as `_host_<name>`, which runs the same kernel bodies on the host over CPU tensors:
// the tests compare it with ember._C's CPU step without a GPU.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <string>
#include <tuple>

#include "bindings/optim_checks.h"
#include "core/error.h"
#include "cuda/optim/optim.h"
#include "cuda/optim/table.h"
#include "cuda/runtime.h"

namespace py = pybind11;

namespace ember::cuda {
namespace {

using bindings::OptimChecks;
using optim::List;
using optim::StepTensors;
using optim::Where;

// The checks of one op: CUDA tensors on one device, or CPU tensors for the host emulation.
template <Where W>
OptimChecks checks(const char* op) {
  if constexpr (W == Where::Device)
    return OptimChecks(op, DeviceType::CUDA,
                       "ember CUDA optimizers need every tensor on one CUDA device");
  else
    return OptimChecks(op, DeviceType::CPU,
                       "the host emulation of the CUDA kernels needs CPU tensors");
}

// fn() with the GIL released, on the checked tensors' device for Where::Device.
template <Where W, class Fn>
auto run(const OptimChecks& c, Fn&& fn) {
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

template <Where W>
bool step(const OptimChecks& c, OptimKind kind, const OptimHyper& h, const StepTensors& t,
          bool check_finite) {
  if (t.params.empty()) return true;
  return run<W>(c, [&] { return optim::optim_step(kind, h, t, check_finite, W); });
}

template <Where W>
bool sgd_step(const List& params, const List& grads, const List& momentum_buffers,
              const std::vector<bool>& new_buffers, double lr, double momentum, double dampening,
              double weight_decay, bool nesterov, bool maximize, bool check_finite) {
  OptimChecks c = checks<W>("ember.optim.sgd");
  const OptimHyper h = bindings::check_sgd(c, params, grads, momentum_buffers, new_buffers, lr,
                                           momentum, dampening, weight_decay, nesterov, maximize);
  StepTensors t{params, grads, momentum_buffers, {}, {}, {}, {}, new_buffers};
  return step<W>(c, OptimKind::Sgd, h, t, check_finite);
}

template <Where W>
bool adagrad_step(const List& params, const List& grads, const List& sums, const List& steps,
                  double lr, double lr_decay, double weight_decay, double eps, bool maximize,
                  bool check_finite) {
  OptimChecks c = checks<W>("ember.optim.adagrad");
  const OptimHyper h = bindings::check_adagrad(c, params, grads, sums, steps, lr, lr_decay,
                                               weight_decay, eps, maximize);
  StepTensors t{params, grads, sums, {}, {}, steps, {}, {}};
  return step<W>(c, OptimKind::Adagrad, h, t, check_finite);
}

template <Where W>
bool rmsprop_step(const List& params, const List& grads, const List& square_avgs,
                  const List& grad_avgs, const List& momentum_buffers, const List& steps, double lr,
                  double alpha, double eps, double weight_decay, double momentum, bool centered,
                  bool maximize, bool check_finite) {
  OptimChecks c = checks<W>("ember.optim.rmsprop");
  const OptimHyper h =
      bindings::check_rmsprop(c, params, grads, square_avgs, grad_avgs, momentum_buffers, steps, lr,
                              alpha, eps, weight_decay, momentum, centered, maximize);
  StepTensors t{params, grads, square_avgs, grad_avgs, momentum_buffers, steps, {}, {}};
  return step<W>(c, OptimKind::Rmsprop, h, t, check_finite);
}

template <Where W>
bool adam_step(const List& params, const List& grads, const List& exp_avgs, const List& exp_avg_sqs,
               const List& max_exp_avg_sqs, const List& steps, double lr, double beta1,
               double beta2, double eps, double weight_decay, bool amsgrad, bool maximize,
               bool decoupled_weight_decay, bool check_finite) {
  OptimChecks c = checks<W>(decoupled_weight_decay ? "ember.optim.adamw" : "ember.optim.adam");
  const OptimHyper h = bindings::check_adam(
      c, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, lr, beta1, beta2, eps,
      weight_decay, amsgrad, maximize, decoupled_weight_decay);
  StepTensors t{params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, {}, {}};
  return step<W>(c, OptimKind::Adam, h, t, check_finite);
}

template <Where W>
bool lion_step(const List& params, const List& grads, const List& exp_avgs, double lr, double beta1,
               double beta2, double weight_decay, bool maximize, bool check_finite) {
  OptimChecks c = checks<W>("ember.optim.lion");
  const OptimHyper h =
      bindings::check_lion(c, params, grads, exp_avgs, lr, beta1, beta2, weight_decay, maximize);
  StepTensors t{params, grads, exp_avgs, {}, {}, {}, {}, {}};
  return step<W>(c, OptimKind::Lion, h, t, check_finite);
}

template <Where W>
bool adadelta_step(const List& params, const List& grads, const List& square_avgs,
                   const List& acc_deltas, const List& steps, double lr, double rho, double eps,
                   double weight_decay, bool maximize, bool check_finite) {
  OptimChecks c = checks<W>("ember.optim.adadelta");
  const OptimHyper h = bindings::check_adadelta(c, params, grads, square_avgs, acc_deltas, steps,
                                                lr, rho, eps, weight_decay, maximize);
  StepTensors t{params, grads, square_avgs, acc_deltas, {}, steps, {}, {}};
  return step<W>(c, OptimKind::Adadelta, h, t, check_finite);
}

template <Where W>
bool adamax_step(const List& params, const List& grads, const List& exp_avgs, const List& exp_infs,
                 const List& steps, double lr, double beta1, double beta2, double eps,
                 double weight_decay, bool maximize, bool check_finite) {
  OptimChecks c = checks<W>("ember.optim.adamax");
  const OptimHyper h = bindings::check_adamax(c, params, grads, exp_avgs, exp_infs, steps, lr,
                                              beta1, beta2, eps, weight_decay, maximize);
  StepTensors t{params, grads, exp_avgs, exp_infs, {}, steps, {}, {}};
  return step<W>(c, OptimKind::Adamax, h, t, check_finite);
}

// NAdam (with mu_products) and RAdam (without): Adam's moments, their own update rules.
template <Where W>
bool nadam_radam_step(OptimKind kind, const List& params, const List& grads, const List& exp_avgs,
                      const List& exp_avg_sqs, const List& mu_products, const List& steps,
                      double lr, double beta1, double beta2, double eps, double weight_decay,
                      double momentum_decay, bool decoupled_weight_decay, bool maximize,
                      bool check_finite) {
  const bool nadam = kind == OptimKind::Nadam;
  OptimChecks c = checks<W>(nadam ? "ember.optim.nadam" : "ember.optim.radam");
  const OptimHyper h = bindings::check_nadam_radam(
      c, nadam, params, grads, exp_avgs, exp_avg_sqs, mu_products, steps, lr, beta1, beta2, eps,
      weight_decay, momentum_decay, decoupled_weight_decay, maximize);
  StepTensors t{params, grads, exp_avgs, exp_avg_sqs, {}, steps, mu_products, {}};
  return step<W>(c, kind, h, t, check_finite);
}

template <Where W>
bool nadam_step(const List& params, const List& grads, const List& exp_avgs,
                const List& exp_avg_sqs, const List& mu_products, const List& steps, double lr,
                double beta1, double beta2, double eps, double weight_decay, double momentum_decay,
                bool decoupled_weight_decay, bool maximize, bool check_finite) {
  return nadam_radam_step<W>(OptimKind::Nadam, params, grads, exp_avgs, exp_avg_sqs, mu_products,
                             steps, lr, beta1, beta2, eps, weight_decay, momentum_decay,
                             decoupled_weight_decay, maximize, check_finite);
}

template <Where W>
bool radam_step(const List& params, const List& grads, const List& exp_avgs,
                const List& exp_avg_sqs, const List& steps, double lr, double beta1, double beta2,
                double eps, double weight_decay, bool decoupled_weight_decay, bool maximize,
                bool check_finite) {
  return nadam_radam_step<W>(OptimKind::Radam, params, grads, exp_avgs, exp_avg_sqs, {}, steps, lr,
                             beta1, beta2, eps, weight_decay, 0.0, decoupled_weight_decay, maximize,
                             check_finite);
}

template <Where W>
std::tuple<double, bool> total_norm(const List& xs, double norm_type) {
  OptimChecks c = checks<W>("ember.nn.utils.get_total_norm");
  c.norm_type(norm_type);
  c.grads(xs, false);
  if (xs.empty()) return {0.0, false};
  const optim::GradNorm r = run<W>(c, [&] { return optim::total_norm(xs, norm_type, W); });
  return {r.norm, r.nonfinite};
}

template <Where W>
std::tuple<double, bool> clip_grad_norm(const List& xs, double max_norm, double norm_type,
                                        bool error_if_nonfinite) {
  OptimChecks c = checks<W>("ember.nn.utils.clip_grad_norm_");
  c.norm_type(norm_type);
  EMBER_CHECK(!std::isnan(max_norm), ValueError, c.op(), ": max_norm is NaN");
  c.grads(xs, true);
  if (xs.empty()) return {0.0, false};
  const optim::GradNorm r = run<W>(
      c, [&] { return optim::clip_grad_norm(xs, max_norm, norm_type, error_if_nonfinite, W); });
  return {r.norm, r.nonfinite};
}

template <Where W>
void scale_all(const List& xs, double c) {
  OptimChecks ch = checks<W>("ember.nn.utils.clip_grads_with_norm_");
  ch.grads(xs, true);
  if (xs.empty()) return;
  run<W>(ch, [&] { optim::scale_all(xs, c, W); });
}

template <Where W>
void clip_grad_value(const List& xs, double clip_value) {
  OptimChecks c = checks<W>("ember.nn.utils.clip_grad_value_");
  EMBER_CHECK(!std::isnan(clip_value), ValueError, c.op(), ": clip_value is NaN");
  c.grads(xs, true);
  if (xs.empty()) return;
  run<W>(c, [&] { optim::clip_grad_value(xs, clip_value, W); });
}

// Every function under `prefix` + its CPU name; docstrings on the public (device) ones.
template <Where W>
void def_all(py::module_& m, const std::string& prefix) {
  const bool pub = W == Where::Device;
  auto name = [&](const char* n) { return prefix + n; };
  auto doc = [&](const char* d) { return pub ? d : "Host emulation of the CUDA kernel (tests)."; };
  m.def(name("sgd_step").c_str(), &sgd_step<W>, py::arg("params"), py::arg("grads"),
        py::arg("momentum_buffers"), py::arg("new_buffers"), py::arg("lr"), py::arg("momentum"),
        py::arg("dampening"), py::arg("weight_decay"), py::arg("nesterov"), py::arg("maximize"),
        py::arg("check_finite"),
        doc("One SGD step over a group on CUDA (ember._C.sgd_step's rule and arguments)."));
  m.def(name("adagrad_step").c_str(), &adagrad_step<W>, py::arg("params"), py::arg("grads"),
        py::arg("state_sums"), py::arg("steps"), py::arg("lr"), py::arg("lr_decay"),
        py::arg("weight_decay"), py::arg("eps"), py::arg("maximize"), py::arg("check_finite"),
        doc("One Adagrad step over a group on CUDA; steps are CPU counters."));
  m.def(name("rmsprop_step").c_str(), &rmsprop_step<W>, py::arg("params"), py::arg("grads"),
        py::arg("square_avgs"), py::arg("grad_avgs"), py::arg("momentum_buffers"), py::arg("steps"),
        py::arg("lr"), py::arg("alpha"), py::arg("eps"), py::arg("weight_decay"),
        py::arg("momentum"), py::arg("centered"), py::arg("maximize"), py::arg("check_finite"),
        doc("One RMSprop step over a group on CUDA."));
  m.def(name("adam_step").c_str(), &adam_step<W>, py::arg("params"), py::arg("grads"),
        py::arg("exp_avgs"), py::arg("exp_avg_sqs"), py::arg("max_exp_avg_sqs"), py::arg("steps"),
        py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"),
        py::arg("amsgrad"), py::arg("maximize"), py::arg("decoupled_weight_decay"),
        py::arg("check_finite"),
        doc("One Adam (decoupled_weight_decay: AdamW) step over a group on CUDA."));
  m.def(name("lion_step").c_str(), &lion_step<W>, py::arg("params"), py::arg("grads"),
        py::arg("exp_avgs"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"),
        py::arg("weight_decay"), py::arg("maximize"), py::arg("check_finite"),
        doc("One Lion step over a group on CUDA."));
  m.def(name("adadelta_step").c_str(), &adadelta_step<W>, py::arg("params"), py::arg("grads"),
        py::arg("square_avgs"), py::arg("acc_deltas"), py::arg("steps"), py::arg("lr"),
        py::arg("rho"), py::arg("eps"), py::arg("weight_decay"), py::arg("maximize"),
        py::arg("check_finite"), doc("One Adadelta step over a group on CUDA."));
  m.def(name("adamax_step").c_str(), &adamax_step<W>, py::arg("params"), py::arg("grads"),
        py::arg("exp_avgs"), py::arg("exp_infs"), py::arg("steps"), py::arg("lr"), py::arg("beta1"),
        py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"), py::arg("maximize"),
        py::arg("check_finite"), doc("One Adamax step over a group on CUDA."));
  m.def(name("nadam_step").c_str(), &nadam_step<W>, py::arg("params"), py::arg("grads"),
        py::arg("exp_avgs"), py::arg("exp_avg_sqs"), py::arg("mu_products"), py::arg("steps"),
        py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"),
        py::arg("momentum_decay"), py::arg("decoupled_weight_decay"), py::arg("maximize"),
        py::arg("check_finite"),
        doc("One NAdam step over a group on CUDA; mu_products are CPU counters."));
  m.def(name("radam_step").c_str(), &radam_step<W>, py::arg("params"), py::arg("grads"),
        py::arg("exp_avgs"), py::arg("exp_avg_sqs"), py::arg("steps"), py::arg("lr"),
        py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"),
        py::arg("decoupled_weight_decay"), py::arg("maximize"), py::arg("check_finite"),
        doc("One RAdam step over a group on CUDA."));
  m.def(name("total_norm").c_str(), &total_norm<W>, py::arg("tensors"), py::arg("norm_type"),
        doc("(norm, nonfinite) of CUDA tensors together; deterministic (fixed-order "
            "reduction)."));
  m.def(name("clip_grad_norm").c_str(), &clip_grad_norm<W>, py::arg("tensors"), py::arg("max_norm"),
        py::arg("norm_type"), py::arg("error_if_nonfinite"),
        doc("Norm pass, then scale by max_norm / (norm + 1e-6) if that is < 1. Returns "
            "(norm, nonfinite)."));
  m.def(name("scale_all").c_str(), &scale_all<W>, py::arg("tensors"), py::arg("c"),
        doc("Every element *= c."));
  m.def(name("clip_grad_value").c_str(), &clip_grad_value<W>, py::arg("tensors"),
        py::arg("clip_value"), doc("Every element clamped to [-clip_value, clip_value]."));
}

}  // namespace

void bind_optim(py::module_& m) {
  def_all<Where::Device>(m, "");
  def_all<Where::Host>(m, "_host_");
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
