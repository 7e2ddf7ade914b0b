// TensorImpl: the metadata of a tensor (storage + dtype + shape + strides +
// offset, strides and offset counted in elements). Python's ember.Tensor holds
// one as `_impl`; views share the storage. Every view is bounds-checked against
// its storage when it is made, so kernels can trust shape/stride/offset.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/storage.h"

namespace ember {

using Shape = std::vector<int64_t>;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  DType dtype = DType::Float32;
  Shape shape;
  Shape strides;
  int64_t offset = 0;

  // New contiguous CPU tensor (uninitialized). `op` names the caller in errors.
  static std::shared_ptr<TensorImpl> empty_cpu(const Shape& shape, DType dtype,
                                               const char* op = "ember.empty");
  // A tensor over existing storage, checked to lie within it.
  static std::shared_ptr<TensorImpl> make(std::shared_ptr<Storage> storage, DType dtype,
                                          Shape shape, Shape strides, int64_t offset,
                                          const char* op = "ember.as_strided");

  int64_t ndim() const { return static_cast<int64_t>(shape.size()); }
  int64_t numel() const;
  size_t itemsize() const { return dtype_size(dtype); }
  Device device() const { return storage->device(); }
  bool is_contiguous() const;
  char* data() const { return static_cast<char*>(storage->data()) + offset * itemsize(); }
  template <typename T>
  T* data_as() const {
    return reinterpret_cast<T*>(data());
  }
};

// Row-major strides for a shape.
Shape contiguous_strides(const Shape& shape);
// Number of elements, or a ValueError naming `op` for negative or overflowing sizes.
int64_t checked_numel(const Shape& shape, const char* op);
// Bytes of a contiguous tensor of this shape, or a ValueError naming `op` (checked_numel's,
// or "is too large"). Every allocation of a new tensor (CPU and CUDA) is sized by it.
size_t checked_nbytes(const Shape& shape, DType dtype, const char* op);
// Elements a view spans in its storage: 1 + its highest element, offset + sum of
// (shape - 1) * stride, or 0 when it has none. ValueError naming `op` for negative sizes or
// strides and on overflow (computed with checked arithmetic, core/checked_math.h).
int64_t view_extent(const Shape& shape, const Shape& strides, int64_t offset, const char* op);
// Strides that read `t` broadcast to `out_shape` (stride 0 along broadcast dims);
// ValueError naming `op` if the shapes are not broadcast-compatible.
Shape broadcast_strides(const TensorImpl& t, const Shape& out_shape, const char* op);

// Argument checks shared by the bindings; each throws with the op name in the message.
void check_dtype(const TensorImpl& t, DType want, const char* op, const char* arg);
void check_same_dtype(const TensorImpl& a, const TensorImpl& b, const char* op);
void check_same_shape(const TensorImpl& a, const TensorImpl& b, const char* op);
void check_contiguous(const TensorImpl& t, const char* op, const char* arg);
void check_device(const TensorImpl& t, DeviceType want, const char* op, const char* arg);

}  // namespace ember
