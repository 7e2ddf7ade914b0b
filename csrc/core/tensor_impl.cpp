#include "core/tensor_impl.h"

#include <limits>

#include "core/checked_math.h"
#include "core/error.h"

namespace ember {

int64_t checked_numel(const Shape& shape, const char* op) {
  EMBER_CHECK(static_cast<int64_t>(shape.size()) <= kMaxDims, ValueError, op, ": ", shape.size(),
              " dimensions is too many (at most ", kMaxDims, ")");
  // The product of the non-zero sizes must fit too, even when a zero makes numel 0: code
  // that multiplies some of a tensor's sizes (contiguous strides, row counts) then never
  // overflows.
  int64_t n = 1;
  bool empty = false;
  for (int64_t d : shape) {
    EMBER_CHECK(d >= 0, ValueError, op, ": negative dimension in shape ", shape_str(shape));
    if (d == 0) {
      empty = true;
      continue;
    }
    if (__builtin_mul_overflow(n, d, &n)) {
      throw ValueError(cat_str(op, ": shape ", shape_str(shape), " has too many elements"));
    }
  }
  return empty ? 0 : n;
}

int64_t view_extent(const Shape& shape, const Shape& strides, int64_t offset, const char* op) {
  EMBER_CHECK(shape.size() == strides.size(), ValueError, op, ": shape ", shape_str(shape),
              " and strides ", shape_str(strides), " differ in length");
  for (int64_t st : strides)
    EMBER_CHECK(st >= 0, ValueError, op, ": negative stride in ", shape_str(strides));
  if (checked_numel(shape, op) == 0) return 0;
  // Summed with overflow checks: a wrapped sum would pass any bounds check after it.
  int64_t last = offset;
  for (size_t i = 0; i < shape.size(); ++i) {
    const int64_t span = checked_mul(shape[i] - 1, strides[i], op, "the extent of shape ",
                                     shape_text(shape), " with strides ", shape_text(strides));
    last = checked_add(last, span, op, "the extent of shape ", shape_text(shape), " with strides ",
                       shape_text(strides), " and offset ", offset);
  }
  return checked_add(last, 1, op, "the extent of shape ", shape_text(shape));
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    s *= shape[i] > 0 ? shape[i] : 1;
  }
  return strides;
}

int64_t TensorImpl::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

bool TensorImpl::is_contiguous() const {
  int64_t expected = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    if (shape[i] == 1) continue;
    if (strides[i] != expected) return numel() == 0;
    expected *= shape[i];
  }
  return true;
}

size_t checked_nbytes(const Shape& shape, DType dtype, const char* op) {
  const int64_t n = checked_numel(shape, op);
  const int64_t item = static_cast<int64_t>(dtype_size(dtype));
  // Within int64, so byte offsets into the tensor are representable too.
  EMBER_CHECK(n <= std::numeric_limits<int64_t>::max() / item, ValueError, op, ": shape ",
              shape_str(shape), " is too large");
  return static_cast<size_t>(n * item);
}

std::shared_ptr<TensorImpl> TensorImpl::empty_cpu(const Shape& shape, DType dtype, const char* op) {
  auto t = std::make_shared<TensorImpl>();
  t->storage = Storage::allocate_cpu(checked_nbytes(shape, dtype, op));
  t->dtype = dtype;
  t->shape = shape;
  t->strides = contiguous_strides(shape);
  return t;
}

std::shared_ptr<TensorImpl> TensorImpl::make(std::shared_ptr<Storage> storage, DType dtype,
                                             Shape shape, Shape strides, int64_t offset,
                                             const char* op) {
  EMBER_CHECK(shape.size() == strides.size(), ValueError, op, ": shape ", shape_str(shape),
              " and strides ", shape_str(strides), " differ in length");
  EMBER_CHECK(offset >= 0, ValueError, op, ": negative storage offset ", offset);
  // Byte offsets stay representable: data() forms offset * itemsize for every view, and
  // buffer / DLPack export multiply every stride (a size-1 dim's stride is not bounded by
  // the extent) by itemsize.
  const int64_t item = static_cast<int64_t>(dtype_size(dtype));
  checked_mul(offset, item, op, "the byte offset of the view of shape ", shape_text(shape),
              " with strides ", shape_text(strides), " and offset ", offset);
  const int64_t extent = view_extent(shape, strides, offset, op);
  if (extent > 0) {
    for (int64_t st : strides)
      checked_mul(st, item, op, "the byte stride of the view of shape ", shape_text(shape),
                  " with strides ", shape_text(strides), " and offset ", offset);
  }
  const int64_t capacity = static_cast<int64_t>(storage->nbytes() / dtype_size(dtype));
  EMBER_CHECK(extent <= capacity, ValueError, op, ": view of shape ", shape_str(shape),
              " with strides ", shape_str(strides), " and offset ", offset,
              " is out of bounds for a storage of ", capacity, " elements");
  auto t = std::make_shared<TensorImpl>();
  t->storage = std::move(storage);
  t->dtype = dtype;
  t->shape = std::move(shape);
  t->strides = std::move(strides);
  t->offset = offset;
  return t;
}

Shape broadcast_strides(const TensorImpl& t, const Shape& out_shape, const char* op) {
  EMBER_CHECK(t.shape.size() <= out_shape.size(), ValueError, op, ": cannot broadcast shape ",
              shape_str(t.shape), " to ", shape_str(out_shape));
  Shape strides(out_shape.size(), 0);
  size_t lead = out_shape.size() - t.shape.size();
  for (size_t i = 0; i < t.shape.size(); ++i) {
    int64_t d = t.shape[i];
    int64_t o = out_shape[lead + i];
    if (d == o) {
      strides[lead + i] = d == 1 ? 0 : t.strides[i];
    } else {
      EMBER_CHECK(d == 1, ValueError, op, ": cannot broadcast shape ", shape_str(t.shape), " to ",
                  shape_str(out_shape));
    }
  }
  return strides;
}

void check_dtype(const TensorImpl& t, DType want, const char* op, const char* arg) {
  EMBER_CHECK(t.dtype == want, TypeError, op, ": expected ", arg, " of dtype ", dtype_name(want),
              ", got ", dtype_name(t.dtype));
}

void check_same_dtype(const TensorImpl& a, const TensorImpl& b, const char* op) {
  EMBER_CHECK(a.dtype == b.dtype, TypeError, op, ": dtypes differ (", dtype_name(a.dtype), " and ",
              dtype_name(b.dtype), ")");
}

void check_same_shape(const TensorImpl& a, const TensorImpl& b, const char* op) {
  EMBER_CHECK(a.shape == b.shape, ValueError, op, ": shapes ", shape_str(a.shape), " and ",
              shape_str(b.shape), " differ");
}

void check_contiguous(const TensorImpl& t, const char* op, const char* arg) {
  EMBER_CHECK(t.is_contiguous(), ValueError, op, ": ", arg, " of shape ", shape_str(t.shape),
              " must be contiguous");
}

void check_device(const TensorImpl& t, DeviceType want, const char* op, const char* arg) {
  EMBER_CHECK(t.device().type == want, ValueError, op, ": ", arg, " is on ",
              t.device().type == DeviceType::CPU ? "cpu" : "cuda", ", expected ",
              want == DeviceType::CPU ? "cpu" : "cuda");
}

}  // namespace ember
