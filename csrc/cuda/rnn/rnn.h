// CUDA recurrent layers: one layer, one direction, whole sequence, forward and backward
// through time, with the CPU kernels' equations, gate layout, saved buffers, lengths
// masking and reverse order (cpu/rnn/rnn.h). Per call the input projection of all steps is
// ONE GEMM (x (T B, I) @ W_ih^T + b_ih, cuda/gemm/gemm.h); per step one recurrent GEMM and
// ONE fused pointwise kernel (all gates; padded steps keep the state and output zeros).
// Backward: per step one fused pointwise kernel and one GEMM dh += dg @ W_hh; then dx,
// dW_ih and dW_hh as one GEMM each over all steps and the bias gradients as column sums
// in a fixed order (no float atomics: the result does not vary between runs).
//
// Pointers are device pointers of float32 or float64 tensors on `device`, contiguous, of
// the shapes rnn.h gives; optional ones may be null as there. `lengths` is the device copy
// (int64, B values already checked to lie in [0, T]) or null. Launches on the device's
// current stream; the arguments are trusted (the binding checks them).
#pragma once
#include <cstdint>
#include <vector>

#include "core/dtype.h"
#include "cpu/rnn/rnn.h"

namespace ember::cuda::rnn {

struct ForwardPtrs {
  const void *x, *w_ih, *w_hh, *b_ih, *b_hh, *h0, *c0;
  const int64_t* lengths;
  void *y, *hn, *cn, *hs, *cs, *gates, *hn_lin;
};

struct BackwardPtrs {
  const void *x, *w_ih, *w_hh;
  const int64_t* lengths;
  const void *hs, *cs, *gates, *hn_lin, *dy, *dhn, *dcn;
  void *dx, *dw_ih, *dw_hh, *db_ih, *db_hh, *dh0, *dc0;
};

void forward(const cpu::RnnShape& s, DType dt, int device, const ForwardPtrs& p);
void backward(const cpu::RnnShape& s, DType dt, int device, const BackwardPtrs& p);

// Test hook (host code of the kernels' cell math): each row of `in` is one unit's inputs,
// each returned row its outputs, computed in float32 (f64 false) or float64:
//   forward  rnn:  [p] -> [h]            lstm: [i, f, g, o, c_prev] -> [i, f, g, o, c, h]
//            gru:  [xr, xz, xn, hr, hz, hn, h_prev] -> [r, z, n, hn_lin, h]
//   backward rnn:  [a, dh] -> [dg]       lstm: [i, f, g, o, c, c_prev, dh, dc] ->
//                  [dgi, dgf, dgg, dgo, dc]
//            gru:  [r, z, n, hn_lin, h_prev, dh] -> [dxr, dxz, dxn, dhr, dhz, dhn, dh]
// (dh: the gradient of h', recurrent plus output).
std::vector<std::vector<double>> cell_host(cpu::RnnMode mode, bool backward, bool f64,
                                           const std::vector<std::vector<double>>& in);
// Inputs per row of cell_host.
int cell_inputs(cpu::RnnMode mode, bool backward);

}  // namespace ember::cuda::rnn
