// Fused layer norm and RMS norm over the last n values of a contiguous tensor viewed as
// (rows, n), forward and backward.
//
// Forward: one pass per row computes the statistics (float32 or float64 accumulation; the
// mean is taken around a pivot, the first value of the row, so rows with a large mean keep
// their accuracy), writes y and saves the per-row mean and rstd = 1 / sqrt(var + eps)
// (RMS norm: rstd = 1 / sqrt(mean(x^2) + eps), no mean).
// Backward: one kernel per row writes dx; dweight / dbias are summed over fixed chunks of
// rows into per-chunk partials (the chunk count depends on the shape only), then the
// partials are added in chunk order, so 1 and N threads give the same bits.
//
// float32 runs through per-ISA row kernels (norm_kernels.cpp, one table per ISA); float64 is
// plain C++ in the driver (norm.cpp); bfloat16 rows are widened to float32 scratch rows and
// use the float32 kernels (weight, bias and the statistics are float32 then).
// Arguments are validated by the bindings; the kernels trust them.
#pragma once
#include <cstdint>

#include "core/isa.h"
#include "core/tensor_impl.h"

namespace ember::cpu {

// x, y: (rows, n) of one dtype (float32, float64, bfloat16); weight / bias: n values of
// x's dtype (or float32 for bfloat16 x) or null, their gradients likewise; mean (layer norm
// only) / rstd: rows values, float64 for float64 x, else float32.
void layer_norm_forward(const TensorImpl& x, const TensorImpl* weight, const TensorImpl* bias,
                        const TensorImpl& y, const TensorImpl& mean, const TensorImpl& rstd,
                        int64_t rows, int64_t n, double eps);
void rms_norm_forward(const TensorImpl& x, const TensorImpl* weight, const TensorImpl& y,
                      const TensorImpl& rstd, int64_t rows, int64_t n, double eps);
// grad_in / grad_weight / grad_bias may each be null (not needed). mean is null for RMS norm.
void norm_backward(const TensorImpl& grad_out, const TensorImpl& x, const TensorImpl* weight,
                   const TensorImpl* mean, const TensorImpl& rstd, const TensorImpl* grad_in,
                   const TensorImpl* grad_weight, const TensorImpl* grad_bias, int64_t rows,
                   int64_t n);

// ---- per-ISA float32 row kernels
// One row of n >= 1 values; w / b null = 1 / 0. mean_out is not written for RMS norm.
// stream: write y with non-temporal stores (for outputs far larger than the caches).
using NormForwardRowF = void (*)(const float* x, const float* w, const float* b, float* y,
                                 int64_t n, float eps, float* mean_out, float* rstd_out,
                                 bool stream);
// dx (may be null) from g and x; dw_acc / db_acc (each may be null) += g * xhat / g.
using NormBackwardRowF = void (*)(const float* x, const float* g, const float* w, float mean,
                                  float rstd, float* dx, float* dw_acc, float* db_acc, int64_t n);

struct NormTable {
  NormForwardRowF forward[2];  // [rms]
  NormBackwardRowF backward[2];
};

const NormTable& norm_table();

}  // namespace ember::cpu

EMBER_ISA_TABLES(cpu::NormTable, norm_table)
