// ember._C_cuda batch-norm bindings: the names, signatures and errors of the CPU ones
// (csrc/bindings/bind_batchnorm.cpp), checked before any memory is touched, plus host hooks
// for the chunked statistics the CPU-only tests check.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <climits>
#include <vector>

#include "bindings/checks.h"
#include "core/error.h"
#include "cuda/batchnorm/batchnorm.h"
#include "cuda/conv/args.h"
#include "cuda/ops.h"
#include "cuda/runtime.h"

namespace py = pybind11;

namespace ember::cuda {
namespace {

using TensorRef = const TensorImpl&;
constexpr const char* kBn = "ember.batch_norm";

cpu::BatchNormArgs bn_args(TensorRef x) {
  EMBER_CHECK(x.ndim() >= 2, ValueError, kBn, ": expected an input of at least 2 dimensions ",
              "(N, C, *), got shape ", shape_str(x.shape));
  cpu::BatchNormArgs a{};
  a.n = x.shape[0];
  a.c = x.shape[1];
  a.s = 1;
  for (int64_t d = 2; d < x.ndim(); ++d) a.s *= x.shape[d];
  // One block per (channel, chunk): the channel count is grid x (< 2^31); a channel's
  // values are indexed with 32 bits.
  check_int_sizes({a.c, bn_fits(a.n, a.s) ? a.n * a.s : int64_t{1} << 31}, x.shape, kBn);
  return a;
}

void check_channel_vec(const TensorImpl* t, TensorRef x, int64_t c, const char* arg) {
  if (!t) return;
  check_cuda_like(*t, x, kBn, arg);
  EMBER_CHECK(t->shape == Shape{c}, ValueError, kBn, ": ", arg, " of shape ", shape_str(t->shape),
              " does not match the ", c, " channels of the input of shape ", shape_str(x.shape));
  common_device(kBn, {{"input", &x}, {arg, t}});
}

template <typename T>
T* ptr(const TensorImpl* t) {
  return t ? t->data_as<T>() : nullptr;
}

void batch_norm_forward_op(TensorRef x, const TensorImpl* weight, const TensorImpl* bias,
                           const TensorImpl* running_mean, const TensorImpl* running_var,
                           TensorRef out, TensorRef save_mean, TensorRef save_invstd, bool training,
                           double momentum, double eps) {
  check_cuda_contiguous(x, kBn, "input");
  bindings::check_float(x, kBn, "input");
  cpu::BatchNormArgs a = bn_args(x);
  a.eps = eps;
  a.momentum = momentum;
  EMBER_CHECK(eps >= 0, ValueError, kBn, ": eps must be non-negative, got ", eps);
  check_channel_vec(weight, x, a.c, "weight");
  check_channel_vec(bias, x, a.c, "bias");
  check_channel_vec(running_mean, x, a.c, "running_mean");
  check_channel_vec(running_var, x, a.c, "running_var");
  check_channel_vec(&save_mean, x, a.c, "save_mean");
  check_channel_vec(&save_invstd, x, a.c, "save_invstd");
  check_cuda_like(out, x, kBn, "out");
  bindings::check_shape(out, x.shape, kBn, "out");
  EMBER_CHECK(training || (running_mean && running_var), ValueError, kBn,
              ": running_mean and running_var are needed in eval mode");
  EMBER_CHECK(!training || (running_mean == nullptr) == (running_var == nullptr), ValueError, kBn,
              ": pass both running_mean and running_var, or neither");
  EMBER_CHECK(!training || a.n * a.s > 1, ValueError, kBn,
              ": expected more than 1 value per channel when training, got input of shape ",
              shape_str(x.shape));
  check_writable(out, kBn, "out");
  check_writable(save_mean, kBn, "save_mean");
  check_writable(save_invstd, kBn, "save_invstd");
  if (training && running_mean) {  // training updates the running statistics in place
    check_writable(*running_mean, kBn, "running_mean");
    check_writable(*running_var, kBn, "running_var");
  }
  check_no_overlap(out, save_mean, kBn, "out", "save_mean");
  check_no_overlap(out, save_invstd, kBn, "out", "save_invstd");
  check_no_overlap(save_mean, save_invstd, kBn, "save_mean", "save_invstd");
  for (const TensorImpl* t : {weight, bias, running_mean, running_var}) {
    if (!t) continue;
    check_no_overlap(out, *t, kBn, "out", "a parameter");
    check_no_overlap(save_mean, *t, kBn, "save_mean", "a parameter");
    check_no_overlap(save_invstd, *t, kBn, "save_invstd", "a parameter");
  }
  const int device = common_device(kBn, {{"input", &x}, {"out", &out}});
  require_device(device, kBn);
  py::gil_scoped_release nogil;
  bindings::visit_float(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    cuda::batch_norm_forward<T>(a, training, x.data_as<T>(), ptr<T>(weight), ptr<T>(bias),
                                ptr<T>(running_mean), ptr<T>(running_var), out.data_as<T>(),
                                save_mean.data_as<T>(), save_invstd.data_as<T>(), device);
  });
}

void batch_norm_backward_op(TensorRef grad_out, TensorRef x, const TensorImpl* weight,
                            TensorRef save_mean, TensorRef save_invstd, const TensorImpl* grad_in,
                            const TensorImpl* grad_weight, const TensorImpl* grad_bias,
                            bool training) {
  check_cuda_contiguous(x, kBn, "input");
  bindings::check_float(x, kBn, "input");
  const cpu::BatchNormArgs a = bn_args(x);
  check_cuda_like(grad_out, x, kBn, "grad_output");
  bindings::check_shape(grad_out, x.shape, kBn, "grad_output");
  check_channel_vec(weight, x, a.c, "weight");
  check_channel_vec(&save_mean, x, a.c, "save_mean");
  check_channel_vec(&save_invstd, x, a.c, "save_invstd");
  check_channel_vec(grad_weight, x, a.c, "grad_weight");
  check_channel_vec(grad_bias, x, a.c, "grad_bias");
  if (grad_in) {
    check_cuda_like(*grad_in, x, kBn, "grad_input");
    bindings::check_shape(*grad_in, x.shape, kBn, "grad_input");
  }
  for (const TensorImpl* o : {grad_in, grad_weight, grad_bias}) {
    if (!o) continue;
    check_writable(*o, kBn, "a gradient output");
    for (const TensorImpl* i : {&grad_out, &x, weight, &save_mean, &save_invstd})
      if (i) check_no_overlap(*o, *i, kBn, "a gradient output", "an input");
  }
  if (grad_weight && grad_bias)
    check_no_overlap(*grad_weight, *grad_bias, kBn, "grad_weight", "grad_bias");
  const int device = common_device(kBn, {{"input", &x}, {"grad_output", &grad_out}});
  if (grad_in) common_device(kBn, {{"input", &x}, {"grad_input", grad_in}});
  require_device(device, kBn);
  py::gil_scoped_release nogil;
  bindings::visit_float(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    cuda::batch_norm_backward<T>(a, training, grad_out.data_as<T>(), x.data_as<T>(), ptr<T>(weight),
                                 save_mean.data_as<T>(), save_invstd.data_as<T>(), ptr<T>(grad_in),
                                 ptr<T>(grad_weight), ptr<T>(grad_bias), device);
  });
}

}  // namespace

void bind_batchnorm(py::module_& m) {
  const auto none = py::none();
  m.def("batch_norm_forward", &batch_norm_forward_op, py::arg("input"), py::arg("weight"),
        py::arg("bias"), py::arg("running_mean"), py::arg("running_var"), py::arg("out"),
        py::arg("save_mean"), py::arg("save_invstd"), py::arg("training"), py::arg("momentum"),
        py::arg("eps"),
        "Batch norm over (N, C, *): training uses batch statistics (and updates the running "
        "ones, unbiased variance); eval the running ones. save_mean / save_invstd feed the "
        "backward.");
  m.def("batch_norm_backward", &batch_norm_backward_op, py::arg("grad_output"), py::arg("input"),
        py::arg("weight"), py::arg("save_mean"), py::arg("save_invstd"),
        py::arg("grad_input") = none, py::arg("grad_weight") = none, py::arg("grad_bias") = none,
        py::arg("training") = true,
        "Batch norm backward; any of grad_input / grad_weight / grad_bias may be None.");
  m.def(
      "_bn_plan",
      [](int64_t n, int64_t s) {
        bindings::check_nonnegative(n, "ember._bn_plan", "n");
        bindings::check_nonnegative(s, "ember._bn_plan", "s");
        const BnPlan p = bn_plan(n, s);
        py::dict d;
        d["m"] = p.m;
        d["chunk"] = p.chunk;
        d["nchunks"] = p.nchunks;
        d["threads"] = kBnThreads;
        return d;
      },
      py::arg("n"), py::arg("s"), "Test hook: the per-channel chunking of the statistics.");
  m.def(
      "_bn_moments",
      [](const std::vector<double>& values, int64_t n, int64_t s) {
        EMBER_CHECK(n >= 0 && s >= 0 && static_cast<int64_t>(values.size()) == n * s, ValueError,
                    "ember._bn_moments: expected n * s = ", n * s, " values, got ", values.size());
        return bn_chunk_moments(values, n, s);
      },
      py::arg("values"), py::arg("n"), py::arg("s"),
      "Test hook: (mean, biased variance) of one channel through the chunked combination.");
}

}  // namespace ember::cuda
