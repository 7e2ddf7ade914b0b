// 2-D pooling over (planes = n * c, h, w) planes, float32 and float64, contiguous: max (with
// the argmax indices its backward scatters through), average and adaptive average, forward
// and backward. One plane is one work item, computed by one thread in a fixed order, so
// results do not depend on the thread count.
//
// Arguments are validated by the bindings (csrc/bindings/bind_pool.cpp); kernels trust them.
#pragma once
#include <cstdint>

namespace ember::cpu {

struct PoolShape {
  int64_t planes, h, w, oh, ow;
  int64_t kh, kw, sh, sw, ph, pw, dh, dw;
};
// Output size with PyTorch's rule (ceil_mode: the last window must start inside the input
// or its left padding).
// (Inline: the CUDA bindings share it.)
inline int64_t pool_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil,
                             bool ceil_mode) {
  const int64_t span = in + 2 * pad - dil * (k - 1) - 1;
  if (span < 0) return 0;
  int64_t out = (span + (ceil_mode ? stride - 1 : 0)) / stride + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

// y = max over the window (padding is -inf; NaN wins), idx = flat h * w index of the
// first maximum in the plane (int64).
template <typename T>
void max_pool2d_forward(const PoolShape& s, const T* x, T* y, int64_t* idx);
// gx = 0, then gx[idx] += gy per plane (windows overlap: summed in output order).
template <typename T>
void max_pool2d_backward(const PoolShape& s, const T* gy, const int64_t* idx, T* gx);
// divisor_override 0: none.
template <typename T>
void avg_pool2d_forward(const PoolShape& s, const T* x, T* y, bool count_include_pad,
                        int64_t divisor_override);
template <typename T>
void avg_pool2d_backward(const PoolShape& s, const T* gy, T* gx, bool count_include_pad,
                         int64_t divisor_override);
// Window of output o: [floor(o * in / out), ceil((o + 1) * in / out)).
template <typename T>
void adaptive_avg_pool2d_forward(int64_t planes, int64_t h, int64_t w, int64_t oh, int64_t ow,
                                 const T* x, T* y);
template <typename T>
void adaptive_avg_pool2d_backward(int64_t planes, int64_t h, int64_t w, int64_t oh, int64_t ow,
                                  const T* gy, T* gx);

}  // namespace ember::cpu
