// CUDA tensor creation and the device checks shared by every CUDA op.
#include "core/error.h"
#include "cuda/allocator.h"
#include "cuda/ops.h"
#include "cuda/runtime.h"

namespace ember::cuda {

std::shared_ptr<TensorImpl> empty(const Shape& shape, DType dtype, int device) {
  const char* op = "ember.empty";
  const size_t nbytes = checked_nbytes(shape, dtype, op);
  require_device(device, op);
  auto storage = allocate_storage(device, nbytes);
  return TensorImpl::make(std::move(storage), dtype, shape, contiguous_strides(shape), 0, op);
}

int common_device(const char* op,
                  std::initializer_list<std::pair<const char*, const TensorImpl*>> args) {
  int device = -1;
  const char* first = nullptr;
  for (const auto& [arg, t] : args) {
    check_device(*t, DeviceType::CUDA, op, arg);
    const int d = t->device().index;
    if (first == nullptr) {
      device = d;
      first = arg;
    } else {
      EMBER_CHECK(d == device, ValueError, op, ": expected all tensors on one device, got ", first,
                  " on cuda:", device, " and ", arg, " on cuda:", d);
    }
  }
  return device;
}

}  // namespace ember::cuda
