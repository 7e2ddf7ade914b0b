// Recurrent layers (csrc/cpu/rnn): one call runs one layer in one direction over a whole
// sequence. Every check runs before a kernel touches memory: mode, ranks, shapes, dtypes
// (float32 or float64, all alike; lengths int64), devices, contiguity, lengths in
// [0, T]; the kernels run without the GIL.
#include <string>

#include "bindings/bindings.h"
#include "bindings/checks.h"
#include "core/error.h"
#include "cpu/rnn/rnn.h"

namespace ember::bindings {
namespace {

using cpu::RnnMode;

struct Op {
  RnnMode mode;
  std::string name;  // ember.rnn_tanh, ember.lstm, ...
};

Op parse_mode(const std::string& m) {
  if (m == "rnn_tanh") return {RnnMode::Tanh, "ember.rnn_tanh"};
  if (m == "rnn_relu") return {RnnMode::Relu, "ember.rnn_relu"};
  if (m == "lstm") return {RnnMode::Lstm, "ember.lstm"};
  if (m == "gru") return {RnnMode::Gru, "ember.gru"};
  throw ValueError(
      cat_str("ember.rnn: unknown mode '", m, "' (expected rnn_tanh, rnn_relu, lstm or gru)"));
}

// A float tensor of the reference dtype, contiguous, on the CPU, of the given shape.
void check_arg(const TensorImpl* t, DType dt, const Shape& want, const Op& op, const char* arg,
               bool required) {
  const char* o = op.name.c_str();
  if (!t) {
    EMBER_CHECK(!required, ValueError, o, ": ", arg, " is required");
    return;
  }
  check_device(*t, DeviceType::CPU, o, arg);
  EMBER_CHECK(t->dtype == dt, TypeError, o, ": ", arg, " has dtype ", dtype_name(t->dtype),
              ", expected ", dtype_name(dt));
  EMBER_CHECK(t->shape == want, ValueError, o, ": ", arg, " has shape ", shape_str(t->shape),
              ", expected ", shape_str(want));
  check_contiguous(*t, o, arg);
}

// The geometry from input (T, B, I) and w_hh (G H, H), validated.
cpu::RnnShape rnn_shape(const Op& op, TensorRef x, TensorRef w_ih, TensorRef w_hh, bool reverse) {
  const char* o = op.name.c_str();
  check_float(x, o, "input");
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

void check_lengths(const TensorImpl* lengths, const cpu::RnnShape& s, const Op& op) {
  if (!lengths) return;
  const char* o = op.name.c_str();
  check_device(*lengths, DeviceType::CPU, o, "lengths");
  EMBER_CHECK(lengths->dtype == DType::Int64, TypeError, o, ": lengths has dtype ",
              dtype_name(lengths->dtype), ", expected int64");
  EMBER_CHECK(lengths->shape == Shape{s.B}, ValueError, o, ": lengths has shape ",
              shape_str(lengths->shape), ", expected (", s.B, ",) (one per batch element)");
  check_contiguous(*lengths, o, "lengths");
  const int64_t* l = lengths->data_as<int64_t>();
  for (int64_t b = 0; b < s.B; ++b)
    EMBER_CHECK(l[b] >= 0 && l[b] <= s.T, ValueError, o, ": lengths[", b, "] = ", l[b],
                " is outside [0, ", s.T, "] (sequence length ", s.T, ")");
}

void rnn_forward(const std::string& mode, TensorRef x, TensorRef w_ih, TensorRef w_hh,
                 const TensorImpl* b_ih, const TensorImpl* b_hh, const TensorImpl* h0,
                 const TensorImpl* c0, const TensorImpl* lengths, bool reverse, TensorRef y,
                 TensorRef hn, const TensorImpl* cn, TensorRef hs, const TensorImpl* cs,
                 TensorRef gates, const TensorImpl* hn_lin) {
  const Op op = parse_mode(mode);
  const cpu::RnnShape s = rnn_shape(op, x, w_ih, w_hh, reverse);
  const DType dt = x.dtype;
  const int64_t G = cpu::rnn_gate_count(op.mode), H = s.H, B = s.B, Tn = s.T;
  const bool lstm = op.mode == RnnMode::Lstm, gru = op.mode == RnnMode::Gru;
  check_arg(&x, dt, Shape{Tn, B, s.I}, op, "input", true);
  check_arg(&w_ih, dt, Shape{G * H, s.I}, op, "weight_ih", true);
  check_arg(&w_hh, dt, Shape{G * H, H}, op, "weight_hh", true);
  check_arg(b_ih, dt, Shape{G * H}, op, "bias_ih", false);
  check_arg(b_hh, dt, Shape{G * H}, op, "bias_hh", false);
  check_arg(h0, dt, Shape{B, H}, op, "h0", false);
  check_arg(&y, dt, Shape{Tn, B, H}, op, "output", true);
  check_arg(&hn, dt, Shape{B, H}, op, "h_n", true);
  check_arg(&hs, dt, Shape{Tn + 1, B, H}, op, "hidden_states", true);
  check_arg(&gates, dt, Shape{Tn, B, G * H}, op, "gates", true);
  if (lstm) {
    check_arg(c0, dt, Shape{B, H}, op, "c0", false);
    check_arg(cn, dt, Shape{B, H}, op, "c_n", true);
    check_arg(cs, dt, Shape{Tn + 1, B, H}, op, "cell_states", true);
  } else {
    EMBER_CHECK(!c0 && !cn && !cs, ValueError, op.name, ": c0 / c_n / cell_states are for lstm");
  }
  if (gru)
    check_arg(hn_lin, dt, Shape{Tn, B, H}, op, "hn_lin", true);
  else
    EMBER_CHECK(!hn_lin, ValueError, op.name, ": hn_lin is for gru");
  check_lengths(lengths, s, op);
  check_outputs({{&y, "output"},
                 {&hn, "h_n"},
                 {cn, "c_n"},
                 {&hs, "hidden_states"},
                 {cs, "cell_states"},
                 {&gates, "gates"},
                 {hn_lin, "hn_lin"}},
                {{&x, "input"},
                 {&w_ih, "weight_ih"},
                 {&w_hh, "weight_hh"},
                 {b_ih, "bias_ih"},
                 {b_hh, "bias_hh"},
                 {h0, "h0"},
                 {c0, "c0"},
                 {lengths, "lengths"}},
                op.name.c_str());
  const int64_t* len = lengths ? lengths->data_as<int64_t>() : nullptr;
  py::gil_scoped_release nogil;
  visit_float(dt, [&](auto tag) {
    using T = decltype(tag);
    auto p = [](const TensorImpl* t) { return t ? t->data_as<T>() : nullptr; };
    cpu::rnn_forward<T>(s, x.data_as<T>(), w_ih.data_as<T>(), w_hh.data_as<T>(), p(b_ih), p(b_hh),
                        p(h0), p(c0), len, y.data_as<T>(), hn.data_as<T>(), p(cn), hs.data_as<T>(),
                        p(cs), gates.data_as<T>(), p(hn_lin));
  });
}

void rnn_backward(const std::string& mode, TensorRef x, TensorRef w_ih, TensorRef w_hh,
                  const TensorImpl* lengths, bool reverse, TensorRef hs, const TensorImpl* cs,
                  TensorRef gates, const TensorImpl* hn_lin, TensorRef dy, TensorRef dhn,
                  const TensorImpl* dcn, TensorRef dx, TensorRef dw_ih, TensorRef dw_hh,
                  const TensorImpl* db_ih, const TensorImpl* db_hh, TensorRef dh0,
                  const TensorImpl* dc0) {
  const Op op = parse_mode(mode);
  const cpu::RnnShape s = rnn_shape(op, x, w_ih, w_hh, reverse);
  const DType dt = x.dtype;
  const int64_t G = cpu::rnn_gate_count(op.mode), H = s.H, B = s.B, Tn = s.T;
  const bool lstm = op.mode == RnnMode::Lstm, gru = op.mode == RnnMode::Gru;
  check_arg(&x, dt, Shape{Tn, B, s.I}, op, "input", true);
  check_arg(&w_ih, dt, Shape{G * H, s.I}, op, "weight_ih", true);
  check_arg(&w_hh, dt, Shape{G * H, H}, op, "weight_hh", true);
  check_arg(&hs, dt, Shape{Tn + 1, B, H}, op, "hidden_states", true);
  check_arg(&gates, dt, Shape{Tn, B, G * H}, op, "gates", true);
  check_arg(&dy, dt, Shape{Tn, B, H}, op, "grad_output", true);
  check_arg(&dhn, dt, Shape{B, H}, op, "grad_h_n", true);
  check_arg(&dx, dt, Shape{Tn, B, s.I}, op, "grad_input", true);
  check_arg(&dw_ih, dt, Shape{G * H, s.I}, op, "grad_weight_ih", true);
  check_arg(&dw_hh, dt, Shape{G * H, H}, op, "grad_weight_hh", true);
  check_arg(db_ih, dt, Shape{G * H}, op, "grad_bias_ih", false);
  check_arg(db_hh, dt, Shape{G * H}, op, "grad_bias_hh", false);
  check_arg(&dh0, dt, Shape{B, H}, op, "grad_h0", true);
  if (lstm) {
    check_arg(cs, dt, Shape{Tn + 1, B, H}, op, "cell_states", true);
    check_arg(dcn, dt, Shape{B, H}, op, "grad_c_n", true);
    check_arg(dc0, dt, Shape{B, H}, op, "grad_c0", true);
  } else {
    EMBER_CHECK(!cs && !dcn && !dc0, ValueError, op.name,
                ": cell_states / grad_c_n / grad_c0 are for lstm");
  }
  if (gru)
    check_arg(hn_lin, dt, Shape{Tn, B, H}, op, "hn_lin", true);
  else
    EMBER_CHECK(!hn_lin, ValueError, op.name, ": hn_lin is for gru");
  check_lengths(lengths, s, op);
  check_outputs({{&dx, "grad_input"},
                 {&dw_ih, "grad_weight_ih"},
                 {&dw_hh, "grad_weight_hh"},
                 {db_ih, "grad_bias_ih"},
                 {db_hh, "grad_bias_hh"},
                 {&dh0, "grad_h0"},
                 {dc0, "grad_c0"}},
                {{&x, "input"},
                 {&w_ih, "weight_ih"},
                 {&w_hh, "weight_hh"},
                 {lengths, "lengths"},
                 {&hs, "hidden_states"},
                 {cs, "cell_states"},
                 {&gates, "gates"},
                 {hn_lin, "hn_lin"},
                 {&dy, "grad_output"},
                 {&dhn, "grad_h_n"},
                 {dcn, "grad_c_n"}},
                op.name.c_str());
  const int64_t* len = lengths ? lengths->data_as<int64_t>() : nullptr;
  py::gil_scoped_release nogil;
  visit_float(dt, [&](auto tag) {
    using T = decltype(tag);
    auto p = [](const TensorImpl* t) { return t ? t->data_as<T>() : nullptr; };
    auto cp = [](const TensorImpl* t) -> const T* { return t ? t->data_as<T>() : nullptr; };
    cpu::rnn_backward<T>(s, x.data_as<T>(), w_ih.data_as<T>(), w_hh.data_as<T>(), len,
                         hs.data_as<T>(), cp(cs), gates.data_as<T>(), cp(hn_lin), dy.data_as<T>(),
                         dhn.data_as<T>(), cp(dcn), dx.data_as<T>(), dw_ih.data_as<T>(),
                         dw_hh.data_as<T>(), p(db_ih), p(db_hh), dh0.data_as<T>(), p(dc0));
  });
}

}  // namespace

void bind_rnn(py::module_& m) {
  m.def("rnn_forward", &rnn_forward, py::arg("mode"), py::arg("input"), py::arg("weight_ih"),
        py::arg("weight_hh"), py::arg("bias_ih"), py::arg("bias_hh"), py::arg("h0"), py::arg("c0"),
        py::arg("lengths"), py::arg("reverse"), py::arg("output"), py::arg("h_n"), py::arg("c_n"),
        py::arg("hidden_states"), py::arg("cell_states"), py::arg("gates"), py::arg("hn_lin"),
        "One layer, one direction, whole sequence (mode rnn_tanh / rnn_relu / lstm / gru). "
        "input (T, B, I); output (T, B, H), zero at steps t >= lengths[b]; h_n, c_n (B, H); "
        "saved for backward: hidden_states / cell_states (T + 1, B, H), gates (T, B, G H), "
        "hn_lin (T, B, H, gru). Optional (None): biases, h0, c0 (zeros), lengths; c_n and "
        "cell_states for lstm only, hn_lin for gru only. All contiguous, float32 or float64.");
  m.def("rnn_backward", &rnn_backward, py::arg("mode"), py::arg("input"), py::arg("weight_ih"),
        py::arg("weight_hh"), py::arg("lengths"), py::arg("reverse"), py::arg("hidden_states"),
        py::arg("cell_states"), py::arg("gates"), py::arg("hn_lin"), py::arg("grad_output"),
        py::arg("grad_h_n"), py::arg("grad_c_n"), py::arg("grad_input"), py::arg("grad_weight_ih"),
        py::arg("grad_weight_hh"), py::arg("grad_bias_ih"), py::arg("grad_bias_hh"),
        py::arg("grad_h0"), py::arg("grad_c0"),
        "Backward through time of rnn_forward (same mode, lengths, reverse and saved "
        "buffers); every grad_* output is overwritten; grad_bias_* None: skipped.");
}

}  // namespace ember::bindings
