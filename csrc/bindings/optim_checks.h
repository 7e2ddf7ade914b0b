// The argument checks of the fused optimizer steps and gradient utilities that the CPU and
// CUDA bindings share (compiled into both extensions), with one set of exception types and
// messages: each names the op, the list and index, and the shape or dtype. The tensors
// must be on one device type (on CUDA: on one device); the per-parameter counters (steps,
// mu_products) stay one-element CPU tensors, as PyTorch's non-capturable optimizers keep
// them. Hyperparameters are checked first, in torch's order.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "core/optim_coef.h"
#include "core/tensor_impl.h"

namespace ember::bindings {

using TensorList = std::vector<const TensorImpl*>;

class OptimChecks {
 public:
  // Every tensor on device type dev; `need` ends the ValueError for one that is not
  // ("<list>[i] is on cuda; <need>").
  OptimChecks(std::string op, DeviceType dev, const char* need);
  const char* op() const { return op_.c_str(); }
  // The CUDA device of every tensor checked so far (-1 before the first, and on the CPU).
  int device() const { return device_; }

  // A contiguous float32/float64 tensor on the device; `like` (if given) fixes its shape
  // and dtype.
  void tensor(const char* list, size_t i, const TensorImpl* t, const TensorImpl* like);
  // Tensors the call writes: not read-only, no element twice.
  void written(const char* list, const TensorList& xs) const;
  // A list matching params one to one (written unless it is grads), or, when !needed,
  // empty.
  void matching(const char* name, const TensorList& xs, const TensorList& params, bool needed,
                const char* why = "");
  // params (written, no two overlapping) and grads.
  void params(const TensorList& params, const TensorList& grads);
  // One-element float CPU counters, one per parameter, updated in place.
  void scalars(const char* name, const TensorList& xs, const TensorList& params) const;
  void nonneg(const char* what, double v) const;
  void beta(int i, double b) const;
  // The gradients a utility reads, and with `written_too` scales or clamps in place.
  void grads(const TensorList& xs, bool written_too);
  void norm_type(double p) const;

 private:
  void device_of(const char* list, size_t i, const TensorImpl& t);

  std::string op_;
  DeviceType dev_;
  const char* need_;
  int device_ = -1;
  std::string first_;  // the tensor that fixed device_, as "list[i]"
};

// Each optimizer's checks, through c (whose op names the optimizer); each returns the
// group's hyperparameters.
OptimHyper check_sgd(OptimChecks& c, const TensorList& params, const TensorList& grads,
                     const TensorList& momentum_buffers, const std::vector<bool>& new_buffers,
                     double lr, double momentum, double dampening, double weight_decay,
                     bool nesterov, bool maximize);
OptimHyper check_adagrad(OptimChecks& c, const TensorList& params, const TensorList& grads,
                         const TensorList& sums, const TensorList& steps, double lr,
                         double lr_decay, double weight_decay, double eps, bool maximize);
OptimHyper check_rmsprop(OptimChecks& c, const TensorList& params, const TensorList& grads,
                         const TensorList& square_avgs, const TensorList& grad_avgs,
                         const TensorList& momentum_buffers, const TensorList& steps, double lr,
                         double alpha, double eps, double weight_decay, double momentum,
                         bool centered, bool maximize);
OptimHyper check_adam(OptimChecks& c, const TensorList& params, const TensorList& grads,
                      const TensorList& exp_avgs, const TensorList& exp_avg_sqs,
                      const TensorList& max_exp_avg_sqs, const TensorList& steps, double lr,
                      double beta1, double beta2, double eps, double weight_decay, bool amsgrad,
                      bool maximize, bool decoupled_weight_decay);
OptimHyper check_lion(OptimChecks& c, const TensorList& params, const TensorList& grads,
                      const TensorList& exp_avgs, double lr, double beta1, double beta2,
                      double weight_decay, bool maximize);
OptimHyper check_adadelta(OptimChecks& c, const TensorList& params, const TensorList& grads,
                          const TensorList& square_avgs, const TensorList& acc_deltas,
                          const TensorList& steps, double lr, double rho, double eps,
                          double weight_decay, bool maximize);
OptimHyper check_adamax(OptimChecks& c, const TensorList& params, const TensorList& grads,
                        const TensorList& exp_avgs, const TensorList& exp_infs,
                        const TensorList& steps, double lr, double beta1, double beta2, double eps,
                        double weight_decay, bool maximize);
// NAdam (nadam, with mu_products) and RAdam (without).
OptimHyper check_nadam_radam(OptimChecks& c, bool nadam, const TensorList& params,
                             const TensorList& grads, const TensorList& exp_avgs,
                             const TensorList& exp_avg_sqs, const TensorList& mu_products,
                             const TensorList& steps, double lr, double beta1, double beta2,
                             double eps, double weight_decay, double momentum_decay,
                             bool decoupled_weight_decay, bool maximize);

}  // namespace ember::bindings
