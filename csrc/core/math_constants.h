// Constants of the activation functions, shared by the CPU kernels (every ISA, float32 and
// float64) and the CUDA kernels so that all of them compute the same function. Kernels
// narrow them with float(...), which rounds each to the nearest float.
#pragma once

namespace ember {

constexpr double kSqrt1_2 = 0.70710678118654752440;      // 1/sqrt(2)
constexpr double kInvSqrt2Pi = 0.39894228040143267794;   // 1/sqrt(2 pi)
constexpr double kSqrt2OverPi = 0.79788456080286535588;  // sqrt(2/pi)
constexpr double kGeluCoef = 0.044715;                   // gelu_tanh: tanh(sqrt(2/pi) (x + c x^3))

}  // namespace ember
