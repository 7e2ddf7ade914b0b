// Recurrent layers: the time loops, GEMMs and threading around the pointwise cell kernels
// (float32: rnn_<isa>.cpp through a table chosen with ember::current_isa(); float64: the
// scalar templates below). See rnn.h for the equations and the saved buffers.
//
// Threading: the GEMMs thread themselves (bitwise the same for any thread count); the
// pointwise kernels run batch rows in parallel, each row computed by one call, so results
// never depend on the thread count. Column sums (bias gradients) add rows in a fixed order.
#include "cpu/rnn/rnn.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "core/isa.h"
#include "core/parallel.h"
#include "cpu/gemm/gemm.h"

namespace ember::cpu {

const RnnKernels& rnn_kernels() {
  switch (current_isa()) {
    case Isa::Avx512:
      return avx512::rnn_kernels;
    case Isa::Avx2:
      return avx2::rnn_kernels;
    default:
      return generic::rnn_kernels;
  }
}

namespace {

// ---- float64 pointwise kernels (same contracts as RnnKernels)
template <typename T>
T sigm(T x) {
  return x >= 0 ? T(1) / (T(1) + std::exp(-x)) : std::exp(x) / (T(1) + std::exp(x));
}

template <typename T>
struct Scalar {
  static void lstm_fwd(int64_t n, T* g, int64_t gs, T* c, const T* c_prev, T* h, T* y) {
    for (int64_t j = 0; j < n; ++j) {
      const T i = sigm(g[j]), f = sigm(g[gs + j]), gt = std::tanh(g[2 * gs + j]),
              o = sigm(g[3 * gs + j]);
      const T cn = f * c_prev[j] + i * gt;
      g[j] = i, g[gs + j] = f, g[2 * gs + j] = gt, g[3 * gs + j] = o;
      c[j] = cn;
      h[j] = y[j] = o * std::tanh(cn);
    }
  }
  static void lstm_bwd(int64_t n, const T* a, int64_t gs, const T* c, const T* c_prev,
                       const T* dy, T* dh, T* dc, T* dg) {
    for (int64_t j = 0; j < n; ++j) {
      const T i = a[j], f = a[gs + j], gt = a[2 * gs + j], o = a[3 * gs + j];
      const T tc = std::tanh(c[j]);
      const T dht = dh[j] + dy[j];
      const T dct = dc[j] + dht * o * (1 - tc * tc);
      dg[j] = dct * gt * i * (1 - i);
      dg[gs + j] = dct * c_prev[j] * f * (1 - f);
      dg[2 * gs + j] = dct * i * (1 - gt * gt);
      dg[3 * gs + j] = dht * tc * o * (1 - o);
      dc[j] = dct * f;
      dh[j] = 0;
    }
  }
  static void gru_fwd(int64_t n, T* g, int64_t gs, const T* hh, T* hn_lin, const T* h_prev, T* h,
                      T* y) {
    for (int64_t j = 0; j < n; ++j) {
      const T r = sigm(g[j] + hh[j]), z = sigm(g[gs + j] + hh[gs + j]);
      const T hl = hh[2 * gs + j];
      const T nn = std::tanh(g[2 * gs + j] + r * hl);
      g[j] = r, g[gs + j] = z, g[2 * gs + j] = nn;
      hn_lin[j] = hl;
      h[j] = y[j] = nn + z * (h_prev[j] - nn);
    }
  }
  static void gru_bwd(int64_t n, const T* a, int64_t gs, const T* hn_lin, const T* h_prev,
                      const T* dy, T* dh, T* dgx, T* dgh) {
    for (int64_t j = 0; j < n; ++j) {
      const T r = a[j], z = a[gs + j], nn = a[2 * gs + j];
      const T dht = dh[j] + dy[j];
      const T dnp = dht * (1 - z) * (1 - nn * nn);
      const T dzp = dht * (h_prev[j] - nn) * z * (1 - z);
      const T drp = dnp * hn_lin[j] * r * (1 - r);
      dgx[j] = dgh[j] = drp;
      dgx[gs + j] = dgh[gs + j] = dzp;
      dgx[2 * gs + j] = dnp;
      dgh[2 * gs + j] = dnp * r;
      dh[j] = dht * z;
    }
  }
  static void rnn_fwd(int64_t n, T* g, bool relu, T* h, T* y) {
    for (int64_t j = 0; j < n; ++j) {
      const T v = relu ? (g[j] > 0 ? g[j] : T(0)) : std::tanh(g[j]);
      g[j] = h[j] = y[j] = v;
    }
  }
  static void rnn_bwd(int64_t n, const T* a, bool relu, const T* dy, T* dh, T* dg) {
    for (int64_t j = 0; j < n; ++j) {
      const T dht = dh[j] + dy[j];
      dg[j] = relu ? (a[j] > 0 ? dht : T(0)) : dht * (1 - a[j] * a[j]);
      dh[j] = 0;
    }
  }
};

// The pointwise kernels of one dtype behind one interface.
template <typename T>
struct Cell;

template <>
struct Cell<double> : Scalar<double> {
  Cell() = default;
};

template <>
struct Cell<float> {
  const RnnKernels& k = rnn_kernels();
  void lstm_fwd(int64_t n, float* g, int64_t gs, float* c, const float* cp, float* h,
                float* y) const {
    k.lstm_fwd(n, g, gs, c, cp, h, y);
  }
  void lstm_bwd(int64_t n, const float* a, int64_t gs, const float* c, const float* cp,
                const float* dy, float* dh, float* dc, float* dg) const {
    k.lstm_bwd(n, a, gs, c, cp, dy, dh, dc, dg);
  }
  void gru_fwd(int64_t n, float* g, int64_t gs, const float* hh, float* hl, const float* hp,
               float* h, float* y) const {
    k.gru_fwd(n, g, gs, hh, hl, hp, h, y);
  }
  void gru_bwd(int64_t n, const float* a, int64_t gs, const float* hl, const float* hp,
               const float* dy, float* dh, float* dgx, float* dgh) const {
    k.gru_bwd(n, a, gs, hl, hp, dy, dh, dgx, dgh);
  }
  void rnn_fwd(int64_t n, float* g, bool relu, float* h, float* y) const {
    k.rnn_fwd(n, g, relu, h, y);
  }
  void rnn_bwd(int64_t n, const float* a, bool relu, const float* dy, float* dh,
               float* dg) const {
    k.rnn_bwd(n, a, relu, dy, dh, dg);
  }
};

// c (M, N; row stride ldc) = a (M, K) @ b (K, N) + beta * c + bias, strided operands.
void mm(int64_t M, int64_t N, int64_t K, const float* a, int64_t ars, int64_t acs,
        const float* b, int64_t brs, int64_t bcs, float beta, float* c, int64_t ldc,
        const float* bias) {
  gemm_f32(1, M, N, K, 1.0f, {a, 0, ars, acs}, {b, 0, brs, bcs}, beta, {c, 0, ldc}, bias,
           GemmAct::None);
}
void mm(int64_t M, int64_t N, int64_t K, const double* a, int64_t ars, int64_t acs,
        const double* b, int64_t brs, int64_t bcs, double beta, double* c, int64_t ldc,
        const double* bias) {
  gemm_f64(1, M, N, K, 1.0, {a, 0, ars, acs}, {b, 0, brs, bcs}, beta, {c, 0, ldc}, bias,
           GemmAct::None);
}

// out[j] = sum over rows r (in order) of m[r * n + j]; columns in parallel.
template <typename T>
void col_sums(int64_t rows, int64_t n, const T* m, T* out) {
  constexpr int64_t kCols = 64;
  parallel_chunks(n, kCols, rows, [&](int64_t j0, int64_t j1) {
    T acc[kCols];
    for (int64_t j = j0; j < j1; ++j) acc[j - j0] = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const T* row = m + r * n;
      for (int64_t j = j0; j < j1; ++j) acc[j - j0] += row[j];
    }
    for (int64_t j = j0; j < j1; ++j) out[j] = acc[j - j0];
  });
}

inline bool valid(const int64_t* lengths, int64_t t, int64_t b) {
  return lengths == nullptr || t < lengths[b];
}

// Pointwise cost of a batch row, in rough flops (for the parallel grain).
inline int64_t row_cost(const RnnShape& s) { return s.H * rnn_gate_count(s.mode) * 24; }

}  // namespace

template <typename T>
void rnn_forward(const RnnShape& s, const T* x, const T* w_ih, const T* w_hh, const T* b_ih,
                 const T* b_hh, const T* h0, const T* c0, const int64_t* lengths, T* y, T* hn,
                 T* cn, T* hs, T* cs, T* gates, T* hn_lin) {
  const int64_t Tn = s.T, B = s.B, I = s.I, H = s.H, G = rnn_gate_count(s.mode), GH = G * H;
  const int64_t BH = B * H;
  const bool lstm = s.mode == RnnMode::Lstm, gru = s.mode == RnnMode::Gru;
  const bool relu = s.mode == RnnMode::Relu;
  const Cell<T> cell{};
  // Biases folded into the input projection: both for RNN / LSTM; GRU keeps b_hh with the
  // recurrent product (r multiplies W_hn h + b_hn).
  std::vector<T> bias_x;
  const T* bx = b_ih;
  if (!gru && b_hh) {
    bias_x.assign(b_hh, b_hh + GH);
    if (b_ih)
      for (int64_t j = 0; j < GH; ++j) bias_x[j] += b_ih[j];
    bx = bias_x.data();
  }
  // 1. Input projection of all steps: gates (T B, G H) = x (T B, I) @ W_ih^T + bias.
  if (I > 0) {
    mm(Tn * B, GH, I, x, I, 1, w_ih, 1, I, T(0), gates, GH, bx);
  } else {
    for (int64_t r = 0; r < Tn * B; ++r)
      for (int64_t j = 0; j < GH; ++j) gates[r * GH + j] = bx ? bx[j] : T(0);
  }
  // 2. The time loop.
  const int64_t first = s.reverse ? Tn : 0;  // slot of the initial state
  for (int64_t i = 0; i < BH; ++i) hs[first * BH + i] = h0 ? h0[i] : T(0);
  if (lstm)
    for (int64_t i = 0; i < BH; ++i) cs[first * BH + i] = c0 ? c0[i] : T(0);
  std::vector<T> hh(gru ? B * GH : 0);
  for (int64_t step = 0; step < Tn; ++step) {
    const int64_t t = s.reverse ? Tn - 1 - step : step;
    const int64_t before = s.reverse ? t + 1 : t, after = s.reverse ? t : t + 1;
    const T* hp = hs + before * BH;
    T* hnew = hs + after * BH;
    T* gt = gates + t * B * GH;
    if (gru)
      mm(B, GH, H, hp, H, 1, w_hh, 1, H, T(0), hh.data(), GH, b_hh);
    else
      mm(B, GH, H, hp, H, 1, w_hh, 1, H, T(1), gt, GH, nullptr);
    parallel_chunks(B, 1, row_cost(s), [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        T* yr = y + (t * B + b) * H;
        if (!valid(lengths, t, b)) {
          std::memcpy(hnew + b * H, hp + b * H, H * sizeof(T));
          if (lstm) std::memcpy(cs + after * BH + b * H, cs + before * BH + b * H, H * sizeof(T));
          std::memset(yr, 0, H * sizeof(T));
          continue;
        }
        T* g = gt + b * GH;
        if (lstm)
          cell.lstm_fwd(H, g, H, cs + after * BH + b * H, cs + before * BH + b * H, hnew + b * H,
                        yr);
        else if (gru)
          cell.gru_fwd(H, g, H, hh.data() + b * GH, hn_lin + (t * B + b) * H, hp + b * H,
                       hnew + b * H, yr);
        else
          cell.rnn_fwd(H, g, relu, hnew + b * H, yr);
      }
    });
  }
  const int64_t last = s.reverse ? 0 : Tn;
  std::memcpy(hn, hs + last * BH, BH * sizeof(T));
  if (lstm) std::memcpy(cn, cs + last * BH, BH * sizeof(T));
}

template <typename T>
void rnn_backward(const RnnShape& s, const T* x, const T* w_ih, const T* w_hh,
                  const int64_t* lengths, const T* hs, const T* cs, const T* gates,
                  const T* hn_lin, const T* dy, const T* dhn, const T* dcn, T* dx, T* dw_ih,
                  T* dw_hh, T* db_ih, T* db_hh, T* dh0, T* dc0) {
  const int64_t Tn = s.T, B = s.B, I = s.I, H = s.H, G = rnn_gate_count(s.mode), GH = G * H;
  const int64_t BH = B * H;
  const bool lstm = s.mode == RnnMode::Lstm, gru = s.mode == RnnMode::Gru;
  const bool relu = s.mode == RnnMode::Relu;
  const Cell<T> cell{};
  // Gradients of the pre-activations, in time order: dgx for the x projection, dgh for the
  // h projection (the same buffer except for GRU).
  std::vector<T> dgx_buf(Tn * B * GH), dgh_buf(gru ? Tn * B * GH : 0);
  T* dgx = dgx_buf.data();
  T* dgh = gru ? dgh_buf.data() : dgx;
  // dh0 / dc0 carry the state gradient through the loop.
  std::memcpy(dh0, dhn, BH * sizeof(T));
  if (lstm) std::memcpy(dc0, dcn, BH * sizeof(T));
  for (int64_t step = 0; step < Tn; ++step) {
    const int64_t t = s.reverse ? step : Tn - 1 - step;
    const int64_t before = s.reverse ? t + 1 : t, after = s.reverse ? t : t + 1;
    parallel_chunks(B, 1, row_cost(s), [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t r = t * B + b;
        T* gx = dgx + r * GH;
        T* gh = dgh + r * GH;
        if (!valid(lengths, t, b)) {  // no gradient; the state gradient passes through
          std::memset(gx, 0, GH * sizeof(T));
          if (gru) std::memset(gh, 0, GH * sizeof(T));
          continue;
        }
        const T* a = gates + r * GH;
        const T* dyr = dy + r * H;
        T* dh = dh0 + b * H;
        if (lstm)
          cell.lstm_bwd(H, a, H, cs + after * BH + b * H, cs + before * BH + b * H, dyr, dh,
                        dc0 + b * H, gx);
        else if (gru)
          cell.gru_bwd(H, a, H, hn_lin + r * H, hs + before * BH + b * H, dyr, dh, gx, gh);
        else
          cell.rnn_bwd(H, a, relu, dyr, dh, gx);
      }
    });
    // dh += dgh[t] (B, G H) @ W_hh (G H, H)
    mm(B, H, GH, dgh + t * B * GH, GH, 1, w_hh, H, 1, T(1), dh0, H, nullptr);
  }
  // Whole-sequence GEMMs.
  const int64_t TB = Tn * B;
  if (I > 0) {
    mm(TB, I, GH, dgx, GH, 1, w_ih, I, 1, T(0), dx, I, nullptr);
    mm(GH, I, TB, dgx, 1, GH, x, I, 1, T(0), dw_ih, I, nullptr);
  }
  const int64_t off = s.reverse ? 1 : 0;  // hs slot of the state before time 0
  mm(GH, H, TB, dgh, 1, GH, hs + off * BH, H, 1, T(0), dw_hh, H, nullptr);
  if (db_ih) col_sums(TB, GH, dgx, db_ih);
  if (db_hh) col_sums(TB, GH, dgh, db_hh);
}

#define EMBER_RNN_INST(T)                                                                       \
  template void rnn_forward<T>(const RnnShape&, const T*, const T*, const T*, const T*,        \
                               const T*, const T*, const T*, const int64_t*, T*, T*, T*, T*, T*, \
                               T*, T*);                                                         \
  template void rnn_backward<T>(const RnnShape&, const T*, const T*, const T*, const int64_t*, \
                                const T*, const T*, const T*, const T*, const T*, const T*,     \
                                const T*, T*, T*, T*, T*, T*, T*, T*);
EMBER_RNN_INST(float)
EMBER_RNN_INST(double)
#undef EMBER_RNN_INST

}  // namespace ember::cpu
