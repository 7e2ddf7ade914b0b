// The implicit-GEMM index math of conv.h: which element of which tensor the GEMM's A, B and C
// entries are, for each pass. __host__ __device__: the kernels' loaders call it, and the
// host test hook (conv_gather_table) runs the same code against a numpy im2col.
#pragma once
#include <cstdint>

#include "cuda/conv/conv.h"

namespace ember::cuda {

#define EMBER_CONV_HD __host__ __device__ __forceinline__

struct GemmDims {
  int m, n, r;
};

EMBER_CONV_HD GemmDims conv_gemm_dims(const ConvGeom& g, ConvPass pass) {
  const int taps = g.kh * g.kw;
  switch (pass) {
    case ConvPass::Forward:
      return {g.kg, g.n * g.oh * g.ow, g.cg * taps};
    case ConvPass::BackwardInput:
      return {g.cg, g.n * g.h * g.w, g.kg * taps};
    default:
      return {g.kg, g.cg * taps, g.n * g.oh * g.ow};
  }
}

// Offset in x of im2col entry (r = (channel, tap), p = (image, output pixel)) of group grp,
// or -1 where the tap reads padding.
EMBER_CONV_HD int64_t im2col_offset(const ConvGeom& g, int grp, int r, int p) {
  const int taps = g.kh * g.kw, opix = g.oh * g.ow;
  const int c = r / taps, t = r - c * taps, i = t / g.kw, j = t - i * g.kw;
  const int img = p / opix, q = p - img * opix, o = q / g.ow, u = q - o * g.ow;
  const int ih = o * g.sh - g.ph + i * g.dh, iw = u * g.sw - g.pw + j * g.dw;
  if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) return -1;
  return ((static_cast<int64_t>(img) * g.c + grp * g.cg + c) * g.h + ih) * g.w + iw;
}

// Offset in grad_output of entry (r = (output channel, tap), p = (image, input pixel)) of
// the transposed problem: the output pixel that reads input pixel p through the tap, or -1
// where none does (padding, or a stride step the tap skips).
EMBER_CONV_HD int64_t col2im_offset(const ConvGeom& g, int grp, int r, int p) {
  const int taps = g.kh * g.kw, ipix = g.h * g.w;
  const int kk = r / taps, t = r - kk * taps, i = t / g.kw, j = t - i * g.kw;
  const int img = p / ipix, q = p - img * ipix, ih = q / g.w, iw = q - ih * g.w;
  const int y = ih + g.ph - i * g.dh, x = iw + g.pw - j * g.dw;
  if (y < 0 || x < 0 || y % g.sh != 0 || x % g.sw != 0) return -1;
  const int o = y / g.sh, u = x / g.sw;
  if (o >= g.oh || u >= g.ow) return -1;
  return ((static_cast<int64_t>(img) * g.k + grp * g.kg + kk) * g.oh + o) * g.ow + u;
}

// A[m][r] of group grp: never padding.
EMBER_CONV_HD int64_t conv_a_offset(const ConvGeom& g, ConvPass pass, int grp, int m, int r) {
  const int taps = g.kh * g.kw;
  switch (pass) {
    case ConvPass::Forward:  // w[g kg + m, r]
      return static_cast<int64_t>(grp * g.kg + m) * (g.cg * taps) + r;
    case ConvPass::BackwardInput: {  // w[g kg + kk, m, tap], r = (kk, tap)
      const int kk = r / taps, t = r - kk * taps;
      return (static_cast<int64_t>(grp * g.kg + kk) * g.cg + m) * taps + t;
    }
    default: {  // gy[img, g kg + m, pixel], r = (img, pixel)
      const int opix = g.oh * g.ow, img = r / opix, q = r - img * opix;
      return (static_cast<int64_t>(img) * g.k + grp * g.kg + m) * opix + q;
    }
  }
}

// B[r][p] of group grp, or -1 (a zero).
EMBER_CONV_HD int64_t conv_b_offset(const ConvGeom& g, ConvPass pass, int grp, int r, int p) {
  switch (pass) {
    case ConvPass::Forward:
      return im2col_offset(g, grp, r, p);
    case ConvPass::BackwardInput:
      return col2im_offset(g, grp, r, p);
    default:  // the im2col matrix transposed: r a pixel, p a (channel, tap)
      return im2col_offset(g, grp, p, r);
  }
}

// C[m][p] of group grp.
EMBER_CONV_HD int64_t conv_c_offset(const ConvGeom& g, ConvPass pass, int grp, int m, int p) {
  switch (pass) {
    case ConvPass::Forward: {  // y[img, g kg + m, pixel]
      const int opix = g.oh * g.ow, img = p / opix, q = p - img * opix;
      return (static_cast<int64_t>(img) * g.k + grp * g.kg + m) * opix + q;
    }
    case ConvPass::BackwardInput: {  // gx[img, g cg + m, pixel]
      const int ipix = g.h * g.w, img = p / ipix, q = p - img * ipix;
      return (static_cast<int64_t>(img) * g.c + grp * g.cg + m) * ipix + q;
    }
    default:  // gw[g kg + m, (channel, tap)]
      return static_cast<int64_t>(grp * g.kg + m) * (g.cg * g.kh * g.kw) + p;
  }
}

}  // namespace ember::cuda
