// Argument checks of the recurrent layers (rnn_forward / rnn_backward) that do not depend on
// the device: mode, ranks, shapes, dtypes (float32 or float64, all alike; lengths int64),
// contiguity, the outputs' aliasing and the lengths' range. The CPU and CUDA bindings call
// them with the device type they expect, so both raise the same errors for the same bad
// arguments. The geometry and modes are the CPU kernels' (cpu/rnn/rnn.h), which the CUDA
// kernels follow too.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "core/tensor_impl.h"
#include "cpu/rnn/rnn.h"

namespace ember {

struct RnnOp {
  cpu::RnnMode mode;
  std::string name;  // ember.rnn_tanh, ember.lstm, ...
};

// "rnn_tanh", "rnn_relu", "lstm" or "gru"; ValueError otherwise.
RnnOp parse_rnn_mode(const std::string& mode);

// The host values of a lengths tensor whose device, dtype, shape and contiguity are checked
// (the CPU binding reads them in place, the CUDA one copies them to the host).
using RnnLengthsReader = std::function<const int64_t*(const TensorImpl& lengths)>;

struct RnnForwardArgs {
  const TensorImpl *x, *w_ih, *w_hh, *b_ih, *b_hh, *h0, *c0, *lengths;  // inputs
  const TensorImpl *y, *hn, *cn, *hs, *cs, *gates, *hn_lin;             // outputs
};

struct RnnBackwardArgs {
  const TensorImpl *x, *w_ih, *w_hh, *lengths, *hs, *cs, *gates, *hn_lin, *dy, *dhn, *dcn;
  const TensorImpl *dx, *dw_ih, *dw_hh, *db_ih, *db_hh, *dh0, *dc0;  // outputs
};

// Every check of one call, in the CPU binding's order; the optional tensors are null when
// absent. Returns the geometry; *lengths_out is the host copy of the lengths (null without).
cpu::RnnShape check_rnn_forward(const RnnOp& op, const RnnForwardArgs& a, bool reverse,
                                DeviceType device, const RnnLengthsReader& read_lengths,
                                const int64_t** lengths_out);
cpu::RnnShape check_rnn_backward(const RnnOp& op, const RnnBackwardArgs& a, bool reverse,
                                 DeviceType device, const RnnLengthsReader& read_lengths,
                                 const int64_t** lengths_out);

}  // namespace ember
