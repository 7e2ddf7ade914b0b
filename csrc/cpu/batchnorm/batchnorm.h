// Batch normalization over x viewed as (n, c, s) (s = spatial size, 1 for (n, c)), forward
// and backward, float32 and float64, contiguous. A channel is one work item summed in a
// fixed order, so results do not depend on the thread count. The float32 row kernels are
// per ISA (batchnorm_kernels.cpp); conv's bias gradient uses row_sum too.
//
// Arguments are validated by the bindings (csrc/bindings/bind_batchnorm.cpp); kernels trust
// them.
#pragma once
#include <cstdint>

#include "core/isa.h"

namespace ember::cpu {

struct BatchNormArgs {
  int64_t n, c, s;
  double eps;
  double momentum;  // running = (1 - momentum) running + momentum batch (unbiased var)
};
// training: mean / biased var over (n, s) per channel -> save_mean, save_invstd; running
// stats (if non-null) updated. eval: running stats normalize (save_* get them too, as
// mean and 1 / sqrt(var + eps)). weight / bias may be null (1 / 0).
template <typename T>
void batch_norm_forward(const BatchNormArgs& a, bool training, const T* x, const T* weight,
                        const T* bias, T* running_mean, T* running_var, T* y, T* save_mean,
                        T* save_invstd);
// Any of gx, gw, gb may be null (not needed). training: through the batch statistics.
template <typename T>
void batch_norm_backward(const BatchNormArgs& a, bool training, const T* gy, const T* x,
                         const T* weight, const T* save_mean, const T* save_invstd, T* gx, T* gw,
                         T* gb);

// Per-ISA float32 row kernels over contiguous rows of n floats.
struct BatchNormTable {
  // Row sums in a fixed order.
  float (*row_sum)(const float* x, int64_t n);
  float (*row_sqdev)(const float* x, int64_t n, float mean);  // sum (x - mean)^2
  // sum dy and sum dy * (x - mean)
  void (*row_dot2)(const float* x, const float* dy, int64_t n, float mean, float* sdy, float* sdyx);
  // y = a * x + b
  void (*row_affine)(const float* x, float* y, int64_t n, float a, float b);
  // dx = a * dy + b * x + c
  void (*row_bn_backward)(const float* x, const float* dy, float* dx, int64_t n, float a, float b,
                          float c);
};

// The table for the current ISA (ember::current_isa()).
const BatchNormTable& batchnorm_table();

}  // namespace ember::cpu

EMBER_ISA_TABLES(cpu::BatchNormTable, batchnorm_table)
