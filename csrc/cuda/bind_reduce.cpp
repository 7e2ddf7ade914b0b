// ember._C_cuda bindings of the row families: reduce, reduce_arg, softmax(_backward),
// layer / RMS norm forward and backward, cross_entropy_forward / _backward, with the names,
// arguments and error messages of the CPU bindings (csrc/bindings/bind_reduce.cpp,
// bind_norm.cpp, bind_cross_entropy.cpp); and the host-side plans and merge steps as
// underscore functions for the CPU tests. Everything is checked before the device is
// touched.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "bindings/checks.h"
#include "core/error.h"
#include "core/overlap.h"
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

// ---- shared with the CPU bindings' rules (csrc/bindings/checks.h, for CPU tensors there)
bool is_row_float(DType d) {
  return d == DType::Float32 || d == DType::Float64 || d == DType::BFloat16;
}
DType stat_dtype(DType d) { return d == DType::Float64 ? DType::Float64 : DType::Float32; }

void check_numel_like(TensorRef t, TensorRef x, const char* op, const char* arg) {
  check_dtype(t, x.dtype, op, arg);
  EMBER_CHECK(t.numel() == x.numel(), ValueError, op, ": ", arg, " of shape ", shape_str(t.shape),
              " does not match the input of shape ", shape_str(x.shape));
}

void check_row_vec(Opt t, int64_t n, DType dt, const char* op, const char* arg) {
  if (!t) return;
  check_dtype(*t, dt, op, arg);
  EMBER_CHECK(t->numel() == n, ValueError, op, ": ", arg, " of shape ", shape_str(t->shape),
              " must have ", n, " elements (one per row)");
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
  check_same_dtype(x, out, opn);
  EMBER_CHECK(reduce_supports(op, x.dtype), TypeError, opn, ": unsupported dtype ",
              dtype_name(x.dtype));
  bindings::check_reduce_view(x, out, outer, r, inner, opn);
  check_writable(out, opn, "out");
  check_no_overlap(out, x, opn, "out", "input");
  EMBER_CHECK(r > 0 || (op != rows::ReduceKind::Max && op != rows::ReduceKind::Min), ValueError,
              opn, ": cannot reduce over an empty dimension");
  launch(dev, opn, [&] { rows::reduce(op, x, out, outer, r, inner); });
}

void reduce_arg(const std::string& name, TensorRef x, TensorRef values, TensorRef indices,
                int64_t outer, int64_t r, int64_t inner) {
  EMBER_CHECK(name == "max" || name == "min", ValueError, "ember.reduce_arg: unknown op '", name,
              "' (expected max or min)");
  const std::string opname = "ember.arg" + name;
  const char* opn = opname.c_str();
  const int dev = check_cuda_args(opn, {{"input", &x}, {"values", &values}, {"indices", &indices}});
  EMBER_CHECK(x.dtype == DType::Float32 || x.dtype == DType::Float64 || x.dtype == DType::Int32 ||
                  x.dtype == DType::Int64,
              TypeError, opn, ": unsupported dtype ", dtype_name(x.dtype));
  check_same_dtype(x, values, opn);
  check_dtype(indices, DType::Int64, opn, "indices");
  bindings::check_reduce_view(x, values, outer, r, inner, opn);
  EMBER_CHECK(indices.numel() == values.numel(), ValueError, opn, ": indices of shape ",
              shape_str(indices.shape), " and values of shape ", shape_str(values.shape),
              " differ in size");
  check_outputs({{&values, "values"}, {&indices, "indices"}}, {{&x, "input"}}, opn);
  EMBER_CHECK(r > 0, ValueError, opn, ": cannot reduce over an empty dimension");
  launch(dev, opn, [&] { rows::reduce_arg(name == "max", x, values, indices, outer, r, inner); });
}

int check_softmax_args(TensorRef a, TensorRef b, const char* op, const char* an, const char* bn) {
  const int dev = check_cuda_args(op, {{an, &a}, {bn, &b}});
  EMBER_CHECK(a.dtype == DType::Float32 || a.dtype == DType::Float64, TypeError, op,
              ": expected float32 or float64, got ", dtype_name(a.dtype));
  check_same_dtype(a, b, op);
  check_same_shape(a, b, op);
  return dev;
}

void softmax(TensorRef x, TensorRef out, bool log) {
  const char* op = log ? "ember.log_softmax" : "ember.softmax";
  const int dev = check_softmax_args(x, out, op, "input", "out");
  check_writable(out, op, "out");
  check_no_overlap(out, x, op, "out", "input");
  launch(dev, op, [&] { rows::softmax(x, out, log); });
}

void softmax_backward(TensorRef y, TensorRef grad_out, TensorRef grad_in, bool log) {
  const char* op = log ? "ember.log_softmax_backward" : "ember.softmax_backward";
  const int dev = check_softmax_args(y, grad_out, op, "y", "grad_out");
  check_softmax_args(y, grad_in, op, "y", "grad_in");
  check_writable(grad_in, op, "grad_in");
  check_no_overlap(grad_in, y, op, "grad_in", "y");
  check_no_overlap(grad_in, grad_out, op, "grad_in", "grad_out");
  launch(dev, op, [&] { rows::softmax_backward(y, grad_out, grad_in, log); });
}

// ---- layer / RMS norm
// x viewed as (rows, n); returns rows.
int64_t check_rows(TensorRef x, int64_t n, const char* op) {
  EMBER_CHECK(is_row_float(x.dtype), TypeError, op,
              ": expected a float32, float64 or bfloat16 input, got ", dtype_name(x.dtype));
  EMBER_CHECK(n > 0, ValueError, op, ": normalized size must be positive, got ", n);
  EMBER_CHECK(x.ndim() >= 1 && x.numel() % n == 0, ValueError, op, ": input of shape ",
              shape_str(x.shape), " cannot be viewed as rows of ", n, " values");
  return x.numel() / n;
}

// weight / bias (and their gradients): x's dtype, or float32 for a bfloat16 x.
void check_param(Opt t, int64_t n, DType x_dt, const char* op, const char* arg) {
  if (!t) return;
  EMBER_CHECK(t->dtype == x_dt || (x_dt == DType::BFloat16 && t->dtype == DType::Float32),
              TypeError, op, ": ", arg, " has dtype ", dtype_name(t->dtype), ", expected ",
              dtype_name(x_dt), x_dt == DType::BFloat16 ? " or float32" : "");
  EMBER_CHECK(t->numel() == n, ValueError, op, ": ", arg, " of shape ", shape_str(t->shape),
              " must have ", n, " elements (the normalized size)");
}

void check_eps(double eps, const char* op) {
  EMBER_CHECK(eps >= 0.0 && std::isfinite(eps), ValueError, op,
              ": eps must be finite and >= 0, got ", eps);
}

void layer_norm_forward(TensorRef x, int64_t n, Opt weight, Opt bias, TensorRef y, TensorRef mean,
                        TensorRef rstd, double eps) {
  const char* op = "ember.layer_norm";
  const int dev = check_cuda_args(op, {{"input", &x},
                                       {"weight", weight},
                                       {"bias", bias},
                                       {"out", &y},
                                       {"mean", &mean},
                                       {"rstd", &rstd}});
  const int64_t rows = check_rows(x, n, op);
  check_param(weight, n, x.dtype, op, "weight");
  check_param(bias, n, x.dtype, op, "bias");
  check_numel_like(y, x, op, "out");
  check_row_vec(&mean, rows, stat_dtype(x.dtype), op, "mean");
  check_row_vec(&rstd, rows, stat_dtype(x.dtype), op, "rstd");
  check_outputs({{&y, "out"}, {&mean, "mean"}, {&rstd, "rstd"}},
                {{&x, "input"}, {weight, "weight"}, {bias, "bias"}}, op);
  check_eps(eps, op);
  launch(dev, op, [&] { rows::norm_forward(x, weight, bias, y, &mean, rstd, rows, n, eps); });
}

void rms_norm_forward(TensorRef x, int64_t n, Opt weight, TensorRef y, TensorRef rstd, double eps) {
  const char* op = "ember.rms_norm";
  const int dev =
      check_cuda_args(op, {{"input", &x}, {"weight", weight}, {"out", &y}, {"rstd", &rstd}});
  const int64_t rows = check_rows(x, n, op);
  check_param(weight, n, x.dtype, op, "weight");
  check_numel_like(y, x, op, "out");
  check_row_vec(&rstd, rows, stat_dtype(x.dtype), op, "rstd");
  check_outputs({{&y, "out"}, {&rstd, "rstd"}}, {{&x, "input"}, {weight, "weight"}}, op);
  check_eps(eps, op);
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
  const int64_t rows = check_rows(x, n, op);
  check_numel_like(grad_out, x, op, "grad_output");
  check_param(weight, n, x.dtype, op, "weight");
  check_row_vec(mean, rows, stat_dtype(x.dtype), op, "mean");
  check_row_vec(&rstd, rows, stat_dtype(x.dtype), op, "rstd");
  if (grad_in) check_numel_like(*grad_in, x, op, "grad_input");
  check_param(grad_weight, n, x.dtype, op, "grad_weight");
  check_param(grad_bias, n, x.dtype, op, "grad_bias");
  check_outputs({{grad_in, "grad_input"}, {grad_weight, "grad_weight"}, {grad_bias, "grad_bias"}},
                {{&grad_out, "grad_output"},
                 {&x, "input"},
                 {weight, "weight"},
                 {mean, "mean"},
                 {&rstd, "rstd"}},
                op);
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
  EMBER_CHECK(is_row_float(logits.dtype), TypeError, kCe,
              ": expected float32, float64 or bfloat16 logits, got ", dtype_name(logits.dtype));
  EMBER_CHECK(logits.ndim() == 2, ValueError, kCe, ": expected logits of shape (N, C), got ",
              shape_str(logits.shape));
  const int64_t N = logits.shape[0], C = logits.shape[1];
  EMBER_CHECK(target.dtype == DType::Int64 || target.dtype == DType::Int32, TypeError, kCe,
              ": expected an int64 or int32 target of class indices, got ",
              dtype_name(target.dtype));
  EMBER_CHECK(target.ndim() == 1 && target.shape[0] == N, ValueError, kCe, ": target of shape ",
              shape_str(target.shape), " does not match logits of shape ", shape_str(logits.shape),
              " (expected (", N, ",))");
  EMBER_CHECK(C > 0 || N == 0, ValueError, kCe, ": logits of shape ", shape_str(logits.shape),
              " have no classes");
  check_numel_like(dlogits, logits, kCe, "dlogits");
  check_row_vec(&losses, N, stat_dtype(logits.dtype), kCe, "losses");
  check_outputs({{&losses, "losses"}, {&dlogits, "dlogits"}},
                {{&logits, "input"}, {&target, "target"}}, kCe);
  EMBER_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0, ValueError, kCe,
              ": label_smoothing must be in [0, 1], got ", label_smoothing);
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
  EMBER_CHECK(is_row_float(dlogits.dtype) && dlogits.ndim() == 2, TypeError, op,
              ": expected float (N, C) dlogits, got ", dtype_name(dlogits.dtype), " of shape ",
              shape_str(dlogits.shape));
  check_dtype(grad, stat_dtype(dlogits.dtype), op, "grad");
  EMBER_CHECK(grad.numel() == 1 || grad.numel() == dlogits.shape[0], ValueError, op,
              ": grad of shape ", shape_str(grad.shape), " must have 1 or ", dlogits.shape[0],
              " elements");
  check_numel_like(grad_in, dlogits, op, "grad_input");
  check_outputs({{&grad_in, "grad_input"}}, {{&dlogits, "dlogits"}, {&grad, "grad"}}, op);
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
  m.def("reduce", &reduce, py::arg("op"), py::arg("x"), py::arg("out"), py::arg("outer"),
        py::arg("r"), py::arg("inner"),
        "out[o, k] = op(x[o, :, k]) for contiguous x viewed as (outer, r, inner); op is sum, "
        "mean, prod, max or min.");
  m.def("reduce_arg", &reduce_arg, py::arg("op"), py::arg("x"), py::arg("values"),
        py::arg("indices"), py::arg("outer"), py::arg("r"), py::arg("inner"),
        "values, indices (int64) of the first max/min of x[o, :, k] (NaN wins).");
  m.def("softmax", &softmax, py::arg("x"), py::arg("out"), py::arg("log"),
        "Softmax (log=True: log_softmax) over the last dimension.");
  m.def("softmax_backward", &softmax_backward, py::arg("y"), py::arg("grad_out"),
        py::arg("grad_in"), py::arg("log"), "grad_in of softmax / log_softmax from its output y.");
  m.def("layer_norm_forward", &layer_norm_forward, py::arg("x"), py::arg("n"), py::arg("weight"),
        py::arg("bias"), py::arg("y"), py::arg("mean"), py::arg("rstd"), py::arg("eps"),
        "Layer norm over rows of n values of contiguous x; writes y, the per-row mean and rstd.");
  m.def("rms_norm_forward", &rms_norm_forward, py::arg("x"), py::arg("n"), py::arg("weight"),
        py::arg("y"), py::arg("rstd"), py::arg("eps"),
        "RMS norm over rows of n values: y = x * rstd * weight, rstd = 1/sqrt(mean(x^2) + eps).");
  m.def(
      "layer_norm_backward",
      [](TensorRef g, TensorRef x, int64_t n, Opt w, TensorRef mean, TensorRef rstd, Opt gi, Opt gw,
         Opt gb) {
        norm_backward("ember.layer_norm_backward", g, x, n, w, &mean, rstd, gi, gw, gb);
      },
      py::arg("grad_out"), py::arg("x"), py::arg("n"), py::arg("weight"), py::arg("mean"),
      py::arg("rstd"), py::arg("grad_in"), py::arg("grad_weight"), py::arg("grad_bias"),
      "grad_input, grad_weight, grad_bias (each None when not needed) of layer_norm_forward.");
  m.def(
      "rms_norm_backward",
      [](TensorRef g, TensorRef x, int64_t n, Opt w, TensorRef rstd, Opt gi, Opt gw) {
        norm_backward("ember.rms_norm_backward", g, x, n, w, nullptr, rstd, gi, gw, nullptr);
      },
      py::arg("grad_out"), py::arg("x"), py::arg("n"), py::arg("weight"), py::arg("rstd"),
      py::arg("grad_in"), py::arg("grad_weight"),
      "grad_input, grad_weight (each None when not needed) of rms_norm_forward.");
  m.def("cross_entropy_forward", &cross_entropy_forward, py::arg("logits"), py::arg("target"),
        py::arg("losses"), py::arg("dlogits"), py::arg("ignore_index"), py::arg("label_smoothing"),
        "Per-row softmax cross-entropy of (N, C) logits; writes losses and dlogits. Returns "
        "(number of non-ignored rows, sum of the losses).");
  m.def("cross_entropy_backward", &cross_entropy_backward, py::arg("dlogits"), py::arg("grad"),
        py::arg("grad_in"), py::arg("scale"), "grad_in[i] = dlogits[i] * grad[i or 0] * scale.");

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
