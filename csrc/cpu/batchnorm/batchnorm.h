// Batch normalization over x viewed as (n, c, s) (s = spatial size, 1 for (n, c)), forward
// and backward, float32 and float64, contiguous. A channel is one work item summed in a
// fixed order, so results do not depend on the thread count. The float32 row kernels are
// the per-ISA ones in cpu/conv's ConvTable.
//
// Arguments are validated by the bindings (csrc/bindings/bind_batchnorm.cpp); kernels trust
// them.
#pragma once
#include <cstdint>

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

}  // namespace ember::cpu
