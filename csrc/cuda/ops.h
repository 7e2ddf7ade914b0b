// Host entry points of the CUDA kernels, called by module.cpp with the GIL
// released. Each validates its arguments (devices, dtypes, shapes) before it
// touches memory and names the ember op in every error.
#pragma once
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>

#include "core/overlap.h"
#include "core/tensor_impl.h"

namespace ember::cuda {

// Uninitialized contiguous tensor on `device`.
std::shared_ptr<TensorImpl> empty(const Shape& shape, DType dtype, int device);

// dst[...] = src, src broadcast to dst.shape, with dtype conversion. Either side
// may be on the CPU (the other on CUDA); a CPU destination must be contiguous.
void copy(const TensorImpl& src, const TensorImpl& dst);
// dst[...] = value (converted to dst's dtype as the CPU does).
void fill(const TensorImpl& dst, double value);

// out = op(x) elementwise; alpha/beta are clamp's min/max.
void unary(const std::string& op, const TensorImpl& x, const TensorImpl& out, double alpha,
           double beta);
// grad_in = grad_out * op'(x); tanh/sigmoid read the forward output y instead of x.
void unary_backward(const std::string& op, const TensorImpl& x, const TensorImpl& y,
                    const TensorImpl& grad_out, const TensorImpl& grad_in, double alpha,
                    double beta);
// out = a op b, a and b broadcast to out.shape.
void binary(const std::string& op, const TensorImpl& a, const TensorImpl& b, const TensorImpl& out);
// out = cond ? a : b, all broadcast to out.shape.
void where(const TensorImpl& cond, const TensorImpl& a, const TensorImpl& b, const TensorImpl& out);

// All tensors are on CUDA and on one device, which is returned; else ValueError.
// (Whether that device exists is require_device's job, called right before launching.)
int common_device(const char* op,
                  std::initializer_list<std::pair<const char*, const TensorImpl*>> args);
}  // namespace ember::cuda
