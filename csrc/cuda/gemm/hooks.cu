// The epilogue of the kernels, callable on the host (see hooks.h).
#include "cuda/gemm/epilogue.cuh"
#include "cuda/gemm/hooks.h"

namespace ember::cuda::gemm {

float epilogue_host_f32(float acc, float old, float bias, bool has_bias, float alpha, float beta,
                        Act act) {
  return epilogue_value(acc, old, bias, has_bias, alpha, beta, act);
}

double epilogue_host_f64(double acc, double old, double bias, bool has_bias, double alpha,
                         double beta, Act act) {
  return epilogue_value(acc, old, bias, has_bias, alpha, beta, act);
}

}  // namespace ember::cuda::gemm
