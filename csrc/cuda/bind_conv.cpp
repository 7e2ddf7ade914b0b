// ember._C_cuda convolution bindings: the names, signatures and errors of the CPU ones
// (csrc/bindings/bind_conv.cpp), checked before any memory is touched, plus the
// underscore-prefixed host hooks the CPU-only tests drive (plans, gather offsets). conv2d
// also takes bfloat16 / float16 here (the tensor-core kernels of conv/conv_tc.h), which the
// CPU computes in float32.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <type_traits>

#include "bindings/checks.h"
#include "bindings/geometry.h"
#include "core/error.h"
#include "cuda/batchnorm/batchnorm.h"
#include "cuda/conv/args.h"
#include "cuda/conv/conv.h"
#include "cuda/conv/conv_tc.h"
#include "cuda/ops.h"
#include "cuda/runtime.h"

namespace py = pybind11;

namespace ember::cuda {
namespace {

using bindings::Pair;
using TensorRef = const TensorImpl&;
constexpr const char* kConv = "ember.conv2d";

// The validated geometry, within the kernels' int32 limits.
ConvGeom checked_geom(const Shape& x, const Shape& w, const Pair& stride, const Pair& padding,
                      const Pair& dilation, int64_t groups) {
  const cpu::ConvShape s = bindings::conv2d_shape(kConv, x, w, stride, padding, dilation, groups);
  EMBER_CHECK(conv_geom_fits(s), ValueError, kConv, ": input of shape ", shape_str(x),
              " and weight of shape ", shape_str(w),
              " exceed the CUDA kernel's 32-bit pixel and reduction indices");
  return conv_geom(s);
}

ConvPass parse_pass(const std::string& p) {
  if (p == "forward") return ConvPass::Forward;
  if (p == "backward_input") return ConvPass::BackwardInput;
  if (p == "backward_weight") return ConvPass::BackwardWeight;
  throw ValueError(cat_str(kConv, ": unknown pass '", p, "'"));
}

bool is_16bit(DType d) { return d == DType::BFloat16 || d == DType::Float16; }

// The grid of a pass's kernel (SIMT for float32 / float64, tensor cores for 16-bit) within
// CUDA's limits (grid y <= 65535).
void check_grid(const ConvGeom& g, ConvPass pass, DType dt) {
  const int64_t grid_y = is_16bit(dt) ? conv_tc_plan(g, pass).grid_y
                                      : conv_plan(g, pass, static_cast<int>(dtype_size(dt))).grid_y;
  EMBER_CHECK(grid_y <= 65535, ValueError, kConv, ": ", g.groups, " groups of ", g.k / g.groups,
              " output channels need ", grid_y, " blocks along grid y (at most 65535)");
}

void check_conv_operands(TensorRef x, TensorRef w, const char* xname) {
  check_cuda_contiguous(x, kConv, xname);
  EMBER_CHECK(is_16bit(x.dtype) || x.dtype == DType::Float32 || x.dtype == DType::Float64,
              TypeError, kConv, ": ", xname, " has dtype ", dtype_name(x.dtype),
              ", expected float32, float64, bfloat16 or float16");
  check_cuda_like(w, x, kConv, "weight");
}

// fn(T{}) with the element type of dt (checked by check_conv_operands).
template <typename Fn>
void visit_conv(DType dt, Fn&& fn) {
  switch (dt) {
    case DType::BFloat16:
      return fn(BFloat16{});
    case DType::Float16:
      return fn(Half{});
    case DType::Float32:
      return fn(float{});
    default:
      return fn(double{});
  }
}
template <typename T>
constexpr bool kTensorCore = std::is_same_v<T, BFloat16> || std::is_same_v<T, Half>;

bool parse_relu(const std::string& a) {
  if (a == "none") return false;
  if (a == "relu") return true;
  throw ValueError(cat_str(kConv, ": activation must be 'none' or 'relu', got '", a, "'"));
}

void conv2d_forward_op(TensorRef x, TensorRef w, const TensorImpl* bias, TensorRef out,
                       const Pair& stride, const Pair& padding, const Pair& dilation,
                       int64_t groups, const std::string& activation) {
  const ConvGeom g = checked_geom(x.shape, w.shape, stride, padding, dilation, groups);
  check_conv_operands(x, w, "input");
  check_cuda_like(out, x, kConv, "out");
  bindings::check_shape(out, Shape{g.n, g.k, g.oh, g.ow}, kConv, "out");
  if (bias) {
    check_cuda_like(*bias, x, kConv, "bias");
    EMBER_CHECK(bias->shape == Shape{g.k}, ValueError, kConv, ": bias of shape ",
                shape_str(bias->shape), " does not match out_channels ", g.k);
  }
  check_outputs({{&out, "out"}}, {{&x, "input"}, {&w, "weight"}, {bias, "bias"}}, kConv);
  const bool relu = parse_relu(activation);
  const int device = common_device(kConv, {{"input", &x}, {"weight", &w}, {"out", &out}});
  if (bias) common_device(kConv, {{"input", &x}, {"bias", bias}});
  check_grid(g, ConvPass::Forward, x.dtype);
  require_device(device, kConv);
  py::gil_scoped_release nogil;
  visit_conv(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* b = bias ? bias->data_as<T>() : nullptr;
    if constexpr (kTensorCore<T>)
      conv2d_tc_forward<T>(g, x.data_as<T>(), w.data_as<T>(), b, out.data_as<T>(), relu, device);
    else
      conv2d_forward<T>(g, x.data_as<T>(), w.data_as<T>(), b, out.data_as<T>(), relu, device);
  });
}

void conv2d_backward_input_op(TensorRef grad_out, TensorRef w, TensorRef grad_in,
                              const Pair& stride, const Pair& padding, const Pair& dilation,
                              int64_t groups) {
  const ConvGeom g = checked_geom(grad_in.shape, w.shape, stride, padding, dilation, groups);
  check_conv_operands(grad_in, w, "grad_input");
  check_cuda_like(grad_out, grad_in, kConv, "grad_output");
  bindings::check_shape(grad_out, Shape{g.n, g.k, g.oh, g.ow}, kConv, "grad_output");
  check_outputs({{&grad_in, "grad_input"}}, {{&grad_out, "grad_output"}, {&w, "weight"}}, kConv);
  const int device =
      common_device(kConv, {{"grad_output", &grad_out}, {"weight", &w}, {"grad_input", &grad_in}});
  check_grid(g, ConvPass::BackwardInput, w.dtype);
  require_device(device, kConv);
  py::gil_scoped_release nogil;
  visit_conv(w.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T *gy = grad_out.data_as<T>(), *wp = w.data_as<T>();
    if constexpr (kTensorCore<T>)
      conv2d_tc_backward_input<T>(g, gy, wp, grad_in.data_as<T>(), device);
    else
      conv2d_backward_input<T>(g, gy, wp, grad_in.data_as<T>(), device);
  });
}

void conv2d_backward_weight_op(TensorRef grad_out, TensorRef x, TensorRef grad_w,
                               const Pair& stride, const Pair& padding, const Pair& dilation,
                               int64_t groups) {
  const ConvGeom g = checked_geom(x.shape, grad_w.shape, stride, padding, dilation, groups);
  check_conv_operands(x, grad_w, "input");
  check_cuda_like(grad_out, x, kConv, "grad_output");
  bindings::check_shape(grad_out, Shape{g.n, g.k, g.oh, g.ow}, kConv, "grad_output");
  check_outputs({{&grad_w, "grad_weight"}}, {{&grad_out, "grad_output"}, {&x, "input"}}, kConv);
  const int device =
      common_device(kConv, {{"grad_output", &grad_out}, {"input", &x}, {"grad_weight", &grad_w}});
  check_grid(g, ConvPass::BackwardWeight, x.dtype);
  require_device(device, kConv);
  py::gil_scoped_release nogil;
  visit_conv(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T *gy = grad_out.data_as<T>(), *xp = x.data_as<T>();
    if constexpr (kTensorCore<T>)
      conv2d_tc_backward_weight<T>(g, gy, xp, grad_w.data_as<T>(), device);
    else
      conv2d_backward_weight<T>(g, gy, xp, grad_w.data_as<T>(), device);
  });
}

void conv2d_backward_bias_op(TensorRef grad_out, TensorRef grad_b) {
  check_cuda_contiguous(grad_out, kConv, "grad_output");
  bindings::check_float(grad_out, kConv, "grad_output");
  EMBER_CHECK(grad_out.ndim() == 4, ValueError, kConv,
              ": expected a 4-D grad_output (N, C, H, W), got shape ", shape_str(grad_out.shape));
  check_cuda_like(grad_b, grad_out, kConv, "grad_bias");
  bindings::check_shape(grad_b, Shape{grad_out.shape[1]}, kConv, "grad_bias");
  check_outputs({{&grad_b, "grad_bias"}}, {{&grad_out, "grad_output"}}, kConv);
  const int device = common_device(kConv, {{"grad_output", &grad_out}, {"grad_bias", &grad_b}});
  const int64_t n = grad_out.shape[0], k = grad_out.shape[1];
  const int64_t s = grad_out.shape[2] * grad_out.shape[3];
  check_int_sizes({k, bn_fits(n, s) ? n * s : int64_t{1} << 31}, grad_out.shape, kConv);
  require_device(device, kConv);
  py::gil_scoped_release nogil;
  bindings::visit_float(grad_out.dtype, [&](auto tag) {
    using T = decltype(tag);
    cuda::channel_sum<T>(n, k, s, grad_out.data_as<T>(), grad_b.data_as<T>(), device);
  });
}

py::dict tc_plan_dict(const ConvTcPlan& p) {
  py::dict d;
  d["m"] = p.m;
  d["n"] = p.n;
  d["r"] = p.r;
  d["tile"] = py::make_tuple(kConvTcBM, p.bn, kConvTcBK);
  d["threads"] = p.threads;
  d["tiles_m"] = p.tiles_m;
  d["tiles_n"] = p.tiles_n;
  d["splits"] = p.splits;
  d["chunk"] = p.chunk;
  d["grid"] = py::make_tuple(p.grid_x, p.grid_y);
  d["workspace"] = p.workspace;
  d["smem_bytes"] = p.smem_bytes;
  return d;
}

py::dict plan_dict(const ConvPlan& p) {
  py::dict d;
  d["m"] = p.m;
  d["n"] = p.n;
  d["r"] = p.r;
  d["tiles_m"] = p.tiles_m;
  d["tiles_n"] = p.tiles_n;
  d["splits"] = p.splits;
  d["chunk"] = p.chunk;
  d["grid"] = py::make_tuple(p.grid_x, p.grid_y);
  d["workspace"] = p.workspace;
  d["smem_bytes"] = p.smem_bytes;
  d["threads"] = kConvThreads;
  d["tile"] = py::make_tuple(p.tile.bm, p.tile.bn, p.tile.bk);
  d["micro_tile"] = py::make_tuple(p.tile.tm, p.tile.tn);
  d["large"] = p.large;
  return d;
}

}  // namespace

void bind_conv(py::module_& m) {
  m.def("conv2d_forward", &conv2d_forward_op, py::arg("input"), py::arg("weight"), py::arg("bias"),
        py::arg("out"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
        py::arg("groups"), py::arg("activation") = "none",
        "out = act(conv2d(input, weight) + bias) on CUDA (implicit GEMM): NCHW, contiguous "
        "float32/float64 (SIMT) or bfloat16/float16 (tensor cores, float32 accumulation); "
        "activation none or relu.");
  m.def("conv2d_backward_input", &conv2d_backward_input_op, py::arg("grad_output"),
        py::arg("weight"), py::arg("grad_input"), py::arg("stride"), py::arg("padding"),
        py::arg("dilation"), py::arg("groups"), "grad_input = d loss / d input (overwritten).");
  m.def("conv2d_backward_weight", &conv2d_backward_weight_op, py::arg("grad_output"),
        py::arg("input"), py::arg("grad_weight"), py::arg("stride"), py::arg("padding"),
        py::arg("dilation"), py::arg("groups"),
        "grad_weight = d loss / d weight (overwritten; deterministic).");
  m.def("conv2d_backward_bias", &conv2d_backward_bias_op, py::arg("grad_output"),
        py::arg("grad_bias"),
        "grad_bias = sum of grad_output over N, H, W (overwritten; deterministic).");
  m.def(
      "_conv_plan",
      [](const std::string& pass, const Shape& input_shape, const Shape& weight_shape,
         const Pair& stride, const Pair& padding, const Pair& dilation, int64_t groups,
         int elem_size) {
        const ConvGeom g =
            checked_geom(input_shape, weight_shape, stride, padding, dilation, groups);
        EMBER_CHECK(elem_size == 4 || elem_size == 8, ValueError, kConv,
                    ": elem_size must be 4 or 8, got ", elem_size);
        const ConvPass p = parse_pass(pass);
        check_grid(g, p, elem_size == 4 ? DType::Float32 : DType::Float64);
        return plan_dict(conv_plan(g, p, elem_size));
      },
      py::arg("pass_"), py::arg("input_shape"), py::arg("weight_shape"), py::arg("stride"),
      py::arg("padding"), py::arg("dilation"), py::arg("groups"), py::arg("elem_size") = 4,
      "Test hook: the implicit-GEMM plan of a pass (forward, backward_input, backward_weight).");
  m.def(
      "_conv_tc_plan",
      [](const std::string& pass, const Shape& input_shape, const Shape& weight_shape,
         const Pair& stride, const Pair& padding, const Pair& dilation, int64_t groups) {
        const ConvGeom g =
            checked_geom(input_shape, weight_shape, stride, padding, dilation, groups);
        const ConvPass p = parse_pass(pass);
        check_grid(g, p, DType::BFloat16);
        return tc_plan_dict(conv_tc_plan(g, p));
      },
      py::arg("pass_"), py::arg("input_shape"), py::arg("weight_shape"), py::arg("stride"),
      py::arg("padding"), py::arg("dilation"), py::arg("groups"),
      "Test hook: the plan of a pass of the 16-bit tensor-core conv.");
  m.def(
      "_conv_tc_gather",
      [](const std::string& pass, const Shape& input_shape, const Shape& weight_shape,
         const Pair& stride, const Pair& padding, const Pair& dilation, int64_t groups) {
        const ConvGeom g =
            checked_geom(input_shape, weight_shape, stride, padding, dilation, groups);
        const ConvTcGatherTable t = conv_tc_gather_table(g, parse_pass(pass));
        py::dict d;
        d["a"] = t.a;
        d["b"] = t.b;
        d["shape_a"] = py::make_tuple(g.groups, t.rows_a, t.steps);
        d["shape_b"] = py::make_tuple(g.groups, t.rows_b, t.steps);
        d["c_row"] = t.c_row;
        d["c_col_stride"] = t.c_col_stride;
        return d;
      },
      py::arg("pass_"), py::arg("input_shape"), py::arg("weight_shape"), py::arg("stride"),
      py::arg("padding"), py::arg("dilation"), py::arg("groups"),
      "Test hook: the 16-bit tensor-core conv's loads, per group: A (rows x steps) and B "
      "(rows x steps) offsets, -1 where a zero is stored; C[m][n] at c_row[m] + n * "
      "c_col_stride.");
  m.def(
      "_conv_gather",
      [](const std::string& pass, const Shape& input_shape, const Shape& weight_shape,
         const Pair& stride, const Pair& padding, const Pair& dilation, int64_t groups) {
        const ConvGeom g =
            checked_geom(input_shape, weight_shape, stride, padding, dilation, groups);
        const ConvGatherTable t = conv_gather_table(g, parse_pass(pass));
        py::dict d;
        d["a"] = t.a;
        d["b"] = t.b;
        d["c"] = t.c;
        return d;
      },
      py::arg("pass_"), py::arg("input_shape"), py::arg("weight_shape"), py::arg("stride"),
      py::arg("padding"), py::arg("dilation"), py::arg("groups"),
      "Test hook: per group, the element offsets the kernel reads for A (M x R) and B (R x N; "
      "-1: zero) and writes for C (M x N).");
}

}  // namespace ember::cuda
