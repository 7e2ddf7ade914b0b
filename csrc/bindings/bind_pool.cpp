// 2-D pooling (csrc/cpu/pool): max, average and adaptive average, forward and backward.
// Every check runs before a kernel touches memory: ranks, geometry, dtypes (float32 or
// float64, all alike; int64 indices), devices, contiguity, overlap of outputs with inputs;
// the kernels run without the GIL.
#include <string>

#include "bindings/bindings.h"
#include "bindings/checks.h"
#include "bindings/geometry.h"
#include "core/error.h"
#include "cpu/pool/pool.h"

namespace ember::bindings {
namespace {

void max_pool2d(TensorRef x, TensorRef out, TensorRef indices, const Pair& kernel,
                const Pair& stride, const Pair& padding, const Pair& dilation, bool ceil_mode) {
  const char* op = "ember.max_pool2d";
  check_cpu_contiguous(x, op, "input");
  check_float(x, op, "input");
  const cpu::PoolShape s = pool_shape(x.shape, kernel, stride, padding, dilation, ceil_mode, op);
  const Shape oshape{x.shape[0], x.shape[1], s.oh, s.ow};
  check_contiguous_like(out, x, op, "out");
  check_shape(out, oshape, op, "out");
  check_cpu_contiguous(indices, op, "indices");
  check_dtype(indices, DType::Int64, op, "indices");
  check_shape(indices, oshape, op, "indices");
  check_outputs({{&out, "out"}, {&indices, "indices"}}, {{&x, "input"}}, op);
  py::gil_scoped_release nogil;
  visit_float(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    cpu::max_pool2d_forward<T>(s, x.data_as<T>(), out.data_as<T>(), indices.data_as<int64_t>());
  });
}

void max_pool2d_backward(TensorRef grad_out, TensorRef indices, TensorRef grad_in) {
  const char* op = "ember.max_pool2d_backward";
  check_cpu_contiguous(grad_out, op, "grad_output");
  check_float(grad_out, op, "grad_output");
  check_contiguous_like(grad_in, grad_out, op, "grad_input");
  check_cpu_contiguous(indices, op, "indices");
  check_dtype(indices, DType::Int64, op, "indices");
  EMBER_CHECK(grad_out.ndim() == 4 && grad_in.ndim() == 4, ValueError, op,
              ": expected 4-D grad_output and grad_input, got ", shape_str(grad_out.shape), " and ",
              shape_str(grad_in.shape));
  check_shape(indices, grad_out.shape, op, "indices");
  EMBER_CHECK(grad_in.shape[0] == grad_out.shape[0] && grad_in.shape[1] == grad_out.shape[1],
              ValueError, op, ": grad_input of shape ", shape_str(grad_in.shape),
              " does not match grad_output of shape ", shape_str(grad_out.shape));
  check_outputs({{&grad_in, "grad_input"}}, {{&grad_out, "grad_output"}, {&indices, "indices"}},
                op);
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
  const char* op = "ember.avg_pool2d";
  check_cpu_contiguous(x, op, "input");
  check_float(x, op, "input");
  EMBER_CHECK(divisor_override >= 0, ValueError, op, ": divisor_override must be positive, got ",
              divisor_override);
  const cpu::PoolShape s = pool_shape(x.shape, kernel, stride, padding, {1, 1}, ceil_mode, op);
  check_contiguous_like(out, x, op, "out");
  check_shape(out, Shape{x.shape[0], x.shape[1], s.oh, s.ow}, op, "out");
  check_outputs({{&out, "out"}}, {{&x, "input"}}, op);
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
  const char* op = "ember.avg_pool2d_backward";
  check_cpu_contiguous(grad_in, op, "grad_input");
  check_float(grad_in, op, "grad_input");
  EMBER_CHECK(divisor_override >= 0, ValueError, op, ": divisor_override must be positive, got ",
              divisor_override);
  const cpu::PoolShape s =
      pool_shape(grad_in.shape, kernel, stride, padding, {1, 1}, ceil_mode, op);
  check_contiguous_like(grad_out, grad_in, op, "grad_output");
  check_shape(grad_out, Shape{grad_in.shape[0], grad_in.shape[1], s.oh, s.ow}, op, "grad_output");
  check_outputs({{&grad_in, "grad_input"}}, {{&grad_out, "grad_output"}}, op);
  py::gil_scoped_release nogil;
  visit_float(grad_in.dtype, [&](auto tag) {
    using T = decltype(tag);
    cpu::avg_pool2d_backward<T>(s, grad_out.data_as<T>(), grad_in.data_as<T>(), count_include_pad,
                                divisor_override);
  });
}

void check_adaptive(TensorRef big, TensorRef small, const char* op, const char* bname,
                    const char* sname) {
  check_cpu_contiguous(big, op, bname);
  check_float(big, op, bname);
  check_contiguous_like(small, big, op, sname);
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
}

void adaptive_avg_pool2d(TensorRef x, TensorRef out) {
  const char* op = "ember.adaptive_avg_pool2d";
  check_adaptive(x, out, op, "input", "out");
  check_writable(out, op, "out");
  const int64_t planes = x.shape[0] * x.shape[1];
  py::gil_scoped_release nogil;
  visit_float(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    cpu::adaptive_avg_pool2d_forward<T>(planes, x.shape[2], x.shape[3], out.shape[2], out.shape[3],
                                        x.data_as<T>(), out.data_as<T>());
  });
}

void adaptive_avg_pool2d_backward(TensorRef grad_out, TensorRef grad_in) {
  const char* op = "ember.adaptive_avg_pool2d_backward";
  check_adaptive(grad_in, grad_out, op, "grad_input", "grad_output");
  check_writable(grad_in, op, "grad_input");
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
  m.def("max_pool2d", &max_pool2d, py::arg("input"), py::arg("out"), py::arg("indices"),
        py::arg("kernel_size"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
        py::arg("ceil_mode"), "Max pooling; indices (int64) index the flattened H x W plane.");
  m.def("max_pool2d_backward", &max_pool2d_backward, py::arg("grad_output"), py::arg("indices"),
        py::arg("grad_input"), "grad_input = scatter-add of grad_output through indices.");
  m.def("avg_pool2d", &avg_pool2d, py::arg("input"), py::arg("out"), py::arg("kernel_size"),
        py::arg("stride"), py::arg("padding"), py::arg("ceil_mode"), py::arg("count_include_pad"),
        py::arg("divisor_override") = 0, "Average pooling (divisor_override 0: none).");
  m.def("avg_pool2d_backward", &avg_pool2d_backward, py::arg("grad_output"), py::arg("grad_input"),
        py::arg("kernel_size"), py::arg("stride"), py::arg("padding"), py::arg("ceil_mode"),
        py::arg("count_include_pad"), py::arg("divisor_override") = 0,
        "Average pooling backward (grad_input overwritten).");
  m.def("adaptive_avg_pool2d", &adaptive_avg_pool2d, py::arg("input"), py::arg("out"),
        "Adaptive average pooling to out's spatial size.");
  m.def("adaptive_avg_pool2d_backward", &adaptive_avg_pool2d_backward, py::arg("grad_output"),
        py::arg("grad_input"), "Adaptive average pooling backward (grad_input overwritten).");
}

}  // namespace ember::bindings
