// Fused softmax cross-entropy over (N, C) logits with class-index targets.
//
// Forward: per row, one pass over the logits keeps an online (max, sum of exp) in blocks
// of the row, storing exp(x - running max) into dlogits on the way; a second pass over
// dlogits (still in cache) rescales it to softmax and subtracts the (smoothed) one-hot. So
// the forward reads the logits once and writes dlogits = d loss_i / d logits_i once; the
// backward only scales it by the incoming gradient.
//   loss_i = lse_i - (1 - eps) x_i[t_i] - eps / C * sum_j x_ij
//   dlogits_ij = softmax_ij - (1 - eps) [j == t_i] - eps / C
// Rows whose target is ignore_index get loss 0 and dlogits 0.
//
// float32 runs through per-ISA row kernels (cross_entropy_kernels.cpp); float64 is plain
// C++ in the driver; bfloat16 rows are widened into float32 scratch rows. Rows are
// independent, so any thread count gives the same bits.
#pragma once
#include <cstdint>

#include "core/isa.h"
#include "core/tensor_impl.h"

namespace ember::cpu {

// Checks every target (int64 or int32, N values) against [0, C) or ignore_index before
// anything is written; throws IndexError naming op and the first bad value. Returns the
// number of rows that are not ignored.
int64_t cross_entropy_check_targets(const TensorImpl& target, int64_t classes, int64_t ignore_index,
                                    const char* op);

// logits (N, C) float32 / float64 / bfloat16; dlogits like logits; losses (N,) float64
// for float64 logits, else float32. Targets must have been checked. Returns the sum of
// the per-row losses in a fixed order (float64 accumulation).
double cross_entropy_forward(const TensorImpl& logits, const TensorImpl& target,
                             const TensorImpl& losses, const TensorImpl& dlogits,
                             int64_t ignore_index, double label_smoothing);

// grad_in[i, :] = dlogits[i, :] * grad[i or 0] * scale; grad has 1 or N values
// (float64 for float64 dlogits, else float32).
void cross_entropy_backward(const TensorImpl& dlogits, const TensorImpl& grad,
                            const TensorImpl& grad_in, double scale);

// ---- per-ISA float32 row kernel: writes d (C values) and returns the row's loss.
// target in [0, C); smoothing in [0, 1].
using CrossEntropyRowF = float (*)(const float* x, float* d, int64_t C, int64_t target,
                                   float smoothing);
// out = d * s over n values.
using ScaleRowF = void (*)(const float* d, float s, float* out, int64_t n);

struct CrossEntropyTable {
  CrossEntropyRowF row;
  ScaleRowF scale;
};

const CrossEntropyTable& cross_entropy_table();

}  // namespace ember::cpu

EMBER_ISA_TABLES(cpu::CrossEntropyTable, cross_entropy_table)
