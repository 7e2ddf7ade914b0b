// Batch normalization (csrc/cpu/batchnorm), forward and backward. Every check runs before a
// kernel touches memory: ranks, shapes, dtypes (float32 or float64, all alike), devices,
// contiguity, overlap of outputs with inputs and each other; the kernels run without the GIL.
#include "bindings/batchnorm_checks.h"
#include "bindings/bindings.h"
#include "bindings/checks.h"
#include "bindings/shared_defs.h"
#include "core/error.h"
#include "cpu/batchnorm/batchnorm.h"

namespace ember::bindings {
namespace {

constexpr const char* kBn = "ember.batch_norm";

cpu::BatchNormArgs bn_args(TensorRef x) {
  EMBER_CHECK(x.ndim() >= 2, ValueError, kBn, ": expected an input of at least 2 dimensions ",
              "(N, C, *), got shape ", shape_str(x.shape));
  cpu::BatchNormArgs a{};
  a.n = x.shape[0];
  a.c = x.shape[1];
  a.s = 1;
  for (int64_t d = 2; d < x.ndim(); ++d) a.s *= x.shape[d];
  return a;
}

void batch_norm_forward(TensorRef x, const TensorImpl* weight, const TensorImpl* bias,
                        const TensorImpl* running_mean, const TensorImpl* running_var,
                        TensorRef out, TensorRef save_mean, TensorRef save_invstd, bool training,
                        double momentum, double eps) {
  check_cpu_contiguous(x, kBn, "input");
  check_float(x, kBn, "input");
  cpu::BatchNormArgs a = bn_args(x);
  a.eps = eps;
  a.momentum = momentum;
  check_batch_norm_forward(DeviceType::CPU, x, a.c, a.n * a.s, weight, bias, running_mean,
                           running_var, out, save_mean, save_invstd, training, eps);
  py::gil_scoped_release nogil;
  visit_float(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    auto p = [](const TensorImpl* t) { return t ? t->data_as<T>() : nullptr; };
    cpu::batch_norm_forward<T>(a, training, x.data_as<T>(), p(weight), p(bias), p(running_mean),
                               p(running_var), out.data_as<T>(), save_mean.data_as<T>(),
                               save_invstd.data_as<T>());
  });
}

void batch_norm_backward(TensorRef grad_out, TensorRef x, const TensorImpl* weight,
                         TensorRef save_mean, TensorRef save_invstd, const TensorImpl* grad_in,
                         const TensorImpl* grad_weight, const TensorImpl* grad_bias,
                         bool training) {
  check_cpu_contiguous(x, kBn, "input");
  check_float(x, kBn, "input");
  const cpu::BatchNormArgs a = bn_args(x);
  check_batch_norm_backward(DeviceType::CPU, grad_out, x, a.c, weight, save_mean, save_invstd,
                            grad_in, grad_weight, grad_bias);
  py::gil_scoped_release nogil;
  visit_float(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    auto p = [](const TensorImpl* t) { return t ? t->data_as<T>() : nullptr; };
    cpu::batch_norm_backward<T>(a, training, grad_out.data_as<T>(), x.data_as<T>(), p(weight),
                                save_mean.data_as<T>(), save_invstd.data_as<T>(), p(grad_in),
                                p(grad_weight), p(grad_bias));
  });
}

}  // namespace

void bind_batchnorm(py::module_& m) { def_batchnorm(m, &batch_norm_forward, &batch_norm_backward); }

}  // namespace ember::bindings
