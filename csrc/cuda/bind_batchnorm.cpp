// ember._C_cuda batch-norm bindings: the names, signatures and errors of the CPU ones
// (csrc/bindings/bind_batchnorm.cpp), checked before any memory is touched, plus host hooks
// for the chunked statistics the CPU-only tests check.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <climits>
#include <utility>
#include <vector>

#include "bindings/batchnorm_checks.h"
#include "bindings/checks.h"
#include "bindings/shared_defs.h"
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
  bindings::check_batch_norm_forward(DeviceType::CUDA, x, a.c, a.n * a.s, weight, bias,
                                     running_mean, running_var, out, save_mean, save_invstd,
                                     training, eps);
  for (auto [t, arg] : {std::pair{weight, "weight"},
                        {bias, "bias"},
                        {running_mean, "running_mean"},
                        {running_var, "running_var"},
                        {&save_mean, "save_mean"},
                        {&save_invstd, "save_invstd"}})
    if (t) common_device(kBn, {{"input", &x}, {arg, t}});
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
  bindings::check_batch_norm_backward(DeviceType::CUDA, grad_out, x, a.c, weight, save_mean,
                                      save_invstd, grad_in, grad_weight, grad_bias);
  for (auto [t, arg] : {std::pair{weight, "weight"},
                        {&save_mean, "save_mean"},
                        {&save_invstd, "save_invstd"},
                        {grad_weight, "grad_weight"},
                        {grad_bias, "grad_bias"}})
    if (t) common_device(kBn, {{"input", &x}, {arg, t}});
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
  bindings::def_batchnorm(m, &batch_norm_forward_op, &batch_norm_backward_op);
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
