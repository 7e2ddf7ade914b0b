// Softmax cross-entropy (csrc/cpu/cross_entropy): the forward writes the per-row losses and
// dlogits, the backward scales dlogits. Everything is checked here before a kernel runs.
#include "bindings/bindings.h"
#include "bindings/row_checks.h"
#include "bindings/shared_defs.h"
#include "cpu/cross_entropy/cross_entropy.h"

namespace ember::bindings {
namespace {

constexpr const char* kCe = "ember.cross_entropy";

py::tuple cross_entropy_forward(TensorRef logits, TensorRef target, TensorRef losses,
                                TensorRef dlogits, int64_t ignore_index, double label_smoothing) {
  const int64_t C = check_cross_entropy_forward(DeviceType::CPU, logits, target, losses, dlogits,
                                                label_smoothing);
  int64_t count;
  double total;
  {
    py::gil_scoped_release nogil;
    // Every target is checked before anything is written.
    count = cpu::cross_entropy_check_targets(target, C, ignore_index, kCe);
    total =
        cpu::cross_entropy_forward(logits, target, losses, dlogits, ignore_index, label_smoothing);
  }
  return py::make_tuple(count, total);
}

void cross_entropy_backward(TensorRef dlogits, TensorRef grad, TensorRef grad_in, double scale) {
  check_cross_entropy_backward(DeviceType::CPU, dlogits, grad, grad_in);
  py::gil_scoped_release nogil;
  cpu::cross_entropy_backward(dlogits, grad, grad_in, scale);
}

}  // namespace

void bind_cross_entropy(py::module_& m) {
  def_cross_entropy(m, &cross_entropy_forward, &cross_entropy_backward);
}

}  // namespace ember::bindings
