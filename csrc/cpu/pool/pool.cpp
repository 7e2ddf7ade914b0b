// Pooling over (planes, h, w): max (with the argmax indices the backward scatters
// through), average and adaptive average, forward and backward. One plane is one work
// item, computed by one thread in a fixed order, so results do not depend on the thread
// count. Memory-bound: plain loops the compiler vectorizes where it can.
#include <cmath>
#include <limits>

#include "core/parallel.h"
#include "cpu/driver_util.h"
#include "cpu/pool/pool.h"

namespace ember::cpu {

namespace {

// Planes per parallel piece so that a piece holds about kParallelGrain elements.
int64_t plane_chunk(int64_t plane_elems) {
  return max64(1, kParallelGrain / max64(1, plane_elems));
}

// PyTorch's avg_pool2d window: [start, end) clipped to the input, and the divisor.
struct AvgWin {
  int64_t h0, h1, w0, w1, div;
};
AvgWin avg_window(const PoolShape& s, int64_t o, int64_t q, bool count_include_pad,
                  int64_t divisor_override) {
  int64_t h0 = o * s.sh - s.ph, w0 = q * s.sw - s.pw;
  int64_t h1 = min64(h0 + s.kh, s.h + s.ph), w1 = min64(w0 + s.kw, s.w + s.pw);
  const int64_t pool = (h1 - h0) * (w1 - w0);
  h0 = max64(h0, 0);
  w0 = max64(w0, 0);
  h1 = min64(h1, s.h);
  w1 = min64(w1, s.w);
  int64_t div = divisor_override    ? divisor_override
                : count_include_pad ? pool
                                    : (h1 - h0) * (w1 - w0);
  return {h0, h1, w0, w1, div};
}

int64_t adaptive_start(int64_t o, int64_t in, int64_t out) { return (o * in) / out; }
int64_t adaptive_end(int64_t o, int64_t in, int64_t out) { return ((o + 1) * in + out - 1) / out; }

}  // namespace

template <typename T>
void max_pool2d_forward(const PoolShape& s, const T* x, T* y, int64_t* idx) {
  const int64_t in_plane = s.h * s.w, out_plane = s.oh * s.ow;
  parallel_chunks(s.planes, plane_chunk(in_plane + out_plane), in_plane + out_plane,
                  [&](int64_t p0, int64_t p1) {
                    for (int64_t p = p0; p < p1; ++p) {
                      const T* xp = x + p * in_plane;
                      T* yp = y + p * out_plane;
                      int64_t* ip = idx + p * out_plane;
                      for (int64_t o = 0; o < s.oh; ++o)
                        for (int64_t q = 0; q < s.ow; ++q) {
                          T best = -std::numeric_limits<T>::infinity();
                          int64_t bi = -1;
                          for (int64_t i = 0; i < s.kh; ++i) {
                            const int64_t ih = o * s.sh - s.ph + i * s.dh;
                            if (ih < 0 || ih >= s.h) continue;
                            for (int64_t j = 0; j < s.kw; ++j) {
                              const int64_t iw = q * s.sw - s.pw + j * s.dw;
                              if (iw < 0 || iw >= s.w) continue;
                              const T v = xp[ih * s.w + iw];
                              // NaN wins and sticks; ties keep the first.
                              if (bi < 0 || v > best || (v != v && best == best)) {
                                best = v;
                                bi = ih * s.w + iw;
                              }
                            }
                          }
                          yp[o * s.ow + q] = best;
                          ip[o * s.ow + q] = bi < 0 ? 0 : bi;
                        }
                    }
                  });
}

template <typename T>
void max_pool2d_backward(const PoolShape& s, const T* gy, const int64_t* idx, T* gx) {
  const int64_t in_plane = s.h * s.w, out_plane = s.oh * s.ow;
  parallel_chunks(s.planes, plane_chunk(in_plane + out_plane), in_plane + out_plane,
                  [&](int64_t p0, int64_t p1) {
                    for (int64_t p = p0; p < p1; ++p) {
                      T* g = gx + p * in_plane;
                      for (int64_t e = 0; e < in_plane; ++e) g[e] = T(0);
                      const T* gp = gy + p * out_plane;
                      const int64_t* ip = idx + p * out_plane;
                      for (int64_t e = 0; e < out_plane; ++e) g[ip[e]] += gp[e];
                    }
                  });
}

template <typename T>
void avg_pool2d_forward(const PoolShape& s, const T* x, T* y, bool count_include_pad,
                        int64_t divisor_override) {
  const int64_t in_plane = s.h * s.w, out_plane = s.oh * s.ow;
  parallel_chunks(
      s.planes, plane_chunk(in_plane + out_plane), in_plane + out_plane,
      [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
          const T* xp = x + p * in_plane;
          T* yp = y + p * out_plane;
          for (int64_t o = 0; o < s.oh; ++o)
            for (int64_t q = 0; q < s.ow; ++q) {
              const AvgWin wd = avg_window(s, o, q, count_include_pad, divisor_override);
              T sum = T(0);
              for (int64_t ih = wd.h0; ih < wd.h1; ++ih)
                for (int64_t iw = wd.w0; iw < wd.w1; ++iw) sum += xp[ih * s.w + iw];
              yp[o * s.ow + q] = (wd.h0 >= wd.h1 || wd.w0 >= wd.w1) ? T(0) : sum / T(wd.div);
            }
        }
      });
}

template <typename T>
void avg_pool2d_backward(const PoolShape& s, const T* gy, T* gx, bool count_include_pad,
                         int64_t divisor_override) {
  const int64_t in_plane = s.h * s.w, out_plane = s.oh * s.ow;
  parallel_chunks(s.planes, plane_chunk(in_plane + out_plane), in_plane + out_plane,
                  [&](int64_t p0, int64_t p1) {
                    for (int64_t p = p0; p < p1; ++p) {
                      T* g = gx + p * in_plane;
                      for (int64_t e = 0; e < in_plane; ++e) g[e] = T(0);
                      const T* gp = gy + p * out_plane;
                      for (int64_t o = 0; o < s.oh; ++o)
                        for (int64_t q = 0; q < s.ow; ++q) {
                          const AvgWin wd =
                              avg_window(s, o, q, count_include_pad, divisor_override);
                          if (wd.h0 >= wd.h1 || wd.w0 >= wd.w1) continue;
                          const T v = gp[o * s.ow + q] / T(wd.div);
                          for (int64_t ih = wd.h0; ih < wd.h1; ++ih)
                            for (int64_t iw = wd.w0; iw < wd.w1; ++iw) g[ih * s.w + iw] += v;
                        }
                    }
                  });
}

template <typename T>
void adaptive_avg_pool2d_forward(int64_t planes, int64_t h, int64_t w, int64_t oh, int64_t ow,
                                 const T* x, T* y) {
  const int64_t in_plane = h * w, out_plane = oh * ow;
  parallel_chunks(planes, plane_chunk(in_plane + out_plane), in_plane + out_plane,
                  [&](int64_t p0, int64_t p1) {
                    for (int64_t p = p0; p < p1; ++p) {
                      const T* xp = x + p * in_plane;
                      T* yp = y + p * out_plane;
                      for (int64_t o = 0; o < oh; ++o) {
                        const int64_t h0 = adaptive_start(o, h, oh), h1 = adaptive_end(o, h, oh);
                        for (int64_t q = 0; q < ow; ++q) {
                          const int64_t w0 = adaptive_start(q, w, ow), w1 = adaptive_end(q, w, ow);
                          T sum = T(0);
                          for (int64_t ih = h0; ih < h1; ++ih)
                            for (int64_t iw = w0; iw < w1; ++iw) sum += xp[ih * w + iw];
                          yp[o * ow + q] = sum / T((h1 - h0) * (w1 - w0));
                        }
                      }
                    }
                  });
}

template <typename T>
void adaptive_avg_pool2d_backward(int64_t planes, int64_t h, int64_t w, int64_t oh, int64_t ow,
                                  const T* gy, T* gx) {
  const int64_t in_plane = h * w, out_plane = oh * ow;
  parallel_chunks(planes, plane_chunk(in_plane + out_plane), in_plane + out_plane,
                  [&](int64_t p0, int64_t p1) {
                    for (int64_t p = p0; p < p1; ++p) {
                      T* g = gx + p * in_plane;
                      for (int64_t e = 0; e < in_plane; ++e) g[e] = T(0);
                      const T* gp = gy + p * out_plane;
                      for (int64_t o = 0; o < oh; ++o) {
                        const int64_t h0 = adaptive_start(o, h, oh), h1 = adaptive_end(o, h, oh);
                        for (int64_t q = 0; q < ow; ++q) {
                          const int64_t w0 = adaptive_start(q, w, ow), w1 = adaptive_end(q, w, ow);
                          const T v = gp[o * ow + q] / T((h1 - h0) * (w1 - w0));
                          for (int64_t ih = h0; ih < h1; ++ih)
                            for (int64_t iw = w0; iw < w1; ++iw) g[ih * w + iw] += v;
                        }
                      }
                    }
                  });
}

#define EMBER_POOL_INSTANTIATE(T)                                                            \
  template void max_pool2d_forward<T>(const PoolShape&, const T*, T*, int64_t*);             \
  template void max_pool2d_backward<T>(const PoolShape&, const T*, const int64_t*, T*);      \
  template void avg_pool2d_forward<T>(const PoolShape&, const T*, T*, bool, int64_t);        \
  template void avg_pool2d_backward<T>(const PoolShape&, const T*, T*, bool, int64_t);       \
  template void adaptive_avg_pool2d_forward<T>(int64_t, int64_t, int64_t, int64_t, int64_t,  \
                                               const T*, T*);                                \
  template void adaptive_avg_pool2d_backward<T>(int64_t, int64_t, int64_t, int64_t, int64_t, \
                                                const T*, T*);
EMBER_POOL_INSTANTIATE(float)
EMBER_POOL_INSTANTIATE(double)
#undef EMBER_POOL_INSTANTIATE

}  // namespace ember::cpu
