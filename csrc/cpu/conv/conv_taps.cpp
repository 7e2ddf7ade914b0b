// Tap planes and grad-input phases of strided convolutions (see conv_taps.h).
#include "cpu/conv/conv_taps.h"

#include <cstdlib>
#include <cstring>

#include "core/parallel.h"

namespace ember::cpu {

namespace {

// e mod s, in [0, s).
inline int64_t phase_of(int64_t e, int64_t s) { return (e % s + s) % s; }

}  // namespace

bool tap_planes_apply(const ConvShape& s) {
  if (s.sh == 1 && s.sw == 1) return false;
  if (s.groups > 1 && s.groups == s.c) return false;  // depthwise has its own kernels
  const char* env = std::getenv("EMBER_CONV_TAPS");
  return !(env && std::strcmp(env, "0") == 0);
}

TapGeom conv_taps(const ConvShape& s) {
  TapGeom g{s.c, s.h, s.w, s.oh, s.ow, s.sh, s.sw, {}, {}};
  for (int64_t i = 0; i < s.kh; ++i) g.e.push_back(i * s.dh - s.ph);
  for (int64_t j = 0; j < s.kw; ++j) g.f.push_back(j * s.dw - s.pw);
  return g;
}

TapPlanes tap_planes(const TapGeom& g) {
  TapPlanes tp;
  const int64_t nu = static_cast<int64_t>(g.e.size()), nv = static_cast<int64_t>(g.f.size());
  tp.off.assign(nu * nv, 0);
  tp.cs.assign(nu * nv, 0);
  int64_t off = 0;
  for (int64_t pr = 0; pr < g.sh; ++pr) {
    int64_t amin = 0, amax = 0;
    bool any = false;
    for (int64_t u = 0; u < nu; ++u) {
      if (phase_of(g.e[u], g.sh) != pr) continue;
      const int64_t a = (g.e[u] - pr) / g.sh;
      amin = any && amin < a ? amin : a;
      amax = any && amax > a ? amax : a;
      any = true;
    }
    if (!any) continue;
    const int64_t rows = g.oh + amax - amin, plane = rows * g.ow;
    for (int64_t v = 0; v < nv; ++v) {  // column offsets are distinct: one plane each
      tp.planes.push_back({pr, g.f[v], amin, rows, off});
      for (int64_t u = 0; u < nu; ++u) {
        if (phase_of(g.e[u], g.sh) != pr) continue;
        tp.off[u * nv + v] = off + ((g.e[u] - pr) / g.sh - amin) * g.ow;
        tp.cs[u * nv + v] = plane;
      }
      off += g.c * plane;
    }
  }
  tp.image_size = off;
  return tp;
}

template <typename T>
void build_tap_planes(const TapGeom& g, int64_t n, const TapPlanes& tp, const T* x, T* dst,
                      bool parallel) {
  const int64_t hw = g.h * g.w, np = static_cast<int64_t>(tp.planes.size());
  // One item per (image, channel): every plane of one input channel.
  parallel_chunks(n * g.c, 1, parallel ? np * g.oh * g.ow : 0, [&](int64_t b, int64_t e) {
    for (int64_t it = b; it < e; ++it) {
      const int64_t img = it / g.c, c = it % g.c;
      const T* xp = x + it * hw;
      for (const TapPlanes::Plane& pl : tp.planes) {
        T* d = dst + img * tp.image_size + pl.off + c * pl.rows * g.ow;
        // Columns pl.f + q sw inside [0, w): q in [lo, hi).
        const int64_t i0 = pl.f;
        int64_t lo = i0 >= 0 ? 0 : (-i0 + g.sw - 1) / g.sw;
        int64_t hi = i0 > g.w - 1 ? 0 : (g.w - 1 - i0) / g.sw + 1;
        if (lo > g.ow) lo = g.ow;
        if (hi > g.ow) hi = g.ow;
        if (hi < lo) hi = lo;
        for (int64_t r = 0; r < pl.rows; ++r, d += g.ow) {
          const int64_t ih = (r + pl.amin) * g.sh + pl.pr;
          if (ih < 0 || ih >= g.h) {
            for (int64_t q = 0; q < g.ow; ++q) d[q] = T(0);
            continue;
          }
          const T* xr = xp + ih * g.w + i0;
          for (int64_t q = 0; q < lo; ++q) d[q] = T(0);
          if (g.sw == 1) {
            for (int64_t q = lo; q < hi; ++q) d[q] = xr[q];
          } else if (g.sw == 2) {  // the common stride as its own loop, to vectorize
            for (int64_t q = lo; q < hi; ++q) d[q] = xr[2 * q];
          } else {
            for (int64_t q = lo; q < hi; ++q) d[q] = xr[q * g.sw];
          }
          for (int64_t q = hi; q < g.ow; ++q) d[q] = T(0);
        }
      }
    }
  });
}

template void build_tap_planes<float>(const TapGeom&, int64_t, const TapPlanes&, const float*,
                                      float*, bool);
template void build_tap_planes<double>(const TapGeom&, int64_t, const TapPlanes&, const double*,
                                       double*, bool);

}  // namespace ember::cpu
