// Host entry points of the CUDA int8 GEMM (called by bind_qgemm.cpp with the GIL released,
// arguments already checked by bindings/qgemm_checks.h). Every kernel runs on the device's
// current stream; m == 0 launches nothing.
#pragma once
#include <cstdint>

namespace ember::cuda::qgemm {

// a (m, k) u8, rows of stride lda, against the packed (n, k) weight b (plan.h).
struct Operands {
  const uint8_t* a;
  int64_t m, k, lda;
  const int8_t* b;
  int64_t n;
};

// int8_linear's per-row / per-channel operands (device pointers; bias may be null); act 0
// none, 1 relu, 2 erf-gelu.
struct Epilogue {
  const float* a_scale;
  const int32_t* a_zero;
  const float* w_scale;
  const int32_t* colsum;
  const float* bias;
  int act;
};

// out (m, n) int32 = a @ w^T, exactly.
void product_s32(const Operands& p, int32_t* out, int device);
// out (m, n) float32 = the epilogue (math.cuh) of a @ w^T.
void product_f32(const Operands& p, const Epilogue& e, float* out, int device);

// packed (packed_bytes(n, k)) and colsum (n) from the (n, k) int8 weight w.
void pack(const int8_t* w, int64_t n, int64_t k, int8_t* packed, int32_t* colsum, int device);

// ValueError (bindings/qgemm_checks.h) naming the first zero point outside [0, 255]; waits
// for the device.
void check_zero_points(const int32_t* zero, int64_t m, int device);

// quantize_rows_u8 / quantize_u8_static (csrc/cpu/qgemm/qgemm.h) on the device.
void quantize_rows(const float* x, int64_t m, int64_t k, uint8_t* q, float* scale, int32_t* zero,
                   int device);
void quantize_static(const float* x, int64_t n, float scale, int32_t zero, uint8_t* q, int device);

}  // namespace ember::cuda::qgemm
