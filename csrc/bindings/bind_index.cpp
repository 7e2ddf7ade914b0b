// Indexing: gather / scatter_add, index_select / index_add. Devices and contiguity are
// checked here, shapes, dtypes and dims by core/index_checks.h; index values by the kernels
// before any write.
#include "bindings/bindings.h"
#include "bindings/checks.h"
#include "core/error.h"
#include "core/index_checks.h"
#include "cpu/index/index.h"

namespace ember::bindings {
namespace {

// Device and layout first, then the checks shared with the CUDA bindings.
void check_cpu_args(TensorRef self, TensorRef index, TensorRef other, const char* op,
                    const char* self_name, const char* other_name) {
  check_cpu_contiguous(self, op, self_name);
  check_cpu_contiguous(index, op, "index");
  check_cpu_contiguous(other, op, other_name);
}

}  // namespace

void bind_index(py::module_& m) {
  m.def(
      "gather",
      [](TensorRef x, int64_t dim, TensorRef index, TensorRef out) {
        check_cpu_args(x, index, out, "ember.gather", "input", "out");
        check_gather_shapes(x, dim, index, out, "ember.gather", "input", "out");
        check_index_output(out, x, index, "ember.gather", "out", "input");
        py::gil_scoped_release nogil;
        cpu::gather(x, dim, index, out);
      },
      py::arg("x"), py::arg("dim"), py::arg("index"), py::arg("out"),
      "out[p] = x[p with p[dim] = index[p]] (torch.gather).");
  m.def(
      "scatter_add",
      [](TensorRef out, int64_t dim, TensorRef index, TensorRef src) {
        check_cpu_args(out, index, src, "ember.scatter_add", "out", "src");
        check_gather_shapes(out, dim, index, src, "ember.scatter_add", "out", "src");
        check_index_add_dtype(out, "ember.scatter_add");
        check_index_output(out, src, index, "ember.scatter_add", "out", "src");
        py::gil_scoped_release nogil;
        cpu::scatter_add(out, dim, index, src);
      },
      py::arg("out"), py::arg("dim"), py::arg("index"), py::arg("src"),
      "out[p with p[dim] = index[p]] += src[p] (the backward of gather), in place.");
  m.def(
      "index_select",
      [](TensorRef x, int64_t dim, TensorRef index, TensorRef out) {
        check_cpu_args(x, index, out, "ember.index_select", "input", "out");
        check_select_shapes(x, dim, index, out, "ember.index_select", "input", "out");
        check_index_output(out, x, index, "ember.index_select", "out", "input");
        py::gil_scoped_release nogil;
        cpu::index_select(x, dim, index, out);
      },
      py::arg("x"), py::arg("dim"), py::arg("index"), py::arg("out"),
      "out = x.index_select(dim, index) for a 1-D int64 index (embedding lookup at dim 0).");
  m.def(
      "index_add",
      [](TensorRef out, int64_t dim, TensorRef index, TensorRef src) {
        check_cpu_args(out, index, src, "ember.index_add", "out", "src");
        check_select_shapes(out, dim, index, src, "ember.index_add", "out", "src");
        check_index_add_dtype(out, "ember.index_add");
        check_index_output(out, src, index, "ember.index_add", "out", "src");
        py::gil_scoped_release nogil;
        cpu::index_add(out, dim, index, src);
      },
      py::arg("out"), py::arg("dim"), py::arg("index"), py::arg("src"),
      "out.index_select(dim, index) += src, duplicates accumulated in order (in place).");
}

}  // namespace ember::bindings
