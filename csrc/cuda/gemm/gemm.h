// The CUDA GEMM as a C++ entry other CUDA code calls (RNN steps, implicit-GEMM conv):
// out[b] = act(alpha * a[b] @ b[b] + beta * out[b] + bias) for strided batched operands.
// It trusts its arguments (the bindings check them); it launches on the current device's
// current stream (cuda/stream.h) and picks the path itself (see plan.h): tensor cores for
// bfloat16/float16 inputs, TF32 tensor cores for float32 when allowed, SIMT otherwise.
#pragma once
#include <cstdint>

#include "core/dtype.h"

namespace ember::cuda::gemm {

enum class Act : int { None, Relu, Gelu, GeluTanh };

// Element strides of a (batch, rows, cols) view; batch stride 0 broadcasts.
struct Operand {
  const void* data;
  int64_t batch_stride, row_stride, col_stride;
};

struct Problem {
  int64_t batch, m, n, k;
  DType in;   // dtype of a and b: Float32, Float64, BFloat16 or Float16
  DType out;  // of out and bias: in's dtype, or Float32 for BFloat16/Float16 inputs
  Operand a;  // (batch, m, k)
  Operand b;  // (batch, k, n)
  void* c;    // out (batch, m, n), unit column stride
  int64_t c_batch_stride, c_row_stride;
  const void* bias;  // (n,) contiguous, or null
  double alpha, beta;
  Act act;
  bool allow_tf32;  // float32 inputs may run on TF32 tensor cores
};

// Runs the product on `device` (made current for the call). Nothing to do when any of
// batch, m, n is 0; k == 0 gives act(beta * out + bias).
void run(const Problem& p, int device);

}  // namespace ember::cuda::gemm
