// The int8 GEMM argument checks the CPU and CUDA bindings share (compiled into both
// extensions), with the device type every tensor must be on given: both raise the same
// ValueError / TypeError for the same arguments. Each device has its own packed layout, so
// the packed weight's size comes from the caller's packed_bytes(n, k).
#pragma once
#include <cstdint>
#include <utility>

#include "core/tensor_impl.h"

namespace ember::bindings {

constexpr const char* kQgemmPack = "ember.ops.qgemm.pack_int8_weight";
constexpr const char* kQgemmLinear = "ember.ops.qgemm.int8_linear";
constexpr const char* kQgemmMatmul = "ember.ops.qgemm.int8_matmul";
constexpr const char* kQgemmQuant = "ember.ops.qgemm.quantize_rows_u8";
constexpr const char* kQgemmStatic = "ember.ops.qgemm.quantize_u8_static";

// int32 accumulators are exact up to this depth (the zero-point fold: 255 * 128 * K < 2^31).
constexpr int64_t kQgemmMaxK = 65536;

using QgemmPackedBytes = int64_t (*)(int64_t n, int64_t k);

// weight (N, K) int8 -> packed (packed_bytes(N, K),) int8 and colsum (N,) int32; returns
// (N, K).
std::pair<int64_t, int64_t> check_qgemm_pack(DeviceType dev, const TensorImpl& w,
                                             const TensorImpl& packed, const TensorImpl& colsum,
                                             QgemmPackedBytes packed_bytes);

struct QgemmDims {
  int64_t m, k, lda;  // input rows, depth, input row stride (K for a single row)
};

// input (M, K) int8 holding u8 bits (rows contiguous, row stride >= K) against the packed
// (n, K) weight; out (M, n) contiguous of dtype out_dt.
QgemmDims check_qgemm_product(DeviceType dev, const TensorImpl& x, const TensorImpl& packed,
                              int64_t n, const TensorImpl& out, DType out_dt, const char* op,
                              QgemmPackedBytes packed_bytes);

// int8_linear's epilogue operands for an (m, n) product (after check_qgemm_product): the
// per-row and per-channel vectors and the activation code. The zero points' values are the
// caller's to check (they live on its device): qgemm_bad_zero throws the message.
void check_qgemm_epilogue(DeviceType dev, int64_t m, int64_t n, const TensorImpl& a_scale,
                          const TensorImpl& a_zero, const TensorImpl& colsum,
                          const TensorImpl& w_scale, const TensorImpl* bias, int act,
                          const TensorImpl& out);
[[noreturn]] void qgemm_bad_zero(int64_t row, int64_t zero);

// quantize_rows_u8: input (M, K) float32 -> q (M, K) int8, scale (M,) float32, zero (M,)
// int32; returns (M, K).
std::pair<int64_t, int64_t> check_qgemm_quantize(DeviceType dev, const TensorImpl& x,
                                                 const TensorImpl& q, const TensorImpl& scale,
                                                 const TensorImpl& zero);

// quantize_u8_static: input float32 -> q int8 of its shape; returns the float32 scale.
float check_qgemm_static(DeviceType dev, const TensorImpl& x, double scale, int64_t zero,
                         const TensorImpl& q);

}  // namespace ember::bindings
