// The pooling argument checks the CPU and CUDA bindings share (compiled into both
// extensions): devices of type dev, contiguity, dtypes (float32 or float64, all alike; int64
// indices), ranks, shapes, geometry, writability and overlap of outputs with inputs. Each
// throws the same ValueError / TypeError on both devices; what only one device needs (the
// CPU's index range scan, the CUDA kernels' 32-bit limits, one device index) stays with its
// binding.
#pragma once
#include <cstdint>

#include "bindings/checks.h"
#include "core/tensor_impl.h"
#include "cpu/pool/pool.h"

namespace ember::bindings {

// max_pool2d's input, out and indices; returns the validated geometry.
cpu::PoolShape check_max_pool2d(DeviceType dev, const TensorImpl& x, const TensorImpl& out,
                                const TensorImpl& indices, const Pair& kernel, const Pair& stride,
                                const Pair& padding, const Pair& dilation, bool ceil_mode);
void check_max_pool2d_backward(DeviceType dev, const TensorImpl& grad_out,
                               const TensorImpl& indices, const TensorImpl& grad_in);

// avg_pool2d over the input `big` into `small` (out), or with backward its backward, which
// writes big (grad_input) from small (grad_output); returns the geometry of big's shape.
cpu::PoolShape check_avg_pool2d(DeviceType dev, const TensorImpl& big, const TensorImpl& small,
                                const Pair& kernel, const Pair& stride, const Pair& padding,
                                bool ceil_mode, int64_t divisor_override, bool backward);

// adaptive_avg_pool2d (input big, out small) or its backward (grad_input big, grad_output
// small), as for avg_pool2d.
void check_adaptive_avg_pool2d(DeviceType dev, const TensorImpl& big, const TensorImpl& small,
                               bool backward);

}  // namespace ember::bindings
