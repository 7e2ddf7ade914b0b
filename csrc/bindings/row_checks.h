// The argument checks of the row families, layer / RMS norm and softmax cross-entropy, that
// the CPU and CUDA bindings share (compiled into both extensions): devices of type dev, contiguity,
// dtypes (float32, float64 or bfloat16 rows, float32 statistics for bfloat16), shapes,
// hyperparameters, writability and overlap, with the same ValueError / TypeError on both devices.
#pragma once
#include <cstdint>

#include "core/tensor_impl.h"

namespace ember::bindings {

// Each norm check returns the number of rows of n values x holds.
int64_t check_layer_norm_forward(DeviceType dev, const TensorImpl& x, int64_t n,
                                 const TensorImpl* weight, const TensorImpl* bias,
                                 const TensorImpl& y, const TensorImpl& mean,
                                 const TensorImpl& rstd, double eps);
int64_t check_rms_norm_forward(DeviceType dev, const TensorImpl& x, int64_t n,
                               const TensorImpl* weight, const TensorImpl& y,
                               const TensorImpl& rstd, double eps);
// op: ember.layer_norm_backward (with mean) or ember.rms_norm_backward (mean null).
int64_t check_norm_backward(DeviceType dev, const char* op, const TensorImpl& grad_out,
                            const TensorImpl& x, int64_t n, const TensorImpl* weight,
                            const TensorImpl* mean, const TensorImpl& rstd,
                            const TensorImpl* grad_in, const TensorImpl* grad_weight,
                            const TensorImpl* grad_bias);

// (N, C) logits and N class indices; returns C. The targets' values are the kernels' check.
int64_t check_cross_entropy_forward(DeviceType dev, const TensorImpl& logits,
                                    const TensorImpl& target, const TensorImpl& losses,
                                    const TensorImpl& dlogits, double label_smoothing);
void check_cross_entropy_backward(DeviceType dev, const TensorImpl& dlogits, const TensorImpl& grad,
                                  const TensorImpl& grad_in);

}  // namespace ember::bindings
