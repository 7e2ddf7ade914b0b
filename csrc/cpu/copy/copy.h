// Strided copy with dtype conversion: the kernel behind .contiguous(), .to(dtype),
// expand-then-materialize, cat and every assignment into a view.
#pragma once
#include "core/tensor_impl.h"

namespace ember::cpu {

// dst[i] = convert(src[i]) over dst's shape; src must broadcast to dst.
void copy(const TensorImpl& src, const TensorImpl& dst);
// dst[:] = value (converted to dst's dtype).
void fill(const TensorImpl& dst, double value);

}  // namespace ember::cpu
