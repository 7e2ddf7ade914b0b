// Recurrent layers (csrc/cpu/rnn): one call runs one layer in one direction over a whole
// sequence. Every check (core/rnn_checks.h, shared with the CUDA binding) runs before a
// kernel touches memory; the kernels run without the GIL.
#include <string>

#include "bindings/bindings.h"
#include "bindings/checks.h"
#include "core/rnn_checks.h"
#include "cpu/rnn/rnn.h"

namespace ember::bindings {
namespace {

// The CPU kernels read the lengths in place.
const int64_t* lengths_in_place(const TensorImpl& lengths) { return lengths.data_as<int64_t>(); }

void rnn_forward(const std::string& mode, TensorRef x, TensorRef w_ih, TensorRef w_hh,
                 const TensorImpl* b_ih, const TensorImpl* b_hh, const TensorImpl* h0,
                 const TensorImpl* c0, const TensorImpl* lengths, bool reverse, TensorRef y,
                 TensorRef hn, const TensorImpl* cn, TensorRef hs, const TensorImpl* cs,
                 TensorRef gates, const TensorImpl* hn_lin) {
  const RnnOp op = parse_rnn_mode(mode);
  const int64_t* len = nullptr;
  const cpu::RnnShape s = check_rnn_forward(
      op, {&x, &w_ih, &w_hh, b_ih, b_hh, h0, c0, lengths, &y, &hn, cn, &hs, cs, &gates, hn_lin},
      reverse, DeviceType::CPU, lengths_in_place, &len);
  py::gil_scoped_release nogil;
  visit_float(x.dtype, [&](auto tag) {
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
  const RnnOp op = parse_rnn_mode(mode);
  const int64_t* len = nullptr;
  const cpu::RnnShape s =
      check_rnn_backward(op,
                         {&x, &w_ih, &w_hh, lengths, &hs, cs, &gates, hn_lin, &dy, &dhn, dcn, &dx,
                          &dw_ih, &dw_hh, db_ih, db_hh, &dh0, dc0},
                         reverse, DeviceType::CPU, lengths_in_place, &len);
  py::gil_scoped_release nogil;
  visit_float(x.dtype, [&](auto tag) {
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
