// Linear algebra: batched matmul.
#include "bindings/bindings.h"
#include "core/error.h"
#include "cpu/gemm/matmul_simple.h"

namespace ember::bindings {
namespace {

constexpr const char* kMatmul = "ember.matmul";

void matmul(TensorRef a, TensorRef b, TensorRef out) {
  check_device(a, DeviceType::CPU, kMatmul, "a");
  check_device(b, DeviceType::CPU, kMatmul, "b");
  check_device(out, DeviceType::CPU, kMatmul, "out");
  EMBER_CHECK(a.ndim() == 3 && b.ndim() == 3 && out.ndim() == 3, ValueError, kMatmul,
              ": expected 3-D (batch, rows, cols) tensors, got shapes ", shape_str(a.shape), ", ",
              shape_str(b.shape), " and out ", shape_str(out.shape));
  EMBER_CHECK(a.dtype == DType::Float32 || a.dtype == DType::Float64, TypeError, kMatmul,
              ": expected float32 or float64, got ", dtype_name(a.dtype));
  check_same_dtype(a, b, kMatmul);
  check_same_dtype(a, out, kMatmul);
  const int64_t B = a.shape[0], M = a.shape[1], K = a.shape[2], N = b.shape[2];
  if (a.shape[2] != b.shape[1]) {
    // Name the 2-D shapes when there is no batch, as numpy and PyTorch do.
    const bool plain = a.shape[0] == 1 && b.shape[0] == 1;
    throw ValueError(cat_str(kMatmul, ": shapes ", shape_str(plain ? Shape{M, K} : a.shape),
                             " and ", shape_str(plain ? Shape{b.shape[1], N} : b.shape),
                             " are not aligned (", K, " != ", b.shape[1], ")"));
  }
  EMBER_CHECK(b.shape[0] == B, ValueError, kMatmul, ": batch sizes differ: shapes ",
              shape_str(a.shape), " and ", shape_str(b.shape));
  EMBER_CHECK(out.shape == (Shape{B, M, N}), ValueError, kMatmul, ": out has shape ",
              shape_str(out.shape), ", expected ", shape_str(Shape{B, M, N}), " for shapes ",
              shape_str(a.shape), " and ", shape_str(b.shape));
  check_contiguous(a, kMatmul, "a");
  check_contiguous(b, kMatmul, "b");
  check_contiguous(out, kMatmul, "out");
  py::gil_scoped_release nogil;
  if (a.dtype == DType::Float32)
    cpu::matmul_simple(a.data_as<float>(), b.data_as<float>(), out.data_as<float>(), B, M, K, N);
  else
    cpu::matmul_simple(a.data_as<double>(), b.data_as<double>(), out.data_as<double>(), B, M, K, N);
}

}  // namespace

void bind_linalg(py::module_& m) {
  m.def("matmul", &matmul, py::arg("a"), py::arg("b"), py::arg("out"),
        "out = a @ b for contiguous (B, M, K) and (B, K, N) float32/float64 tensors.");
}

}  // namespace ember::bindings
