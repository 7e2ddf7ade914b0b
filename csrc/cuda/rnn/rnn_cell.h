// The per-unit math of the recurrent cells (one hidden unit of one batch row), forward and
// backward of each mode, as __host__ __device__ functions: the CUDA pointwise kernels call
// them, and the CPU tests check them against numpy float64 through a host hook. The
// equations, the gate order (PyTorch's) and what is saved are the CPU kernels' (cpu/rnn/rnn.h).
#pragma once
#include "cuda/math.cuh"

namespace ember::cuda::rnn {

// h' = act(p), p = the summed pre-activation; returns h' (also the saved "gate").
template <typename T>
EMBER_HD T rnn_cell_fwd(T p, bool relu) {
  return relu ? (p > T(0) ? p : T(0)) : m_tanh(p);
}

// a: the saved h'; dh: the gradient of h' (recurrent + output). Returns the gradient of
// the pre-activation.
template <typename T>
EMBER_HD T rnn_cell_bwd(T a, bool relu, T dh) {
  return relu ? (a > T(0) ? dh : T(0)) : dh * (T(1) - a * a);
}

// g: pre-activations i, f, g, o in, activations out; c = f c_prev + i g, h = o tanh(c).
template <typename T>
EMBER_HD void lstm_cell_fwd(T (&g)[4], T c_prev, T& c, T& h) {
  g[0] = m_sigmoid(g[0]);
  g[1] = m_sigmoid(g[1]);
  g[2] = m_tanh(g[2]);
  g[3] = m_sigmoid(g[3]);
  c = g[1] * c_prev + g[0] * g[2];
  h = g[3] * m_tanh(c);
}

// a: activations i, f, g, o; c, c_prev: c' and c; dh: gradient of h' (recurrent + output);
// dc: in the gradient of c', out that of c. dg: gradients of the pre-activations.
template <typename T>
EMBER_HD void lstm_cell_bwd(const T (&a)[4], T c, T c_prev, T dh, T& dc, T (&dg)[4]) {
  const T i = a[0], f = a[1], gt = a[2], o = a[3];
  const T tc = m_tanh(c);
  const T dct = dc + dh * o * (T(1) - tc * tc);
  dg[0] = dct * gt * i * (T(1) - i);
  dg[1] = dct * c_prev * f * (T(1) - f);
  dg[2] = dct * i * (T(1) - gt * gt);
  dg[3] = dh * tc * o * (T(1) - o);
  dc = dct * f;
}

// g: x projections r, z, n (+ b_ih) in, activations out; hh: W_hh h + b_hh of r, z, n.
// n = tanh(x_n + r hh_n), h' = (1 - z) n + z h_prev; hn_lin = hh_n (saved for backward).
template <typename T>
EMBER_HD void gru_cell_fwd(T (&g)[3], const T (&hh)[3], T h_prev, T& hn_lin, T& h) {
  const T r = m_sigmoid(g[0] + hh[0]), z = m_sigmoid(g[1] + hh[1]);
  const T n = m_tanh(g[2] + r * hh[2]);
  g[0] = r, g[1] = z, g[2] = n;
  hn_lin = hh[2];
  h = n + z * (h_prev - n);
}

// a: activations r, z, n; dh: gradient of h' (recurrent + output), out the direct part
// z dh that flows to h_prev. dgx / dgh: gradients of the x / h projections.
template <typename T>
EMBER_HD void gru_cell_bwd(const T (&a)[3], T hn_lin, T h_prev, T& dh, T (&dgx)[3], T (&dgh)[3]) {
  const T r = a[0], z = a[1], n = a[2];
  const T dn = dh * (T(1) - z) * (T(1) - n * n);
  const T dz = dh * (h_prev - n) * z * (T(1) - z);
  const T dr = dn * hn_lin * r * (T(1) - r);
  dgx[0] = dgh[0] = dr;
  dgx[1] = dgh[1] = dz;
  dgx[2] = dn;
  dgh[2] = dn * r;
  dh = dh * z;
}

}  // namespace ember::cuda::rnn
