#include "core/gemm_checks.h"

#include "core/error.h"
#include "core/overlap.h"

namespace ember {
namespace {
constexpr const char* kMatmul = "ember.matmul";
}  // namespace

void check_gemm_shapes(const TensorImpl& a, const TensorImpl& b, const TensorImpl& out) {
  EMBER_CHECK(a.ndim() == 3 && b.ndim() == 3 && out.ndim() == 3, ValueError, kMatmul,
              ": expected 3-D (batch, rows, cols) tensors, got shapes ", shape_str(a.shape), ", ",
              shape_str(b.shape), " and out ", shape_str(out.shape));
  const int64_t B = a.shape[0], M = a.shape[1], K = a.shape[2], N = b.shape[2];
  EMBER_CHECK(K == b.shape[1], ValueError, kMatmul, ": shapes ", shape_str(Shape{M, K}), " and ",
              shape_str(Shape{b.shape[1], N}), " are not aligned (", K, " != ", b.shape[1], ")");
  EMBER_CHECK(b.shape[0] == B, ValueError, kMatmul, ": batch sizes differ: shapes ",
              shape_str(a.shape), " and ", shape_str(b.shape));
  EMBER_CHECK(out.shape == (Shape{B, M, N}), ValueError, kMatmul, ": out has shape ",
              shape_str(out.shape), ", expected ", shape_str(Shape{B, M, N}), " for shapes ",
              shape_str(a.shape), " and ", shape_str(b.shape));
}

void check_gemm_bias(const TensorImpl* bias, const TensorImpl& out) {
  if (!bias) return;
  const int64_t N = out.shape[2];
  EMBER_CHECK(bias->shape == (Shape{N}), ValueError, kMatmul, ": bias has shape ",
              shape_str(bias->shape), ", expected ", shape_str(Shape{N}));
  EMBER_CHECK(bias->dtype == out.dtype, TypeError, kMatmul, ": bias has dtype ",
              dtype_name(bias->dtype), ", expected ", dtype_name(out.dtype));
  EMBER_CHECK(N <= 1 || bias->strides[0] == 1, ValueError, kMatmul, ": bias of shape ",
              shape_str(bias->shape), " must be contiguous");
}

void check_matmul_dense(const TensorImpl& a, const TensorImpl& b, const TensorImpl& out) {
  EMBER_CHECK(a.dtype == DType::Float32 || a.dtype == DType::Float64, TypeError, kMatmul,
              ": expected float32 or float64, got ", dtype_name(a.dtype));
  check_same_dtype(a, b, kMatmul);
  check_same_dtype(a, out, kMatmul);
  check_contiguous(a, kMatmul, "a");
  check_contiguous(b, kMatmul, "b");
  check_contiguous(out, kMatmul, "out");
}

void check_gemm_output(const TensorImpl& out, const TensorImpl& a, const TensorImpl& b,
                       const TensorImpl* bias) {
  EMBER_CHECK(out.shape[2] <= 1 || out.numel() == 0 || out.strides[2] == 1, ValueError, kMatmul,
              ": out of shape ", shape_str(out.shape), " and strides ", shape_str(out.strides),
              " needs unit stride in its last dimension");
  check_writable(out, kMatmul, "out");
  check_no_overlap(out, a, kMatmul, "out", "a");
  check_no_overlap(out, b, kMatmul, "out", "b");
  if (bias) check_no_overlap(out, *bias, kMatmul, "out", "bias");
}

}  // namespace ember
