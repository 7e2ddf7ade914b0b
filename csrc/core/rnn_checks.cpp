// Argument checks of the recurrent layers shared by the CPU and CUDA bindings (see
// rnn_checks.h).
#include "core/rnn_checks.h"

#include "core/checked_math.h"
#include "core/error.h"
#include "core/overlap.h"

namespace ember {
namespace {

using cpu::RnnMode;

// A float tensor of the reference dtype, contiguous, on `dev`, of the given shape.
void check_arg(const TensorImpl* t, DType dt, const Shape& want, const RnnOp& op, const char* arg,
               bool required, DeviceType dev) {
  const char* o = op.name.c_str();
  if (!t) {
    EMBER_CHECK(!required, ValueError, o, ": ", arg, " is required");
    return;
  }
  check_device(*t, dev, o, arg);
  EMBER_CHECK(t->dtype == dt, TypeError, o, ": ", arg, " has dtype ", dtype_name(t->dtype),
              ", expected ", dtype_name(dt));
  EMBER_CHECK(t->shape == want, ValueError, o, ": ", arg, " has shape ", shape_str(t->shape),
              ", expected ", shape_str(want));
  check_contiguous(*t, o, arg);
}

// The geometry from input (T, B, I) and w_hh (G H, H), validated.
cpu::RnnShape rnn_shape(const RnnOp& op, const TensorImpl& x, const TensorImpl& w_ih,
                        const TensorImpl& w_hh, bool reverse) {
  const char* o = op.name.c_str();
  EMBER_CHECK(x.dtype == DType::Float32 || x.dtype == DType::Float64, TypeError, o,
              ": input has dtype ", dtype_name(x.dtype), ", expected float32 or float64");
  EMBER_CHECK(x.ndim() == 3, ValueError, o, ": expected a 3-D input (T, B, input_size), got shape ",
              shape_str(x.shape));
  EMBER_CHECK(w_hh.ndim() == 2, ValueError, o,
              ": expected a 2-D weight_hh (gates * hidden_size, hidden_size), got shape ",
              shape_str(w_hh.shape));
  const int64_t G = cpu::rnn_gate_count(op.mode), H = w_hh.shape[1];
  // The callers form G * H and T + 1 (saved states): both must fit.
  const int64_t GH =
      checked_mul(G, H, o, "gates x hidden_size of weight_hh ", shape_text(w_hh.shape));
  checked_add(x.shape[0], 1, o, "the sequence length of input ", shape_text(x.shape));
  EMBER_CHECK(H >= 1 && w_hh.shape[0] == GH, ValueError, o, ": weight_hh has shape ",
              shape_str(w_hh.shape), ", expected (", G, " * hidden_size, hidden_size)");
  EMBER_CHECK(w_ih.ndim() == 2 && w_ih.shape[0] == GH && w_ih.shape[1] == x.shape[2], ValueError, o,
              ": weight_ih has shape ", shape_str(w_ih.shape), ", expected (", GH, ", ", x.shape[2],
              ") for input of shape ", shape_str(x.shape), " and hidden_size ", H);
  return cpu::RnnShape{x.shape[0], x.shape[1], x.shape[2], H, op.mode, reverse};
}

// Device, dtype, shape and contiguity, then the values (read through read_lengths) in [0, T].
const int64_t* check_lengths(const TensorImpl* lengths, const cpu::RnnShape& s, const RnnOp& op,
                             DeviceType dev, const RnnLengthsReader& read_lengths) {
  if (!lengths) return nullptr;
  const char* o = op.name.c_str();
  check_device(*lengths, dev, o, "lengths");
  EMBER_CHECK(lengths->dtype == DType::Int64, TypeError, o, ": lengths has dtype ",
              dtype_name(lengths->dtype), ", expected int64");
  EMBER_CHECK(lengths->shape == Shape{s.B}, ValueError, o, ": lengths has shape ",
              shape_str(lengths->shape), ", expected (", s.B, ",) (one per batch element)");
  check_contiguous(*lengths, o, "lengths");
  const int64_t* l = read_lengths(*lengths);
  for (int64_t b = 0; b < s.B; ++b)
    EMBER_CHECK(l[b] >= 0 && l[b] <= s.T, ValueError, o, ": lengths[", b, "] = ", l[b],
                " is outside [0, ", s.T, "] (sequence length ", s.T, ")");
  return l;
}

}  // namespace

RnnOp parse_rnn_mode(const std::string& m) {
  if (m == "rnn_tanh") return {RnnMode::Tanh, "ember.rnn_tanh"};
  if (m == "rnn_relu") return {RnnMode::Relu, "ember.rnn_relu"};
  if (m == "lstm") return {RnnMode::Lstm, "ember.lstm"};
  if (m == "gru") return {RnnMode::Gru, "ember.gru"};
  throw ValueError(
      cat_str("ember.rnn: unknown mode '", m, "' (expected rnn_tanh, rnn_relu, lstm or gru)"));
}

cpu::RnnShape check_rnn_forward(const RnnOp& op, const RnnForwardArgs& a, bool reverse,
                                DeviceType dev, const RnnLengthsReader& read_lengths,
                                const int64_t** lengths_out) {
  const cpu::RnnShape s = rnn_shape(op, *a.x, *a.w_ih, *a.w_hh, reverse);
  const DType dt = a.x->dtype;
  const int64_t G = cpu::rnn_gate_count(op.mode), H = s.H, B = s.B, Tn = s.T;
  const bool lstm = op.mode == RnnMode::Lstm, gru = op.mode == RnnMode::Gru;
  auto arg = [&](const TensorImpl* t, const Shape& want, const char* name, bool required) {
    check_arg(t, dt, want, op, name, required, dev);
  };
  arg(a.x, {Tn, B, s.I}, "input", true);
  arg(a.w_ih, {G * H, s.I}, "weight_ih", true);
  arg(a.w_hh, {G * H, H}, "weight_hh", true);
  arg(a.b_ih, {G * H}, "bias_ih", false);
  arg(a.b_hh, {G * H}, "bias_hh", false);
  arg(a.h0, {B, H}, "h0", false);
  arg(a.y, {Tn, B, H}, "output", true);
  arg(a.hn, {B, H}, "h_n", true);
  arg(a.hs, {Tn + 1, B, H}, "hidden_states", true);
  arg(a.gates, {Tn, B, G * H}, "gates", true);
  if (lstm) {
    arg(a.c0, {B, H}, "c0", false);
    arg(a.cn, {B, H}, "c_n", true);
    arg(a.cs, {Tn + 1, B, H}, "cell_states", true);
  } else {
    EMBER_CHECK(!a.c0 && !a.cn && !a.cs, ValueError, op.name,
                ": c0 / c_n / cell_states are for lstm");
  }
  if (gru)
    arg(a.hn_lin, {Tn, B, H}, "hn_lin", true);
  else
    EMBER_CHECK(!a.hn_lin, ValueError, op.name, ": hn_lin is for gru");
  *lengths_out = check_lengths(a.lengths, s, op, dev, read_lengths);
  check_outputs({{a.y, "output"},
                 {a.hn, "h_n"},
                 {a.cn, "c_n"},
                 {a.hs, "hidden_states"},
                 {a.cs, "cell_states"},
                 {a.gates, "gates"},
                 {a.hn_lin, "hn_lin"}},
                {{a.x, "input"},
                 {a.w_ih, "weight_ih"},
                 {a.w_hh, "weight_hh"},
                 {a.b_ih, "bias_ih"},
                 {a.b_hh, "bias_hh"},
                 {a.h0, "h0"},
                 {a.c0, "c0"},
                 {a.lengths, "lengths"}},
                op.name.c_str());
  return s;
}

cpu::RnnShape check_rnn_backward(const RnnOp& op, const RnnBackwardArgs& a, bool reverse,
                                 DeviceType dev, const RnnLengthsReader& read_lengths,
                                 const int64_t** lengths_out) {
  const cpu::RnnShape s = rnn_shape(op, *a.x, *a.w_ih, *a.w_hh, reverse);
  const DType dt = a.x->dtype;
  const int64_t G = cpu::rnn_gate_count(op.mode), H = s.H, B = s.B, Tn = s.T;
  const bool lstm = op.mode == RnnMode::Lstm, gru = op.mode == RnnMode::Gru;
  auto arg = [&](const TensorImpl* t, const Shape& want, const char* name, bool required) {
    check_arg(t, dt, want, op, name, required, dev);
  };
  arg(a.x, {Tn, B, s.I}, "input", true);
  arg(a.w_ih, {G * H, s.I}, "weight_ih", true);
  arg(a.w_hh, {G * H, H}, "weight_hh", true);
  arg(a.hs, {Tn + 1, B, H}, "hidden_states", true);
  arg(a.gates, {Tn, B, G * H}, "gates", true);
  arg(a.dy, {Tn, B, H}, "grad_output", true);
  arg(a.dhn, {B, H}, "grad_h_n", true);
  arg(a.dx, {Tn, B, s.I}, "grad_input", true);
  arg(a.dw_ih, {G * H, s.I}, "grad_weight_ih", true);
  arg(a.dw_hh, {G * H, H}, "grad_weight_hh", true);
  arg(a.db_ih, {G * H}, "grad_bias_ih", false);
  arg(a.db_hh, {G * H}, "grad_bias_hh", false);
  arg(a.dh0, {B, H}, "grad_h0", true);
  if (lstm) {
    arg(a.cs, {Tn + 1, B, H}, "cell_states", true);
    arg(a.dcn, {B, H}, "grad_c_n", true);
    arg(a.dc0, {B, H}, "grad_c0", true);
  } else {
    EMBER_CHECK(!a.cs && !a.dcn && !a.dc0, ValueError, op.name,
                ": cell_states / grad_c_n / grad_c0 are for lstm");
  }
  if (gru)
    arg(a.hn_lin, {Tn, B, H}, "hn_lin", true);
  else
    EMBER_CHECK(!a.hn_lin, ValueError, op.name, ": hn_lin is for gru");
  *lengths_out = check_lengths(a.lengths, s, op, dev, read_lengths);
  check_outputs({{a.dx, "grad_input"},
                 {a.dw_ih, "grad_weight_ih"},
                 {a.dw_hh, "grad_weight_hh"},
                 {a.db_ih, "grad_bias_ih"},
                 {a.db_hh, "grad_bias_hh"},
                 {a.dh0, "grad_h0"},
                 {a.dc0, "grad_c0"}},
                {{a.x, "input"},
                 {a.w_ih, "weight_ih"},
                 {a.w_hh, "weight_hh"},
                 {a.lengths, "lengths"},
                 {a.hs, "hidden_states"},
                 {a.cs, "cell_states"},
                 {a.gates, "gates"},
                 {a.hn_lin, "hn_lin"},
                 {a.dy, "grad_output"},
                 {a.dhn, "grad_h_n"},
                 {a.dcn, "grad_c_n"}},
                op.name.c_str());
  return s;
}

}  // namespace ember
