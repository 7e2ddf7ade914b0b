// Memory overlap of strided views and outputs that are safe to write: shared by the CPU
// bindings (bindings/checks.h) and the CUDA ops, so both reject the same aliasing.
#pragma once
#include <initializer_list>
#include <utility>

#include "core/error.h"
#include "core/tensor_impl.h"

namespace ember {

// Whether views a and b can touch a common byte. Exact for any shapes and strides (the
// bounded linear Diophantine problem numpy's may_share_memory solves, after a memory-range
// test); only a search past its work budget answers "yes" without proof, so a "no" is
// always right. Addresses are compared, not storages: two storages may wrap one buffer.
bool may_overlap(const TensorImpl& a, const TensorImpl& b);

// a and b are the same view: one address, dtype, shape and strides (ignoring size-1 dims).
bool same_view(const TensorImpl& a, const TensorImpl& b);

// ValueError "<op>: <oname> of shape S overlaps <iname> of shape S" when they may overlap.
void check_no_overlap(const TensorImpl& out, const TensorImpl& in, const char* op,
                      const char* oname, const char* iname);

// An output: not read-only memory (Storage::read_only), and no two of its elements share
// an address (each dim, by increasing stride, steps past all inner ones), so the result
// cannot depend on which thread writes last. Every binding and CUDA op checks each tensor
// it writes with this, the in-place ops (python/ember/ops/elementwise.py apply_inplace)
// before they compute, under the name the user called.
void check_writable(const TensorImpl& t, const char* op, const char* arg);

// An elementwise output: writable (above), and each input either exactly the output
// (x.add_(y)) or apart from it. A partial overlap would make the result depend on the
// order, and so the thread, in which elements are written.
void check_output_aliasing(const TensorImpl& out,
                           std::initializer_list<std::pair<const TensorImpl*, const char*>> ins,
                           const char* op);

// A kernel's outputs (null entries, for optional tensors, are skipped): each writable
// (above) and apart from every input and from the other outputs, so nothing it reads is
// written under it and no element is written twice.
using NamedTensor = std::pair<const TensorImpl*, const char*>;
void check_outputs(std::initializer_list<NamedTensor> outs, std::initializer_list<NamedTensor> ins,
                   const char* op);

}  // namespace ember
