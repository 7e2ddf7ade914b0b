// Convolution (csrc/cpu/conv). Every check runs before a kernel touches memory: ranks,
// shapes, dtypes (float32 or float64, all alike), devices, contiguity, overlap of outputs
// with inputs; the kernels run without the GIL.
#include <string>

#include "bindings/bindings.h"
#include "bindings/checks.h"
#include "bindings/geometry.h"
#include "core/error.h"
#include "cpu/conv/conv.h"

namespace ember::bindings {
namespace {

constexpr const char* kConv = "ember.conv2d";

void check_conv_operands(TensorRef x, TensorRef w, const char* xname) {
  check_cpu_contiguous(x, kConv, xname);
  check_float(x, kConv, xname);
  check_contiguous_like(w, x, kConv, "weight");
}

cpu::GemmAct parse_act(const std::string& a) {
  if (a == "none") return cpu::GemmAct::None;
  if (a == "relu") return cpu::GemmAct::Relu;
  throw ValueError(cat_str(kConv, ": activation must be 'none' or 'relu', got '", a, "'"));
}

void conv2d_forward(TensorRef x, TensorRef w, const TensorImpl* bias, TensorRef out,
                    const Pair& stride, const Pair& padding, const Pair& dilation, int64_t groups,
                    const std::string& activation) {
  const cpu::ConvShape s = conv2d_shape(kConv, x.shape, w.shape, stride, padding, dilation, groups);
  check_conv_operands(x, w, "input");
  check_contiguous_like(out, x, kConv, "out");
  check_shape(out, Shape{s.n, s.k, s.oh, s.ow}, kConv, "out");
  if (bias) {
    check_contiguous_like(*bias, x, kConv, "bias");
    EMBER_CHECK(bias->shape == Shape{s.k}, ValueError, kConv, ": bias of shape ",
                shape_str(bias->shape), " does not match out_channels ", s.k);
  }
  check_outputs({{&out, "out"}}, {{&x, "input"}, {&w, "weight"}, {bias, "bias"}}, kConv);
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
  const cpu::ConvShape s =
      conv2d_shape(kConv, grad_in.shape, w.shape, stride, padding, dilation, groups);
  check_conv_operands(grad_in, w, "grad_input");
  check_contiguous_like(grad_out, grad_in, kConv, "grad_output");
  check_shape(grad_out, Shape{s.n, s.k, s.oh, s.ow}, kConv, "grad_output");
  check_outputs({{&grad_in, "grad_input"}}, {{&grad_out, "grad_output"}, {&w, "weight"}}, kConv);
  py::gil_scoped_release nogil;
  visit_float(w.dtype, [&](auto tag) {
    using T = decltype(tag);
    cpu::conv2d_backward_input<T>(s, grad_out.data_as<T>(), w.data_as<T>(), grad_in.data_as<T>());
  });
}

void conv2d_backward_weight(TensorRef grad_out, TensorRef x, TensorRef grad_w, const Pair& stride,
                            const Pair& padding, const Pair& dilation, int64_t groups) {
  const cpu::ConvShape s =
      conv2d_shape(kConv, x.shape, grad_w.shape, stride, padding, dilation, groups);
  check_conv_operands(x, grad_w, "input");
  check_contiguous_like(grad_out, x, kConv, "grad_output");
  check_shape(grad_out, Shape{s.n, s.k, s.oh, s.ow}, kConv, "grad_output");
  check_outputs({{&grad_w, "grad_weight"}}, {{&grad_out, "grad_output"}, {&x, "input"}}, kConv);
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
  check_outputs({{&grad_b, "grad_bias"}}, {{&grad_out, "grad_output"}}, kConv);
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
  const Shape out =
      conv_output_shape(kConv, input, weight, {stride.first, stride.second},
                        {padding.first, padding.second}, {dilation.first, dilation.second}, groups);
  cpu::ConvShape s{input[0],       input[1],       input[2],        input[3],
                   weight[0],      weight[2],      weight[3],       out[2],
                   out[3],         stride.first,   stride.second,   padding.first,
                   padding.second, dilation.first, dilation.second, groups};
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
  m.def(
      "conv_output_shape",
      [](const std::string& op, const Shape& input_shape, const Shape& weight_shape,
         const Shape& stride, const Shape& padding, const Shape& dilation, int64_t groups) {
        return conv_output_shape(op.c_str(), input_shape, weight_shape, stride, padding, dilation,
                                 groups);
      },
      py::arg("op"), py::arg("input_shape"), py::arg("weight_shape"), py::arg("stride"),
      py::arg("padding"), py::arg("dilation"), py::arg("groups"),
      "Output shape of a convolution over 1 or 2 spatial dims, every argument checked "
      "(errors name op).");
  m.def("_conv_algo", &conv_algo, py::arg("input_shape"), py::arg("weight_shape"),
        py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"),
        "The algorithm a float32 conv2d picks for these shapes: depthwise, gemm1x1, winograd or "
        "implicit_gemm (float64 runs implicit_gemm where this says winograd).");
}

}  // namespace ember::bindings
