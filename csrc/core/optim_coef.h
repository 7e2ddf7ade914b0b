// What every optimizer step derives on the host before touching an element, shared by the
// CPU driver and the CUDA one so both count steps and bias-correct alike: the group's
// hyperparameters, and per tensor its step count and the coefficients that depend on it.
#pragma once
#include "core/tensor_impl.h"

namespace ember {

enum class OptimKind : int { Sgd, Adagrad, Rmsprop, Adam, Lion, Adadelta, Adamax, Nadam, Radam };
constexpr int kNumOptimKinds = 9;

// Hyperparameters of one group, as PyTorch names them.
struct OptimHyper {
  double lr = 0, weight_decay = 0, momentum = 0, dampening = 0, eps = 0, alpha = 0;
  double beta1 = 0, beta2 = 0, lr_decay = 0, rho = 0, momentum_decay = 0;
  bool nesterov = false, maximize = false, centered = false, amsgrad = false;
  bool decoupled_weight_decay = false;  // AdamW (Lion always decouples)
};

// Per-tensor values derived from the tensor's step count.
struct OptimTensorCoef {
  // Adam, Adamax: lr / (1 - beta1^t); Adagrad: lr / (1 + (t - 1) lr_decay);
  // NAdam: the gradient's coefficient lr (1 - mu_t) / (1 - prod_{i<=t} mu_i);
  // RAdam: lr / (1 - beta1^t), times rect_t sqrt(1 - beta2^t) when rectified
  double step_size = 0;
  double avg_size = 0;      // NAdam: exp_avg's coefficient lr mu_{t+1} / (1 - prod_{i<=t+1} mu_i)
  double inv_bc2_sqrt = 1;  // Adam: 1 / sqrt(1 - beta2^t)
  double bc2 = 1;           // NAdam: 1 - beta2^t
  bool first = false;       // SGD: the momentum buffer is new (it becomes the gradient)
  bool rectified = false;   // RAdam: the variance is tractable (rho_t > 5)
};

// Counts one step of a tensor (its 0-d float step tensor, a CPU tensor, incremented first
// as PyTorch does; null for kinds without one), updates NAdam's mu product (CPU 0-d), and
// returns the tensor's coefficients. `first`: SGD's momentum buffer is new.
OptimTensorCoef optim_step_coef(OptimKind kind, const OptimHyper& h, const TensorImpl* step,
                                const TensorImpl* mu_product, bool first);

}  // namespace ember
