// 2-D pooling (csrc/cpu/pool): max, average and adaptive average, forward and backward.
// Every check runs before a kernel touches memory: ranks, geometry, dtypes (float32 or
// float64, all alike; int64 indices), devices, contiguity, overlap of outputs with inputs;
// the kernels run without the GIL.
#include <string>

#include "bindings/bindings.h"
#include "bindings/checks.h"
#include "bindings/geometry.h"
#include "bindings/pool_checks.h"
#include "bindings/shared_defs.h"
#include "core/error.h"
#include "cpu/pool/pool.h"

namespace ember::bindings {
namespace {

void max_pool2d(TensorRef x, TensorRef out, TensorRef indices, const Pair& kernel,
                const Pair& stride, const Pair& padding, const Pair& dilation, bool ceil_mode) {
  const cpu::PoolShape s = check_max_pool2d(DeviceType::CPU, x, out, indices, kernel, stride,
                                            padding, dilation, ceil_mode);
  py::gil_scoped_release nogil;
  visit_float(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    cpu::max_pool2d_forward<T>(s, x.data_as<T>(), out.data_as<T>(), indices.data_as<int64_t>());
  });
}

void max_pool2d_backward(TensorRef grad_out, TensorRef indices, TensorRef grad_in) {
  const char* op = "ember.max_pool2d_backward";
  check_max_pool2d_backward(DeviceType::CPU, grad_out, indices, grad_in);
  cpu::PoolShape s{};
  s.planes = grad_in.shape[0] * grad_in.shape[1];
  s.h = grad_in.shape[2];
  s.w = grad_in.shape[3];
  s.oh = grad_out.shape[2];
  s.ow = grad_out.shape[3];
  // The scatter trusts the indices: check them (one cheap pass) before writing.
  const int64_t* ip = indices.data_as<int64_t>();
  const int64_t plane = s.h * s.w, n = indices.numel();
  for (int64_t e = 0; e < n; ++e)
    EMBER_CHECK(ip[e] >= 0 && ip[e] < plane, IndexError, op, ": index ", ip[e],
                " out of range for a plane of ", s.h, " x ", s.w);
  py::gil_scoped_release nogil;
  visit_float(grad_out.dtype, [&](auto tag) {
    using T = decltype(tag);
    cpu::max_pool2d_backward<T>(s, grad_out.data_as<T>(), ip, grad_in.data_as<T>());
  });
}

void avg_pool2d(TensorRef x, TensorRef out, const Pair& kernel, const Pair& stride,
                const Pair& padding, bool ceil_mode, bool count_include_pad,
                int64_t divisor_override) {
  const cpu::PoolShape s = check_avg_pool2d(DeviceType::CPU, x, out, kernel, stride, padding,
                                            ceil_mode, divisor_override, false);
  py::gil_scoped_release nogil;
  visit_float(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    cpu::avg_pool2d_forward<T>(s, x.data_as<T>(), out.data_as<T>(), count_include_pad,
                               divisor_override);
  });
}

void avg_pool2d_backward(TensorRef grad_out, TensorRef grad_in, const Pair& kernel,
                         const Pair& stride, const Pair& padding, bool ceil_mode,
                         bool count_include_pad, int64_t divisor_override) {
  const cpu::PoolShape s = check_avg_pool2d(DeviceType::CPU, grad_in, grad_out, kernel, stride,
                                            padding, ceil_mode, divisor_override, true);
  py::gil_scoped_release nogil;
  visit_float(grad_in.dtype, [&](auto tag) {
    using T = decltype(tag);
    cpu::avg_pool2d_backward<T>(s, grad_out.data_as<T>(), grad_in.data_as<T>(), count_include_pad,
                                divisor_override);
  });
}

void adaptive_avg_pool2d(TensorRef x, TensorRef out) {
  check_adaptive_avg_pool2d(DeviceType::CPU, x, out, false);
  const int64_t planes = x.shape[0] * x.shape[1];
  py::gil_scoped_release nogil;
  visit_float(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    cpu::adaptive_avg_pool2d_forward<T>(planes, x.shape[2], x.shape[3], out.shape[2], out.shape[3],
                                        x.data_as<T>(), out.data_as<T>());
  });
}

void adaptive_avg_pool2d_backward(TensorRef grad_out, TensorRef grad_in) {
  check_adaptive_avg_pool2d(DeviceType::CPU, grad_in, grad_out, true);
  const int64_t planes = grad_in.shape[0] * grad_in.shape[1];
  py::gil_scoped_release nogil;
  visit_float(grad_in.dtype, [&](auto tag) {
    using T = decltype(tag);
    cpu::adaptive_avg_pool2d_backward<T>(planes, grad_in.shape[2], grad_in.shape[3],
                                         grad_out.shape[2], grad_out.shape[3],
                                         grad_out.data_as<T>(), grad_in.data_as<T>());
  });
}

}  // namespace

void bind_pool(py::module_& m) {
  m.def(
      "pool_output_size",
      [](int64_t size, int64_t kernel, int64_t stride, int64_t padding, int64_t dilation,
         bool ceil_mode) {
        const char* op = "ember.pool_output_size";
        check_nonnegative(size, op, "size");
        check_positive(kernel, op, "kernel");
        check_positive(stride, op, "stride");
        check_nonnegative(padding, op, "padding");
        check_positive(dilation, op, "dilation");
        check_pool_sums(size, kernel, stride, padding, dilation, op);
        return cpu::pool_out_size(size, kernel, stride, padding, dilation, ceil_mode);
      },
      py::arg("size"), py::arg("kernel"), py::arg("stride"), py::arg("padding"),
      py::arg("dilation"), py::arg("ceil_mode"),
      "Pooling output size along one dimension (PyTorch's rule).");
  m.def(
      "pool2d_output_shape",
      [](const std::string& op, const Shape& input_shape, const Pair& kernel, const Pair& stride,
         const Pair& padding, const Pair& dilation, bool ceil_mode) {
        const cpu::PoolShape s =
            pool_shape(input_shape, kernel, stride, padding, dilation, ceil_mode, op.c_str());
        return Shape{input_shape[0], input_shape[1], s.oh, s.ow};
      },
      py::arg("op"), py::arg("input_shape"), py::arg("kernel_size"), py::arg("stride"),
      py::arg("padding"), py::arg("dilation"), py::arg("ceil_mode"),
      "Output shape of a 2-D pooling, every argument checked (errors name op).");
  def_pool(m, &max_pool2d, &max_pool2d_backward, &avg_pool2d, &avg_pool2d_backward,
           &adaptive_avg_pool2d, &adaptive_avg_pool2d_backward);
}

}  // namespace ember::bindings
