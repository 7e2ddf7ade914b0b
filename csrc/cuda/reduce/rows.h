// Host entry points of the CUDA row families (reductions, arg-reductions, softmax, layer /
// RMS norm, softmax cross-entropy). The binding (csrc/cuda/bind_reduce.cpp) validates
// every argument, checks the device exists and makes it current; these trust their
// arguments and launch on the current stream. Same semantics as csrc/cpu's.
#pragma once
#include <cstdint>

#include "core/tensor_impl.h"

namespace ember::cuda::rows {

enum class ReduceKind : int { Sum, Mean, Prod, Max, Min };

// out[o, k] = op over j of x[o, j, k]; x float32/float64/int32/int64 (bool: max/min).
void reduce(ReduceKind op, const TensorImpl& x, const TensorImpl& out, int64_t outer, int64_t r,
            int64_t inner);
// The first extreme of x[o, :, k] and its index (NaN wins); r > 0.
void reduce_arg(bool is_max, const TensorImpl& x, const TensorImpl& values,
                const TensorImpl& indices, int64_t outer, int64_t r, int64_t inner);

// Softmax / log_softmax over the last dimension, and the backward from the output y.
void softmax(const TensorImpl& x, const TensorImpl& out, bool log);
void softmax_backward(const TensorImpl& y, const TensorImpl& grad_out, const TensorImpl& grad_in,
                      bool log);

// Layer norm (mean given) or RMS norm (mean null) over rows of n values.
void norm_forward(const TensorImpl& x, const TensorImpl* weight, const TensorImpl* bias,
                  const TensorImpl& y, const TensorImpl* mean, const TensorImpl& rstd, int64_t rows,
                  int64_t n, double eps);
void norm_backward(const TensorImpl& grad_out, const TensorImpl& x, const TensorImpl* weight,
                   const TensorImpl* mean, const TensorImpl& rstd, const TensorImpl* grad_in,
                   const TensorImpl* grad_weight, const TensorImpl* grad_bias, int64_t rows,
                   int64_t n);

struct CeTotals {
  int64_t count;  // targets that are not ignore_index
  double total;   // the sum of the losses (float64, fixed order)
};
// Writes losses and dlogits and returns their totals, waiting for the device once. A
// target outside [0, classes) that is not ignore_index raises IndexError (the CPU's
// message, naming the first one); its row is computed as ignored, so nothing outside the
// logits is read, and the caller discards losses and dlogits.
CeTotals cross_entropy_forward(const TensorImpl& logits, const TensorImpl& target,
                               const TensorImpl& losses, const TensorImpl& dlogits,
                               int64_t ignore_index, double label_smoothing, const char* op);
void cross_entropy_backward(const TensorImpl& dlogits, const TensorImpl& grad,
                            const TensorImpl& grad_in, double scale);

}  // namespace ember::cuda::rows
