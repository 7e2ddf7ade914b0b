// The GEMM epilogue of every CUDA path, per element: out = act(alpha * acc + beta * old
// + bias), in the CPU GEMM's order (alpha first, beta through one fma, then bias, then the
// activation with the elementwise kernels' formulas, so a fused activation matches the
// separate op). __host__ __device__: the CPU tests check it against numpy.
#pragma once
#include "cuda/gemm/gemm.h"
#include "cuda/math.cuh"

namespace ember::cuda::gemm {

EMBER_HD float m_fma(float a, float b, float c) { return fmaf(a, b, c); }
EMBER_HD double m_fma(double a, double b, double c) { return fma(a, b, c); }

template <typename Acc>
EMBER_HD Acc activate(Acc x, Act act) {
  switch (act) {
    case Act::Relu:
      return unary_value<UOp::Relu>(x, Acc(0), Acc(0));
    case Act::Gelu:
      return unary_value<UOp::Gelu>(x, Acc(0), Acc(0));
    case Act::GeluTanh:
      return unary_value<UOp::GeluTanh>(x, Acc(0), Acc(0));
    default:
      return x;
  }
}

// beta == 0 never reads old (it may be uninitialized memory); bias is used when has_bias.
template <typename Acc>
EMBER_HD Acc epilogue_value(Acc acc, Acc old, Acc bias, bool has_bias, Acc alpha, Acc beta,
                            Act act) {
  Acc x = alpha * acc;
  if (beta != Acc(0)) x = m_fma(old, beta, x);
  if (has_bias) x = x + bias;
  return activate(x, act);
}

}  // namespace ember::cuda::gemm
