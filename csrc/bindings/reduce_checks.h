// The reduction and softmax argument checks the CPU and CUDA bindings share (compiled into
// both extensions): devices of type dev, contiguity, dtypes, the (outer, r, inner) view,
// shapes, writability and overlap, with the same ValueError / TypeError on both devices.
// Which dtypes an op takes is the device's kernels' answer, passed in.
#pragma once
#include <cstdint>
#include <string>

#include "core/tensor_impl.h"

namespace ember::bindings {

// reduce (op names it, e.g. ember.sum): dtype_ok says whether the kernels take x's dtype for
// this op; extremum (max / min) has no value over an empty dimension.
void check_reduce(DeviceType dev, const TensorImpl& x, const TensorImpl& out, int64_t outer,
                  int64_t r, int64_t inner, bool dtype_ok, bool extremum, const char* op);

// reduce_arg's op name for `name` (max: ember.argmax, min: ember.argmin); ValueError for
// another name.
std::string reduce_arg_op(const std::string& name);

// reduce_arg (op: ember.argmax / ember.argmin): values of x's dtype, int64 indices.
void check_reduce_arg(DeviceType dev, const TensorImpl& x, const TensorImpl& values,
                      const TensorImpl& indices, int64_t outer, int64_t r, int64_t inner,
                      const char* op);

// softmax / log_softmax of x into out, and their backward from the output y.
void check_softmax(DeviceType dev, const TensorImpl& x, const TensorImpl& out, bool log);
void check_softmax_backward(DeviceType dev, const TensorImpl& y, const TensorImpl& grad_out,
                            const TensorImpl& grad_in, bool log);

}  // namespace ember::bindings
