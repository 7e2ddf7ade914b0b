// ember._C_cuda pooling bindings: the names, signatures and errors of the CPU ones
// (csrc/bindings/bind_pool.cpp), checked before any memory is touched, plus host hooks for
// the window math the CPU-only tests check.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings/checks.h"
#include "bindings/geometry.h"
#include "bindings/pool_checks.h"
#include "bindings/shared_defs.h"
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

// The checked geometry s of an input of shape x, within the CUDA kernels' 32-bit sizes.
PoolGeom fitted_pool(const cpu::PoolShape& s, const Shape& x, const char* op) {
  EMBER_CHECK(pool_geom_fits(s), ValueError, op, ": input of shape ", shape_str(x),
              " exceeds the CUDA kernel's 32-bit sizes");
  return pool_geom(s);
}

void max_pool2d_op(TensorRef x, TensorRef out, TensorRef indices, const Pair& kernel,
                   const Pair& stride, const Pair& padding, const Pair& dilation, bool ceil_mode) {
  const char* op = "ember.max_pool2d";
  const cpu::PoolShape s = bindings::check_max_pool2d(DeviceType::CUDA, x, out, indices, kernel,
                                                      stride, padding, dilation, ceil_mode);
  const PoolGeom g = fitted_pool(s, x.shape, op);
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
  bindings::check_max_pool2d_backward(DeviceType::CUDA, grad_out, indices, grad_in);
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
  const cpu::PoolShape s = bindings::check_avg_pool2d(DeviceType::CUDA, x, out, kernel, stride,
                                                      padding, ceil_mode, divisor_override, false);
  const PoolGeom g = fitted_pool(s, x.shape, op);
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
  const cpu::PoolShape s =
      bindings::check_avg_pool2d(DeviceType::CUDA, grad_in, grad_out, kernel, stride, padding,
                                 ceil_mode, divisor_override, true);
  const PoolGeom g = fitted_pool(s, grad_in.shape, op);
  const int device = common_device(op, {{"grad_output", &grad_out}, {"grad_input", &grad_in}});
  require_device(device, op);
  py::gil_scoped_release nogil;
  bindings::visit_float(grad_in.dtype, [&](auto tag) {
    using T = decltype(tag);
    cuda::avg_pool2d_backward<T>(g, grad_out.data_as<T>(), grad_in.data_as<T>(), count_include_pad,
                                 divisor_override, device);
  });
}

// The shared adaptive checks, then the CUDA kernels' limits and one device; returns the
// geometry.
PoolGeom check_adaptive(TensorRef big, TensorRef small, bool backward) {
  const char* op = backward ? "ember.adaptive_avg_pool2d_backward" : "ember.adaptive_avg_pool2d";
  bindings::check_adaptive_avg_pool2d(DeviceType::CUDA, big, small, backward);
  // The window math forms (o + 1) in products in int64; the sizes themselves are int.
  check_int_sizes({big.shape[2], big.shape[3], small.shape[2], small.shape[3]}, big.shape, op);
  common_device(
      op, {{backward ? "grad_input" : "input", &big}, {backward ? "grad_output" : "out", &small}});
  return adaptive_geom(big.shape[0] * big.shape[1], big.shape[2], big.shape[3], small.shape[2],
                       small.shape[3]);
}

void adaptive_avg_pool2d_op(TensorRef x, TensorRef out) {
  const char* op = "ember.adaptive_avg_pool2d";
  const PoolGeom g = check_adaptive(x, out, false);
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
  const PoolGeom g = check_adaptive(grad_in, grad_out, true);
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
  bindings::def_pool(m, &max_pool2d_op, &max_pool2d_backward_op, &avg_pool2d_op,
                     &avg_pool2d_backward_op, &adaptive_avg_pool2d_op,
                     &adaptive_avg_pool2d_backward_op);
  m.def(
      "_pool_avg_windows",
      [](const Shape& input_shape, const Pair& kernel, const Pair& stride, const Pair& padding,
         bool ceil_mode, bool count_include_pad, int64_t divisor_override) {
        const char* op = "ember.avg_pool2d";
        const PoolGeom g = fitted_pool(
            bindings::pool_shape(input_shape, kernel, stride, padding, {1, 1}, ceil_mode, op),
            input_shape, op);
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
