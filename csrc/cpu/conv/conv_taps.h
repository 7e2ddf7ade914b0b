// Tap planes: the input of a strided convolution laid out so that every kernel tap's slice
// of the im2col matrix is a plain row-major matrix (channels x output pixels), packed like
// the B operand of any GEMM (no gathers, no per-pixel bounds checks).
//
// A tap reads input row o sh + e and column q sw + f for output pixel (o, q). Along the rows,
// e = a sh + pr with row phase pr = e mod sh. For each row phase and tap column offset f, a
// plane holds per channel the input rows (R + amin) sh + pr (R < oh + amax - amin, amin and
// amax over the phase's taps) at the columns q sw + f (q < ow), zero outside the input.
// The tap is that plane from row a - amin on, where output pixel p = o ow + q sits p values
// further: contiguous.
//
// conv.cpp uses them for the forward and grad weight of strided float32 / float64
// convolutions other than depthwise.
#pragma once
#include <cstdint>
#include <vector>

#include "cpu/conv/conv.h"

namespace ember::cpu {

// Whether strided convolutions take the tap-plane path: stride > 1 somewhere, not
// depthwise. EMBER_CONV_TAPS=0 turns it off (then the gather im2col runs; read on every
// call).
bool tap_planes_apply(const ConvShape& s);

// Which input values the taps read: input (c, h, w), output (oh, ow), strides; tap (u, v)
// reads row o sh + e[u], column q sw + f[v].
struct TapGeom {
  int64_t c, h, w, oh, ow, sh, sw;
  std::vector<int64_t> e, f;
};
// The taps of conv s, (i, j) in kernel order: e[i] = i dh - ph, f[j] = j dw - pw.
TapGeom conv_taps(const ConvShape& s);

struct TapPlanes {
  struct Plane {
    int64_t pr, f;       // row phase, column offset
    int64_t amin, rows;  // first phase row (< 0 in the padding), rows per channel
    int64_t off;         // offset of its channel 0 in one image's buffer
  };
  std::vector<Plane> planes;
  // Tap t = u * f.size() + v: (channel c, pixel p) at image + off[t] + c * cs[t] + p.
  std::vector<int64_t> off, cs;
  int64_t image_size = 0;  // elements of one image's planes
};
TapPlanes tap_planes(const TapGeom& g);

// dst (n images of tp.image_size) = the tap planes of x (n, g.c, g.h, g.w); over the
// threads when parallel.
template <typename T>
void build_tap_planes(const TapGeom& g, int64_t n, const TapPlanes& tp, const T* x, T* dst,
                      bool parallel);

}  // namespace ember::cpu
