// Reductions over the middle axis of a contiguous (outer, r, inner) view, arg-reductions,
// and softmax / log_softmax over the last dimension (forward and backward).
//
// float32 runs through per-ISA row kernels (reduce_kernels.cpp compiled once per ISA into
// a table of function pointers); float64, integers and bool are plain C++ in the drivers
// (reduce.cpp, softmax.cpp), which also own the threading. Work is cut into pieces whose
// boundaries depend only on the shapes: a long reduced axis is split into fixed blocks whose
// partial results are combined in block order, so 1 and N threads give the same bits.
// Arguments are validated by the bindings; the kernels trust them.
#pragma once
#include <cstdint>
#include <string>

#include "core/isa.h"
#include "core/tensor_impl.h"

namespace ember::cpu {

enum class ReduceOp : int { Sum, Mean, Prod, Max, Min };

// Name ("sum", "mean", "prod", "max", "min") -> op; false for unknown names.
bool parse_reduce_op(const std::string& name, ReduceOp* op);
// float32/float64: all; int32/int64: sum, prod, max, min; bool: max (any), min (all).
bool reduce_supports(ReduceOp op, DType t);

// out[o, k] = op over j of x[o, j, k]. r == 0: sum 0, prod 1, mean NaN (max/min are
// rejected by the binding). NaN propagates through max and min.
void reduce(ReduceOp op, const TensorImpl& x, const TensorImpl& out, int64_t outer, int64_t r,
            int64_t inner);
// values/indices[o, k] = the first extreme of x[o, :, k] (NaN counts as the extreme, the
// first NaN wins). r > 0. float32, float64, int32, int64; indices int64.
void reduce_arg(bool is_max, const TensorImpl& x, const TensorImpl& values,
                const TensorImpl& indices, int64_t outer, int64_t r, int64_t inner);

// Softmax (or log_softmax) over the last dimension; float32 / float64, contiguous.
void softmax(const TensorImpl& x, const TensorImpl& out, bool log);
// grad_in from the forward output y: softmax y * (g - sum(g * y)); log_softmax
// g - exp(y) * sum(g).
void softmax_backward(const TensorImpl& y, const TensorImpl& grad_out, const TensorImpl& grad_in,
                      bool log);

// ---- per-ISA float32 kernels
// Ops the row kernels implement (mean is a sum the driver divides).
enum class KernelOp : int { Sum, Prod, Max, Min };
constexpr int kNumKernelOps = 4;
// Reduce a contiguous row of n > 0 values.
using RowReduceF = float (*)(const float* x, int64_t n);
// out[c] = op over r < rows of x[r * stride + c], c < ncols; rows > 0.
using ColReduceF = void (*)(const float* x, int64_t rows, int64_t stride, int64_t ncols,
                            float* out);
// One row of n > 0 values.
using SoftmaxRowF = void (*)(const float* x, float* y, int64_t n);
using SoftmaxBackwardRowF = void (*)(const float* y, const float* grad_out, float* grad_in,
                                     int64_t n);

struct ReduceTable {
  RowReduceF row[kNumKernelOps];
  ColReduceF cols[kNumKernelOps];
  SoftmaxRowF softmax[2];  // [log]
  SoftmaxBackwardRowF softmax_backward[2];
};

// The table for the current ISA (ember::current_isa()).
const ReduceTable& reduce_table();

}  // namespace ember::cpu

EMBER_ISA_TABLES(cpu::ReduceTable, reduce_table)
