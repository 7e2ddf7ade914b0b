// Int8 convolution plumbing (csrc/cpu/qconv): the fused static quantize + im2col and the
// pixel-rows -> NCHW transpose. The geometry (kernel, stride, dilation, padding, the window
// fitting the padded input), the qparams and every tensor's dtype, shape, contiguity and
// overlap are checked before a kernel touches memory; the kernels run without the GIL.
#include <array>
#include <cmath>

#include "bindings/bindings.h"
#include "bindings/checks.h"
#include "core/checked_math.h"
#include "core/error.h"
#include "cpu/qconv/qconv.h"

namespace ember::bindings {
namespace {

constexpr const char* kIm2col = "ember.ops.qconv.quantize_im2col_u8";
constexpr const char* kToNchw = "ember.ops.qconv.rows_to_nchw";

// The output size along one dimension, or a ValueError when the window does not fit.
int64_t out_size(int64_t in, int64_t pad_lo, int64_t pad_hi, int64_t k, int64_t s, int64_t d,
                 const char* dim) {
  const int64_t padded = checked_add(checked_add(in, pad_lo, kIm2col, "the padded ", dim), pad_hi,
                                     kIm2col, "the padded ", dim);
  const int64_t span = checked_add(checked_mul(d, k - 1, kIm2col, "the dilated kernel ", dim), 1,
                                   kIm2col, "the dilated kernel ", dim);
  EMBER_CHECK(span <= padded, ValueError, kIm2col, ": the dilated kernel ", dim, " ", span,
              " does not fit the padded input ", dim, " ", padded);
  return (padded - span) / s + 1;
}

void quantize_im2col(TensorRef x, Pair kernel, Pair stride, std::array<int64_t, 4> padding,
                     Pair dilation, double scale, int64_t zero, TensorRef rows) {
  check_cpu_contiguous(x, kIm2col, "input");
  check_dtype(x, DType::Float32, kIm2col, "input");
  EMBER_CHECK(x.ndim() == 4, ValueError, kIm2col, ": input must be (N, C, H, W), got shape ",
              shape_str(x.shape));
  check_positive(kernel.first, kIm2col, "kernel height");
  check_positive(kernel.second, kIm2col, "kernel width");
  check_positive(stride.first, kIm2col, "stride height");
  check_positive(stride.second, kIm2col, "stride width");
  check_positive(dilation.first, kIm2col, "dilation height");
  check_positive(dilation.second, kIm2col, "dilation width");
  for (int64_t p : padding) check_nonnegative(p, kIm2col, "padding");
  const float s = static_cast<float>(scale);
  EMBER_CHECK(std::isfinite(s) && s > 0.0f, ValueError, kIm2col,
              ": scale must be a positive finite float32, got ", scale);
  check_range(zero, 0, 255, kIm2col, "zero point");
  cpu::QconvGeometry g{x.shape[0],
                       x.shape[1],
                       x.shape[2],
                       x.shape[3],
                       kernel.first,
                       kernel.second,
                       stride.first,
                       stride.second,
                       dilation.first,
                       dilation.second,
                       padding[0],
                       padding[1],
                       padding[2],
                       padding[3],
                       0,
                       0};
  EMBER_CHECK(g.n >= 1 && g.c >= 1 && g.h >= 1 && g.w >= 1, ValueError, kIm2col,
              ": input of shape ", shape_str(x.shape), " is empty");
  g.oh = out_size(g.h, g.top, g.bottom, g.kh, g.sh, g.dh, "height");
  g.ow = out_size(g.w, g.left, g.right, g.kw, g.sw, g.dw, "width");
  // the padded code image the kernel allocates must have a representable size
  checked_mul(checked_mul(checked_mul(g.n, g.h + g.top + g.bottom, kIm2col, "the padded input"),
                          g.w + g.left + g.right, kIm2col, "the padded input"),
              g.c, kIm2col, "the padded input");
  const int64_t m =
      checked_mul(checked_mul(g.n, g.oh, kIm2col, "the rows"), g.ow, kIm2col, "the rows");
  const int64_t k = checked_mul(checked_mul(g.kh, g.kw, kIm2col, "K"), g.c, kIm2col, "K");
  check_cpu_contiguous(rows, kIm2col, "rows");
  check_dtype(rows, DType::Int8, kIm2col, "rows");
  check_shape(rows, Shape{m, k}, kIm2col, "rows");
  check_writable(rows, kIm2col, "rows");
  check_no_overlap(rows, x, kIm2col, "rows", "input");
  py::gil_scoped_release nogil;
  cpu::qconv_quantize_im2col(x.data_as<float>(), g, s, static_cast<int32_t>(zero),
                             reinterpret_cast<uint8_t*>(rows.data_as<int8_t>()));
}

void to_nchw(TensorRef in, TensorRef out) {
  check_cpu_contiguous(in, kToNchw, "input");
  check_dtype(in, DType::Float32, kToNchw, "input");
  EMBER_CHECK(in.ndim() == 3, ValueError, kToNchw, ": input must be (N, P, C), got shape ",
              shape_str(in.shape));
  check_cpu_contiguous(out, kToNchw, "out");
  check_dtype(out, DType::Float32, kToNchw, "out");
  check_shape(out, Shape{in.shape[0], in.shape[2], in.shape[1]}, kToNchw, "out");
  check_writable(out, kToNchw, "out");
  check_no_overlap(out, in, kToNchw, "out", "input");
  py::gil_scoped_release nogil;
  cpu::qconv_rows_to_nchw(in.data_as<float>(), in.shape[0], in.shape[1], in.shape[2],
                          out.data_as<float>());
}

}  // namespace

void bind_qconv(py::module_& m) {
  m.def("qconv_quantize_im2col", &quantize_im2col, py::arg("input"), py::arg("kernel"),
        py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("scale"),
        py::arg("zero"), py::arg("rows"));
  m.def("qconv_rows_to_nchw", &to_nchw, py::arg("input"), py::arg("out"));
}

}  // namespace ember::bindings
