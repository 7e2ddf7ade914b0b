#pragma once
// Reshape as a view: infer one -1 dimension, then find strides that address the same
// memory in the new shape (PyTorch's computeStride), so Python's reshape is one call.
#include <optional>

#include "core/tensor_impl.h"

namespace ember {

// The requested shape with -1 resolved; ValueError naming `op` if it is invalid for numel.
Shape infer_shape(const Shape& requested, int64_t numel, const char* op);

// Strides viewing (old_shape, old_strides) memory as new_shape, or nullopt if a copy is
// needed. new_shape must have the same number of elements.
std::optional<Shape> view_strides(const Shape& old_shape, const Shape& old_strides,
                                  const Shape& new_shape);

}  // namespace ember
