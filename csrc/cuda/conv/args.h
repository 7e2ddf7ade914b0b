// Argument checks of the CUDA conv, pool and batch-norm bindings: the CPU bindings' checks
// (bindings/checks.h, bindings/geometry.h) with the device swapped, so both raise the same
// errors; and the limits of the kernels' 32-bit index math.
#pragma once
#include <climits>
#include <cstdint>
#include <initializer_list>

#include "core/error.h"
#include "core/tensor_impl.h"

namespace ember::cuda {

// A contiguous CUDA tensor.
inline void check_cuda_contiguous(const TensorImpl& t, const char* op, const char* arg) {
  check_device(t, DeviceType::CUDA, op, arg);
  check_contiguous(t, op, arg);
}

// A contiguous CUDA tensor of ref's dtype (the CPU's check_contiguous_like).
inline void check_cuda_like(const TensorImpl& t, const TensorImpl& ref, const char* op,
                            const char* arg) {
  check_cuda_contiguous(t, op, arg);
  EMBER_CHECK(t.dtype == ref.dtype, TypeError, op, ": ", arg, " has dtype ", dtype_name(t.dtype),
              ", expected ", dtype_name(ref.dtype));
}

// ValueError naming op and the shape when a size the kernels index with int exceeds it.
inline void check_int_sizes(std::initializer_list<int64_t> sizes, const Shape& shape,
                            const char* op) {
  for (int64_t v : sizes)
    EMBER_CHECK(v <= INT_MAX, ValueError, op, ": the CUDA kernel indexes with 32-bit sizes; ",
                "shape ", shape_str(shape), " has a size (or padded / dilated size) of ", v);
}

}  // namespace ember::cuda
