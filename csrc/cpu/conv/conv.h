// Convolution (NCHW, conv1d as a conv2d of height 1): forward and backward, float32 and
// float64, over contiguous tensors. Pooling: cpu/pool; batch norm: cpu/batchnorm (its row
// kernels live in ConvTable below).
//
// Algorithm per shape (conv_algo), a fixed rule:
//   - groups == C_in > 1 (depthwise, any channel multiplier): a direct per-plane kernel
//     (conv_kernels.cpp, vectorized along the output row for stride 1).
//   - 1x1, stride 1, no padding: a direct GEMM; the GEMM packs its B panels straight from
//     the input image (the image *is* the im2col matrix).
//   - 3x3, stride 1, dilation 1, groups 1, padding >= 0, float32, C >= 16 input and K >= 8
//     output channels, T >= 32 output tiles of 4x4 (over the batch) and T C K >= 2^18:
//     Winograd F(4x4, 3x3) (conv_winograd.cpp), 36 GEMMs on 6x6 transformed tiles (2.25x
//     fewer products than direct at full tiles, a few bits less accurate: tests bound each
//     output's error against the float64 reference). Below those sizes its fixed costs
//     (weight transform, per-tile transforms) lose to the implicit GEMM (measured).
//     EMBER_CONV_WINOGRAD=0 turns it off, =1 uses it for every 3x3 stride-1 shape it can
//     run (tests); float64 runs the implicit GEMM instead.
//   - anything else: implicit GEMM. The packed GEMM's micro-kernels (cpu/gemm) run on B
//     panels that are im2col'ed straight into the packed layout, one cache-sized tile of
//     output pixels at a time (never an im2col buffer for a whole image or batch).
// Backward: grad input of a stride-1 convolution is the forward (Winograd or implicit
// GEMM, by the same rule) of grad output with the flipped, transposed kernel; for larger
// strides it is a GEMM (W^T @ grad output) into a per-thread column tile followed by
// col2im. Grad weight is a GEMM reducing over pixels (grad output @ im2col^T); grad bias a
// per-channel sum.
//
// Determinism: every output element is reduced in an order fixed by the shapes. Threads
// only pick which tiles they compute; where a reduction is split for parallelism (grad
// weight over images), it is split into shape-determined chunks summed in chunk order.
//
// Arguments are validated by the bindings (csrc/bindings/bind_conv.cpp); kernels trust them.
#pragma once
#include <cstdint>

#include "core/isa.h"
#include "cpu/gemm/gemm.h"

namespace ember::cpu {

// Geometry of one convolution. conv1d: h = kh = oh = 1, sh = dh = 1, ph = 0.
struct ConvShape {
  int64_t n, c, h, w;  // input: batch, channels, height, width
  int64_t k, kh, kw;   // output channels, kernel height and width
  int64_t oh, ow;      // output height and width
  int64_t sh, sw;      // stride
  int64_t ph, pw;      // zero padding (>= 0; the internal transposed conv may pass < 0)
  int64_t dh, dw;      // dilation
  int64_t groups;
};

// Output size of one spatial dimension: (in + 2 pad - dil (k - 1) - 1) / stride + 1.
int64_t conv_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil);

enum class ConvAlgo : int { Depthwise = 0, Gemm1x1 = 1, ImplicitGemm = 2, Winograd = 3 };
// The algorithm of a float32 forward with these shapes (float64 reads Winograd as
// ImplicitGemm). Reads EMBER_CONV_WINOGRAD on every call.
ConvAlgo conv_algo(const ConvShape& s);
const char* conv_algo_name(ConvAlgo a);

// y = act(conv(x, w) + bias). x (n, c, h, w), w (k, c / groups, kh, kw), bias (k) or null,
// y (n, k, oh, ow). act: None or Relu (the fused inference epilogue).
template <typename T>
void conv2d_forward(const ConvShape& s, const T* x, const T* w, const T* bias, T* y, GemmAct act);
// The float32 forward by Winograd F(4x4, 3x3), for shapes where conv_algo says Winograd.
void winograd_conv2d(const ConvShape& s, const float* x, const float* w, const float* bias,
                     float* y, GemmAct act);
// gx (n, c, h, w) = d loss / d x from gy (n, k, oh, ow). Overwrites gx.
template <typename T>
void conv2d_backward_input(const ConvShape& s, const T* gy, const T* w, T* gx);
// gw (k, c / groups, kh, kw) = d loss / d w. Overwrites gw.
template <typename T>
void conv2d_backward_weight(const ConvShape& s, const T* gy, const T* x, T* gw);
// gb (k) = sum of gy over n, oh, ow. Overwrites gb.
template <typename T>
void conv2d_backward_bias(const ConvShape& s, const T* gy, T* gb);

// ---- per-ISA float32 kernels (conv_kernels.cpp)

// A run of pixels of one output row inside an im2col panel: output row oh, first output
// column ow, len pixels, starting at panel column j. xoff: where the run's image starts,
// in elements from the image the panel kernel is given (0 unless a panel spans images).
struct Im2colSeg {
  int64_t oh, ow, len, j, xoff;
};

struct ConvTable {
  // im2col rows [k0, k0 + kb) of one packed B panel (nr columns = the pixels of the
  // segments, zero beyond them): row r of the
  // panel is panel[r * nr, (r + 1) * nr). xg: the image-group's first input channel.
  // nr must be a multiple of the ISA's vector width.
  void (*im2col_panel)(const float* xg, const ConvShape& s, int64_t k0, int64_t kb,
                       const Im2colSeg* segs, int nseg, int64_t nr, float* panel);
  // dst[t * st] += src[t] for t < n (col2im of the strided grad input), one add each.
  void (*strided_add)(float* dst, int64_t st, const float* src, int64_t n);
  // dst[c * ds + r] = src[r * ss + c] for r < rows, c < cols.
  void (*transpose)(const float* src, int64_t ss, int64_t rows, int64_t cols, float* dst,
                    int64_t ds);
  // Depthwise, stride 1 along the row: for o < oh rows, q < ow columns,
  //   y[o * ys + q] = (accumulate ? y : bias) + sum_{i, j} w[i * kw + j] *
  //                   xp[(o * sh + i * dh) * xps + q + j * dw]
  // then max(0, .) when relu. xp is a zero-padded plane (every read is in bounds).
  void (*dw_forward)(const float* xp, int64_t xps, int64_t sh, const float* w, int64_t kh,
                     int64_t kw, int64_t dh, int64_t dw, int64_t oh, int64_t ow, float* y,
                     int64_t ys, float bias, bool accumulate, bool relu);
  // Depthwise grad weight of one plane, stride 1 along the row:
  //   gw[i * kw + j] += sum_{o, q} gy[o * ow + q] * xp[(o * sh + i * dh) * xps + q + j * dw]
  // (each tap summed in a fixed order, then added).
  void (*dw_weight)(const float* xp, int64_t xps, int64_t sh, const float* gy, int64_t oh,
                    int64_t ow, int64_t kh, int64_t kw, int64_t dh, int64_t dw, double* gw);
  // Winograd F(4x4, 3x3) input transform of one channel for n tiles (n a multiple of nr,
  // nr of the vector width): tile j's 6x6 patch d is at xp + off[j] (rows xps apart);
  // V = B^T d B goes to dst[xi * xs + (j / nr) * ps + j % nr], xi = 6 row + column < 36
  // (the tile is a column of packed GEMM B panels of ps floats each).
  void (*wino_input)(const float* xp, int64_t xps, const int32_t* off, int64_t n, int64_t nr,
                     int64_t ps, float* dst, int64_t xs);
  // Output transform of one output channel for n tiles (a multiple of the vector width):
  // tile j's 6x6 products are m[xi * ms + j]; its 4x4 outputs A^T m A + bias (then
  // max(0, .) when relu) go to out[(4 r + c) * os + j].
  void (*wino_output)(const float* m, int64_t ms, int64_t n, float bias, bool relu, float* out,
                      int64_t os);
};

const ConvTable& conv_table();

}  // namespace ember::cpu

EMBER_ISA_TABLES(cpu::ConvTable, conv_table)
