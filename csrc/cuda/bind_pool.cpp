// ember._C_cuda pooling bindings: the names, signatures and errors of the CPU ones
// (csrc/bindings/bind_pool.cpp), checked before any memory is touched, plus host hooks for
// the window math the CPU-only tests check.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings/checks.h"
#include "bindings/geometry.h"
#include "core/error.h"
#include "cuda/conv/args.h"
#include "cuda/ops.h"
#include "cuda/pool/pool.h"
#include "cuda/runtime.h"

namespace py = pybind11;

namespace ember::cuda {
namespace {

using bindings::Pair;
using TensorRef = const TensorImpl&;

PoolGeom checked_pool(const Shape& x, const Pair& kernel, const Pair& stride, const Pair& padding,
                      const Pair& dilation, bool ceil_mode, const char* op) {
  const cpu::PoolShape s =
      bindings::pool_shape(x, kernel, stride, padding, dilation, ceil_mode, op);
  EMBER_CHECK(pool_geom_fits(s), ValueError, op, ": input of shape ", shape_str(x),
              " exceeds the CUDA kernel's 32-bit sizes");
  return pool_geom(s);
}

void max_pool2d_op(TensorRef x, TensorRef out, TensorRef indices, const Pair& kernel,
                   const Pair& stride, const Pair& padding, const Pair& dilation, bool ceil_mode) {
  const char* op = "ember.max_pool2d";
  check_cuda_contiguous(x, op, "input");
  bindings::check_float(x, op, "input");
  const PoolGeom g = checked_pool(x.shape, kernel, stride, padding, dilation, ceil_mode, op);
  const Shape oshape{x.shape[0], x.shape[1], g.oh, g.ow};
  check_cuda_like(out, x, op, "out");
  bindings::check_shape(out, oshape, op, "out");
  check_cuda_contiguous(indices, op, "indices");
  check_dtype(indices, DType::Int64, op, "indices");
  bindings::check_shape(indices, oshape, op, "indices");
  check_outputs({{&out, "out"}, {&indices, "indices"}}, {{&x, "input"}}, op);
  const int device = common_device(op, {{"input", &x}, {"out", &out}, {"indices", &indices}});
  require_device(device, op);
  py::gil_scoped_release nogil;
  bindings::visit_float(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    cuda::max_pool2d_forward<T>(g, x.data_as<T>(), out.data_as<T>(), indices.data_as<int64_t>(),
                                device);
  });
}

void max_pool2d_backward_op(TensorRef grad_out, TensorRef indices, TensorRef grad_in) {
  const char* op = "ember.max_pool2d_backward";
  check_cuda_contiguous(grad_out, op, "grad_output");
  bindings::check_float(grad_out, op, "grad_output");
  check_cuda_like(grad_in, grad_out, op, "grad_input");
  check_cuda_contiguous(indices, op, "indices");
  check_dtype(indices, DType::Int64, op, "indices");
  EMBER_CHECK(grad_out.ndim() == 4 && grad_in.ndim() == 4, ValueError, op,
              ": expected 4-D grad_output and grad_input, got ", shape_str(grad_out.shape), " and ",
              shape_str(grad_in.shape));
  bindings::check_shape(indices, grad_out.shape, op, "indices");
  EMBER_CHECK(grad_in.shape[0] == grad_out.shape[0] && grad_in.shape[1] == grad_out.shape[1],
              ValueError, op, ": grad_input of shape ", shape_str(grad_in.shape),
              " does not match grad_output of shape ", shape_str(grad_out.shape));
  check_outputs({{&grad_in, "grad_input"}}, {{&grad_out, "grad_output"}, {&indices, "indices"}},
                op);
  check_int_sizes({grad_in.shape[2], grad_in.shape[3], grad_out.shape[2], grad_out.shape[3]},
                  grad_in.shape, op);
  const PoolGeom g = adaptive_geom(grad_in.shape[0] * grad_in.shape[1], grad_in.shape[2],
                                   grad_in.shape[3], grad_out.shape[2], grad_out.shape[3]);
  const int device = common_device(
      op, {{"grad_output", &grad_out}, {"indices", &indices}, {"grad_input", &grad_in}});
  require_device(device, op);
  py::gil_scoped_release nogil;
  bindings::visit_float(grad_out.dtype, [&](auto tag) {
    using T = decltype(tag);
    cuda::max_pool2d_backward<T>(g, grad_out.data_as<T>(), indices.data_as<int64_t>(),
                                 grad_in.data_as<T>(), device);
  });
}

void avg_pool2d_op(TensorRef x, TensorRef out, const Pair& kernel, const Pair& stride,
                   const Pair& padding, bool ceil_mode, bool count_include_pad,
                   int64_t divisor_override) {
  const char* op = "ember.avg_pool2d";
  check_cuda_contiguous(x, op, "input");
  bindings::check_float(x, op, "input");
  EMBER_CHECK(divisor_override >= 0, ValueError, op, ": divisor_override must be positive, got ",
              divisor_override);
  const PoolGeom g = checked_pool(x.shape, kernel, stride, padding, {1, 1}, ceil_mode, op);
  check_cuda_like(out, x, op, "out");
  bindings::check_shape(out, Shape{x.shape[0], x.shape[1], g.oh, g.ow}, op, "out");
  check_outputs({{&out, "out"}}, {{&x, "input"}}, op);
  const int device = common_device(op, {{"input", &x}, {"out", &out}});
  require_device(device, op);
  py::gil_scoped_release nogil;
  bindings::visit_float(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    cuda::avg_pool2d_forward<T>(g, x.data_as<T>(), out.data_as<T>(), count_include_pad,
                                divisor_override, device);
  });
}

void avg_pool2d_backward_op(TensorRef grad_out, TensorRef grad_in, const Pair& kernel,
                            const Pair& stride, const Pair& padding, bool ceil_mode,
                            bool count_include_pad, int64_t divisor_override) {
  const char* op = "ember.avg_pool2d_backward";
  check_cuda_contiguous(grad_in, op, "grad_input");
  bindings::check_float(grad_in, op, "grad_input");
  EMBER_CHECK(divisor_override >= 0, ValueError, op, ": divisor_override must be positive, got ",
              divisor_override);
  const PoolGeom g = checked_pool(grad_in.shape, kernel, stride, padding, {1, 1}, ceil_mode, op);
  check_cuda_like(grad_out, grad_in, op, "grad_output");
  bindings::check_shape(grad_out, Shape{grad_in.shape[0], grad_in.shape[1], g.oh, g.ow}, op,
                        "grad_output");
  check_outputs({{&grad_in, "grad_input"}}, {{&grad_out, "grad_output"}}, op);
  const int device = common_device(op, {{"grad_output", &grad_out}, {"grad_input", &grad_in}});
  require_device(device, op);
  py::gil_scoped_release nogil;
  bindings::visit_float(grad_in.dtype, [&](auto tag) {
    using T = decltype(tag);
    cuda::avg_pool2d_backward<T>(g, grad_out.data_as<T>(), grad_in.data_as<T>(), count_include_pad,
                                 divisor_override, device);
  });
}

// The CPU's check_adaptive on CUDA tensors; returns the geometry.
PoolGeom check_adaptive(TensorRef big, TensorRef small, const char* op, const char* bname,
                        const char* sname) {
  check_cuda_contiguous(big, op, bname);
  bindings::check_float(big, op, bname);
  check_cuda_like(small, big, op, sname);
  EMBER_CHECK(big.ndim() == 4 && small.ndim() == 4, ValueError, op,
              ": expected 4-D (N, C, H, W) tensors, got ", shape_str(big.shape), " and ",
              shape_str(small.shape));
  EMBER_CHECK(big.shape[0] == small.shape[0] && big.shape[1] == small.shape[1], ValueError, op,
              ": ", sname, " of shape ", shape_str(small.shape), " does not match ", bname,
              " of shape ", shape_str(big.shape));
  EMBER_CHECK(small.shape[2] >= 1 && small.shape[3] >= 1 &&
                  (big.shape[0] * big.shape[1] == 0 || (big.shape[2] >= 1 && big.shape[3] >= 1)),
              ValueError, op, ": output size ", small.shape[2], " x ", small.shape[3],
              " must be positive and the input of shape ", shape_str(big.shape), " non-empty");
  check_no_overlap(small, big, op, sname, bname);
  check_no_overlap(big, small, op, bname, sname);
  // The window math forms (o + 1) in products in int64; the sizes themselves are int.
  check_int_sizes({big.shape[2], big.shape[3], small.shape[2], small.shape[3]}, big.shape, op);
  common_device(op, {{bname, &big}, {sname, &small}});
  return adaptive_geom(big.shape[0] * big.shape[1], big.shape[2], big.shape[3], small.shape[2],
                       small.shape[3]);
}

void adaptive_avg_pool2d_op(TensorRef x, TensorRef out) {
  const char* op = "ember.adaptive_avg_pool2d";
  const PoolGeom g = check_adaptive(x, out, op, "input", "out");
  check_writable(out, op, "out");
  const int device = x.device().index;
  require_device(device, op);
  py::gil_scoped_release nogil;
  bindings::visit_float(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    cuda::adaptive_avg_pool2d_forward<T>(g, x.data_as<T>(), out.data_as<T>(), device);
  });
}

void adaptive_avg_pool2d_backward_op(TensorRef grad_out, TensorRef grad_in) {
  const char* op = "ember.adaptive_avg_pool2d_backward";
  const PoolGeom g = check_adaptive(grad_in, grad_out, op, "grad_input", "grad_output");
  check_writable(grad_in, op, "grad_input");
  const int device = grad_in.device().index;
  require_device(device, op);
  py::gil_scoped_release nogil;
  bindings::visit_float(grad_in.dtype, [&](auto tag) {
    using T = decltype(tag);
    cuda::adaptive_avg_pool2d_backward<T>(g, grad_out.data_as<T>(), grad_in.data_as<T>(), device);
  });
}

}  // namespace

void bind_pool(py::module_& m) {
  m.def("max_pool2d", &max_pool2d_op, py::arg("input"), py::arg("out"), py::arg("indices"),
        py::arg("kernel_size"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
        py::arg("ceil_mode"), "Max pooling; indices (int64) index the flattened H x W plane.");
  m.def("max_pool2d_backward", &max_pool2d_backward_op, py::arg("grad_output"), py::arg("indices"),
        py::arg("grad_input"), "grad_input = scatter-add of grad_output through indices.");
  m.def("avg_pool2d", &avg_pool2d_op, py::arg("input"), py::arg("out"), py::arg("kernel_size"),
        py::arg("stride"), py::arg("padding"), py::arg("ceil_mode"), py::arg("count_include_pad"),
        py::arg("divisor_override") = 0, "Average pooling (divisor_override 0: none).");
  m.def("avg_pool2d_backward", &avg_pool2d_backward_op, py::arg("grad_output"),
        py::arg("grad_input"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding"),
        py::arg("ceil_mode"), py::arg("count_include_pad"), py::arg("divisor_override") = 0,
        "Average pooling backward (grad_input overwritten).");
  m.def("adaptive_avg_pool2d", &adaptive_avg_pool2d_op, py::arg("input"), py::arg("out"),
        "Adaptive average pooling to out's spatial size.");
  m.def("adaptive_avg_pool2d_backward", &adaptive_avg_pool2d_backward_op, py::arg("grad_output"),
        py::arg("grad_input"), "Adaptive average pooling backward (grad_input overwritten).");
  m.def(
      "_pool_avg_windows",
      [](const Shape& input_shape, const Pair& kernel, const Pair& stride, const Pair& padding,
         bool ceil_mode, bool count_include_pad, int64_t divisor_override) {
        const PoolGeom g = checked_pool(input_shape, kernel, stride, padding, {1, 1}, ceil_mode,
                                        "ember.avg_pool2d");
        return avg_pool_windows(g, count_include_pad, divisor_override);
      },
      py::arg("input_shape"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding"),
      py::arg("ceil_mode"), py::arg("count_include_pad"), py::arg("divisor_override") = 0,
      "Test hook: (h0, h1, w0, w1, divisor) of every output's avg_pool2d window, row-major.");
  m.def(
      "_pool_avg_cover",
      [](int size, int out_size, int kernel, int stride, int padding) {
        const char* op = "ember._pool_avg_cover";
        bindings::check_nonnegative(size, op, "size");
        bindings::check_positive(out_size, op, "out_size");
        bindings::check_positive(kernel, op, "kernel");
        bindings::check_positive(stride, op, "stride");
        bindings::check_nonnegative(padding, op, "padding");
        return avg_pool_cover(size, out_size, kernel, stride, padding);
      },
      py::arg("size"), py::arg("out_size"), py::arg("kernel"), py::arg("stride"),
      py::arg("padding"),
      "Test hook: per input index, the first and last output whose window covers it.");
  m.def(
      "_pool_adaptive_cover",
      [](int size, int out_size) {
        const char* op = "ember._pool_adaptive_cover";
        bindings::check_positive(size, op, "size");
        bindings::check_positive(out_size, op, "out_size");
        return adaptive_pool_cover(size, out_size);
      },
      py::arg("size"), py::arg("out_size"),
      "Test hook: per input index, the first and last adaptive window covering it.");
}

}  // namespace ember::cuda
