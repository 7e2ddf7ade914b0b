#include "bindings/batchnorm_checks.h"

#include "bindings/checks.h"
#include "core/error.h"
#include "core/overlap.h"

namespace ember::bindings {
namespace {

constexpr const char* kBn = "ember.batch_norm";

// A contiguous tensor of x's dtype on device type dev.
void check_like(DeviceType dev, const TensorImpl& t, const TensorImpl& x, const char* arg) {
  check_device(t, dev, kBn, arg);
  check_contiguous(t, kBn, arg);
  EMBER_CHECK(t.dtype == x.dtype, TypeError, kBn, ": ", arg, " has dtype ", dtype_name(t.dtype),
              ", expected ", dtype_name(x.dtype));
}

void check_channel_vec(DeviceType dev, const TensorImpl* t, const TensorImpl& x, int64_t c,
                       const char* arg) {
  if (!t) return;
  check_like(dev, *t, x, arg);
  EMBER_CHECK(t->shape == Shape{c}, ValueError, kBn, ": ", arg, " of shape ", shape_str(t->shape),
              " does not match the ", c, " channels of the input of shape ", shape_str(x.shape));
}

}  // namespace

void check_batch_norm_forward(DeviceType dev, const TensorImpl& x, int64_t c, int64_t values,
                              const TensorImpl* weight, const TensorImpl* bias,
                              const TensorImpl* running_mean, const TensorImpl* running_var,
                              const TensorImpl& out, const TensorImpl& save_mean,
                              const TensorImpl& save_invstd, bool training, double eps) {
  EMBER_CHECK(eps >= 0, ValueError, kBn, ": eps must be non-negative, got ", eps);
  check_channel_vec(dev, weight, x, c, "weight");
  check_channel_vec(dev, bias, x, c, "bias");
  check_channel_vec(dev, running_mean, x, c, "running_mean");
  check_channel_vec(dev, running_var, x, c, "running_var");
  check_channel_vec(dev, &save_mean, x, c, "save_mean");
  check_channel_vec(dev, &save_invstd, x, c, "save_invstd");
  check_like(dev, out, x, "out");
  check_shape(out, x.shape, kBn, "out");
  EMBER_CHECK(training || (running_mean && running_var), ValueError, kBn,
              ": running_mean and running_var are needed in eval mode");
  EMBER_CHECK(!training || (running_mean == nullptr) == (running_var == nullptr), ValueError, kBn,
              ": pass both running_mean and running_var, or neither");
  EMBER_CHECK(!training || values > 1, ValueError, kBn,
              ": expected more than 1 value per channel when training, got input of shape ",
              shape_str(x.shape));
  check_writable(out, kBn, "out");
  check_writable(save_mean, kBn, "save_mean");
  check_writable(save_invstd, kBn, "save_invstd");
  if (training && running_mean) {  // training updates the running statistics in place
    check_writable(*running_mean, kBn, "running_mean");
    check_writable(*running_var, kBn, "running_var");
  }
  check_no_overlap(out, save_mean, kBn, "out", "save_mean");
  check_no_overlap(out, save_invstd, kBn, "out", "save_invstd");
  check_no_overlap(save_mean, save_invstd, kBn, "save_mean", "save_invstd");
  for (const TensorImpl* t : {weight, bias, running_mean, running_var}) {
    if (!t) continue;
    check_no_overlap(out, *t, kBn, "out", "a parameter");
    check_no_overlap(save_mean, *t, kBn, "save_mean", "a parameter");
    check_no_overlap(save_invstd, *t, kBn, "save_invstd", "a parameter");
  }
}

void check_batch_norm_backward(DeviceType dev, const TensorImpl& grad_out, const TensorImpl& x,
                               int64_t c, const TensorImpl* weight, const TensorImpl& save_mean,
                               const TensorImpl& save_invstd, const TensorImpl* grad_in,
                               const TensorImpl* grad_weight, const TensorImpl* grad_bias) {
  check_like(dev, grad_out, x, "grad_output");
  check_shape(grad_out, x.shape, kBn, "grad_output");
  check_channel_vec(dev, weight, x, c, "weight");
  check_channel_vec(dev, &save_mean, x, c, "save_mean");
  check_channel_vec(dev, &save_invstd, x, c, "save_invstd");
  check_channel_vec(dev, grad_weight, x, c, "grad_weight");
  check_channel_vec(dev, grad_bias, x, c, "grad_bias");
  if (grad_in) {
    check_like(dev, *grad_in, x, "grad_input");
    check_shape(*grad_in, x.shape, kBn, "grad_input");
  }
  for (const TensorImpl* o : {grad_in, grad_weight, grad_bias}) {
    if (!o) continue;
    check_writable(*o, kBn, "a gradient output");
    for (const TensorImpl* i : {&grad_out, &x, weight, &save_mean, &save_invstd})
      if (i) check_no_overlap(*o, *i, kBn, "a gradient output", "an input");
  }
  if (grad_weight && grad_bias)
    check_no_overlap(*grad_weight, *grad_bias, kBn, "grad_weight", "grad_bias");
}

}  // namespace ember::bindings
