// Indexing: gather / scatter_add, index_select / index_add. Shapes, dtypes, dims and
// contiguity are checked here; index values are checked by the kernels before any write.
#include "bindings/bindings.h"
#include "bindings/checks.h"
#include "core/error.h"
#include "cpu/index/index.h"

namespace ember::bindings {
namespace {

// dim must already be normalized by the Python layer: 0 <= dim < max(ndim, 1).
void check_dim(int64_t dim, int64_t ndim, const char* op) {
  EMBER_CHECK(dim >= 0, ValueError, op, ": dim ", dim,
              " is negative; normalize it before calling the kernel");
  EMBER_CHECK(dim < (ndim > 0 ? ndim : 1), ValueError, op, ": dim ", dim,
              " is out of range for a tensor of ", ndim, " dimensions");
}

void check_add_dtype(TensorRef t, const char* op) {
  EMBER_CHECK(t.dtype == DType::Float32 || t.dtype == DType::Float64 || t.dtype == DType::Int32 ||
                  t.dtype == DType::Int64,
              TypeError, op, ": unsupported dtype ", dtype_name(t.dtype),
              " (expected float32, float64, int32 or int64)");
}

// gather / scatter_add: index has the rank of `self`, no larger than it outside dim, and
// `other` (gather's out, scatter_add's src) has index's shape.
void check_gather_like(TensorRef self, int64_t dim, TensorRef index, TensorRef other,
                       const char* op, const char* self_name, const char* other_name) {
  check_cpu_contiguous(self, op, self_name);
  check_cpu_contiguous(index, op, "index");
  check_cpu_contiguous(other, op, other_name);
  check_dtype(index, DType::Int64, op, "index");
  check_same_dtype(self, other, op);
  check_dim(dim, self.ndim(), op);
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
void check_select_like(TensorRef self, int64_t dim, TensorRef index, TensorRef other,
                       const char* op, const char* self_name, const char* other_name) {
  check_cpu_contiguous(self, op, self_name);
  check_cpu_contiguous(index, op, "index");
  check_cpu_contiguous(other, op, other_name);
  check_dtype(index, DType::Int64, op, "index");
  check_same_dtype(self, other, op);
  check_dim(dim, self.ndim(), op);
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

// The tensor an index op writes: writable, and apart from both tensors it reads.
void check_index_output(TensorRef out, TensorRef in, TensorRef index, const char* op,
                        const char* oname, const char* iname) {
  check_writable(out, op, oname);
  check_no_overlap(out, in, op, oname, iname);
  check_no_overlap(out, index, op, oname, "index");
}

}  // namespace

void bind_index(py::module_& m) {
  m.def(
      "gather",
      [](TensorRef x, int64_t dim, TensorRef index, TensorRef out) {
        check_gather_like(x, dim, index, out, "ember.gather", "input", "out");
        check_index_output(out, x, index, "ember.gather", "out", "input");
        py::gil_scoped_release nogil;
        cpu::gather(x, dim, index, out);
      },
      py::arg("x"), py::arg("dim"), py::arg("index"), py::arg("out"),
      "out[p] = x[p with p[dim] = index[p]] (torch.gather).");
  m.def(
      "scatter_add",
      [](TensorRef out, int64_t dim, TensorRef index, TensorRef src) {
        check_gather_like(out, dim, index, src, "ember.scatter_add", "out", "src");
        check_add_dtype(out, "ember.scatter_add");
        check_index_output(out, src, index, "ember.scatter_add", "out", "src");
        py::gil_scoped_release nogil;
        cpu::scatter_add(out, dim, index, src);
      },
      py::arg("out"), py::arg("dim"), py::arg("index"), py::arg("src"),
      "out[p with p[dim] = index[p]] += src[p] (the backward of gather), in place.");
  m.def(
      "index_select",
      [](TensorRef x, int64_t dim, TensorRef index, TensorRef out) {
        check_select_like(x, dim, index, out, "ember.index_select", "input", "out");
        check_index_output(out, x, index, "ember.index_select", "out", "input");
        py::gil_scoped_release nogil;
        cpu::index_select(x, dim, index, out);
      },
      py::arg("x"), py::arg("dim"), py::arg("index"), py::arg("out"),
      "out = x.index_select(dim, index) for a 1-D int64 index (embedding lookup at dim 0).");
  m.def(
      "index_add",
      [](TensorRef out, int64_t dim, TensorRef index, TensorRef src) {
        check_select_like(out, dim, index, src, "ember.index_add", "out", "src");
        check_add_dtype(out, "ember.index_add");
        check_index_output(out, src, index, "ember.index_add", "out", "src");
        py::gil_scoped_release nogil;
        cpu::index_add(out, dim, index, src);
      },
      py::arg("out"), py::arg("dim"), py::arg("index"), py::arg("src"),
      "out.index_select(dim, index) += src, duplicates accumulated in order (in place).");
}

}  // namespace ember::bindings
