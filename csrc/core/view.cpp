#include "core/view.h"

#include "core/checked_math.h"
#include "core/error.h"

namespace ember {

Shape infer_shape(const Shape& requested, int64_t numel, const char* op) {
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < requested.size(); ++i) {
    int64_t s = requested[i];
    if (s == -1) {
      EMBER_CHECK(infer < 0, ValueError, op, ": only one dimension can be -1, got ",
                  shape_str(requested));
      infer = static_cast<int>(i);
    } else {
      EMBER_CHECK(s >= 0, ValueError, op, ": invalid shape ", shape_str(requested));
      known = checked_mul(known, s, op, "the size of shape ", shape_text(requested));
    }
  }
  Shape out = requested;
  if (infer >= 0) {
    EMBER_CHECK(known != 0 && numel % known == 0, ValueError, op, ": shape ", shape_str(requested),
                " is invalid for input of size ", numel);
    out[infer] = numel / known;
  } else {
    EMBER_CHECK(known == numel, ValueError, op, ": shape ", shape_str(requested),
                " is invalid for input of size ", numel);
  }
  checked_numel(out, op);  // rank limit, and no product of its sizes overflows below
  return out;
}

std::optional<Shape> view_strides(const Shape& old_shape, const Shape& old_strides,
                                  const Shape& new_shape) {
  int64_t numel = 1;
  for (int64_t s : old_shape) numel *= s;
  Shape out(new_shape.size());
  if (numel == 0 || old_shape.empty()) {  // any strides work: use contiguous ones
    int64_t s = 1;
    for (size_t i = new_shape.size(); i-- > 0;) {
      out[i] = s;
      s *= new_shape[i] > 0 ? new_shape[i] : 1;
    }
    return out;
  }
  // Walk old dims from the innermost, grouping runs that are contiguous with each other;
  // each run must be covered exactly by a run of new dims.
  int64_t view_d = static_cast<int64_t>(new_shape.size()) - 1;
  int64_t chunk_base = old_strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t td = static_cast<int64_t>(old_shape.size()) - 1; td >= 0; --td) {
    tensor_numel *= old_shape[td];
    // A size-1 dim may carry any stride: products with it that overflow are no stride.
    int64_t span;
    const bool huge = __builtin_mul_overflow(tensor_numel, chunk_base, &span);
    if (td == 0 || (old_shape[td - 1] != 1 && (huge || old_strides[td - 1] != span))) {
      while (view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d] == 1)) {
        if (__builtin_mul_overflow(view_numel, chunk_base, &out[view_d])) return std::nullopt;
        view_numel *= new_shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (td > 0) {
        chunk_base = old_strides[td - 1];
        tensor_numel = view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return out;
}

}  // namespace ember
