#include "bindings/geometry.h"

#include "core/error.h"

namespace ember::bindings {

Shape conv_output_shape(const char* op, const Shape& x, const Shape& w, const Shape& stride,
                        const Shape& padding, const Shape& dilation, int64_t groups) {
  const size_t nd = stride.size();
  EMBER_CHECK(
      x.size() == nd + 2 && w.size() == nd + 2 && padding.size() == nd && dilation.size() == nd,
      ValueError, op, ": expected input and weight of ", nd + 2, " dims, got shapes ", shape_str(x),
      " and ", shape_str(w));
  EMBER_CHECK(groups >= 1, ValueError, op, ": groups must be positive, got ", groups);
  checked_numel(x, op);  // shapes from Python: sizes non-negative, products fit
  checked_numel(w, op);
  const auto all = [nd](const Shape& v, int64_t lo) {
    for (size_t i = 0; i < nd; ++i)
      if (v[i] < lo) return false;
    return true;
  };
  EMBER_CHECK(all(stride, 1), ValueError, op, ": stride must be positive, got ", shape_str(stride));
  EMBER_CHECK(all(dilation, 1), ValueError, op, ": dilation must be positive, got ",
              shape_str(dilation));
  EMBER_CHECK(all(padding, 0), ValueError, op, ": padding must be non-negative, got ",
              shape_str(padding));
  const int64_t c = x[1], k = w[0];
  EMBER_CHECK(k % groups == 0, ValueError, op, ": out_channels ", k, " (weight of shape ",
              shape_str(w), ") is not divisible by groups ", groups);
  const int64_t want_c = checked_mul(w[1], groups, op, "in_channels per group x groups");
  EMBER_CHECK(want_c == c, ValueError, op, ": weight of shape ", shape_str(w), " expects ", want_c,
              " input channels (", w[1], " per group x ", groups,
              " groups), but the input of shape ", shape_str(x), " has ", c);
  const Shape ksize(w.begin() + 2, w.end());
  EMBER_CHECK(all(ksize, 1), ValueError, op, ": kernel size must be positive, got ",
              shape_str(ksize));
  Shape dilated(nd), padded(nd), out = {x[0], k};
  for (size_t i = 0; i < nd; ++i) {
    dilated[i] = checked_add(checked_mul(dilation[i], ksize[i] - 1, op, "the dilated kernel size"),
                             1, op, "the dilated kernel size");
    padded[i] = checked_add(x[2 + i], checked_mul(2, padding[i], op, "the padding"), op,
                            "the padded input size");
  }
  for (size_t i = 0; i < nd; ++i) {
    EMBER_CHECK(dilated[i] <= padded[i], ValueError, op, ": kernel size ", shape_str(ksize),
                " (dilated ", shape_str(dilated), ") is larger than the padded input ",
                shape_str(padded), ": input of shape ", shape_str(x), ", padding ",
                shape_str(padding));
    out.push_back(cpu::conv_out_size(x[2 + i], ksize[i], stride[i], padding[i], dilation[i]));
  }
  return out;
}

cpu::ConvShape conv2d_shape(const char* op, const Shape& x, const Shape& w, const Pair& stride,
                            const Pair& padding, const Pair& dilation, int64_t groups) {
  EMBER_CHECK(x.size() == 4, ValueError, op, ": expected a 4-D input (N, C, H, W), got shape ",
              shape_str(x));
  EMBER_CHECK(w.size() == 4, ValueError, op,
              ": expected a 4-D weight (out_channels, in_channels / groups, kH, kW), got shape ",
              shape_str(w));
  const Shape out =
      conv_output_shape(op, x, w, {stride.first, stride.second}, {padding.first, padding.second},
                        {dilation.first, dilation.second}, groups);
  cpu::ConvShape s{};
  s.n = x[0];
  s.c = x[1];
  s.h = x[2];
  s.w = x[3];
  s.k = w[0];
  s.kh = w[2];
  s.kw = w[3];
  s.oh = out[2];
  s.ow = out[3];
  s.sh = stride.first;
  s.sw = stride.second;
  s.ph = padding.first;
  s.pw = padding.second;
  s.dh = dilation.first;
  s.dw = dilation.second;
  s.groups = groups;
  return s;
}

void check_pool_sums(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil,
                     const char* op) {
  const int64_t padded =
      checked_add(in, checked_mul(2, pad, op, "the padding"), op, "the padded input size");
  checked_add(checked_mul(dil, k - 1, op, "the dilated kernel size"), 1, op,
              "the dilated kernel size");
  checked_add(padded, stride, op, "the padded input size plus the stride");
}

// The geometry of a pooling over an input of shape x (N, C, H, W), validated; messages name
// `op` and the shapes.
cpu::PoolShape pool_shape(const Shape& x, const Pair& kernel, const Pair& stride,
                          const Pair& padding, const Pair& dilation, bool ceil_mode,
                          const char* op) {
  EMBER_CHECK(x.size() == 4, ValueError, op, ": expected a 4-D input (N, C, H, W), got shape ",
              shape_str(x));
  checked_numel(x, op);  // a shape from Python: sizes non-negative, N * C fits
  EMBER_CHECK(kernel.first >= 1 && kernel.second >= 1, ValueError, op,
              ": kernel_size must be positive, got ", pair_str(kernel));
  EMBER_CHECK(stride.first >= 1 && stride.second >= 1, ValueError, op,
              ": stride must be positive, got ", pair_str(stride));
  EMBER_CHECK(dilation.first >= 1 && dilation.second >= 1, ValueError, op,
              ": dilation must be positive, got ", pair_str(dilation));
  EMBER_CHECK(padding.first >= 0 && padding.second >= 0, ValueError, op,
              ": padding must be non-negative, got ", pair_str(padding));
  check_pool_sums(x[2], kernel.first, stride.first, padding.first, dilation.first, op);
  check_pool_sums(x[3], kernel.second, stride.second, padding.second, dilation.second, op);
  const int64_t eh = dilation.first * (kernel.first - 1) + 1;
  const int64_t ew = dilation.second * (kernel.second - 1) + 1;
  EMBER_CHECK(2 * padding.first <= eh && 2 * padding.second <= ew, ValueError, op, ": padding ",
              pair_str(padding), " must be at most half the (dilated) kernel size (", eh, ", ", ew,
              ")");
  cpu::PoolShape s{};
  s.planes = x[0] * x[1];
  s.h = x[2];
  s.w = x[3];
  s.kh = kernel.first;
  s.kw = kernel.second;
  s.sh = stride.first;
  s.sw = stride.second;
  s.ph = padding.first;
  s.pw = padding.second;
  s.dh = dilation.first;
  s.dw = dilation.second;
  s.oh = cpu::pool_out_size(s.h, s.kh, s.sh, s.ph, s.dh, ceil_mode);
  s.ow = cpu::pool_out_size(s.w, s.kw, s.sw, s.pw, s.dw, ceil_mode);
  EMBER_CHECK(s.oh > 0 && s.ow > 0, ValueError, op, ": input of shape ", shape_str(x),
              " is too small for kernel_size ", pair_str(kernel), ", padding ", pair_str(padding),
              " and dilation ", pair_str(dilation), " (output size ", s.oh, " x ", s.ow, ")");
  return s;
}

}  // namespace ember::bindings
