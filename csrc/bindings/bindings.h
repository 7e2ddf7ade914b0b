// Declarations shared by the binding translation units of ember._C.
#pragma once
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "core/tensor_impl.h"

namespace ember::bindings {

namespace py = pybind11;
using TensorRef = const TensorImpl&;

void bind_core(py::module_& m);
void bind_dlpack(py::module_& m, py::class_<TensorImpl, std::shared_ptr<TensorImpl>>& cls);
void bind_elementwise(py::module_& m);
void bind_reduce(py::module_& m);
void bind_gemm(py::module_& m);
void bind_index(py::module_& m);
void bind_optim(py::module_& m);
void bind_conv(py::module_& m);
void bind_pool(py::module_& m);
void bind_batchnorm(py::module_& m);
void bind_norm(py::module_& m);
void bind_cross_entropy(py::module_& m);
void bind_rnn(py::module_& m);
void bind_attention(py::module_& m);
void bind_qblock(py::module_& m);
void bind_qgemm(py::module_& m);
void bind_qconv(py::module_& m);
void bind_sparse24(py::module_& m);

}  // namespace ember::bindings
