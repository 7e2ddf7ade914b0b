// Int8 convolution plumbing around the int8 GEMM (csrc/cpu/qgemm): the fused static
// quantize + im2col that builds the GEMM's u8 rows straight from a float NCHW input, and the
// transpose of the GEMM's (pixel, channel) output back to NCHW.
//
// Row layout (what ember.quant.QuantizedConv2d's packed weight expects): one row per output
// pixel (n, oy, ox), K = kh * kw * C columns ordered kernel row, kernel column, channel
// (channels innermost), padded positions holding the zero point (the code of 0.0).
//
// Arguments are validated by the binding (shapes, the window fitting the padded input,
// qparams); the kernels trust them. The quantize + im2col is ISA-neutral code (O(input) +
// O(rows) bytes next to the GEMM's O(rows * C_out) work); the transpose runs the conv
// family's per-ISA vector transpose.
#pragma once
#include <cstdint>

namespace ember::cpu {

struct QconvGeometry {
  int64_t n, c, h, w;                // input (N, C, H, W)
  int64_t kh, kw, sh, sw, dh, dw;    // kernel, stride, dilation
  int64_t top, bottom, left, right;  // padding
  int64_t oh, ow;                    // output size (the binding computes it)
};

// rows (N * OH * OW, kh * kw * C) = the uint8 codes clamp(round(x / scale) + zero, 0, 255)
// of x's kernel windows (round half to even, as quantize_u8_static).
void qconv_quantize_im2col(const float* x, const QconvGeometry& g, float scale, int32_t zero,
                           uint8_t* rows);

// out (N, C, P) = in (N, P, C) transposed per image (P = OH * OW pixels).
void qconv_rows_to_nchw(const float* in, int64_t n, int64_t p, int64_t c, float* out);

}  // namespace ember::cpu
