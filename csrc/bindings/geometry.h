// Validated geometry of convolutions and poolings, shared by the CPU bindings (ember._C) and
// the CUDA ones (ember._C_cuda) so both raise the same errors for the same shapes. Shapes
// only: the device, dtype and contiguity checks stay with each binding.
#pragma once
#include <cstdint>

#include "bindings/checks.h"
#include "core/tensor_impl.h"
#include "cpu/conv/conv.h"
#include "cpu/pool/pool.h"

namespace ember::bindings {

// The output shape of a convolution over nd = 1 or 2 spatial dims: x (N, C, *spatial),
// w (K, C / groups, *kernel), stride / padding / dilation nd values each. Validated, with
// messages naming `op` (the caller's name: ember.conv1d, ember.nn.Conv2d, ...) and the shapes.
Shape conv_output_shape(const char* op, const Shape& x, const Shape& w, const Shape& stride,
                        const Shape& padding, const Shape& dilation, int64_t groups);

// The geometry of a conv2d over x (N, C, H, W) and w (K, C / groups, kH, kW), validated.
cpu::ConvShape conv2d_shape(const char* op, const Shape& x, const Shape& w, const Pair& stride,
                            const Pair& padding, const Pair& dilation, int64_t groups);

// The sums pool_out_size forms along one dim (padded size, dilated kernel, ceil_mode's
// rounding) fit in int64; the caller checked the signs.
void check_pool_sums(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil,
                     const char* op);

// The geometry of a pooling over an input of shape x (N, C, H, W), validated; messages name
// `op` and the shapes.
cpu::PoolShape pool_shape(const Shape& x, const Pair& kernel, const Pair& stride,
                          const Pair& padding, const Pair& dilation, bool ceil_mode,
                          const char* op);

}  // namespace ember::bindings
