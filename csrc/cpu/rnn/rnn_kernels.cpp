// float32 pointwise kernels of the recurrent cells, written once against the Vec API and
// compiled once per ISA inside namespace ember::<isa> (ember_add_isa_kernels).
// Each kernel is one pass over a batch row's n hidden units, all gates at once (see
// rnn.h for the arguments). Tails use masked loads / stores, so no element past n is
// touched and a unit's result does not depend on where the row ends.
#include "cpu/simd/vec.h"  // first: it may wrap <immintrin.h>
//
#include "cpu/rnn/rnn.h"

namespace ember::EMBER_ISA_NS {

namespace {

struct Span {
  int64_t j;
  int m;  // lanes in use: kW, or fewer at the tail
  VecF ld(const float* p) const { return m == kW ? vload(p + j) : vload_partial(p + j, m, 0.0f); }
  void st(float* p, VecF v) const {
    if (m == kW)
      vstore(p + j, v);
    else
      vstore_partial(p + j, v, m);
  }
};

inline Span span_at(int64_t j, int64_t n) {
  return Span{j, n - j < kW ? static_cast<int>(n - j) : kW};
}

// s * (1 - s): the derivative of sigmoid from its value.
inline VecF dsig(VecF s) { return vmul(s, vsub(vset1(1.0f), s)); }
// 1 - t^2: the derivative of tanh from its value.
inline VecF dtanh(VecF t) { return vsub(vset1(1.0f), vmul(t, t)); }

void lstm_fwd(int64_t n, float* g, int64_t gs, float* c, const float* c_prev, float* h, float* y) {
  float *gi = g, *gf = g + gs, *gg = g + 2 * gs, *go = g + 3 * gs;
  for (int64_t j = 0; j < n; j += kW) {
    const Span s = span_at(j, n);
    const VecF i = vsigmoid(s.ld(gi)), f = vsigmoid(s.ld(gf));
    const VecF gt = vtanh(s.ld(gg)), o = vsigmoid(s.ld(go));
    const VecF cn = vfma(f, s.ld(c_prev), vmul(i, gt));
    const VecF hn = vmul(o, vtanh(cn));
    s.st(gi, i);
    s.st(gf, f);
    s.st(gg, gt);
    s.st(go, o);
    s.st(c, cn);
    s.st(h, hn);
    s.st(y, hn);
  }
}

void lstm_bwd(int64_t n, const float* a, int64_t gs, const float* c, const float* c_prev,
              const float* dy, float* dh, float* dc, float* dg) {
  const float *ai = a, *af = a + gs, *ag = a + 2 * gs, *ao = a + 3 * gs;
  for (int64_t j = 0; j < n; j += kW) {
    const Span s = span_at(j, n);
    const VecF i = s.ld(ai), f = s.ld(af), gt = s.ld(ag), o = s.ld(ao);
    const VecF tc = vtanh(s.ld(c));
    const VecF dht = vadd(s.ld(dh), s.ld(dy));
    const VecF dct = vfma(vmul(dht, o), dtanh(tc), s.ld(dc));
    s.st(dg, vmul(vmul(dct, gt), dsig(i)));
    s.st(dg + gs, vmul(vmul(dct, s.ld(c_prev)), dsig(f)));
    s.st(dg + 2 * gs, vmul(vmul(dct, i), dtanh(gt)));
    s.st(dg + 3 * gs, vmul(vmul(dht, tc), dsig(o)));
    s.st(dc, vmul(dct, f));
    s.st(dh, vzero());
  }
}

void gru_fwd(int64_t n, float* g, int64_t gs, const float* hh, float* hn_lin, const float* h_prev,
             float* h, float* y) {
  for (int64_t j = 0; j < n; j += kW) {
    const Span s = span_at(j, n);
    const VecF r = vsigmoid(vadd(s.ld(g), s.ld(hh)));
    const VecF z = vsigmoid(vadd(s.ld(g + gs), s.ld(hh + gs)));
    const VecF hl = s.ld(hh + 2 * gs);
    const VecF nn = vtanh(vfma(r, hl, s.ld(g + 2 * gs)));
    const VecF hnew = vfma(z, vsub(s.ld(h_prev), nn), nn);
    s.st(g, r);
    s.st(g + gs, z);
    s.st(g + 2 * gs, nn);
    s.st(hn_lin, hl);
    s.st(h, hnew);
    s.st(y, hnew);
  }
}

void gru_bwd(int64_t n, const float* a, int64_t gs, const float* hn_lin, const float* h_prev,
             const float* dy, float* dh, float* dgx, float* dgh) {
  for (int64_t j = 0; j < n; j += kW) {
    const Span s = span_at(j, n);
    const VecF r = s.ld(a), z = s.ld(a + gs), nn = s.ld(a + 2 * gs);
    const VecF dht = vadd(s.ld(dh), s.ld(dy));
    const VecF dnp = vmul(vmul(dht, vsub(vset1(1.0f), z)), dtanh(nn));
    const VecF dzp = vmul(vmul(dht, vsub(s.ld(h_prev), nn)), dsig(z));
    const VecF drp = vmul(vmul(dnp, s.ld(hn_lin)), dsig(r));
    s.st(dgx, drp);
    s.st(dgx + gs, dzp);
    s.st(dgx + 2 * gs, dnp);
    s.st(dgh, drp);
    s.st(dgh + gs, dzp);
    s.st(dgh + 2 * gs, vmul(dnp, r));
    s.st(dh, vmul(dht, z));
  }
}

void rnn_fwd(int64_t n, float* g, bool relu, float* h, float* y) {
  for (int64_t j = 0; j < n; j += kW) {
    const Span s = span_at(j, n);
    const VecF p = s.ld(g);
    const VecF v = relu ? vmax(p, vzero()) : vtanh(p);
    s.st(g, v);
    s.st(h, v);
    s.st(y, v);
  }
}

void rnn_bwd(int64_t n, const float* a, bool relu, const float* dy, float* dh, float* dg) {
  for (int64_t j = 0; j < n; j += kW) {
    const Span s = span_at(j, n);
    const VecF v = s.ld(a);
    const VecF dht = vadd(s.ld(dh), s.ld(dy));
    const VecF d = relu ? vselect(vgt(v, vzero()), dht, vzero()) : vmul(dht, dtanh(v));
    s.st(dg, d);
    s.st(dh, vzero());
  }
}

// Eight independent accumulators (a panel of 8 vectors) hide the FMA latency; the sum over
// p runs in order, one panel at a time.
constexpr int kPanel = 8 * kW;

void gemv_panels(int64_t n, int64_t k, const float* x, const float* w, float* y, float beta,
                 const float* bias) {
  for (int64_t j0 = 0; j0 < n; j0 += kPanel, w += k * kPanel) {
    VecF acc[8];
    for (int i = 0; i < 8; ++i) acc[i] = vzero();
    for (int64_t p = 0; p < k; ++p) {
      const VecF xb = vset1(x[p]);
      const float* wp = w + p * kPanel;
      for (int i = 0; i < 8; ++i) acc[i] = vfma(xb, vload(wp + i * kW), acc[i]);
    }
    for (int i = 0; i < 8; ++i) {
      const int64_t j = j0 + i * kW;
      if (j >= n) break;
      const Span s = span_at(j, n);
      VecF v = acc[i];
      if (bias) v = vadd(v, s.ld(bias));
      if (beta != 0.0f) v = vadd(s.ld(y), v);
      s.st(y, v);
    }
  }
}

}  // namespace

const cpu::RnnKernels rnn_kernels = {lstm_fwd, lstm_bwd, gru_fwd, gru_bwd,
                                     rnn_fwd,  rnn_bwd,  kPanel,  gemv_panels};

}  // namespace ember::EMBER_ISA_NS
