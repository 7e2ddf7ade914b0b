// ember._C_cuda bindings of the row families: reduce, reduce_arg, softmax(_backward),
// layer / RMS norm forward and backward, cross_entropy_forward / _backward, with the names,
// arguments and error messages of the CPU bindings (csrc/bindings/bind_reduce.cpp,
// bind_norm.cpp, bind_cross_entropy.cpp); and the host-side plans and merge steps as
// underscore functions for the CPU tests. Everything is checked before the device is
// touched.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <utility>
#include <vector>

#include "bindings/reduce_checks.h"
#include "bindings/row_checks.h"
#include "bindings/shared_defs.h"
#include "core/error.h"
#include "core/tensor_impl.h"
#include "cuda/reduce/host_math.h"
#include "cuda/reduce/plan.h"
#include "cuda/reduce/rows.h"
#include "cuda/runtime.h"

namespace py = pybind11;

namespace ember::cuda {
namespace {

using TensorRef = const TensorImpl&;
using Opt = const TensorImpl*;
using Named = std::pair<const char*, const TensorImpl*>;

// Each given tensor (null: skipped) contiguous on CUDA, all on one device, which is
// returned (-1 when none is given).
int check_cuda_args(const char* op, std::initializer_list<Named> args) {
  int device = -1;
  const char* first = nullptr;
  for (const auto& [arg, t] : args) {
    if (!t) continue;
    check_device(*t, DeviceType::CUDA, op, arg);
    check_contiguous(*t, op, arg);
    const int d = t->device().index;
    if (!first) {
      device = d;
      first = arg;
    } else {
      EMBER_CHECK(d == device, ValueError, op, ": expected all tensors on one device, got ", first,
                  " on cuda:", device, " and ", arg, " on cuda:", d);
    }
  }
  return device;
}

// ---- reductions
bool parse_reduce(const std::string& name, rows::ReduceKind* op) {
  static const std::pair<const char*, rows::ReduceKind> kOps[] = {{"sum", rows::ReduceKind::Sum},
                                                                  {"mean", rows::ReduceKind::Mean},
                                                                  {"prod", rows::ReduceKind::Prod},
                                                                  {"max", rows::ReduceKind::Max},
                                                                  {"min", rows::ReduceKind::Min}};
  for (const auto& [n, k] : kOps) {
    if (name == n) {
      *op = k;
      return true;
    }
  }
  return false;
}

bool reduce_supports(rows::ReduceKind op, DType t) {
  switch (t) {
    case DType::Float32:
    case DType::Float64:
      return true;
    case DType::Int32:
    case DType::Int64:
      return op != rows::ReduceKind::Mean;
    case DType::Bool:
      return op == rows::ReduceKind::Max || op == rows::ReduceKind::Min;
    default:
      return false;
  }
}

// The device exists; run fn on it with the GIL released.
template <typename Fn>
auto launch(int device, const char* op, Fn&& fn) {
  require_device(device, op);
  py::gil_scoped_release nogil;
  DeviceGuard guard(device);
  return fn();
}

void reduce(const std::string& name, TensorRef x, TensorRef out, int64_t outer, int64_t r,
            int64_t inner) {
  rows::ReduceKind op;
  EMBER_CHECK(parse_reduce(name, &op), ValueError, "ember.reduce: unknown op '", name,
              "' (expected sum, mean, prod, max or min)");
  const std::string opname = "ember." + name;
  const char* opn = opname.c_str();
  const int dev = check_cuda_args(opn, {{"input", &x}, {"out", &out}});
  bindings::check_reduce(DeviceType::CUDA, x, out, outer, r, inner, reduce_supports(op, x.dtype),
                         op == rows::ReduceKind::Max || op == rows::ReduceKind::Min, opn);
  launch(dev, opn, [&] { rows::reduce(op, x, out, outer, r, inner); });
}

void reduce_arg(const std::string& name, TensorRef x, TensorRef values, TensorRef indices,
                int64_t outer, int64_t r, int64_t inner) {
  const std::string opname = bindings::reduce_arg_op(name);
  const char* opn = opname.c_str();
  const int dev = check_cuda_args(opn, {{"input", &x}, {"values", &values}, {"indices", &indices}});
  bindings::check_reduce_arg(DeviceType::CUDA, x, values, indices, outer, r, inner, opn);
  launch(dev, opn, [&] { rows::reduce_arg(name == "max", x, values, indices, outer, r, inner); });
}

void softmax(TensorRef x, TensorRef out, bool log) {
  const char* op = log ? "ember.log_softmax" : "ember.softmax";
  const int dev = check_cuda_args(op, {{"input", &x}, {"out", &out}});
  bindings::check_softmax(DeviceType::CUDA, x, out, log);
  launch(dev, op, [&] { rows::softmax(x, out, log); });
}

void softmax_backward(TensorRef y, TensorRef grad_out, TensorRef grad_in, bool log) {
  const char* op = log ? "ember.log_softmax_backward" : "ember.softmax_backward";
  const int dev = check_cuda_args(op, {{"y", &y}, {"grad_out", &grad_out}, {"grad_in", &grad_in}});
  bindings::check_softmax_backward(DeviceType::CUDA, y, grad_out, grad_in, log);
  launch(dev, op, [&] { rows::softmax_backward(y, grad_out, grad_in, log); });
}

// ---- layer / RMS norm
void layer_norm_forward(TensorRef x, int64_t n, Opt weight, Opt bias, TensorRef y, TensorRef mean,
                        TensorRef rstd, double eps) {
  const char* op = "ember.layer_norm";
  const int dev = check_cuda_args(op, {{"input", &x},
                                       {"weight", weight},
                                       {"bias", bias},
                                       {"out", &y},
                                       {"mean", &mean},
                                       {"rstd", &rstd}});
  const int64_t rows =
      bindings::check_layer_norm_forward(DeviceType::CUDA, x, n, weight, bias, y, mean, rstd, eps);
  launch(dev, op, [&] { rows::norm_forward(x, weight, bias, y, &mean, rstd, rows, n, eps); });
}

void rms_norm_forward(TensorRef x, int64_t n, Opt weight, TensorRef y, TensorRef rstd, double eps) {
  const char* op = "ember.rms_norm";
  const int dev =
      check_cuda_args(op, {{"input", &x}, {"weight", weight}, {"out", &y}, {"rstd", &rstd}});
  const int64_t rows =
      bindings::check_rms_norm_forward(DeviceType::CUDA, x, n, weight, y, rstd, eps);
  launch(dev, op, [&] { rows::norm_forward(x, weight, nullptr, y, nullptr, rstd, rows, n, eps); });
}

void norm_backward(const char* op, TensorRef grad_out, TensorRef x, int64_t n, Opt weight, Opt mean,
                   TensorRef rstd, Opt grad_in, Opt grad_weight, Opt grad_bias) {
  const int dev = check_cuda_args(op, {{"grad_output", &grad_out},
                                       {"input", &x},
                                       {"weight", weight},
                                       {"mean", mean},
                                       {"rstd", &rstd},
                                       {"grad_input", grad_in},
                                       {"grad_weight", grad_weight},
                                       {"grad_bias", grad_bias}});
  const int64_t rows = bindings::check_norm_backward(DeviceType::CUDA, op, grad_out, x, n, weight,
                                                     mean, rstd, grad_in, grad_weight, grad_bias);
  launch(dev, op, [&] {
    rows::norm_backward(grad_out, x, weight, mean, rstd, grad_in, grad_weight, grad_bias, rows, n);
  });
}

// ---- softmax cross-entropy
constexpr const char* kCe = "ember.cross_entropy";

py::tuple cross_entropy_forward(TensorRef logits, TensorRef target, TensorRef losses,
                                TensorRef dlogits, int64_t ignore_index, double label_smoothing) {
  const int dev = check_cuda_args(
      kCe, {{"input", &logits}, {"target", &target}, {"losses", &losses}, {"dlogits", &dlogits}});
  bindings::check_cross_entropy_forward(DeviceType::CUDA, logits, target, losses, dlogits,
                                        label_smoothing);
  const rows::CeTotals r = launch(dev, kCe, [&] {
    return rows::cross_entropy_forward(logits, target, losses, dlogits, ignore_index,
                                       label_smoothing, kCe);
  });
  return py::make_tuple(r.count, r.total);
}

void cross_entropy_backward(TensorRef dlogits, TensorRef grad, TensorRef grad_in, double scale) {
  const char* op = "ember.cross_entropy_backward";
  const int dev =
      check_cuda_args(op, {{"dlogits", &dlogits}, {"grad", &grad}, {"grad_input", &grad_in}});
  bindings::check_cross_entropy_backward(DeviceType::CUDA, dlogits, grad, grad_in);
  launch(dev, op, [&] { rows::cross_entropy_backward(dlogits, grad, grad_in, scale); });
}

// ---- host-side plans, as dicts for the tests
py::dict row_plan_dict(const rows::RowPlan& p) {
  py::dict d;
  d["threads_per_row"] = p.threads_per_row;
  d["rows_per_block"] = p.rows_per_block;
  d["block"] = p.block;
  d["grid"] = p.grid;
  return d;
}

}  // namespace

void bind_reduce(py::module_& m) {
  bindings::def_reduce(m, &reduce, &reduce_arg, &softmax, &softmax_backward);
  bindings::def_norm(m, &layer_norm_forward, &rms_norm_forward, &norm_backward);
  bindings::def_cross_entropy(m, &cross_entropy_forward, &cross_entropy_backward);

  // Host-side pieces of the kernels, for the CPU tests.
  m.def(
      "_row_plan",
      [](int64_t rows, int64_t n, int max_threads) {
        EMBER_CHECK(max_threads >= rows::kWarp && max_threads <= rows::kMaxThreads &&
                        (max_threads & (max_threads - 1)) == 0,
                    ValueError, "_row_plan: max_threads must be a power of two in [32, 1024]");
        return row_plan_dict(rows::row_plan(rows, n, max_threads));
      },
      py::arg("rows"), py::arg("n"), py::arg("max_threads") = rows::kMaxThreads);
  m.def(
      "_reduce_plan",
      [](int64_t outer, int64_t r, int64_t inner) {
        const rows::ReducePlan p = rows::reduce_plan(outer, r, inner);
        py::dict d;
        d["rows"] = p.rows;
        d["splits"] = p.splits;
        d["chunk"] = p.chunk;
        d["row"] = row_plan_dict(p.row);
        d["block_y"] = p.block_y;
        d["tiles"] = p.tiles;
        d["grid"] = p.grid;
        return d;
      },
      py::arg("outer"), py::arg("r"), py::arg("inner"));
  m.def(
      "_param_grad_plan",
      [](int64_t rows, int64_t n) {
        const rows::ParamGradPlan p = rows::param_grad_plan(rows, n);
        py::dict d;
        d["chunks"] = p.chunks;
        d["chunk_rows"] = p.chunk_rows;
        d["tiles"] = p.tiles;
        d["block_y"] = p.block_y;
        return d;
      },
      py::arg("rows"), py::arg("n"));
  m.def("_reduce_tasks", &rows::reduce_tasks, py::arg("outer"), py::arg("r"), py::arg("inner"),
        "The first pass's tasks: (o, split, first column, j0, j1) each.");
  m.def("_softmax_fold", &rows::softmax_fold, py::arg("values"), py::arg("lanes"), py::arg("f32"),
        "(max, sum of exp(x - max)) folded like a row group of `lanes` threads.");
  m.def("_welford_fold", &rows::welford_fold, py::arg("values"), py::arg("lanes"), py::arg("f32"),
        "(count, mean, M2) folded like a row group of `lanes` threads.");
  m.def("_arg_fold", &rows::arg_fold, py::arg("values"), py::arg("lanes"), py::arg("is_max"),
        "(value, index) of the first extreme, folded like a row group of `lanes` threads.");
  m.def("_cross_entropy_row", &rows::cross_entropy_row, py::arg("values"), py::arg("target"),
        py::arg("eps"), py::arg("lanes"), py::arg("f32"), "One row's cross-entropy loss.");
}

}  // namespace ember::cuda
