// Convolution, pooling and batch normalization (csrc/cpu/conv). Every check runs before a
// kernel touches memory: ranks, shapes, dtypes (float32 or float64, all alike), devices,
// contiguity, overlap of outputs with inputs; the kernels run without the GIL.
#include <string>
#include <utility>

#include "bindings/bindings.h"
#include "core/error.h"
#include "cpu/conv/conv.h"

namespace ember::bindings {
namespace {

using Pair = std::pair<int64_t, int64_t>;

constexpr const char* kConv = "ember.conv2d";

std::string pair_str(const Pair& p) { return cat_str("(", p.first, ", ", p.second, ")"); }

void check_cpu_contig(TensorRef t, const char* op, const char* arg) {
  check_device(t, DeviceType::CPU, op, arg);
  check_contiguous(t, op, arg);
}

void check_float(TensorRef t, const char* op, const char* arg) {
  EMBER_CHECK(t.dtype == DType::Float32 || t.dtype == DType::Float64, TypeError, op, ": ", arg,
              " has dtype ", dtype_name(t.dtype), ", expected float32 or float64");
}

void check_like(TensorRef t, TensorRef ref, const char* op, const char* arg) {
  check_cpu_contig(t, op, arg);
  EMBER_CHECK(t.dtype == ref.dtype, TypeError, op, ": ", arg, " has dtype ", dtype_name(t.dtype),
              ", expected ", dtype_name(ref.dtype));
}

void check_shape(TensorRef t, const Shape& want, const char* op, const char* arg) {
  EMBER_CHECK(t.shape == want, ValueError, op, ": ", arg, " has shape ", shape_str(t.shape),
              ", expected ", shape_str(want));
}

// Contiguous outputs must not share bytes with an input.
void check_no_overlap(TensorRef out, TensorRef in, const char* op, const char* oname,
                      const char* iname) {
  if (out.numel() == 0 || in.numel() == 0) return;
  const char* olo = out.data();
  const char* ohi = olo + out.numel() * out.itemsize();
  const char* ilo = in.data();
  const char* ihi = ilo + in.numel() * in.itemsize();
  EMBER_CHECK(olo >= ihi || ilo >= ohi, ValueError, op, ": ", oname, " overlaps ", iname);
}

// The geometry of a conv2d call, validated.
cpu::ConvShape conv_shape(TensorRef x, TensorRef w, const Pair& stride, const Pair& padding,
                          const Pair& dilation, int64_t groups) {
  EMBER_CHECK(x.ndim() == 4, ValueError, kConv, ": expected a 4-D input (N, C, H, W), got shape ",
              shape_str(x.shape));
  EMBER_CHECK(w.ndim() == 4, ValueError, kConv,
              ": expected a 4-D weight (out_channels, in_channels / groups, kH, kW), got shape ",
              shape_str(w.shape));
  EMBER_CHECK(groups >= 1, ValueError, kConv, ": groups must be positive, got ", groups);
  EMBER_CHECK(stride.first >= 1 && stride.second >= 1, ValueError, kConv,
              ": stride must be positive, got ", pair_str(stride));
  EMBER_CHECK(dilation.first >= 1 && dilation.second >= 1, ValueError, kConv,
              ": dilation must be positive, got ", pair_str(dilation));
  EMBER_CHECK(padding.first >= 0 && padding.second >= 0, ValueError, kConv,
              ": padding must be non-negative, got ", pair_str(padding));
  cpu::ConvShape s{};
  s.n = x.shape[0];
  s.c = x.shape[1];
  s.h = x.shape[2];
  s.w = x.shape[3];
  s.k = w.shape[0];
  s.kh = w.shape[2];
  s.kw = w.shape[3];
  s.sh = stride.first;
  s.sw = stride.second;
  s.ph = padding.first;
  s.pw = padding.second;
  s.dh = dilation.first;
  s.dw = dilation.second;
  s.groups = groups;
  EMBER_CHECK(s.c % groups == 0, ValueError, kConv, ": in_channels ", s.c, " (input of shape ",
              shape_str(x.shape), ") is not divisible by groups ", groups);
  EMBER_CHECK(s.k % groups == 0, ValueError, kConv, ": out_channels ", s.k, " (weight of shape ",
              shape_str(w.shape), ") is not divisible by groups ", groups);
  EMBER_CHECK(w.shape[1] * groups == s.c, ValueError, kConv, ": weight of shape ",
              shape_str(w.shape), " expects ", w.shape[1] * groups, " input channels (", w.shape[1],
              " per group x ", groups, " groups), but the input of shape ", shape_str(x.shape),
              " has ", s.c);
  EMBER_CHECK(s.kh >= 1 && s.kw >= 1, ValueError, kConv, ": kernel size must be positive, got ",
              shape_str(w.shape));
  const int64_t eh = s.dh * (s.kh - 1) + 1, ew = s.dw * (s.kw - 1) + 1;
  EMBER_CHECK(eh <= s.h + 2 * s.ph && ew <= s.w + 2 * s.pw, ValueError, kConv, ": kernel of size (",
              eh, ", ", ew, ") (dilated) is larger than the padded input (", s.h + 2 * s.ph, ", ",
              s.w + 2 * s.pw, ") for input of shape ", shape_str(x.shape), " and padding ",
              pair_str(padding));
  s.oh = cpu::conv_out_size(s.h, s.kh, s.sh, s.ph, s.dh);
  s.ow = cpu::conv_out_size(s.w, s.kw, s.sw, s.pw, s.dw);
  return s;
}

void check_conv_operands(TensorRef x, TensorRef w, const cpu::ConvShape& s, const char* xname) {
  check_cpu_contig(x, kConv, xname);
  check_float(x, kConv, xname);
  check_like(w, x, kConv, "weight");
  (void)s;
}

cpu::GemmAct parse_act(const std::string& a) {
  if (a == "none") return cpu::GemmAct::None;
  if (a == "relu") return cpu::GemmAct::Relu;
  throw ValueError(cat_str(kConv, ": unknown activation '", a, "' (expected none or relu)"));
}

void conv2d_forward(TensorRef x, TensorRef w, const TensorImpl* bias, TensorRef out,
                    const Pair& stride, const Pair& padding, const Pair& dilation, int64_t groups,
                    const std::string& activation) {
  const cpu::ConvShape s = conv_shape(x, w, stride, padding, dilation, groups);
  check_conv_operands(x, w, s, "input");
  check_like(out, x, kConv, "out");
  check_shape(out, Shape{s.n, s.k, s.oh, s.ow}, kConv, "out");
  if (bias) {
    check_like(*bias, x, kConv, "bias");
    check_shape(*bias, Shape{s.k}, kConv, "bias");
    check_no_overlap(out, *bias, kConv, "out", "bias");
  }
  check_no_overlap(out, x, kConv, "out", "input");
  check_no_overlap(out, w, kConv, "out", "weight");
  const cpu::GemmAct act = parse_act(activation);
  py::gil_scoped_release nogil;
  if (x.dtype == DType::Float32)
    cpu::conv2d_forward<float>(s, x.data_as<float>(), w.data_as<float>(),
                               bias ? bias->data_as<float>() : nullptr, out.data_as<float>(), act);
  else
    cpu::conv2d_forward<double>(s, x.data_as<double>(), w.data_as<double>(),
                                bias ? bias->data_as<double>() : nullptr, out.data_as<double>(),
                                act);
}

void conv2d_backward_input(TensorRef grad_out, TensorRef w, TensorRef grad_in, const Pair& stride,
                           const Pair& padding, const Pair& dilation, int64_t groups) {
  const cpu::ConvShape s = conv_shape(grad_in, w, stride, padding, dilation, groups);
  check_conv_operands(grad_in, w, s, "grad_input");
  check_like(grad_out, grad_in, kConv, "grad_output");
  check_shape(grad_out, Shape{s.n, s.k, s.oh, s.ow}, kConv, "grad_output");
  check_no_overlap(grad_in, grad_out, kConv, "grad_input", "grad_output");
  check_no_overlap(grad_in, w, kConv, "grad_input", "weight");
  py::gil_scoped_release nogil;
  if (w.dtype == DType::Float32)
    cpu::conv2d_backward_input<float>(s, grad_out.data_as<float>(), w.data_as<float>(),
                                      grad_in.data_as<float>());
  else
    cpu::conv2d_backward_input<double>(s, grad_out.data_as<double>(), w.data_as<double>(),
                                       grad_in.data_as<double>());
}

void conv2d_backward_weight(TensorRef grad_out, TensorRef x, TensorRef grad_w, const Pair& stride,
                            const Pair& padding, const Pair& dilation, int64_t groups) {
  const cpu::ConvShape s = conv_shape(x, grad_w, stride, padding, dilation, groups);
  check_conv_operands(x, grad_w, s, "input");
  check_like(grad_out, x, kConv, "grad_output");
  check_shape(grad_out, Shape{s.n, s.k, s.oh, s.ow}, kConv, "grad_output");
  check_no_overlap(grad_w, grad_out, kConv, "grad_weight", "grad_output");
  check_no_overlap(grad_w, x, kConv, "grad_weight", "input");
  py::gil_scoped_release nogil;
  if (x.dtype == DType::Float32)
    cpu::conv2d_backward_weight<float>(s, grad_out.data_as<float>(), x.data_as<float>(),
                                       grad_w.data_as<float>());
  else
    cpu::conv2d_backward_weight<double>(s, grad_out.data_as<double>(), x.data_as<double>(),
                                        grad_w.data_as<double>());
}

void conv2d_backward_bias(TensorRef grad_out, TensorRef grad_b) {
  check_cpu_contig(grad_out, kConv, "grad_output");
  check_float(grad_out, kConv, "grad_output");
  EMBER_CHECK(grad_out.ndim() == 4, ValueError, kConv,
              ": expected a 4-D grad_output (N, C, H, W), got shape ", shape_str(grad_out.shape));
  check_like(grad_b, grad_out, kConv, "grad_bias");
  check_shape(grad_b, Shape{grad_out.shape[1]}, kConv, "grad_bias");
  check_no_overlap(grad_b, grad_out, kConv, "grad_bias", "grad_output");
  cpu::ConvShape s{};
  s.n = grad_out.shape[0];
  s.k = grad_out.shape[1];
  s.oh = grad_out.shape[2];
  s.ow = grad_out.shape[3];
  py::gil_scoped_release nogil;
  if (grad_out.dtype == DType::Float32)
    cpu::conv2d_backward_bias<float>(s, grad_out.data_as<float>(), grad_b.data_as<float>());
  else
    cpu::conv2d_backward_bias<double>(s, grad_out.data_as<double>(), grad_b.data_as<double>());
}

std::string conv_algo(const Shape& input, const Shape& weight, const Pair& stride,
                      const Pair& padding, const Pair& dilation, int64_t groups) {
  EMBER_CHECK(input.size() == 4 && weight.size() == 4, ValueError, kConv,
              ": expected 4-D input and weight shapes");
  cpu::ConvShape s{input[0],
                   input[1],
                   input[2],
                   input[3],
                   weight[0],
                   weight[2],
                   weight[3],
                   0,
                   0,
                   stride.first,
                   stride.second,
                   padding.first,
                   padding.second,
                   dilation.first,
                   dilation.second,
                   groups};
  return cpu::conv_algo_name(cpu::conv_algo(s));
}

// ---- pooling

cpu::PoolShape pool_shape(TensorRef x, const Pair& kernel, const Pair& stride, const Pair& padding,
                          const Pair& dilation, bool ceil_mode, const char* op) {
  EMBER_CHECK(x.ndim() == 4, ValueError, op, ": expected a 4-D input (N, C, H, W), got shape ",
              shape_str(x.shape));
  EMBER_CHECK(kernel.first >= 1 && kernel.second >= 1, ValueError, op,
              ": kernel_size must be positive, got ", pair_str(kernel));
  EMBER_CHECK(stride.first >= 1 && stride.second >= 1, ValueError, op,
              ": stride must be positive, got ", pair_str(stride));
  EMBER_CHECK(dilation.first >= 1 && dilation.second >= 1, ValueError, op,
              ": dilation must be positive, got ", pair_str(dilation));
  EMBER_CHECK(padding.first >= 0 && padding.second >= 0, ValueError, op,
              ": padding must be non-negative, got ", pair_str(padding));
  const int64_t eh = dilation.first * (kernel.first - 1) + 1;
  const int64_t ew = dilation.second * (kernel.second - 1) + 1;
  EMBER_CHECK(2 * padding.first <= eh && 2 * padding.second <= ew, ValueError, op, ": padding ",
              pair_str(padding), " must be at most half the (dilated) kernel size (", eh, ", ", ew,
              ")");
  cpu::PoolShape s{};
  s.planes = x.shape[0] * x.shape[1];
  s.h = x.shape[2];
  s.w = x.shape[3];
  s.kh = kernel.first;
  s.kw = kernel.second;
  s.sh = stride.first;
  s.sw = stride.second;
  s.ph = padding.first;
  s.pw = padding.second;
  s.dh = dilation.first;
  s.dw = dilation.second;
  s.oh = cpu::pool_out_size(s.h, s.kh, s.sh, s.ph, s.dh, ceil_mode);
  s.ow = cpu::pool_out_size(s.w, s.kw, s.sw, s.pw, s.dw, ceil_mode);
  EMBER_CHECK(s.oh > 0 && s.ow > 0, ValueError, op, ": input of shape ", shape_str(x.shape),
              " is too small for kernel_size ", pair_str(kernel), ", padding ", pair_str(padding),
              " and dilation ", pair_str(dilation), " (output size ", s.oh, " x ", s.ow, ")");
  return s;
}

void max_pool2d(TensorRef x, TensorRef out, TensorRef indices, const Pair& kernel,
                const Pair& stride, const Pair& padding, const Pair& dilation, bool ceil_mode) {
  const char* op = "ember.max_pool2d";
  check_cpu_contig(x, op, "input");
  check_float(x, op, "input");
  const cpu::PoolShape s = pool_shape(x, kernel, stride, padding, dilation, ceil_mode, op);
  const Shape oshape{x.shape[0], x.shape[1], s.oh, s.ow};
  check_like(out, x, op, "out");
  check_shape(out, oshape, op, "out");
  check_cpu_contig(indices, op, "indices");
  check_dtype(indices, DType::Int64, op, "indices");
  check_shape(indices, oshape, op, "indices");
  check_no_overlap(out, x, op, "out", "input");
  check_no_overlap(indices, x, op, "indices", "input");
  check_no_overlap(indices, out, op, "indices", "out");
  py::gil_scoped_release nogil;
  if (x.dtype == DType::Float32)
    cpu::max_pool2d_forward<float>(s, x.data_as<float>(), out.data_as<float>(),
                                   indices.data_as<int64_t>());
  else
    cpu::max_pool2d_forward<double>(s, x.data_as<double>(), out.data_as<double>(),
                                    indices.data_as<int64_t>());
}

void max_pool2d_backward(TensorRef grad_out, TensorRef indices, TensorRef grad_in) {
  const char* op = "ember.max_pool2d_backward";
  check_cpu_contig(grad_out, op, "grad_output");
  check_float(grad_out, op, "grad_output");
  check_like(grad_in, grad_out, op, "grad_input");
  check_cpu_contig(indices, op, "indices");
  check_dtype(indices, DType::Int64, op, "indices");
  EMBER_CHECK(grad_out.ndim() == 4 && grad_in.ndim() == 4, ValueError, op,
              ": expected 4-D grad_output and grad_input, got ", shape_str(grad_out.shape), " and ",
              shape_str(grad_in.shape));
  check_shape(indices, grad_out.shape, op, "indices");
  EMBER_CHECK(grad_in.shape[0] == grad_out.shape[0] && grad_in.shape[1] == grad_out.shape[1],
              ValueError, op, ": grad_input of shape ", shape_str(grad_in.shape),
              " does not match grad_output of shape ", shape_str(grad_out.shape));
  check_no_overlap(grad_in, grad_out, op, "grad_input", "grad_output");
  check_no_overlap(grad_in, indices, op, "grad_input", "indices");
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
  if (grad_out.dtype == DType::Float32)
    cpu::max_pool2d_backward<float>(s, grad_out.data_as<float>(), ip, grad_in.data_as<float>());
  else
    cpu::max_pool2d_backward<double>(s, grad_out.data_as<double>(), ip, grad_in.data_as<double>());
}

void avg_pool2d(TensorRef x, TensorRef out, const Pair& kernel, const Pair& stride,
                const Pair& padding, bool ceil_mode, bool count_include_pad,
                int64_t divisor_override) {
  const char* op = "ember.avg_pool2d";
  check_cpu_contig(x, op, "input");
  check_float(x, op, "input");
  EMBER_CHECK(divisor_override >= 0, ValueError, op, ": divisor_override must be positive, got ",
              divisor_override);
  const cpu::PoolShape s = pool_shape(x, kernel, stride, padding, {1, 1}, ceil_mode, op);
  check_like(out, x, op, "out");
  check_shape(out, Shape{x.shape[0], x.shape[1], s.oh, s.ow}, op, "out");
  check_no_overlap(out, x, op, "out", "input");
  py::gil_scoped_release nogil;
  if (x.dtype == DType::Float32)
    cpu::avg_pool2d_forward<float>(s, x.data_as<float>(), out.data_as<float>(), count_include_pad,
                                   divisor_override);
  else
    cpu::avg_pool2d_forward<double>(s, x.data_as<double>(), out.data_as<double>(),
                                    count_include_pad, divisor_override);
}

void avg_pool2d_backward(TensorRef grad_out, TensorRef grad_in, const Pair& kernel,
                         const Pair& stride, const Pair& padding, bool ceil_mode,
                         bool count_include_pad, int64_t divisor_override) {
  const char* op = "ember.avg_pool2d_backward";
  check_cpu_contig(grad_in, op, "grad_input");
  check_float(grad_in, op, "grad_input");
  EMBER_CHECK(divisor_override >= 0, ValueError, op, ": divisor_override must be positive, got ",
              divisor_override);
  const cpu::PoolShape s = pool_shape(grad_in, kernel, stride, padding, {1, 1}, ceil_mode, op);
  check_like(grad_out, grad_in, op, "grad_output");
  check_shape(grad_out, Shape{grad_in.shape[0], grad_in.shape[1], s.oh, s.ow}, op, "grad_output");
  check_no_overlap(grad_in, grad_out, op, "grad_input", "grad_output");
  py::gil_scoped_release nogil;
  if (grad_in.dtype == DType::Float32)
    cpu::avg_pool2d_backward<float>(s, grad_out.data_as<float>(), grad_in.data_as<float>(),
                                    count_include_pad, divisor_override);
  else
    cpu::avg_pool2d_backward<double>(s, grad_out.data_as<double>(), grad_in.data_as<double>(),
                                     count_include_pad, divisor_override);
}

void check_adaptive(TensorRef big, TensorRef small, const char* op, const char* bname,
                    const char* sname) {
  check_cpu_contig(big, op, bname);
  check_float(big, op, bname);
  check_like(small, big, op, sname);
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
  const int64_t planes = x.shape[0] * x.shape[1];
  py::gil_scoped_release nogil;
  if (x.dtype == DType::Float32)
    cpu::adaptive_avg_pool2d_forward<float>(planes, x.shape[2], x.shape[3], out.shape[2],
                                            out.shape[3], x.data_as<float>(), out.data_as<float>());
  else
    cpu::adaptive_avg_pool2d_forward<double>(planes, x.shape[2], x.shape[3], out.shape[2],
                                             out.shape[3], x.data_as<double>(),
                                             out.data_as<double>());
}

void adaptive_avg_pool2d_backward(TensorRef grad_out, TensorRef grad_in) {
  const char* op = "ember.adaptive_avg_pool2d_backward";
  check_adaptive(grad_in, grad_out, op, "grad_input", "grad_output");
  const int64_t planes = grad_in.shape[0] * grad_in.shape[1];
  py::gil_scoped_release nogil;
  if (grad_in.dtype == DType::Float32)
    cpu::adaptive_avg_pool2d_backward<float>(planes, grad_in.shape[2], grad_in.shape[3],
                                             grad_out.shape[2], grad_out.shape[3],
                                             grad_out.data_as<float>(), grad_in.data_as<float>());
  else
    cpu::adaptive_avg_pool2d_backward<double>(
        planes, grad_in.shape[2], grad_in.shape[3], grad_out.shape[2], grad_out.shape[3],
        grad_out.data_as<double>(), grad_in.data_as<double>());
}

// ---- batch norm

constexpr const char* kBn = "ember.batch_norm";

cpu::BatchNormArgs bn_args(TensorRef x) {
  EMBER_CHECK(x.ndim() >= 2, ValueError, kBn, ": expected an input of at least 2 dimensions ",
              "(N, C, *), got shape ", shape_str(x.shape));
  cpu::BatchNormArgs a{};
  a.n = x.shape[0];
  a.c = x.shape[1];
  a.s = 1;
  for (int64_t d = 2; d < x.ndim(); ++d) a.s *= x.shape[d];
  return a;
}

void check_channel_vec(const TensorImpl* t, TensorRef x, int64_t c, const char* arg) {
  if (!t) return;
  check_like(*t, x, kBn, arg);
  check_shape(*t, Shape{c}, kBn, arg);
}

void batch_norm_forward(TensorRef x, const TensorImpl* weight, const TensorImpl* bias,
                        const TensorImpl* running_mean, const TensorImpl* running_var,
                        TensorRef out, TensorRef save_mean, TensorRef save_invstd, bool training,
                        double momentum, double eps) {
  check_cpu_contig(x, kBn, "input");
  check_float(x, kBn, "input");
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
  check_like(out, x, kBn, "out");
  check_shape(out, x.shape, kBn, "out");
  EMBER_CHECK(training || (running_mean && running_var), ValueError, kBn,
              ": running_mean and running_var are needed in eval mode");
  EMBER_CHECK(!training || (running_mean == nullptr) == (running_var == nullptr), ValueError, kBn,
              ": pass both running_mean and running_var, or neither");
  EMBER_CHECK(!training || a.n * a.s > 1, ValueError, kBn,
              ": expected more than 1 value per channel when training, got input of shape ",
              shape_str(x.shape));
  check_no_overlap(out, save_mean, kBn, "out", "save_mean");
  check_no_overlap(out, save_invstd, kBn, "out", "save_invstd");
  check_no_overlap(save_mean, save_invstd, kBn, "save_mean", "save_invstd");
  for (const TensorImpl* t : {weight, bias, running_mean, running_var}) {
    if (!t) continue;
    check_no_overlap(out, *t, kBn, "out", "a parameter");
    check_no_overlap(save_mean, *t, kBn, "save_mean", "a parameter");
    check_no_overlap(save_invstd, *t, kBn, "save_invstd", "a parameter");
  }
  py::gil_scoped_release nogil;
  if (x.dtype == DType::Float32) {
    auto p = [](const TensorImpl* t) { return t ? t->data_as<float>() : nullptr; };
    cpu::batch_norm_forward<float>(a, training, x.data_as<float>(), p(weight), p(bias),
                                   p(running_mean), p(running_var), out.data_as<float>(),
                                   save_mean.data_as<float>(), save_invstd.data_as<float>());
  } else {
    auto p = [](const TensorImpl* t) { return t ? t->data_as<double>() : nullptr; };
    cpu::batch_norm_forward<double>(a, training, x.data_as<double>(), p(weight), p(bias),
                                    p(running_mean), p(running_var), out.data_as<double>(),
                                    save_mean.data_as<double>(), save_invstd.data_as<double>());
  }
}

void batch_norm_backward(TensorRef grad_out, TensorRef x, const TensorImpl* weight,
                         TensorRef save_mean, TensorRef save_invstd, const TensorImpl* grad_in,
                         const TensorImpl* grad_weight, const TensorImpl* grad_bias,
                         bool training) {
  check_cpu_contig(x, kBn, "input");
  check_float(x, kBn, "input");
  const cpu::BatchNormArgs a = bn_args(x);
  check_like(grad_out, x, kBn, "grad_output");
  check_shape(grad_out, x.shape, kBn, "grad_output");
  check_channel_vec(weight, x, a.c, "weight");
  check_channel_vec(&save_mean, x, a.c, "save_mean");
  check_channel_vec(&save_invstd, x, a.c, "save_invstd");
  check_channel_vec(grad_weight, x, a.c, "grad_weight");
  check_channel_vec(grad_bias, x, a.c, "grad_bias");
  if (grad_in) {
    check_like(*grad_in, x, kBn, "grad_input");
    check_shape(*grad_in, x.shape, kBn, "grad_input");
  }
  for (const TensorImpl* o : {grad_in, grad_weight, grad_bias}) {
    if (!o) continue;
    for (const TensorImpl* i : {&grad_out, &x, weight, &save_mean, &save_invstd})
      if (i) check_no_overlap(*o, *i, kBn, "a gradient output", "an input");
  }
  if (grad_weight && grad_bias)
    check_no_overlap(*grad_weight, *grad_bias, kBn, "grad_weight", "grad_bias");
  py::gil_scoped_release nogil;
  if (x.dtype == DType::Float32) {
    auto p = [](const TensorImpl* t) { return t ? t->data_as<float>() : nullptr; };
    cpu::batch_norm_backward<float>(a, training, grad_out.data_as<float>(), x.data_as<float>(),
                                    p(weight), save_mean.data_as<float>(),
                                    save_invstd.data_as<float>(), p(grad_in), p(grad_weight),
                                    p(grad_bias));
  } else {
    auto p = [](const TensorImpl* t) { return t ? t->data_as<double>() : nullptr; };
    cpu::batch_norm_backward<double>(a, training, grad_out.data_as<double>(), x.data_as<double>(),
                                     p(weight), save_mean.data_as<double>(),
                                     save_invstd.data_as<double>(), p(grad_in), p(grad_weight),
                                     p(grad_bias));
  }
}

}  // namespace

void bind_conv(py::module_& m) {
  const auto none = py::none();
  m.def("conv2d_forward", &conv2d_forward, py::arg("input"), py::arg("weight"), py::arg("bias"),
        py::arg("out"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
        py::arg("groups"), py::arg("activation") = "none",
        "out = act(conv2d(input, weight) + bias): NCHW, contiguous float32/float64; "
        "activation none or relu (the fused inference epilogue).");
  m.def("conv2d_backward_input", &conv2d_backward_input, py::arg("grad_output"), py::arg("weight"),
        py::arg("grad_input"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
        py::arg("groups"), "grad_input = d loss / d input (overwritten).");
  m.def("conv2d_backward_weight", &conv2d_backward_weight, py::arg("grad_output"), py::arg("input"),
        py::arg("grad_weight"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
        py::arg("groups"), "grad_weight = d loss / d weight (overwritten).");
  m.def("conv2d_backward_bias", &conv2d_backward_bias, py::arg("grad_output"), py::arg("grad_bias"),
        "grad_bias = sum of grad_output over N, H, W (overwritten).");
  m.def("_conv_algo", &conv_algo, py::arg("input_shape"), py::arg("weight_shape"),
        py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"),
        "The algorithm conv2d picks for these shapes: depthwise, gemm1x1 or implicit_gemm.");
  m.def("pool_output_size", &cpu::pool_out_size, py::arg("size"), py::arg("kernel"),
        py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("ceil_mode"),
        "Pooling output size along one dimension (PyTorch's rule).");
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
  m.def("batch_norm_forward", &batch_norm_forward, py::arg("input"), py::arg("weight"),
        py::arg("bias"), py::arg("running_mean"), py::arg("running_var"), py::arg("out"),
        py::arg("save_mean"), py::arg("save_invstd"), py::arg("training"), py::arg("momentum"),
        py::arg("eps"),
        "Batch norm over (N, C, *): training uses batch statistics (and updates the running "
        "ones, unbiased variance); eval the running ones. save_mean / save_invstd feed the "
        "backward.");
  m.def("batch_norm_backward", &batch_norm_backward, py::arg("grad_output"), py::arg("input"),
        py::arg("weight"), py::arg("save_mean"), py::arg("save_invstd"),
        py::arg("grad_input") = none, py::arg("grad_weight") = none, py::arg("grad_bias") = none,
        py::arg("training") = true,
        "Batch norm backward; any of grad_input / grad_weight / grad_bias may be None.");
}

}  // namespace ember::bindings
