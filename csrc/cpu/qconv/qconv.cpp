// Int8 convolution plumbing: fused quantize + im2col, and the NCHW transpose (qconv.h).
#include "cpu/qconv/qconv.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include "core/parallel.h"
#include "cpu/conv/conv.h"
#include "cpu/qgemm/qgemm.h"

namespace ember::cpu {
namespace {

// Pass 1: the padded NHWC code image (N, H + top + bottom, W + left + right, C), padded rows
// in tasks of ~16 KiB. Channels innermost makes every window of pass 2 a few contiguous runs.
void quantize_nhwc(const float* x, const QconvGeometry& g, float scale, int32_t zero,
                   uint8_t* img) {
  const int64_t hp = g.h + g.top + g.bottom, wp = g.w + g.left + g.right, c = g.c;
  const int64_t row_bytes = wp * c;
  const float z = static_cast<float>(zero);
  const auto pad = static_cast<uint8_t>(zero);
  const int64_t chunk = std::max<int64_t>(1, 16384 / row_bytes);
  parallel_chunks(g.n * hp, chunk, row_bytes, [&](int64_t b, int64_t e) {
    uint8_t line[256];  // on the stack: nothing may throw inside the OpenMP region
    for (int64_t r = b; r < e; ++r) {
      uint8_t* dst = img + r * row_bytes;
      const int64_t img_n = r / hp, y = r % hp - g.top;
      if (y < 0 || y >= g.h) {
        std::memset(dst, pad, row_bytes);
        continue;
      }
      std::memset(dst, pad, g.left * c);
      std::memset(dst + (g.left + g.w) * c, pad, g.right * c);
      uint8_t* body = dst + g.left * c;
      const float* src = x + (img_n * c * g.h + y) * g.w;  // channel 0 of input row y
      for (int64_t ch = 0; ch < c; ++ch, src += g.h * g.w) {
        // quantize the channel's row contiguously, then scatter it channels-innermost
        for (int64_t x0 = 0; x0 < g.w; x0 += 256) {
          const int64_t nb = std::min<int64_t>(256, g.w - x0);
          quantize_u8_span(src + x0, nb, scale, z, line);
          for (int64_t xx = 0; xx < nb; ++xx) body[(x0 + xx) * c + ch] = line[xx];
        }
      }
    }
  });
}

}  // namespace

void qconv_quantize_im2col(const float* x, const QconvGeometry& g, float scale, int32_t zero,
                           uint8_t* rows) {
  const int64_t hp = g.h + g.top + g.bottom, wp = g.w + g.left + g.right, c = g.c;
  std::unique_ptr<uint8_t[]> img(new uint8_t[g.n * hp * wp * c]);
  quantize_nhwc(x, g, scale, zero, img.get());
  // Pass 2: one output row (n, oy) of OW pixels per task; with dilation 1 a kernel row's kw
  // windows are one run of kw * C bytes.
  const int64_t k = g.kh * g.kw * c;
  const int64_t run = g.dw == 1 ? g.kw * c : c, runs = g.dw == 1 ? 1 : g.kw;
  const uint8_t* src = img.get();
  parallel_chunks(g.n * g.oh, 1, g.ow * k, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const int64_t img_n = r / g.oh, oy = r % g.oh;
      uint8_t* dst = rows + r * g.ow * k;
      for (int64_t ox = 0; ox < g.ow; ++ox)
        for (int64_t i = 0; i < g.kh; ++i) {
          const uint8_t* line = src + ((img_n * hp + oy * g.sh + i * g.dh) * wp + ox * g.sw) * c;
          for (int64_t j = 0; j < runs; ++j, dst += run) std::memcpy(dst, line + j * g.dw * c, run);
        }
    }
  });
}

void qconv_rows_to_nchw(const float* in, int64_t n, int64_t p, int64_t c, float* out) {
  // blocks of kBlock pixels of one image, each transposed by the conv family's per-ISA
  // vector transpose
  constexpr int64_t kBlock = 64;
  const int64_t blocks = (p + kBlock - 1) / kBlock;
  const ConvTable& t = EMBER_ISA_TABLE(conv_table);
  parallel_chunks(n * blocks, 1, kBlock * c, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const int64_t img_n = i / blocks, p0 = i % blocks * kBlock;
      const float* src = in + img_n * p * c + p0 * c;
      t.transpose(src, c, std::min(kBlock, p - p0), c, out + img_n * p * c + p0, p);
    }
  });
}

}  // namespace ember::cpu
