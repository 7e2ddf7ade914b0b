// CUDA index ops with the CPU's semantics (cpu/index/index.h): gather / scatter_add and
// index_select / index_add on contiguous tensors of one device. Arguments are checked by the
// binding; index values here, on the device, before any write (IndexError naming the first bad
// index, as on the CPU). The adds are deterministic and equal the CPU's bit for bit: each
// target adds its sources in increasing source position.
#pragma once
#include <cstdint>

#include "core/tensor_impl.h"

namespace ember::cuda {

void gather(const TensorImpl& x, int64_t dim, const TensorImpl& index, const TensorImpl& out);
void scatter_add(const TensorImpl& out, int64_t dim, const TensorImpl& index,
                 const TensorImpl& src);
void index_select(const TensorImpl& x, int64_t dim, const TensorImpl& index, const TensorImpl& out);
void index_add(const TensorImpl& out, int64_t dim, const TensorImpl& index, const TensorImpl& src);

}  // namespace ember::cuda
