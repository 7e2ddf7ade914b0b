// ember._C_cuda gather / scatter_add / index_select / index_add: the CPU bindings' names,
// signatures and checks (core/index_checks.h), on CUDA tensors of one device.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "core/index_checks.h"
#include "cuda/index/index.h"
#include "cuda/index/index_walk.h"
#include "cuda/ops.h"
#include "cuda/runtime.h"

namespace py = pybind11;

namespace ember::cuda {
namespace {

using TensorRef = const TensorImpl&;

// Devices and layout first (as the CPU binding), then the shared checks, then whether the
// device exists (so tests without a GPU reach every check with host memory labelled cuda).
int check_args(TensorRef self, TensorRef index, TensorRef other, const char* op,
               const char* self_name, const char* other_name) {
  const int device =
      common_device(op, {{self_name, &self}, {"index", &index}, {other_name, &other}});
  for (auto [t, name] : {std::pair{&self, self_name}, {&index, "index"}, {&other, other_name}})
    check_contiguous(*t, op, name);
  return device;
}

}  // namespace

void bind_index(py::module_& m) {
  m.def(
      "gather",
      [](TensorRef x, int64_t dim, TensorRef index, TensorRef out) {
        const char* op = "ember.gather";
        const int device = check_args(x, index, out, op, "input", "out");
        check_gather_shapes(x, dim, index, out, op, "input", "out");
        check_index_output(out, x, index, op, "out", "input");
        require_device(device, op);
        py::gil_scoped_release nogil;
        cuda::gather(x, dim, index, out);
      },
      py::arg("x"), py::arg("dim"), py::arg("index"), py::arg("out"));
  m.def(
      "scatter_add",
      [](TensorRef out, int64_t dim, TensorRef index, TensorRef src) {
        const char* op = "ember.scatter_add";
        const int device = check_args(out, index, src, op, "out", "src");
        check_gather_shapes(out, dim, index, src, op, "out", "src");
        check_index_add_dtype(out, op);
        check_index_output(out, src, index, op, "out", "src");
        require_device(device, op);
        py::gil_scoped_release nogil;
        cuda::scatter_add(out, dim, index, src);
      },
      py::arg("out"), py::arg("dim"), py::arg("index"), py::arg("src"));
  m.def(
      "index_select",
      [](TensorRef x, int64_t dim, TensorRef index, TensorRef out) {
        const char* op = "ember.index_select";
        const int device = check_args(x, index, out, op, "input", "out");
        check_select_shapes(x, dim, index, out, op, "input", "out");
        check_index_output(out, x, index, op, "out", "input");
        require_device(device, op);
        py::gil_scoped_release nogil;
        cuda::index_select(x, dim, index, out);
      },
      py::arg("x"), py::arg("dim"), py::arg("index"), py::arg("out"));
  m.def(
      "index_add",
      [](TensorRef out, int64_t dim, TensorRef index, TensorRef src) {
        const char* op = "ember.index_add";
        const int device = check_args(out, index, src, op, "out", "src");
        check_select_shapes(out, dim, index, src, op, "out", "src");
        check_index_add_dtype(out, op);
        check_index_output(out, src, index, op, "out", "src");
        require_device(device, op);
        py::gil_scoped_release nogil;
        cuda::index_add(out, dim, index, src);
      },
      py::arg("out"), py::arg("dim"), py::arg("index"), py::arg("src"));
  m.def(
      "_gather_offsets",
      [](const Shape& ishape, const Shape& tshape, int64_t dim, const std::vector<int64_t>& idx) {
        const IndexWalk w = make_index_walk(ishape, tshape, dim, "ember._gather_offsets");
        std::vector<int64_t> out(idx.size());
        for (size_t p = 0; p < idx.size(); ++p) out[p] = w.target(static_cast<int64_t>(p), idx[p]);
        return out;
      },
      py::arg("ishape"), py::arg("tshape"), py::arg("dim"), py::arg("index"),
      "Test hook: the target offset of every position of a gather/scatter walk (host code "
      "the kernels share).");
}

}  // namespace ember::cuda
