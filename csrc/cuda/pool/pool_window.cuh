// Pooling windows (PyTorch's rules, as the CPU kernels apply them), __host__ __device__: the
// kernels use them and the host test hooks check them against brute force.
#pragma once
#include <cstdint>

#include "cuda/pool/pool.h"

namespace ember::cuda {

#define EMBER_POOL_HD __host__ __device__ __forceinline__

// avg_pool2d's window of output (o, q): [h0, h1) x [w0, w1) clipped to the input, and its
// divisor (the unclipped-but-padded size with count_include_pad).
struct AvgWindow {
  int h0, h1, w0, w1;
  int64_t div;
};

EMBER_POOL_HD AvgWindow avg_window(const PoolGeom& g, int o, int q, bool count_include_pad,
                                   int64_t divisor_override) {
  int h0 = o * g.sh - g.ph, w0 = q * g.sw - g.pw;
  int h1 = min(h0 + g.kh, g.h + g.ph), w1 = min(w0 + g.kw, g.w + g.pw);
  const int64_t pool = static_cast<int64_t>(h1 - h0) * (w1 - w0);
  h0 = max(h0, 0);
  w0 = max(w0, 0);
  h1 = min(h1, g.h);
  w1 = min(w1, g.w);
  const int64_t div = divisor_override    ? divisor_override
                      : count_include_pad ? pool
                                          : static_cast<int64_t>(h1 - h0) * (w1 - w0);
  return {h0, h1, w0, w1, div};
}

// The outputs [*first, *last] along one dim whose average window [o s - pad, o s - pad + k)
// covers input index i (empty when *first > *last). Exact: the clipping of avg_window
// never removes an input index from a window.
EMBER_POOL_HD void avg_cover(int i, int out, int k, int s, int pad, int* first, int* last) {
  const int lo = i + pad - k + 1;  // o s >= lo
  *first = lo <= 0 ? 0 : (lo + s - 1) / s;
  *last = min(out - 1, (i + pad) / s);
}

// adaptive_avg_pool2d's window of output o: [start, end) of in.
EMBER_POOL_HD int adaptive_start(int o, int in, int out) {
  return static_cast<int>(static_cast<int64_t>(o) * in / out);
}
EMBER_POOL_HD int adaptive_end(int o, int in, int out) {
  return static_cast<int>((static_cast<int64_t>(o + 1) * in + out - 1) / out);
}

// The outputs [*first, *last] whose adaptive window covers input index i: start(o) <= i
// iff o <= ((i + 1) out - 1) / in, end(o) > i iff o >= i out / in.
EMBER_POOL_HD void adaptive_cover(int i, int in, int out, int* first, int* last) {
  *first = static_cast<int>(static_cast<int64_t>(i) * out / in);
  *last = min(out - 1, static_cast<int>((static_cast<int64_t>(i + 1) * out - 1) / in));
}

}  // namespace ember::cuda
