// Block quantization driver, ISA-neutral: the quantizers (scalar, so every ISA writes the same
// bytes as ggml's reference code), the activation quantization of qblock_linear and its
// split over rows of W; the block dot products are per ISA (qblock_kernels.cpp).
#include <cmath>
#include <cstring>

#include "core/half.h"
#include "core/parallel.h"
#include "cpu/driver_util.h"
#include "cpu/qblock/qblock.h"

namespace ember::cpu {
namespace {

void put_d(uint8_t* block, float d) {
  const uint16_t h = float_to_half(d);
  std::memcpy(block, &h, 2);
}

float get_d(const uint8_t* block) {
  uint16_t h;
  std::memcpy(&h, block, 2);
  return half_to_float(h);
}

// ggml's quantize_row_q8_0_reference for one block.
void quantize_block_q8_0(const float* x, uint8_t* out) {
  float amax = 0.0f;
  for (int64_t j = 0; j < kQBlock; ++j) amax = std::fmax(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  put_d(out, d);
  // The clamps change nothing for finite x and keep the casts defined for NaN / inf.
  for (int64_t j = 0; j < kQBlock; ++j) {
    const float q = std::fmin(std::fmax(std::roundf(x[j] * id), -127.0f), 127.0f);
    out[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(q));
  }
}

// ggml's quantize_row_q4_0_reference for one block: d carries the sign of the value of largest
// magnitude, so that value maps to q = -8 exactly and the range [-8, 7] is used in full.
void quantize_block_q4_0(const float* x, uint8_t* out) {
  float amax = 0.0f, max = 0.0f;
  for (int64_t j = 0; j < kQBlock; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  const float d = max / -8.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  put_d(out, d);
  // trunc(min(v, 15)) == min(trunc(v), 15) as in ggml; the clamps keep the cast defined.
  auto q = [id](float v) {
    return static_cast<int>(std::fmin(std::fmax(v * id + 8.5f, 0.0f), 15.0f));
  };
  for (int64_t j = 0; j < kQBlock / 2; ++j)
    out[2 + j] = static_cast<uint8_t>(q(x[j]) | q(x[j + kQBlock / 2]) << 4);
}

void dequantize_block(QScheme s, const uint8_t* b, float* out) {
  const float d = get_d(b);
  if (s == QScheme::Q8_0) {
    for (int64_t j = 0; j < kQBlock; ++j)
      out[j] = d * static_cast<float>(static_cast<int8_t>(b[2 + j]));
    return;
  }
  for (int64_t j = 0; j < kQBlock / 2; ++j) {
    out[j] = d * static_cast<float>((b[2 + j] & 0x0F) - 8);
    out[j + kQBlock / 2] = d * static_cast<float>((b[2 + j] >> 4) - 8);
  }
}

}  // namespace

int64_t qblock_bytes(QScheme s) { return s == QScheme::Q8_0 ? kQ8_0Bytes : kQ4_0Bytes; }

void quantize_rows(QScheme s, const float* x, int64_t rows, int64_t k, uint8_t* out) {
  const int64_t nb = rows * (k / kQBlock), bytes = qblock_bytes(s);
  parallel_chunks(nb, 256, kQBlock, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      if (s == QScheme::Q8_0)
        quantize_block_q8_0(x + b * kQBlock, out + b * bytes);
      else
        quantize_block_q4_0(x + b * kQBlock, out + b * bytes);
    }
  });
}

void dequantize_rows(QScheme s, const uint8_t* blocks, int64_t rows, int64_t k, float* out) {
  const int64_t nb = rows * (k / kQBlock), bytes = qblock_bytes(s);
  parallel_chunks(nb, 256, kQBlock, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) dequantize_block(s, blocks + b * bytes, out + b * kQBlock);
  });
}

void qblock_linear(QScheme s, const float* x, const uint8_t* w, const float* bias, int64_t m,
                   int64_t n, int64_t k, float* y) {
  const int64_t nb = k / kQBlock, row_bytes = nb * qblock_bytes(s);
  AlignedBuffer<uint8_t> xblocks(m * nb * kQ8_0Bytes);
  quantize_rows(QScheme::Q8_0, x, m, k, xblocks.get());
  // Unpacked activations (QActs), row after row: contiguous values, scales and offset sums.
  AlignedBuffer<int8_t> xq(m * k);
  AlignedBuffer<float> xd(m * nb);
  AlignedBuffer<int32_t> xs(m * nb * 8);
  for (int64_t b = 0; b < m * nb; ++b) {
    const uint8_t* blk = xblocks.get() + b * kQ8_0Bytes;
    xd.get()[b] = get_d(blk);
    std::memcpy(xq.get() + b * kQBlock, blk + 2, kQBlock);
    for (int64_t i = 0; i < 8; ++i) {
      int32_t sum = 0;
      for (int64_t t = 0; t < 4; ++t) sum += static_cast<int8_t>(blk[2 + 4 * i + t]);
      xs.get()[b * 8 + i] = 8 * sum;
    }
  }
  const QBlockTable& t = EMBER_ISA_TABLE(qblock_table);
  const auto dot = s == QScheme::Q8_0 ? t.dot_q8_0 : t.dot_q4_0;
  // 16 rows of W per piece: a few KiB of blocks each, reused across the m rows of x.
  parallel_chunks(n, 16, m * k, [&](int64_t j0, int64_t j1) {
    for (int64_t i = 0; i < m; ++i) {
      const QActs xi{xq.get() + i * k, xd.get() + i * nb, xs.get() + i * nb * 8};
      for (int64_t j = j0; j < j1; ++j)
        y[i * n + j] = dot(w + j * row_bytes, xi, nb) + (bias ? bias[j] : 0.0f);
    }
  });
}

}  // namespace ember::cpu
