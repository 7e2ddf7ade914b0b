// Convolution (csrc/cpu/conv). Every check runs before a kernel touches memory: ranks,
// shapes, dtypes (float32 or float64, all alike), devices, contiguity, overlap of outputs
// with inputs; the kernels run without the GIL.
#include <string>

#include "bindings/bindings.h"
#include "bindings/checks.h"
#include "core/error.h"
#include "cpu/conv/conv.h"

namespace ember::bindings {
namespace {

constexpr const char* kConv = "ember.conv2d";

// The geometry of a conv2d call, validated.
cpu::ConvShape conv_shape(TensorRef x, TensorRef w, const Pair& stride, const Pair& padding,
                          const Pair& dilation, int64_t groups) {
  EMBER_CHECK(x.ndim() == 4, ValueError, kConv, ": expected a 4-D input (N, C, H, W), got shape ",
              shape_str(x.shape));
  EMBER_CHECK(w.ndim() == 4, ValueError, kConv,
              ": expected a 4-D weight (out_channels, in_channels / groups, kH, kW), got shape ",
              shape_str(w.shape));
  EMBER_CHECK(groups >= 1, ValueError, kConv, ": groups must be positive, got ", groups);
  EMBER_CHECK(stride.first >= 1 && stride.second >= 1, ValueError, kConv,
              ": stride must be positive, got ", pair_str(stride));
  EMBER_CHECK(dilation.first >= 1 && dilation.second >= 1, ValueError, kConv,
              ": dilation must be positive, got ", pair_str(dilation));
  EMBER_CHECK(padding.first >= 0 && padding.second >= 0, ValueError, kConv,
              ": padding must be non-negative, got ", pair_str(padding));
  cpu::ConvShape s{};
  s.n = x.shape[0];
  s.c = x.shape[1];
  s.h = x.shape[2];
  s.w = x.shape[3];
  s.k = w.shape[0];
  s.kh = w.shape[2];
  s.kw = w.shape[3];
  s.sh = stride.first;
  s.sw = stride.second;
  s.ph = padding.first;
  s.pw = padding.second;
  s.dh = dilation.first;
  s.dw = dilation.second;
  s.groups = groups;
  EMBER_CHECK(s.c % groups == 0, ValueError, kConv, ": in_channels ", s.c, " (input of shape ",
              shape_str(x.shape), ") is not divisible by groups ", groups);
  EMBER_CHECK(s.k % groups == 0, ValueError, kConv, ": out_channels ", s.k, " (weight of shape ",
              shape_str(w.shape), ") is not divisible by groups ", groups);
  EMBER_CHECK(w.shape[1] * groups == s.c, ValueError, kConv, ": weight of shape ",
              shape_str(w.shape), " expects ", w.shape[1] * groups, " input channels (", w.shape[1],
              " per group x ", groups, " groups), but the input of shape ", shape_str(x.shape),
              " has ", s.c);
  EMBER_CHECK(s.kh >= 1 && s.kw >= 1, ValueError, kConv, ": kernel size must be positive, got ",
              shape_str(w.shape));
  const int64_t eh = s.dh * (s.kh - 1) + 1, ew = s.dw * (s.kw - 1) + 1;
  EMBER_CHECK(eh <= s.h + 2 * s.ph && ew <= s.w + 2 * s.pw, ValueError, kConv, ": kernel of size (",
              eh, ", ", ew, ") (dilated) is larger than the padded input (", s.h + 2 * s.ph, ", ",
              s.w + 2 * s.pw, ") for input of shape ", shape_str(x.shape), " and padding ",
              pair_str(padding));
  s.oh = cpu::conv_out_size(s.h, s.kh, s.sh, s.ph, s.dh);
  s.ow = cpu::conv_out_size(s.w, s.kw, s.sw, s.pw, s.dw);
  return s;
}

void check_conv_operands(TensorRef x, TensorRef w, const char* xname) {
  check_cpu_contiguous(x, kConv, xname);
  check_float(x, kConv, xname);
  check_contiguous_like(w, x, kConv, "weight");
}

cpu::GemmAct parse_act(const std::string& a) {
  if (a == "none") return cpu::GemmAct::None;
  if (a == "relu") return cpu::GemmAct::Relu;
  throw ValueError(cat_str(kConv, ": unknown activation '", a, "' (expected none or relu)"));
}

void conv2d_forward(TensorRef x, TensorRef w, const TensorImpl* bias, TensorRef out,
                    const Pair& stride, const Pair& padding, const Pair& dilation, int64_t groups,
                    const std::string& activation) {
  const cpu::ConvShape s = conv_shape(x, w, stride, padding, dilation, groups);
  check_conv_operands(x, w, "input");
  check_contiguous_like(out, x, kConv, "out");
  check_shape(out, Shape{s.n, s.k, s.oh, s.ow}, kConv, "out");
  if (bias) {
    check_contiguous_like(*bias, x, kConv, "bias");
    check_shape(*bias, Shape{s.k}, kConv, "bias");
    check_no_overlap(out, *bias, kConv, "out", "bias");
  }
  check_no_overlap(out, x, kConv, "out", "input");
  check_no_overlap(out, w, kConv, "out", "weight");
  const cpu::GemmAct act = parse_act(activation);
  py::gil_scoped_release nogil;
  visit_float(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    cpu::conv2d_forward<T>(s, x.data_as<T>(), w.data_as<T>(), bias ? bias->data_as<T>() : nullptr,
                           out.data_as<T>(), act);
  });
}

void conv2d_backward_input(TensorRef grad_out, TensorRef w, TensorRef grad_in, const Pair& stride,
                           const Pair& padding, const Pair& dilation, int64_t groups) {
  const cpu::ConvShape s = conv_shape(grad_in, w, stride, padding, dilation, groups);
  check_conv_operands(grad_in, w, "grad_input");
  check_contiguous_like(grad_out, grad_in, kConv, "grad_output");
  check_shape(grad_out, Shape{s.n, s.k, s.oh, s.ow}, kConv, "grad_output");
  check_no_overlap(grad_in, grad_out, kConv, "grad_input", "grad_output");
  check_no_overlap(grad_in, w, kConv, "grad_input", "weight");
  py::gil_scoped_release nogil;
  visit_float(w.dtype, [&](auto tag) {
    using T = decltype(tag);
    cpu::conv2d_backward_input<T>(s, grad_out.data_as<T>(), w.data_as<T>(), grad_in.data_as<T>());
  });
}

void conv2d_backward_weight(TensorRef grad_out, TensorRef x, TensorRef grad_w, const Pair& stride,
                            const Pair& padding, const Pair& dilation, int64_t groups) {
  const cpu::ConvShape s = conv_shape(x, grad_w, stride, padding, dilation, groups);
  check_conv_operands(x, grad_w, "input");
  check_contiguous_like(grad_out, x, kConv, "grad_output");
  check_shape(grad_out, Shape{s.n, s.k, s.oh, s.ow}, kConv, "grad_output");
  check_no_overlap(grad_w, grad_out, kConv, "grad_weight", "grad_output");
  check_no_overlap(grad_w, x, kConv, "grad_weight", "input");
  py::gil_scoped_release nogil;
  visit_float(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    cpu::conv2d_backward_weight<T>(s, grad_out.data_as<T>(), x.data_as<T>(), grad_w.data_as<T>());
  });
}

void conv2d_backward_bias(TensorRef grad_out, TensorRef grad_b) {
  check_cpu_contiguous(grad_out, kConv, "grad_output");
  check_float(grad_out, kConv, "grad_output");
  EMBER_CHECK(grad_out.ndim() == 4, ValueError, kConv,
              ": expected a 4-D grad_output (N, C, H, W), got shape ", shape_str(grad_out.shape));
  check_contiguous_like(grad_b, grad_out, kConv, "grad_bias");
  check_shape(grad_b, Shape{grad_out.shape[1]}, kConv, "grad_bias");
  check_no_overlap(grad_b, grad_out, kConv, "grad_bias", "grad_output");
  cpu::ConvShape s{};
  s.n = grad_out.shape[0];
  s.k = grad_out.shape[1];
  s.oh = grad_out.shape[2];
  s.ow = grad_out.shape[3];
  py::gil_scoped_release nogil;
  visit_float(grad_out.dtype, [&](auto tag) {
    using T = decltype(tag);
    cpu::conv2d_backward_bias<T>(s, grad_out.data_as<T>(), grad_b.data_as<T>());
  });
}

std::string conv_algo(const Shape& input, const Shape& weight, const Pair& stride,
                      const Pair& padding, const Pair& dilation, int64_t groups) {
  EMBER_CHECK(input.size() == 4 && weight.size() == 4, ValueError, kConv,
              ": expected 4-D input and weight shapes");
  cpu::ConvShape s{input[0],
                   input[1],
                   input[2],
                   input[3],
                   weight[0],
                   weight[2],
                   weight[3],
                   0,
                   0,
                   stride.first,
                   stride.second,
                   padding.first,
                   padding.second,
                   dilation.first,
                   dilation.second,
                   groups};
  return cpu::conv_algo_name(cpu::conv_algo(s));
}

}  // namespace

void bind_conv(py::module_& m) {
  m.def("conv2d_forward", &conv2d_forward, py::arg("input"), py::arg("weight"), py::arg("bias"),
        py::arg("out"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
        py::arg("groups"), py::arg("activation") = "none",
        "out = act(conv2d(input, weight) + bias): NCHW, contiguous float32/float64; "
        "activation none or relu (the fused inference epilogue).");
  m.def("conv2d_backward_input", &conv2d_backward_input, py::arg("grad_output"), py::arg("weight"),
        py::arg("grad_input"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
        py::arg("groups"), "grad_input = d loss / d input (overwritten).");
  m.def("conv2d_backward_weight", &conv2d_backward_weight, py::arg("grad_output"), py::arg("input"),
        py::arg("grad_weight"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
        py::arg("groups"), "grad_weight = d loss / d weight (overwritten).");
  m.def("conv2d_backward_bias", &conv2d_backward_bias, py::arg("grad_output"), py::arg("grad_bias"),
        "grad_bias = sum of grad_output over N, H, W (overwritten).");
  m.def("_conv_algo", &conv_algo, py::arg("input_shape"), py::arg("weight_shape"),
        py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"),
        "The algorithm conv2d picks for these shapes: depthwise, gemm1x1 or implicit_gemm.");
}

}  // namespace ember::bindings
