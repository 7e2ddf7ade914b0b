// Recurrent layers (RNN tanh/relu, LSTM, GRU) over whole sequences, forward and backward
// through time, with PyTorch's gate layout and equations:
//
//   RNN:  h' = act(W_ih x + b_ih + W_hh h + b_hh)
//   LSTM: gates i, f, g, o (rows [0, H), [H, 2H), ... of W_ih / W_hh):
//         c' = f * c + i * g,  h' = o * tanh(c')   (i, f, o sigmoid; g tanh)
//   GRU:  gates r, z, n: r, z = sigmoid(W_i. x + b_i. + W_h. h + b_h.),
//         n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),  h' = (1 - z) * n + z * h
//
// One call runs one layer in one direction over all T steps. Each step does one recurrent
// GEMM (h @ W_hh^T, W_hh packed once per call) and ONE fused pointwise kernel for all
// gates. The input projection runs inside the steps too (x_t @ W_ih^T, W_ih packed once)
// when a step has at least a GEMM micro-tile of batch rows and the weights are small (a
// few MiB), else it is ONE GEMM over all steps hoisted out of the time loop.
// Backward runs one fused pointwise kernel and one GEMM (dh @ W_hh) per step, and under
// the same condition dx_t = dg_t @ W_ih per step; dW_ih, dW_hh (and otherwise dx) are one
// GEMM each over all steps.
//
// Variable lengths: step t of batch row b is valid iff t < lengths[b] (any order). Invalid
// steps keep the state, output zeros and get no gradient, so the reverse direction starts
// each row at its own last valid step and h_n is the state after each row's last step.
//
// Saved buffers (shapes in elements, G = gates per step: 1, 4 or 3):
//   hs (T + 1, B, H): hidden states; the state before step t is hs[t] (forward) or hs[t + 1]
//     (reverse), so states line up with time for the dW_hh GEMM. cs likewise (LSTM only).
//   gates (T, B, G H): gate activations (RNN: h').  hn_lin (T, B, H): W_hn h + b_hn (GRU).
// Arguments are validated by the bindings; the kernels trust them.
#pragma once
#include <cstdint>
#include "core/isa.h"

namespace ember::cpu {

enum class RnnMode : int { Tanh = 0, Relu = 1, Lstm = 2, Gru = 3 };

inline int64_t rnn_gate_count(RnnMode m) {
  return m == RnnMode::Lstm ? 4 : m == RnnMode::Gru ? 3 : 1;
}

struct RnnShape {
  int64_t T, B, I, H;
  RnnMode mode;
  bool reverse;
};

// b_ih, b_hh, c0, cs, cn, lengths, hn_lin may be null where unused (c*: LSTM only;
// hn_lin: GRU only); h0 and c0 null mean zeros.
template <typename T>
void rnn_forward(const RnnShape& s, const T* x, const T* w_ih, const T* w_hh, const T* b_ih,
                 const T* b_hh, const T* h0, const T* c0, const int64_t* lengths, T* y, T* hn,
                 T* cn, T* hs, T* cs, T* gates, T* hn_lin);

// Gradients (all overwritten): dx (T, B, I), dw_ih, dw_hh, db_ih / db_hh (null: skipped),
// dh0, dc0 (LSTM). dy (T, B, H), dhn, dcn: incoming gradients (dcn: LSTM only).
template <typename T>
void rnn_backward(const RnnShape& s, const T* x, const T* w_ih, const T* w_hh,
                  const int64_t* lengths, const T* hs, const T* cs, const T* gates, const T* hn_lin,
                  const T* dy, const T* dhn, const T* dcn, T* dx, T* dw_ih, T* dw_hh, T* db_ih,
                  T* db_hh, T* dh0, T* dc0);

// ---- per-ISA float32 pointwise kernels (internal): one batch row, n hidden units; gate k
// of a row starts at k * gs.
struct RnnKernels {
  // g: pre-activations in, activations out; c: c_prev in, c' out; h, y: h' out.
  void (*lstm_fwd)(int64_t n, float* g, int64_t gs, float* c, const float* c_prev, float* h,
                   float* y);
  // a: activations; c, c_prev: c', c; dh: in dh' (without dy), out 0; dc: in dc', out dc;
  // dg: gradients of the pre-activations.
  void (*lstm_bwd)(int64_t n, const float* a, int64_t gs, const float* c, const float* c_prev,
                   const float* dy, float* dh, float* dc, float* dg);
  // g: x-projections (+ b_ih) in, activations r, z, n out; hh: W_hh h + b_hh (3 gates);
  // hn_lin: hh's n gate saved; h_prev: h; h, y: h' out.
  void (*gru_fwd)(int64_t n, float* g, int64_t gs, const float* hh, float* hn_lin,
                  const float* h_prev, float* h, float* y);
  // dh: in dh', out the direct part z * dh'; dgx / dgh: gradients of the x / h projections.
  void (*gru_bwd)(int64_t n, const float* a, int64_t gs, const float* hn_lin, const float* h_prev,
                  const float* dy, float* dh, float* dgx, float* dgh);
  // g: pre-activation in, h' out (saved); h, y: h'.
  void (*rnn_fwd)(int64_t n, float* g, bool relu, float* h, float* y);
  void (*rnn_bwd)(int64_t n, const float* a, bool relu, const float* dy, float* dh, float* dg);
  // Batch-1 recurrent product: y[j] = beta * y[j] + bias[j] + sum_p x[p] * w(p, j) for
  // j < n, w packed as ceil(n / gemv_width) panels of k x gemv_width floats (k-major, zero
  // padded); beta is 0 or 1, bias may be null.
  int gemv_width;
  void (*gemv_panels)(int64_t n, int64_t k, const float* x, const float* w, float* y, float beta,
                      const float* bias);
};

const RnnKernels& rnn_kernels();

}  // namespace ember::cpu

EMBER_ISA_TABLES(cpu::RnnKernels, rnn_kernels)
