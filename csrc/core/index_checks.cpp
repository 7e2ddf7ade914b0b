// Argument checks of the index ops shared by the CPU and CUDA bindings (see index_checks.h).
#include "core/index_checks.h"

#include "core/error.h"
#include "core/overlap.h"

namespace ember {
namespace {

// dim must already be normalized by the Python layer: 0 <= dim < max(ndim, 1).
void check_dim_normalized(int64_t dim, int64_t ndim, const char* op) {
  EMBER_CHECK(dim >= 0, ValueError, op, ": dim ", dim,
              " is negative; normalize it before calling the kernel");
  EMBER_CHECK(dim < (ndim > 0 ? ndim : 1), ValueError, op, ": dim ", dim,
              " is out of range for a tensor of ", ndim, " dimensions");
}

}  // namespace

void check_index_add_dtype(const TensorImpl& t, const char* op) {
  EMBER_CHECK(t.dtype == DType::Float32 || t.dtype == DType::Float64 || t.dtype == DType::Int32 ||
                  t.dtype == DType::Int64,
              TypeError, op, ": unsupported dtype ", dtype_name(t.dtype),
              " (expected float32, float64, int32 or int64)");
}

// gather / scatter_add: index has the rank of `self`, no larger than it outside dim, and
// `other` (gather's out, scatter_add's src) has index's shape.
void check_gather_shapes(const TensorImpl& self, int64_t dim, const TensorImpl& index,
                         const TensorImpl& other, const char* op, const char* self_name,
                         const char* other_name) {
  check_dtype(index, DType::Int64, op, "index");
  check_same_dtype(self, other, op);
  check_dim_normalized(dim, self.ndim(), op);
  EMBER_CHECK(index.ndim() == self.ndim(), ValueError, op, ": index of shape ",
              shape_str(index.shape), " must have as many dimensions as ", self_name, " of shape ",
              shape_str(self.shape));
  for (int64_t d = 0; d < self.ndim(); ++d)
    EMBER_CHECK(d == dim || index.shape[d] <= self.shape[d], ValueError, op, ": index of shape ",
                shape_str(index.shape), " is larger than ", self_name, " of shape ",
                shape_str(self.shape), " in dimension ", d);
  EMBER_CHECK(other.shape == index.shape, ValueError, op, ": ", other_name, " has shape ",
              shape_str(other.shape), ", expected the index shape ", shape_str(index.shape));
}

// index_select / index_add: 1-D index, `other` (select's out, add's src) is self with
// shape[dim] = len(index).
void check_select_shapes(const TensorImpl& self, int64_t dim, const TensorImpl& index,
                         const TensorImpl& other, const char* op, const char* self_name,
                         const char* other_name) {
  check_dtype(index, DType::Int64, op, "index");
  check_same_dtype(self, other, op);
  check_dim_normalized(dim, self.ndim(), op);
  EMBER_CHECK(index.ndim() == 1, ValueError, op, ": index must be 1-D, got shape ",
              shape_str(index.shape));
  Shape want = self.shape;
  if (!want.empty())
    want[dim] = index.shape[0];
  else
    EMBER_CHECK(index.shape[0] == 1, ValueError, op, ": index of shape ", shape_str(index.shape),
                " for a 0-d ", self_name, " must have one element");
  EMBER_CHECK(other.shape == want, ValueError, op, ": ", other_name, " has shape ",
              shape_str(other.shape), ", expected ", shape_str(want), " for ", self_name,
              " of shape ", shape_str(self.shape), " and ", index.shape[0], " indices");
}

void check_index_output(const TensorImpl& out, const TensorImpl& in, const TensorImpl& index,
                        const char* op, const char* oname, const char* iname) {
  check_writable(out, op, oname);
  check_no_overlap(out, in, op, oname, iname);
  check_no_overlap(out, index, op, oname, "index");
}

}  // namespace ember
