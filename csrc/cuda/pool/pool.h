// 2-D pooling on CUDA over (planes = n c, h, w), float32 / float64, contiguous: max (with
// the argmax indices of the CPU kernel), average and adaptive average, forward and
// backward, with the CPU's results: the same windows, the same summation order per
// element. Backward passes gather (one thread per input element, its covering windows in
// output order) where the geometry is known; max pooling's backward, given only the
// indices, scatters each plane serially in output order. No atomics: deterministic.
#pragma once
#include <cstdint>
#include <vector>

#include "cpu/pool/pool.h"

namespace ember::cuda {

struct PoolGeom {
  int64_t planes;
  int h, w, oh, ow;
  int kh, kw, sh, sw, ph, pw, dh, dw;
};

// False when a size (padded, dilated) exceeds int32 (the kernels' index type).
bool pool_geom_fits(const cpu::PoolShape& s);
PoolGeom pool_geom(const cpu::PoolShape& s);
// For adaptive pooling (only the sizes).
PoolGeom adaptive_geom(int64_t planes, int64_t h, int64_t w, int64_t oh, int64_t ow);

// Host test hooks, the kernels' window math: per output (o, q) of avg_pool2d its clipped
// window and divisor (h0, h1, w0, w1, div); per input index along one dim the outputs
// [first, last] whose window covers it (average: kernel k, stride s, padding pad; adaptive:
// in -> out).
std::vector<int64_t> avg_pool_windows(const PoolGeom& g, bool count_include_pad,
                                      int64_t divisor_override);
std::vector<int64_t> avg_pool_cover(int in, int out, int k, int s, int pad);
std::vector<int64_t> adaptive_pool_cover(int in, int out);

template <typename T>
void max_pool2d_forward(const PoolGeom& g, const T* x, T* y, int64_t* idx, int device);
// Checks every index against the plane (IndexError naming op) before writing gx.
template <typename T>
void max_pool2d_backward(const PoolGeom& g, const T* gy, const int64_t* idx, T* gx, int device);
template <typename T>
void avg_pool2d_forward(const PoolGeom& g, const T* x, T* y, bool count_include_pad,
                        int64_t divisor_override, int device);
template <typename T>
void avg_pool2d_backward(const PoolGeom& g, const T* gy, T* gx, bool count_include_pad,
                         int64_t divisor_override, int device);
template <typename T>
void adaptive_avg_pool2d_forward(const PoolGeom& g, const T* x, T* y, int device);
template <typename T>
void adaptive_avg_pool2d_backward(const PoolGeom& g, const T* gy, T* gx, int device);

}  // namespace ember::cuda
