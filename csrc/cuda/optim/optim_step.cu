// Optimizer step driver (optim.h): the optional non-finite pre-scan, step counting and
// per-tensor coefficients on the host, then one multi-tensor launch per dtype.
#include "cuda/optim/multi_tensor.cuh"

namespace ember::cuda::optim {
namespace {

constexpr const char* kStepOp = "ember.optim";

template <typename T>
void launch(Kind kind, const Hyper& h, const Table& t, Where w) {
  switch (kind) {
    case Kind::Sgd:
      return apply<T>(SgdOp<T>(h), t, w, kStepOp);
    case Kind::Adagrad:
      return apply<T>(AdagradOp<T>(h), t, w, kStepOp);
    case Kind::Rmsprop:
      return apply<T>(RmspropOp<T>(h), t, w, kStepOp);
    case Kind::Adam:
      return apply<T>(AdamOp<T>(h), t, w, kStepOp);
    case Kind::Lion:
      return apply<T>(LionOp<T>(h), t, w, kStepOp);
    case Kind::Adadelta:
      return apply<T>(AdadeltaOp<T>(h), t, w, kStepOp);
    case Kind::Adamax:
      return apply<T>(AdamaxOp<T>(h), t, w, kStepOp);
    case Kind::Nadam:
      return apply<T>(NadamOp<T>(h), t, w, kStepOp);
    case Kind::Radam:
      return apply<T>(RadamOp<T>(h), t, w, kStepOp);
  }
}

}  // namespace

bool optim_step(Kind kind, const Hyper& h, const StepTensors& ts, bool check_finite, Where where) {
  const size_t nt = ts.params.size();
  if (nt == 0) return true;
  if (check_finite && total_norm(ts.grads, 1.0, where).nonfinite) return false;
  std::vector<TensorCoef> coef(nt);
  for (size_t i = 0; i < nt; ++i) coef[i] = step_coef(kind, h, ts, i);
  const Arrays arrays{&ts.params, &ts.grads, &ts.s0, &ts.s1, &ts.s2};
  launch<float>(kind, h, make_table(arrays, coef, DType::Float32, kStepOp), where);
  launch<double>(kind, h, make_table(arrays, coef, DType::Float64, kStepOp), where);
  return true;
}

}  // namespace ember::cuda::optim
