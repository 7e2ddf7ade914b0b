// Index math of the tensor-core conv (conv_tc.h), __host__ __device__ so that the host test
// hook (conv_tc_gather_table) runs exactly what the kernels run.
//
// Each thread owns one row of the A tile and one of the B tile for the whole kernel (row
// tid % rows: a warp's lanes take consecutive rows, consecutive pixels of the gathered
// tensors) and, per stage, a run of consecutive reduction steps in it. A row's gather keeps
// what depends on the row alone (image base, pixel origin) and walks its run with an
// odometer over the reduction's digits, so one division per digit per run, not per element.
#pragma once
#include <cstdint>

#include "cuda/conv/conv_index.cuh"
#include "cuda/conv/conv_tc.h"

namespace ember::cuda {

// M, N, R of one group's GEMM (conv_tc.h's table).
EMBER_CONV_HD GemmDims conv_tc_dims(const ConvGeom& g, ConvPass pass) {
  const int taps = g.kh * g.kw;
  switch (pass) {
    case ConvPass::Forward:
      return {g.n * g.oh * g.ow, g.kg, g.cg * taps};
    case ConvPass::BackwardInput:
      return {g.n * g.h * g.w, g.cg, g.kg * taps};
    default:
      return {g.cg * taps, g.kg, g.n * g.oh * g.ow};
  }
}

// The block's tile along N, group and reduction chunk, from blockIdx.y.
struct TcBlock {
  int tile_n, grp, split;
};
EMBER_CONV_HD TcBlock conv_tc_block(int by, int tiles_n, int groups) {
  const int rest = by / tiles_n;
  return {by - rest * tiles_n, rest % groups, rest / groups};
}

// Output offset of C[row][col] of group grp: conv_tc_c_row(row) + col * conv_tc_c_col_stride.
EMBER_CONV_HD int64_t conv_tc_c_col_stride(const ConvGeom& g, ConvPass pass) {
  switch (pass) {
    case ConvPass::Forward:
      return static_cast<int64_t>(g.oh) * g.ow;
    case ConvPass::BackwardInput:
      return static_cast<int64_t>(g.h) * g.w;
    default:
      return static_cast<int64_t>(g.cg) * g.kh * g.kw;
  }
}
EMBER_CONV_HD int64_t conv_tc_c_row(const ConvGeom& g, ConvPass pass, int grp, int row) {
  switch (pass) {
    case ConvPass::Forward: {  // y[img, g kg + col, q]
      const int opix = g.oh * g.ow, img = row / opix, q = row - img * opix;
      return (static_cast<int64_t>(img) * g.k + grp * g.kg) * opix + q;
    }
    case ConvPass::BackwardInput: {  // gx[img, g cg + col, q]
      const int ipix = g.h * g.w, img = row / ipix, q = row - img * ipix;
      return (static_cast<int64_t>(img) * g.c + grp * g.cg) * ipix + q;
    }
    default:  // gw[g kg + col, row]
      return static_cast<int64_t>(grp) * g.kg * g.cg * g.kh * g.kw + row;
  }
}

// The gathers. init(g, grp, row, rows) once per kernel (a row >= rows reads only zeros);
// run(g, k, r_end, off) gives the offsets of steps k .. k + N - 1 (-1: a zero).

// Forward A: rows are output pixels, steps (channel, tap) of the group's input channels.
struct TcPixelIm2col {
  int64_t base;  // x offset of (img, g cg, 0, 0)
  int ih0, iw0;  // the pixel's window origin in the unpadded image
  bool ok;
  EMBER_CONV_HD void init(const ConvGeom& g, int grp, int row, int rows) {
    ok = row < rows;
    const int p = ok ? row : 0, opix = g.oh * g.ow, img = p / opix, q = p - img * opix;
    const int o = q / g.ow, u = q - o * g.ow;
    base = (static_cast<int64_t>(img) * g.c + grp * g.cg) * g.h * g.w;
    ih0 = o * g.sh - g.ph;
    iw0 = u * g.sw - g.pw;
  }
  template <int N>
  EMBER_CONV_HD void run(const ConvGeom& g, int k, int r_end, int64_t (&off)[N]) const {
    const int taps = g.kh * g.kw;
    int c = k / taps, t = k - c * taps, i = t / g.kw, j = t - i * g.kw;
    for (int e = 0; e < N; ++e) {
      const int ih = ih0 + i * g.dh, iw = iw0 + j * g.dw;
      const bool in = ok && k + e < r_end && ih >= 0 && ih < g.h && iw >= 0 && iw < g.w;
      off[e] = in ? base + (static_cast<int64_t>(c) * g.h + ih) * g.w + iw : -1;
      if (++j == g.kw) {
        j = 0;
        if (++i == g.kh) i = 0, ++c;
      }
    }
  }
};

// Forward B: rows are the group's output channels, steps (channel, tap): w's own rows.
struct TcWeightRows {
  int64_t base;  // w offset of (g kg + row, 0)
  bool ok;
  EMBER_CONV_HD void init(const ConvGeom& g, int grp, int row, int rows) {
    ok = row < rows;
    base = static_cast<int64_t>(grp * g.kg + (ok ? row : 0)) * g.cg * g.kh * g.kw;
  }
  template <int N>
  EMBER_CONV_HD void run(const ConvGeom&, int k, int r_end, int64_t (&off)[N]) const {
    for (int e = 0; e < N; ++e) off[e] = ok && k + e < r_end ? base + k + e : -1;
  }
};

// Grad input A: rows are input pixels, steps (output channel, tap); the grad-output pixel
// that read this input pixel through the tap, if any (conv_index.cuh's col2im_offset).
struct TcPixelCol2im {
  int64_t base;  // grad_output offset of (img, g kg, 0, 0)
  int y0, x0;    // the pixel in padded coordinates
  bool ok;
  EMBER_CONV_HD void init(const ConvGeom& g, int grp, int row, int rows) {
    ok = row < rows;
    const int p = ok ? row : 0, ipix = g.h * g.w, img = p / ipix, q = p - img * ipix;
    const int ih = q / g.w, iw = q - ih * g.w;
    base = (static_cast<int64_t>(img) * g.k + grp * g.kg) * g.oh * g.ow;
    y0 = ih + g.ph;
    x0 = iw + g.pw;
  }
  template <int N>
  EMBER_CONV_HD void run(const ConvGeom& g, int k, int r_end, int64_t (&off)[N]) const {
    const int taps = g.kh * g.kw;
    int kk = k / taps, t = k - kk * taps, i = t / g.kw, j = t - i * g.kw;
    for (int e = 0; e < N; ++e) {
      const int y = y0 - i * g.dh, x = x0 - j * g.dw;
      bool in = ok && k + e < r_end && y >= 0 && x >= 0;
      const int o = in ? y / g.sh : 0, u = in ? x / g.sw : 0;
      in = in && o * g.sh == y && u * g.sw == x && o < g.oh && u < g.ow;
      off[e] = in ? base + (static_cast<int64_t>(kk) * g.oh + o) * g.ow + u : -1;
      if (++j == g.kw) {
        j = 0;
        if (++i == g.kh) i = 0, ++kk;
      }
    }
  }
};

// Grad input B: rows are the group's input channels, steps (output channel, tap): w read
// across its rows.
struct TcWeightCols {
  int64_t base;  // w offset of (g kg, row, 0, 0)
  bool ok;
  EMBER_CONV_HD void init(const ConvGeom& g, int grp, int row, int rows) {
    ok = row < rows;
    base = (static_cast<int64_t>(grp) * g.kg * g.cg + (ok ? row : 0)) * g.kh * g.kw;
  }
  template <int N>
  EMBER_CONV_HD void run(const ConvGeom& g, int k, int r_end, int64_t (&off)[N]) const {
    const int taps = g.kh * g.kw;
    const int64_t kk_stride = static_cast<int64_t>(g.cg) * taps;
    int kk = k / taps, t = k - kk * taps;
    for (int e = 0; e < N; ++e) {
      off[e] = ok && k + e < r_end ? base + kk * kk_stride + t : -1;
      if (++t == taps) t = 0, ++kk;
    }
  }
};

// Grad weight A: rows are (channel, tap) of the group's input channels, steps output pixels
// (image, o, u): the im2col matrix transposed.
struct TcTapIm2col {
  int64_t chan;  // x offset of (0, g cg + c, 0, 0)
  int di, dj;    // the tap's offset from a window origin, minus the padding
  bool ok;
  EMBER_CONV_HD void init(const ConvGeom& g, int grp, int row, int rows) {
    ok = row < rows;
    const int taps = g.kh * g.kw, m = ok ? row : 0, c = m / taps, t = m - c * taps;
    const int i = t / g.kw, j = t - i * g.kw;
    chan = static_cast<int64_t>(grp * g.cg + c) * g.h * g.w;
    di = i * g.dh - g.ph;
    dj = j * g.dw - g.pw;
  }
  template <int N>
  EMBER_CONV_HD void run(const ConvGeom& g, int k, int r_end, int64_t (&off)[N]) const {
    const int opix = g.oh * g.ow;
    const int64_t img_stride = static_cast<int64_t>(g.c) * g.h * g.w;
    int img = k / opix, q = k - img * opix, o = q / g.ow, u = q - o * g.ow;
    for (int e = 0; e < N; ++e) {
      const int ih = o * g.sh + di, iw = u * g.sw + dj;
      const bool in = ok && k + e < r_end && ih >= 0 && ih < g.h && iw >= 0 && iw < g.w;
      off[e] = in ? img * img_stride + chan + static_cast<int64_t>(ih) * g.w + iw : -1;
      if (++u == g.ow) {
        u = 0;
        if (++o == g.oh) o = 0, ++img;
      }
    }
  }
};

// Grad weight B: rows are the group's output channels, steps output pixels (image, q).
struct TcGradOutRows {
  int64_t chan;  // grad_output offset of (0, g kg + row, 0)
  bool ok;
  EMBER_CONV_HD void init(const ConvGeom& g, int grp, int row, int rows) {
    ok = row < rows;
    chan = static_cast<int64_t>(grp * g.kg + (ok ? row : 0)) * g.oh * g.ow;
  }
  template <int N>
  EMBER_CONV_HD void run(const ConvGeom& g, int k, int r_end, int64_t (&off)[N]) const {
    const int opix = g.oh * g.ow;
    const int64_t img_stride = static_cast<int64_t>(g.k) * opix;
    int img = k / opix, q = k - img * opix;
    for (int e = 0; e < N; ++e) {
      off[e] = ok && k + e < r_end ? img * img_stride + chan + q : -1;
      if (++q == opix) q = 0, ++img;
    }
  }
};

template <ConvPass P>
struct TcGathers;
template <>
struct TcGathers<ConvPass::Forward> {
  using A = TcPixelIm2col;
  using B = TcWeightRows;
};
template <>
struct TcGathers<ConvPass::BackwardInput> {
  using A = TcPixelCol2im;
  using B = TcWeightCols;
};
template <>
struct TcGathers<ConvPass::BackwardWeight> {
  using A = TcTapIm2col;
  using B = TcGradOutRows;
};

// Per block of 2 BN threads: this thread's row of a tile of `rows` rows and the first of the
// `run` 16-byte chunks (8 steps each) it fills per stage; rows * chunks-per-row = threads * run.
template <int BN>
struct TcLayout {
  static constexpr int kThreads = 2 * BN, kWarpsN = BN / 32;
  static constexpr int kChunks = kConvTcBK / 8;                 // per tile row
  static constexpr int kRunA = kConvTcBM * kChunks / kThreads;  // 4 or 2 chunks
  static constexpr int kRunB = BN * kChunks / kThreads;         // 2 chunks
  static_assert(kRunA * kThreads == kConvTcBM * kChunks && kRunB * kThreads == BN * kChunks,
                "every chunk of both tiles has one owner");
};
EMBER_CONV_HD int tc_row(int tid, int rows) { return tid % rows; }
EMBER_CONV_HD int tc_first_chunk(int tid, int rows, int run) { return (tid / rows) * run; }

}  // namespace ember::cuda
