// Optimizer step driver (optim.h): the optional non-finite pre-scan, step counting and
// per-tensor coefficients on the host, then one multi-tensor launch per dtype.
#include "cuda/optim/multi_tensor.cuh"

namespace ember::cuda::optim {
namespace {

constexpr const char* kStepOp = "ember.optim";

template <typename T>
void launch(OptimKind kind, const OptimHyper& h, const Table& t, Where w) {
  switch (kind) {
    case OptimKind::Sgd:
      return apply<T>(SgdOp<T>(h), t, w, kStepOp);
    case OptimKind::Adagrad:
      return apply<T>(AdagradOp<T>(h), t, w, kStepOp);
    case OptimKind::Rmsprop:
      return apply<T>(RmspropOp<T>(h), t, w, kStepOp);
    case OptimKind::Adam:
      return apply<T>(AdamOp<T>(h), t, w, kStepOp);
    case OptimKind::Lion:
      return apply<T>(LionOp<T>(h), t, w, kStepOp);
    case OptimKind::Adadelta:
      return apply<T>(AdadeltaOp<T>(h), t, w, kStepOp);
    case OptimKind::Adamax:
      return apply<T>(AdamaxOp<T>(h), t, w, kStepOp);
    case OptimKind::Nadam:
      return apply<T>(NadamOp<T>(h), t, w, kStepOp);
    case OptimKind::Radam:
      return apply<T>(RadamOp<T>(h), t, w, kStepOp);
  }
}

}  // namespace

bool optim_step(OptimKind kind, const OptimHyper& h, const StepTensors& ts, bool check_finite,
                Where where) {
  const size_t nt = ts.params.size();
  if (nt == 0) return true;
  if (check_finite && total_norm(ts.grads, 1.0, where).nonfinite) return false;
  std::vector<OptimTensorCoef> coef(nt);
  for (size_t i = 0; i < nt; ++i)
    coef[i] = optim_step_coef(kind, h, ts.steps.empty() ? nullptr : ts.steps[i],
                              ts.mu_products.empty() ? nullptr : ts.mu_products[i],
                              !ts.first.empty() && ts.first[i]);
  const Arrays arrays{&ts.params, &ts.grads, &ts.s0, &ts.s1, &ts.s2};
  launch<float>(kind, h, make_table(arrays, coef, DType::Float32, kStepOp), where);
  launch<double>(kind, h, make_table(arrays, coef, DType::Float64, kStepOp), where);
  return true;
}

}  // namespace ember::cuda::optim
