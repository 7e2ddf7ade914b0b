// The batch-norm argument checks the CPU and CUDA bindings share (compiled into both
// extensions): everything after the input's own device, dtype and rank, with the device type
// of every other tensor given. Each throws the same ValueError / TypeError on both devices.
#pragma once
#include <cstdint>

#include "core/tensor_impl.h"

namespace ember::bindings {

// c channels, `values` values per channel (N times the spatial size).
void check_batch_norm_forward(DeviceType dev, const TensorImpl& x, int64_t c, int64_t values,
                              const TensorImpl* weight, const TensorImpl* bias,
                              const TensorImpl* running_mean, const TensorImpl* running_var,
                              const TensorImpl& out, const TensorImpl& save_mean,
                              const TensorImpl& save_invstd, bool training, double eps);
void check_batch_norm_backward(DeviceType dev, const TensorImpl& grad_out, const TensorImpl& x,
                               int64_t c, const TensorImpl* weight, const TensorImpl& save_mean,
                               const TensorImpl& save_invstd, const TensorImpl* grad_in,
                               const TensorImpl* grad_weight, const TensorImpl* grad_bias);

}  // namespace ember::bindings
