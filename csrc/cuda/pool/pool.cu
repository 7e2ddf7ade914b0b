// Pooling kernels (pool.h): one thread per output element forward, one per input element
// for the gathering backward passes; grid-stride loops over int64 element counts.
#include <algorithm>
#include <climits>

#include "core/error.h"
#include "cuda/cuda_check.h"
#include "cuda/first_bad.cuh"
#include "cuda/pool/pool.h"
#include "cuda/pool/pool_window.cuh"
#include "cuda/runtime.h"
#include "cuda/scratch.h"
#include "cuda/stream.h"

namespace ember::cuda {

namespace {

constexpr int kThreads = 256;

unsigned grid_for(int64_t n) {
  return static_cast<unsigned>(std::clamp<int64_t>((n + kThreads - 1) / kThreads, 1, 65536));
}

#define EMBER_GRID_STRIDE(e, n)                                                          \
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < (n); \
       e += static_cast<int64_t>(gridDim.x) * blockDim.x)

template <typename T>
__global__ void max_pool_kernel(PoolGeom g, const T* __restrict__ x, T* __restrict__ y,
                                int64_t* __restrict__ idx) {
  const int64_t opix = static_cast<int64_t>(g.oh) * g.ow, ipix = static_cast<int64_t>(g.h) * g.w;
  EMBER_GRID_STRIDE(e, g.planes * opix) {
    const int64_t plane = e / opix;
    const int r = static_cast<int>(e - plane * opix), o = r / g.ow, q = r - o * g.ow;
    const T* xp = x + plane * ipix;
    T best = -INFINITY;
    int64_t bi = -1;
    for (int i = 0; i < g.kh; ++i) {
      const int ih = o * g.sh - g.ph + i * g.dh;
      if (ih < 0 || ih >= g.h) continue;
      for (int j = 0; j < g.kw; ++j) {
        const int iw = q * g.sw - g.pw + j * g.dw;
        if (iw < 0 || iw >= g.w) continue;
        const T v = xp[static_cast<int64_t>(ih) * g.w + iw];
        // NaN wins and sticks; ties keep the first (the CPU rule).
        if (bi < 0 || v > best || (v != v && best == best)) {
          best = v;
          bi = static_cast<int64_t>(ih) * g.w + iw;
        }
      }
    }
    y[e] = best;
    idx[e] = bi < 0 ? 0 : bi;
  }
}

// One thread per plane adds its grad outputs in output order (the CPU's order); gx was
// zeroed.
template <typename T>
__global__ void max_pool_backward_kernel(PoolGeom g, const T* __restrict__ gy,
                                         const int64_t* __restrict__ idx, T* __restrict__ gx) {
  const int64_t opix = static_cast<int64_t>(g.oh) * g.ow, ipix = static_cast<int64_t>(g.h) * g.w;
  EMBER_GRID_STRIDE(plane, g.planes) {
    T* gp = gx + plane * ipix;
    for (int64_t e = plane * opix; e < (plane + 1) * opix; ++e) gp[idx[e]] += gy[e];
  }
}

template <typename T>
__global__ void avg_pool_kernel(PoolGeom g, const T* __restrict__ x, T* __restrict__ y,
                                bool include_pad, int64_t divisor_override) {
  const int64_t opix = static_cast<int64_t>(g.oh) * g.ow, ipix = static_cast<int64_t>(g.h) * g.w;
  EMBER_GRID_STRIDE(e, g.planes * opix) {
    const int64_t plane = e / opix;
    const int r = static_cast<int>(e - plane * opix), o = r / g.ow, q = r - o * g.ow;
    const AvgWindow wd = avg_window(g, o, q, include_pad, divisor_override);
    const T* xp = x + plane * ipix;
    T sum = T(0);
    for (int ih = wd.h0; ih < wd.h1; ++ih)
      for (int iw = wd.w0; iw < wd.w1; ++iw) sum += xp[static_cast<int64_t>(ih) * g.w + iw];
    y[e] = (wd.h0 >= wd.h1 || wd.w0 >= wd.w1) ? T(0) : sum / T(wd.div);
  }
}

template <typename T>
__global__ void avg_pool_backward_kernel(PoolGeom g, const T* __restrict__ gy, T* __restrict__ gx,
                                         bool include_pad, int64_t divisor_override) {
  const int64_t opix = static_cast<int64_t>(g.oh) * g.ow, ipix = static_cast<int64_t>(g.h) * g.w;
  EMBER_GRID_STRIDE(e, g.planes * ipix) {
    const int64_t plane = e / ipix;
    const int r = static_cast<int>(e - plane * ipix), ih = r / g.w, iw = r - ih * g.w;
    int o0, o1, q0, q1;
    avg_cover(ih, g.oh, g.kh, g.sh, g.ph, &o0, &o1);
    avg_cover(iw, g.ow, g.kw, g.sw, g.pw, &q0, &q1);
    const T* gp = gy + plane * opix;
    T acc = T(0);
    for (int o = o0; o <= o1; ++o)
      for (int q = q0; q <= q1; ++q) {
        const AvgWindow wd = avg_window(g, o, q, include_pad, divisor_override);
        acc += gp[static_cast<int64_t>(o) * g.ow + q] / T(wd.div);
      }
    gx[e] = acc;
  }
}

template <typename T>
__global__ void adaptive_pool_kernel(PoolGeom g, const T* __restrict__ x, T* __restrict__ y) {
  const int64_t opix = static_cast<int64_t>(g.oh) * g.ow, ipix = static_cast<int64_t>(g.h) * g.w;
  EMBER_GRID_STRIDE(e, g.planes * opix) {
    const int64_t plane = e / opix;
    const int r = static_cast<int>(e - plane * opix), o = r / g.ow, q = r - o * g.ow;
    const int h0 = adaptive_start(o, g.h, g.oh), h1 = adaptive_end(o, g.h, g.oh);
    const int w0 = adaptive_start(q, g.w, g.ow), w1 = adaptive_end(q, g.w, g.ow);
    const T* xp = x + plane * ipix;
    T sum = T(0);
    for (int ih = h0; ih < h1; ++ih)
      for (int iw = w0; iw < w1; ++iw) sum += xp[static_cast<int64_t>(ih) * g.w + iw];
    y[e] = sum / T(static_cast<int64_t>(h1 - h0) * (w1 - w0));
  }
}

template <typename T>
__global__ void adaptive_pool_backward_kernel(PoolGeom g, const T* __restrict__ gy,
                                              T* __restrict__ gx) {
  const int64_t opix = static_cast<int64_t>(g.oh) * g.ow, ipix = static_cast<int64_t>(g.h) * g.w;
  EMBER_GRID_STRIDE(e, g.planes * ipix) {
    const int64_t plane = e / ipix;
    const int r = static_cast<int>(e - plane * ipix), ih = r / g.w, iw = r - ih * g.w;
    int o0, o1, q0, q1;
    adaptive_cover(ih, g.h, g.oh, &o0, &o1);
    adaptive_cover(iw, g.w, g.ow, &q0, &q1);
    const T* gp = gy + plane * opix;
    T acc = T(0);
    for (int o = o0; o <= o1; ++o) {
      const int hn = adaptive_end(o, g.h, g.oh) - adaptive_start(o, g.h, g.oh);
      for (int q = q0; q <= q1; ++q) {
        const int wn = adaptive_end(q, g.w, g.ow) - adaptive_start(q, g.w, g.ow);
        acc += gp[static_cast<int64_t>(o) * g.ow + q] / T(static_cast<int64_t>(hn) * wn);
      }
    }
    gx[e] = acc;
  }
}

}  // namespace

bool pool_geom_fits(const cpu::PoolShape& s) {
  const int64_t lim = INT_MAX;
  for (int64_t v : {s.h + 2 * s.ph + s.dh * s.kh + s.sh, s.w + 2 * s.pw + s.dw * s.kw + s.sw,
                    s.oh * s.sh + s.dh * s.kh, s.ow * s.sw + s.dw * s.kw})
    if (v > lim) return false;
  return true;
}

PoolGeom pool_geom(const cpu::PoolShape& s) {
  auto i = [](int64_t v) { return static_cast<int>(v); };
  return {s.planes, i(s.h),  i(s.w),  i(s.oh), i(s.ow), i(s.kh), i(s.kw),
          i(s.sh),  i(s.sw), i(s.ph), i(s.pw), i(s.dh), i(s.dw)};
}

PoolGeom adaptive_geom(int64_t planes, int64_t h, int64_t w, int64_t oh, int64_t ow) {
  auto i = [](int64_t v) { return static_cast<int>(v); };
  return {planes, i(h), i(w), i(oh), i(ow), 1, 1, 1, 1, 0, 0, 1, 1};
}

std::vector<int64_t> avg_pool_windows(const PoolGeom& g, bool count_include_pad,
                                      int64_t divisor_override) {
  std::vector<int64_t> out;
  for (int o = 0; o < g.oh; ++o)
    for (int q = 0; q < g.ow; ++q) {
      const AvgWindow wd = avg_window(g, o, q, count_include_pad, divisor_override);
      out.insert(out.end(), {wd.h0, wd.h1, wd.w0, wd.w1, wd.div});
    }
  return out;
}

std::vector<int64_t> avg_pool_cover(int in, int out, int k, int s, int pad) {
  std::vector<int64_t> r;
  for (int i = 0; i < in; ++i) {
    int a, b;
    avg_cover(i, out, k, s, pad, &a, &b);
    r.insert(r.end(), {a, b});
  }
  return r;
}

std::vector<int64_t> adaptive_pool_cover(int in, int out) {
  std::vector<int64_t> r;
  for (int i = 0; i < in; ++i) {
    int a, b;
    adaptive_cover(i, in, out, &a, &b);
    r.insert(r.end(), {a, b});
  }
  return r;
}

template <typename T>
void max_pool2d_forward(const PoolGeom& g, const T* x, T* y, int64_t* idx, int device) {
  const int64_t n = g.planes * g.oh * g.ow;
  if (n == 0) return;
  DeviceGuard guard(device);
  max_pool_kernel<T><<<grid_for(n), kThreads, 0, current_stream()>>>(g, x, y, idx);
  EMBER_CUDA_CHECK_LAUNCH("ember.max_pool2d");
}

template <typename T>
void max_pool2d_backward(const PoolGeom& g, const T* gy, const int64_t* idx, T* gx, int device) {
  const char* op = "ember.max_pool2d_backward";
  const int64_t n = g.planes * g.oh * g.ow, nin = g.planes * g.h * g.w;
  if (nin == 0) return;
  DeviceGuard guard(device);
  // the scatter trusts the indices: check them first
  const BadElement bad =
      first_bad(device, idx, n, OutsideRange<int64_t>{0, int64_t{g.h} * g.w - 1}, op);
  EMBER_CHECK(bad.position < 0, IndexError, op, ": index ", bad.value,
              " out of range for a plane of ", g.h, " x ", g.w);
  EMBER_CUDA_CHECK(cudaMemsetAsync(gx, 0, nin * sizeof(T), current_stream()),
                   op);  // all-zero bits: +0.0
  if (n == 0) return;
  max_pool_backward_kernel<T>
      <<<grid_for(g.planes), kThreads, 0, current_stream()>>>(g, gy, idx, gx);
  EMBER_CUDA_CHECK_LAUNCH(op);
}

template <typename T>
void avg_pool2d_forward(const PoolGeom& g, const T* x, T* y, bool count_include_pad,
                        int64_t divisor_override, int device) {
  const int64_t n = g.planes * g.oh * g.ow;
  if (n == 0) return;
  DeviceGuard guard(device);
  avg_pool_kernel<T><<<grid_for(n), kThreads, 0, current_stream()>>>(g, x, y, count_include_pad,
                                                                     divisor_override);
  EMBER_CUDA_CHECK_LAUNCH("ember.avg_pool2d");
}

template <typename T>
void avg_pool2d_backward(const PoolGeom& g, const T* gy, T* gx, bool count_include_pad,
                         int64_t divisor_override, int device) {
  const int64_t n = g.planes * g.h * g.w;
  if (n == 0) return;
  DeviceGuard guard(device);
  avg_pool_backward_kernel<T><<<grid_for(n), kThreads, 0, current_stream()>>>(
      g, gy, gx, count_include_pad, divisor_override);
  EMBER_CUDA_CHECK_LAUNCH("ember.avg_pool2d_backward");
}

template <typename T>
void adaptive_avg_pool2d_forward(const PoolGeom& g, const T* x, T* y, int device) {
  const int64_t n = g.planes * g.oh * g.ow;
  if (n == 0) return;
  DeviceGuard guard(device);
  adaptive_pool_kernel<T><<<grid_for(n), kThreads, 0, current_stream()>>>(g, x, y);
  EMBER_CUDA_CHECK_LAUNCH("ember.adaptive_avg_pool2d");
}

template <typename T>
void adaptive_avg_pool2d_backward(const PoolGeom& g, const T* gy, T* gx, int device) {
  const int64_t n = g.planes * g.h * g.w;
  if (n == 0) return;
  DeviceGuard guard(device);
  adaptive_pool_backward_kernel<T><<<grid_for(n), kThreads, 0, current_stream()>>>(g, gy, gx);
  EMBER_CUDA_CHECK_LAUNCH("ember.adaptive_avg_pool2d_backward");
}

#define EMBER_POOL_INSTANTIATE(T)                                                           \
  template void max_pool2d_forward<T>(const PoolGeom&, const T*, T*, int64_t*, int);        \
  template void max_pool2d_backward<T>(const PoolGeom&, const T*, const int64_t*, T*, int); \
  template void avg_pool2d_forward<T>(const PoolGeom&, const T*, T*, bool, int64_t, int);   \
  template void avg_pool2d_backward<T>(const PoolGeom&, const T*, T*, bool, int64_t, int);  \
  template void adaptive_avg_pool2d_forward<T>(const PoolGeom&, const T*, T*, int);         \
  template void adaptive_avg_pool2d_backward<T>(const PoolGeom&, const T*, T*, int);
EMBER_POOL_INSTANTIATE(float)
EMBER_POOL_INSTANTIATE(double)
#undef EMBER_POOL_INSTANTIATE

}  // namespace ember::cuda
