// Argument checks of ember.matmul's GEMM binding shared by the CPU and CUDA bindings (each
// checks devices first, then these, so both raise the same errors for the same arguments).
#pragma once
#include "core/tensor_impl.h"

namespace ember {

// (B, M, K) a, (B, K, N) b and (B, M, N) out: ValueError naming the shapes otherwise.
void check_gemm_shapes(const TensorImpl& a, const TensorImpl& b, const TensorImpl& out);
// bias (N,) of out's dtype, contiguous (null: no bias).
void check_gemm_bias(const TensorImpl* bias, const TensorImpl& out);
// matmul's stricter form: float32 or float64, one dtype, all contiguous.
void check_matmul_dense(const TensorImpl& a, const TensorImpl& b, const TensorImpl& out);
// out: unit stride in its last dimension, writable, apart from a, b and bias.
void check_gemm_output(const TensorImpl& out, const TensorImpl& a, const TensorImpl& b,
                       const TensorImpl* bias);

}  // namespace ember
