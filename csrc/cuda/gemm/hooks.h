// Host entries to the GEMM's per-element epilogue (compiled by nvcc with the kernels'
// own __host__ __device__ code), for the CPU tests.
#pragma once
#include "cuda/gemm/gemm.h"

namespace ember::cuda::gemm {

float epilogue_host_f32(float acc, float old, float bias, bool has_bias, float alpha, float beta,
                        Act act);
double epilogue_host_f64(double acc, double old, double bias, bool has_bias, double alpha,
                         double beta, Act act);

}  // namespace ember::cuda::gemm
