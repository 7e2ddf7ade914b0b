// Argument checks of the CUDA optimizer and grad-norm bindings, with the CPU bindings'
// exception types and messages: each names the op, the list and index, and the shape or
// dtype. Every tensor must be on one CUDA device (on the CPU for the host emulation the
// tests use); the per-parameter counters (steps, mu_products) stay one-element CPU
// tensors, as PyTorch's non-capturable optimizers keep them.
#pragma once
#include <cstddef>
#include <string>
#include <utility>

#include "cuda/optim/optim.h"

namespace ember::cuda::optim {

class Checks {
 public:
  Checks(std::string op, Where where) : op_(std::move(op)), where_(where) {}
  const char* op() const { return op_.c_str(); }
  // The CUDA device of every tensor checked so far (-1 before the first).
  int device() const { return device_; }

  // A contiguous float32/float64 tensor on the device; `like` (if given) fixes its shape
  // and dtype.
  void tensor(const char* list, size_t i, const TensorImpl* t, const TensorImpl* like);
  // Tensors the call writes: not read-only, no element twice.
  void written(const char* list, const List& xs) const;
  // A list matching params one to one (written unless it is grads), or, when !needed,
  // empty.
  void matching(const char* name, const List& xs, const List& params, bool needed,
                const char* why = "");
  // params (written, no two overlapping) and grads.
  void params(const List& params, const List& grads);
  // One-element float CPU counters, one per parameter, updated in place.
  void scalars(const char* name, const List& xs, const List& params) const;
  void nonneg(const char* what, double v) const;
  void beta(int i, double b) const;
  // The gradients a utility reads, and with `written` scales or clamps in place.
  void grads(const List& xs, bool written_too);
  void norm_type(double p) const;

 private:
  void device_of(const char* list, size_t i, const TensorImpl& t);

  std::string op_;
  Where where_;
  int device_ = -1;
  std::string first_;  // the tensor that fixed device_, as "list[i]"
};

}  // namespace ember::cuda::optim
