// Indexing kernels: gather / scatter_add (torch.gather and its backward) and
// index_select / index_add (embedding lookup and its backward). All tensors contiguous;
// shapes are checked by the bindings, index values here (IndexError before any write).
// The adds are deterministic: each output element accumulates its sources in increasing
// source position, whatever the thread count.
#pragma once
#include <cstdint>

#include "core/tensor_impl.h"

namespace ember::cpu {

// out[p] = x[p with p[dim] replaced by index[p]], p over index's shape (out.shape == index.shape).
void gather(const TensorImpl& x, int64_t dim, const TensorImpl& index, const TensorImpl& out);
// out[p with p[dim] replaced by index[p]] += src[p], p over index's shape (== src's shape).
void scatter_add(const TensorImpl& out, int64_t dim, const TensorImpl& index,
                 const TensorImpl& src);
// out = x.take(index, axis=dim) for a 1-D int64 index.
void index_select(const TensorImpl& x, int64_t dim, const TensorImpl& index, const TensorImpl& out);
// out.index_select(dim, index) += src, duplicates accumulated in index order.
void index_add(const TensorImpl& out, int64_t dim, const TensorImpl& index, const TensorImpl& src);

}  // namespace ember::cpu
