// 2:4 sparsity driver, ISA-neutral: compression (scalar, so every ISA keeps the same values),
// the transposed packing of x into panels, the split of sparse24_linear into pieces and the
// bias epilogue; the inner products are per ISA (sparse24_kernels.cpp).
#include <cmath>

#include "core/parallel.h"
#include "cpu/driver_util.h"
#include "cpu/sparse24/sparse24.h"

namespace ember::cpu {
namespace {

constexpr int64_t kRowsPerPiece = 16;  // weight rows per piece (per-token kernel)
// Weight rows per piece of the panel kernel: a multiple of its 6 (AVX-512) or 2 rows a pass.
constexpr int64_t kPanelRows = 48;

// The columns (0..3) of the two values kept from one group: the two largest |w|, the lower
// column first on ties; a NaN counts as the largest, so it is kept and shows in the output.
void keep_two(const float* g, int8_t* kept) {
  float mag[4];
  for (int i = 0; i < 4; ++i) mag[i] = std::isnan(g[i]) ? INFINITY : std::fabs(g[i]);
  int a = 0;
  for (int i = 1; i < 4; ++i)
    if (mag[i] > mag[a]) a = i;
  int b = a == 0 ? 1 : 0;
  for (int i = 0; i < 4; ++i)
    if (i != a && mag[i] > mag[b]) b = i;
  kept[0] = static_cast<int8_t>(a < b ? a : b);
  kept[1] = static_cast<int8_t>(a < b ? b : a);
}

}  // namespace

void compress_2to4(const float* w, int64_t n, int64_t k, float* values, int8_t* positions) {
  const int64_t groups = n * (k / 4);
  parallel_chunks(groups, 1024, 8, [&](int64_t g0, int64_t g1) {
    for (int64_t g = g0; g < g1; ++g) {
      keep_two(w + 4 * g, positions + 2 * g);
      for (int t = 0; t < 2; ++t) values[2 * g + t] = w[4 * g + positions[2 * g + t]];
    }
  });
}

void decompress_2to4(const float* values, const int8_t* positions, int64_t n, int64_t k, float* w) {
  const int64_t groups = n * (k / 4);
  parallel_chunks(groups, 1024, 8, [&](int64_t g0, int64_t g1) {
    for (int64_t g = g0; g < g1; ++g) {
      for (int i = 0; i < 4; ++i) w[4 * g + i] = 0.0f;
      for (int t = 0; t < 2; ++t) w[4 * g + (positions[2 * g + t] & 3)] = values[2 * g + t];
    }
  });
}

int64_t sparse24_rows16_min() {
  return EMBER_ISA_TABLE(sparse24_table).rows16 ? kSparse24Rows16Min : -1;
}

void sparse24_pack_rows16(const float* values, const int8_t* positions, int64_t n, int64_t k,
                          float* wv, int32_t* id) {
  const int64_t kh = k / 2, blocks = cdiv(n, 16);
  parallel_chunks(blocks, 1, kh * 16, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b)
      for (int64_t j = 0; j < kh; ++j)
        for (int64_t l = 0; l < 16; ++l) {
          const int64_t row = b * 16 + l;
          const bool real = row < n;
          wv[(b * kh + j) * 16 + l] = real ? values[row * kh + j] : 0.0f;
          id[(b * kh + j) * 16 + l] = 4 * ((j >> 1) & 3) + (real ? positions[row * kh + j] & 3 : 0);
        }
  });
}

void sparse24_linear(const float* x, const float* values, const int8_t* positions,
                     const float* bias, int64_t m, int64_t n, int64_t k,
                     const Sparse24Rows16* rows16, float* y) {
  const Sparse24Table& t = EMBER_ISA_TABLE(sparse24_table);
  const int64_t kh = k / 2;
  const int64_t row_pieces = cdiv(n, kRowsPerPiece);
  auto add_bias = [&](float* out, int64_t j0, int64_t j1) {
    if (bias)
      for (int64_t j = j0; j < j1; ++j) out[j] += bias[j];
  };
  if (m < kSparse24PanelMin) {
    parallel_chunks(m * row_pieces, 1, kRowsPerPiece * kh, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t i = p / row_pieces, j0 = p % row_pieces * kRowsPerPiece;
        const int64_t j1 = min64(j0 + kRowsPerPiece, n);
        t.row_dots(x + i * k, values + j0 * kh, positions + j0 * kh, kh, j1 - j0, y + i * n + j0);
        add_bias(y + i * n, j0, j1);
      }
    });
    return;
  }
  if (t.rows16 && m >= kSparse24Rows16Min) {
    // The bias in blocks of 16 (zeros without one), which the kernel starts its sums from.
    const int64_t blocks = cdiv(n, 16);
    AlignedBuffer<float> bias16(blocks * 16);
    for (int64_t j = 0; j < blocks * 16; ++j) bias16.get()[j] = bias && j < n ? bias[j] : 0.0f;
    // Without the caller's packed weight, this call packs its own.
    const int64_t own = rows16 ? 0 : sparse24_rows16_elems(n, k);
    AlignedBuffer<float> own_wv(own);
    AlignedBuffer<int32_t> own_id(own);
    if (!rows16) sparse24_pack_rows16(values, positions, n, k, own_wv.get(), own_id.get());
    const float* wv = rows16 ? rows16->values : own_wv.get();
    const int32_t* id = rows16 ? rows16->ids : own_id.get();
    // Tokens of a piece, a multiple of the kernel's 12 a pass: the piece's 16-row block (48 KiB
    // at K = 768) comes from L3 once per piece, so long pieces pay for it less often; measured
    // at 4096 x 768 -> 3072 on Zen 4: 120 tokens 165 ms, 240 153 ms, 480 to 1920 149 ms, one
    // piece per block (all tokens) 171 ms, 1 thread.
    constexpr int64_t kTokens = 480;
    const int64_t chunks = cdiv(m, kTokens);
    parallel_chunks(chunks * blocks, 1, kTokens * kh * 16, [&](int64_t p0, int64_t p1) {
      AlignedBuffer<float> tile(kTokens * 16);
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t c = p / blocks, b = p % blocks;
        const int64_t i0 = c * kTokens, tokens = min64(kTokens, m - i0);
        const int64_t j0 = b * 16, cols = min64(16, n - j0);
        const float* wb = wv + b * kh * 16;
        const int32_t* ib = id + b * kh * 16;
        const float* bb = bias16.get() + j0;
        if (cols == 16) {  // a whole block: straight into y
          t.rows16(x + i0 * k, k, tokens, wb, ib, bb, y + i0 * n + j0, n);
        } else {
          t.rows16(x + i0 * k, k, tokens, wb, ib, bb, tile.get(), 16);
          for (int64_t i = 0; i < tokens; ++i)
            for (int64_t j = 0; j < cols; ++j) y[(i0 + i) * n + j0 + j] = tile.get()[i * 16 + j];
        }
      }
    });
    return;
  }
  // Panels of P tokens, transposed (k, P); the last one padded with zero tokens.
  const int64_t P = t.panel, panels = cdiv(m, P), panel_pieces = cdiv(n, kPanelRows);
  AlignedBuffer<float> xt(panels * k * P);
  parallel_chunks(panels, 1, k * P, [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      float* dst = xt.get() + q * k * P;
      // 16 columns at a time: the 16 destination lines stay in L1 while the tokens pass.
      for (int64_t c0 = 0; c0 < k; c0 += 16) {
        const int64_t c1 = min64(c0 + 16, k);
        for (int64_t i = 0; i < P; ++i) {
          const int64_t row = q * P + i;
          for (int64_t c = c0; c < c1; ++c) dst[c * P + i] = row < m ? x[row * k + c] : 0.0f;
        }
      }
    }
  });
  parallel_chunks(panels * panel_pieces, 1, kPanelRows * kh * P, [&](int64_t p0, int64_t p1) {
    AlignedBuffer<float> yt(kPanelRows * P);
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t q = p / panel_pieces, j0 = p % panel_pieces * kPanelRows;
      const int64_t j1 = min64(j0 + kPanelRows, n), i1 = min64(P, m - q * P);
      for (int64_t c0 = 0; c0 < k; c0 += kSparse24ColBlock) {
        const int64_t kb = min64(kSparse24ColBlock, k - c0) / 2;
        t.panel_rows(xt.get() + (q * k + c0) * P, values + j0 * kh + c0 / 2,
                     positions + j0 * kh + c0 / 2, kh, kb, j1 - j0, c0 > 0, yt.get());
      }
      for (int64_t i = 0; i < i1; ++i) {
        float* out = y + (q * P + i) * n;
        for (int64_t j = j0; j < j1; ++j) out[j] = yt.get()[(j - j0) * P + i];
        add_bias(out, j0, j1);
      }
    }
  });
}

}  // namespace ember::cpu
