// Int8 GEMM: u8 activations x s8 weights -> exact s32 accumulators, with a fused fp32
// epilogue for asymmetric (zero-point) activations and per-channel weight scales:
//
//   acc[i, j] = sum_k a[i, k] * w[j, k]                    (a: u8 (M, K), w: s8 (N, K))
//   out[i, j] = act(a_scale[i] * w_scale[j] * (acc[i, j] - a_zero[i] * colsum[j]) + bias[j])
//
// where colsum[j] = sum_k w[j, k] is computed once when packing. The zero-point term is
// folded in with wrapping int32 arithmetic: the true value sum_k (a - zero) * w is bounded by
// 255 * 128 * K, so it is exact for K <= kQgemmMaxK and zero in [0, 255].
//
// Packed weights: N is cut into panels of kQgemmNR = 16 output channels, K is padded with
// zeros to a multiple of 4; panel p holds, for each group g of 4 k, the 4 weights of each of
// its 16 channels: byte [p][g][j][t] = w[16p + j, 4g + t] (zero past N or K). This is the
// operand layout of vpdpbusd (one 32-bit A word broadcast against 16 channels), and the
// AVX2 / generic kernels read the same layout, so one packing serves every ISA; it is also
// the AMX B-tile layout (qgemm_amx.h).
//
// Work split: the driver cuts M into blocks of kQgemmMC rows and N into blocks of panels;
// each (M block, N block) is one task of the OpenMP team. Every output element is computed
// whole by one task with a fixed summation order, so results do not depend on the thread
// count (integer sums are exact anyway).
//
// Arguments are validated by the binding (shapes, dtypes, contiguity, K, zero range); the
// kernels trust them.
#pragma once
#include <cstdint>

#include "core/isa.h"
#include "core/quant_code.h"

namespace ember::cpu {

constexpr int64_t kQgemmNR = 16;       // channels per packed panel
constexpr int64_t kQgemmMaxK = 65536;  // int32 accumulators are exact up to this depth

enum class QgemmAct : int { None = 0, Relu = 1, Gelu = 2 };

inline int64_t qgemm_k4(int64_t k) { return (k + 3) / 4 * 4; }
inline int64_t qgemm_packed_bytes(int64_t n, int64_t k) {
  return (n + kQgemmNR - 1) / kQgemmNR * kQgemmNR * qgemm_k4(k);
}

// Packs w (N, K) row-major into `packed` (qgemm_packed_bytes(N, K) bytes) and writes colsum (N).
void qgemm_pack(const int8_t* w, int64_t n, int64_t k, int8_t* packed, int32_t* colsum);

// Which kernels run a product: Auto is the AMX tiles where qgemm_amx_available() and
// enabled (the current ISA being avx512), else the current ISA's micro-kernel; TileModel runs
// the AMX tile loop on the software tile model (tests: it checks the AMX layout anywhere).
enum class QgemmPath : int { Auto = 0, TileModel = 1 };

// acc (M, N) row-major = a (M, K, row stride lda) @ packed^T.
void qgemm_s32(const uint8_t* a, int64_t m, int64_t k, int64_t lda, const int8_t* packed, int64_t n,
               int32_t* acc, QgemmPath path = QgemmPath::Auto);

struct QgemmEpilogue {
  const float* a_scale;   // (M)
  const int32_t* a_zero;  // (M), each in [0, 255]
  const float* w_scale;   // (N)
  const int32_t* colsum;  // (N)
  const float* bias;      // (N) or null
  QgemmAct act;
};
// out (M, N) row-major fp32 = the epilogue applied to a @ packed^T.
void qgemm_f32(const uint8_t* a, int64_t m, int64_t k, int64_t lda, const int8_t* packed, int64_t n,
               const QgemmEpilogue& e, float* out, QgemmPath path = QgemmPath::Auto);

// Dynamic asymmetric per-row quantization of x (M, K) fp32: the range [min(0, min x),
// max(0, max x)] maps onto [0, 255]; scale = range / 255 (1 for an all-zero row),
// zero = clamp(round(-lo / scale), 0, 255), q = clamp(round(x / scale) + zero, 0, 255),
// rounding half to even. Rows are independent (threaded over M).
void quantize_rows_u8(const float* x, int64_t m, int64_t k, uint8_t* q, float* scale,
                      int32_t* zero);

// Static per-tensor quantization of x (n values) fp32 with calibrated qparams:
// q = clamp(round(x / scale) + zero, 0, 255), rounding half to even (scale > 0, zero in
// [0, 255], checked by the binding).
void quantize_u8_static(const float* x, int64_t n, float scale, int32_t zero, uint8_t* q);

// One code of quantize_u8_static (core/quant_code.h), shared with the fused quantize + im2col
// of csrc/cpu/qconv and the CUDA kernels so all produce the same bits.
using ember::quantize_u8_code;

// q[0..n) = the codes of x[0..n) (by-value qparams: a uint8_t store may alias anything).
inline void quantize_u8_span(const float* __restrict x, int64_t n, float scale, float z,
                             uint8_t* __restrict q) {
  for (int64_t i = 0; i < n; ++i) q[i] = quantize_u8_code(x[i], scale, z);
}

// Whether the current ISA's micro-kernel uses vpdpbusd (avx512 on a CPU with AVX512_VNNI).
bool qgemm_vnni();
// Whether an Auto product runs on AMX tiles now (current ISA avx512, AMX available, enabled).
bool qgemm_uses_amx();
// The kernels an Auto product runs now: "amx", "vnni", "avx2" or "generic".
const char* qgemm_path_name();

// ---- per-ISA kernels (internal)

// Micro-kernel: tile (kQgemmMR x 32, row stride 32) = rows a[0..mr) (row stride lda, depth k)
// against panels b0 and, when b1 is not null, b1 (each k4 * 16 bytes). Rows >= mr of the tile
// are unspecified.
using QgemmMicroFn = void (*)(const uint8_t* a, int64_t lda, int64_t mr, int64_t k,
                              const int8_t* b0, const int8_t* b1, int32_t* tile);
// Epilogue of one tile row: out[0..n) (n <= 32) from acc[0..n) and the row's scale and zero;
// w_scale, colsum and bias start at the tile's first column.
using QgemmEpiRowFn = void (*)(const int32_t* acc, int64_t n, float a_scale, int32_t a_zero,
                               const float* w_scale, const int32_t* colsum, const float* bias,
                               QgemmAct act, float* out);

// One row of quantize_rows_u8: q[0..k), *scale, *zero.
using QgemmQuantRowFn = void (*)(const float* x, int64_t k, uint8_t* q, float* scale,
                                 int32_t* zero);

constexpr int64_t kQgemmMR = 6;  // rows per micro-tile, every ISA

struct QgemmTable {
  QgemmMicroFn micro;
  QgemmEpiRowFn epi_row;
  QgemmQuantRowFn quant_row;
  bool vnni;  // micro uses vpdpbusd
};

}  // namespace ember::cpu

EMBER_ISA_TABLES(ember::cpu::QgemmTable, qgemm_table)
