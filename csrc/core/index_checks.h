// Argument checks of the index ops (gather / scatter_add, index_select / index_add) that do
// not depend on the device: dtypes, dims and shapes, and the output's aliasing. The CPU and
// CUDA bindings check devices and contiguity first, then call these, so both raise the same
// errors for the same bad arguments.
#pragma once
#include <cstdint>

#include "core/tensor_impl.h"

namespace ember {

// TypeError unless t is float32, float64, int32 or int64 (the dtypes the adds accumulate in).
void check_index_add_dtype(const TensorImpl& t, const char* op);
// gather / scatter_add: int64 index with the rank of `self`, no larger than it outside dim
// (normalized: 0 <= dim < max(ndim, 1)); `other` (gather's out, scatter_add's src) has
// index's shape and self's dtype.
void check_gather_shapes(const TensorImpl& self, int64_t dim, const TensorImpl& index,
                         const TensorImpl& other, const char* op, const char* self_name,
                         const char* other_name);
// index_select / index_add: 1-D int64 index; `other` (select's out, add's src) is self with
// shape[dim] = len(index).
void check_select_shapes(const TensorImpl& self, int64_t dim, const TensorImpl& index,
                         const TensorImpl& other, const char* op, const char* self_name,
                         const char* other_name);
// The tensor an index op writes: writable, and apart from both tensors it reads.
void check_index_output(const TensorImpl& out, const TensorImpl& in, const TensorImpl& index,
                        const char* op, const char* oname, const char* iname);

}  // namespace ember
