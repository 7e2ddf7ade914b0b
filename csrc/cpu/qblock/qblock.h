// Block quantization in the ggml layouts, for memory-bound inference (weight-only GEMV/GEMM).
// A row of K floats (K a multiple of 32) is cut into K / 32 blocks of 32 values, stored one
// after the other, byte for byte as ggml stores them (little-endian):
//   Q8_0 (34 bytes): fp16 scale d, then 32 int8 q;            x = d * q
//   Q4_0 (18 bytes): fp16 scale d, then 16 bytes; byte j holds value j in its low nibble and
//                    value j + 16 in its high nibble, each stored as q + 8 in [0, 15]; x = d * (q -
//                    8)
// Quantizers are ggml's reference ones: Q8_0 d = amax / 127, q = roundf(x / d); Q4_0
// d = (the value of largest magnitude, with its sign) / -8, q = min(15, trunc(x / d + 8.5)).
//
// qblock_linear: y (M, N) = x (M, K) . W^T (+ bias) with W (N, K) in blocks. Like ggml, x is
// first quantized to Q8_0 per block (the same quantizer), then each output is a sum over
// blocks of d_w * d_x * (integer dot product of the block's 32 values). Work split: pieces of
// rows of W; every output is computed whole by one thread in a fixed order, so results do
// not depend on the thread count (they may differ across ISAs by float rounding of the sum).
//
// Arguments are validated by the bindings (csrc/bindings/bind_qblock.cpp); kernels trust them.
#pragma once
#include <cstdint>

#include "core/isa.h"

namespace ember::cpu {

constexpr int64_t kQBlock = 32;     // values per block
constexpr int64_t kQ8_0Bytes = 34;  // 2 + 32
constexpr int64_t kQ4_0Bytes = 18;  // 2 + 16
enum class QScheme : int { Q8_0 = 0, Q4_0 = 1 };
int64_t qblock_bytes(QScheme s);  // bytes per block

// rows x k floats -> rows x (k / 32) blocks; and back.
void quantize_rows(QScheme s, const float* x, int64_t rows, int64_t k, uint8_t* out);
void dequantize_rows(QScheme s, const uint8_t* blocks, int64_t rows, int64_t k, float* out);

// y (m, n) = x (m, k) . W (n, k in blocks)^T + bias (n, may be null).
void qblock_linear(QScheme s, const float* x, const uint8_t* w, const float* bias, int64_t m,
                   int64_t n, int64_t k, float* y);

// qblock_linear's activations: one row of x quantized to Q8_0, unpacked for the kernels.
struct QActs {
  const int8_t* q;   // nb * 32 values
  const float* d;    // nb scales (the fp16 ones, widened)
  const int32_t* s;  // nb * 8: s[8 b + i] = 8 * (q[32 b + 4 i] + ... + q[32 b + 4 i + 3])
};

// Per-ISA dot products of a weight row's nb blocks with a row of activations:
// sum over blocks of d_w * d_x * sum_j q_w[j] * q_x[j]. The x86 Q4_0 kernel multiplies the
// stored nibbles (q + 8) and takes off x.s, the + 8's share, in int32.
struct QBlockTable {
  float (*dot_q8_0)(const uint8_t* w, const QActs& x, int64_t nb);
  float (*dot_q4_0)(const uint8_t* w, const QActs& x, int64_t nb);
};

}  // namespace ember::cpu

EMBER_ISA_TABLES(cpu::QBlockTable, qblock_table)
