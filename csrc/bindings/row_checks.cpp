#include "bindings/row_checks.h"

#include <cmath>

#include "bindings/checks.h"
#include "core/error.h"
#include "core/overlap.h"

namespace ember::bindings {
namespace {

using Opt = const TensorImpl*;

// x viewed as (rows, n); returns rows.
int64_t check_rows(DeviceType dev, const TensorImpl& x, int64_t n, const char* op) {
  check_contiguous_on(x, dev, op, "input");
  EMBER_CHECK(is_row_float(x.dtype), TypeError, op,
              ": expected a float32, float64 or bfloat16 input, got ", dtype_name(x.dtype));
  EMBER_CHECK(n > 0, ValueError, op, ": normalized size must be positive, got ", n);
  EMBER_CHECK(x.ndim() >= 1 && x.numel() % n == 0, ValueError, op, ": input of shape ",
              shape_str(x.shape), " cannot be viewed as rows of ", n, " values");
  return x.numel() / n;
}

// weight / bias (and their gradients): x's dtype, or float32 for a bfloat16 x.
void check_param(DeviceType dev, Opt t, int64_t n, DType x_dt, const char* op, const char* arg) {
  if (!t) return;
  check_contiguous_on(*t, dev, op, arg);
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

}  // namespace

int64_t check_layer_norm_forward(DeviceType dev, const TensorImpl& x, int64_t n, Opt weight,
                                 Opt bias, const TensorImpl& y, const TensorImpl& mean,
                                 const TensorImpl& rstd, double eps) {
  const char* op = "ember.layer_norm";
  const int64_t rows = check_rows(dev, x, n, op);
  check_param(dev, weight, n, x.dtype, op, "weight");
  check_param(dev, bias, n, x.dtype, op, "bias");
  check_numel_like(dev, y, x, op, "out");
  check_row_vec(dev, &mean, rows, stat_dtype(x.dtype), op, "mean");
  check_row_vec(dev, &rstd, rows, stat_dtype(x.dtype), op, "rstd");
  check_outputs({{&y, "out"}, {&mean, "mean"}, {&rstd, "rstd"}},
                {{&x, "input"}, {weight, "weight"}, {bias, "bias"}}, op);
  check_eps(eps, op);
  return rows;
}

int64_t check_rms_norm_forward(DeviceType dev, const TensorImpl& x, int64_t n, Opt weight,
                               const TensorImpl& y, const TensorImpl& rstd, double eps) {
  const char* op = "ember.rms_norm";
  const int64_t rows = check_rows(dev, x, n, op);
  check_param(dev, weight, n, x.dtype, op, "weight");
  check_numel_like(dev, y, x, op, "out");
  check_row_vec(dev, &rstd, rows, stat_dtype(x.dtype), op, "rstd");
  check_outputs({{&y, "out"}, {&rstd, "rstd"}}, {{&x, "input"}, {weight, "weight"}}, op);
  check_eps(eps, op);
  return rows;
}

int64_t check_norm_backward(DeviceType dev, const char* op, const TensorImpl& grad_out,
                            const TensorImpl& x, int64_t n, Opt weight, Opt mean,
                            const TensorImpl& rstd, Opt grad_in, Opt grad_weight, Opt grad_bias) {
  const int64_t rows = check_rows(dev, x, n, op);
  check_numel_like(dev, grad_out, x, op, "grad_output");
  check_param(dev, weight, n, x.dtype, op, "weight");
  check_row_vec(dev, mean, rows, stat_dtype(x.dtype), op, "mean");
  check_row_vec(dev, &rstd, rows, stat_dtype(x.dtype), op, "rstd");
  if (grad_in) check_numel_like(dev, *grad_in, x, op, "grad_input");
  check_param(dev, grad_weight, n, x.dtype, op, "grad_weight");
  check_param(dev, grad_bias, n, x.dtype, op, "grad_bias");
  check_outputs({{grad_in, "grad_input"}, {grad_weight, "grad_weight"}, {grad_bias, "grad_bias"}},
                {{&grad_out, "grad_output"},
                 {&x, "input"},
                 {weight, "weight"},
                 {mean, "mean"},
                 {&rstd, "rstd"}},
                op);
  return rows;
}

int64_t check_cross_entropy_forward(DeviceType dev, const TensorImpl& logits,
                                    const TensorImpl& target, const TensorImpl& losses,
                                    const TensorImpl& dlogits, double label_smoothing) {
  const char* op = "ember.cross_entropy";
  check_contiguous_on(logits, dev, op, "input");
  EMBER_CHECK(is_row_float(logits.dtype), TypeError, op,
              ": expected float32, float64 or bfloat16 logits, got ", dtype_name(logits.dtype));
  EMBER_CHECK(logits.ndim() == 2, ValueError, op, ": expected logits of shape (N, C), got ",
              shape_str(logits.shape));
  const int64_t N = logits.shape[0], C = logits.shape[1];
  check_contiguous_on(target, dev, op, "target");
  EMBER_CHECK(target.dtype == DType::Int64 || target.dtype == DType::Int32, TypeError, op,
              ": expected an int64 or int32 target of class indices, got ",
              dtype_name(target.dtype));
  EMBER_CHECK(target.ndim() == 1 && target.shape[0] == N, ValueError, op, ": target of shape ",
              shape_str(target.shape), " does not match logits of shape ", shape_str(logits.shape),
              " (expected (", N, ",))");
  EMBER_CHECK(C > 0 || N == 0, ValueError, op, ": logits of shape ", shape_str(logits.shape),
              " have no classes");
  check_numel_like(dev, dlogits, logits, op, "dlogits");
  check_row_vec(dev, &losses, N, stat_dtype(logits.dtype), op, "losses");
  check_outputs({{&losses, "losses"}, {&dlogits, "dlogits"}},
                {{&logits, "input"}, {&target, "target"}}, op);
  EMBER_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0, ValueError, op,
              ": label_smoothing must be in [0, 1], got ", label_smoothing);
  return C;
}

void check_cross_entropy_backward(DeviceType dev, const TensorImpl& dlogits, const TensorImpl& grad,
                                  const TensorImpl& grad_in) {
  const char* op = "ember.cross_entropy_backward";
  check_contiguous_on(dlogits, dev, op, "dlogits");
  EMBER_CHECK(is_row_float(dlogits.dtype) && dlogits.ndim() == 2, TypeError, op,
              ": expected float (N, C) dlogits, got ", dtype_name(dlogits.dtype), " of shape ",
              shape_str(dlogits.shape));
  check_contiguous_on(grad, dev, op, "grad");
  check_dtype(grad, stat_dtype(dlogits.dtype), op, "grad");
  EMBER_CHECK(grad.numel() == 1 || grad.numel() == dlogits.shape[0], ValueError, op,
              ": grad of shape ", shape_str(grad.shape), " must have 1 or ", dlogits.shape[0],
              " elements");
  check_numel_like(dev, grad_in, dlogits, op, "grad_input");
  check_outputs({{&grad_in, "grad_input"}}, {{&dlogits, "dlogits"}, {&grad, "grad"}}, op);
}

}  // namespace ember::bindings
