// Recurrent layers: the time loops, GEMMs and threading around the pointwise cell kernels
// (float32: rnn_kernels.cpp through the current ISA's table (core/isa.h); float64: the
// scalar templates below). See rnn.h for the equations and the saved buffers.
//
// Threading: the GEMMs thread themselves (bitwise the same for any thread count); the
// pointwise kernels run batch rows in parallel, each row computed by one call, so results
// never depend on the thread count. Column sums (bias gradients) add rows in a fixed order.
// A time loop is one parallel region with one barrier per step.
#include "cpu/rnn/rnn.h"

#include <omp.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "core/isa.h"
#include "core/parallel.h"
#include "core/spin_barrier.h"
#include "cpu/driver_util.h"
#include "cpu/gemm/gemm.h"

namespace ember::cpu {

const RnnKernels& rnn_kernels() { return EMBER_ISA_TABLE(rnn_kernels); }

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
  static void lstm_bwd(int64_t n, const T* a, int64_t gs, const T* c, const T* c_prev, const T* dy,
                       T* dh, T* dc, T* dg) {
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
  void rnn_bwd(int64_t n, const float* a, bool relu, const float* dy, float* dh, float* dg) const {
    k.rnn_bwd(n, a, relu, dy, dh, dg);
  }
};

// c (M, N; row stride ldc) = a (M, K) @ b (K, N) + beta * c + bias, strided operands.
void mm(int64_t M, int64_t N, int64_t K, const float* a, int64_t ars, int64_t acs, const float* b,
        int64_t brs, int64_t bcs, float beta, float* c, int64_t ldc, const float* bias) {
  gemm_f32(1, M, N, K, 1.0f, {a, 0, ars, acs}, {b, 0, brs, bcs}, beta, {c, 0, ldc}, bias,
           GemmAct::None);
}
void mm(int64_t M, int64_t N, int64_t K, const double* a, int64_t ars, int64_t acs, const double* b,
        int64_t brs, int64_t bcs, double beta, double* c, int64_t ldc, const double* bias) {
  gemm_f64(1, M, N, K, 1.0, {a, 0, ars, acs}, {b, 0, brs, bcs}, beta, {c, 0, ldc}, bias,
           GemmAct::None);
}

// A column range of the recurrent weight, computed (and packed) as one unit.
struct Seg {
  int64_t col, n;
};

// The recurrent product of every step, C[:, seg] (M x n) = A (M x K) @ B[:, seg] + beta C +
// bias, with B (K x N; element (p, j) at w[p * rs + j * cs]) packed ONCE into the float32
// GEMM's panels (per K block, segment after segment), so a step only packs its small A.
// M == 1 (batch-1 inference, latency-bound) packs B into wide panels for the rnn GEMV
// kernel instead (eight independent accumulators per panel). Each
// element of C is always computed by the same kernel over the same K blocks, so the result
// does not depend on which thread computes a segment.
template <typename T>
class Recur;

template <>
class Recur<float> {
 public:
  Recur(const float* w, int64_t rs, int64_t cs, int64_t K, int64_t N, const std::vector<Seg>& segs,
        int64_t M)
      : ks_(gemm_table().f32),
        rk_(rnn_kernels()),
        K_(K),
        M_(M),
        segs_(segs),
        bpack_(bytes_b(segs, K)) {
    (void)N;
    if (M_ == 0) return;  // no rows: nothing to pack
    if (M_ == 1) {        // wide GEMV panels, segment after segment
      const int64_t P = rk_.gemv_width;
      float* dst = bpack_.get();
      for (const Seg& g : segs_) {
        seg_off_.push_back(dst - bpack_.get());
        for (int64_t j0 = 0; j0 < g.n; j0 += P, dst += K_ * P) {
          const int64_t jn = min64(P, g.n - j0);
          const float* src = w + (g.col + j0) * cs;
          if (jn < P) std::memset(dst, 0, K_ * P * sizeof(float));
          if (cs == 1) {  // rows of B are contiguous
            for (int64_t p = 0; p < K_; ++p)
              std::memcpy(dst + p * P, src + p * rs, jn * sizeof(float));
            continue;
          }
          // Columns of B are contiguous (rs == 1 in practice): transpose in strips of 64
          // k, whose destination lines stay in L1 across the columns.
          for (int64_t p0 = 0; p0 < K_; p0 += 64) {
            const int64_t p1 = min64(K_, p0 + 64);
            for (int64_t j = 0; j < jn; ++j)
              for (int64_t p = p0; p < p1; ++p) dst[p * P + j] = src[p * rs + j * cs];
          }
        }
      }
      return;
    }
    const int64_t nr = ks_.nr;
    for (const Seg& g : segs_) {
      seg_off_.push_back(panels_);
      panels_ += cdiv(g.n, nr);
    }
    for (int64_t k0 = 0; k0 < K_; k0 += ks_.kc) {
      const int64_t kb = min64(ks_.kc, K_ - k0), kbp = round_up(kb, ks_.kalign);
      kblocks_.push_back({k0, kb, kbp, boff_, aoff_});
      for (size_t i = 0; i < segs_.size(); ++i)
        ks_.pack_b(w + k0 * rs + segs_[i].col * cs, rs, cs, kb, segs_[i].n,
                   bpack_.get() + boff_ + seg_off_[i] * kbp * nr);
      boff_ += panels_ * kbp * nr;
      aoff_ += cdiv(M_, ks_.mr) * ks_.mr * kbp;
    }
  }
  // Floats of one thread's packed-A buffer.
  int64_t a_elems() const { return aoff_; }
  void pack_a(const float* a, int64_t lda, float* abuf) const {
    for (const KBlock& q : kblocks_) ks_.pack_a(a + q.k0, lda, 1, M_, q.kb, abuf + q.aoff);
  }
  void seg(const float* a, int64_t lda, const float* abuf, size_t s, float* c, int64_t ldc,
           float beta, const float* bias) const {
    const Seg& g = segs_[s];
    (void)lda;
    if (M_ == 1) {
      rk_.gemv_panels(g.n, K_, a, bpack_.get() + seg_off_[s], c + g.col, beta,
                      bias ? bias + g.col : nullptr);
      return;
    }
    for (size_t i = 0; i < kblocks_.size(); ++i) {
      const KBlock& q = kblocks_[i];
      const bool last = i + 1 == kblocks_.size();
      const GemmEpilogue<float> ep{1.0f, i == 0 ? beta : 1.0f,
                                   last && bias ? bias + g.col : nullptr, GemmAct::None};
      ks_.macro(M_, g.n, q.kbp, abuf + q.aoff, bpack_.get() + q.boff + seg_off_[s] * q.kbp * ks_.nr,
                c + g.col, ldc, ep);
    }
  }

 private:
  struct KBlock {
    int64_t k0, kb, kbp, boff, aoff;
  };
  int64_t bytes_b(const std::vector<Seg>& segs, int64_t K) const {
    if (M_ == 0) return 0;
    const int64_t w = M_ == 1 ? rk_.gemv_width : ks_.nr;
    int64_t cols = 0;
    for (const Seg& g : segs) cols += round_up(g.n, w);
    return cols * (round_up(K, ks_.kc) + ks_.kc);
  }
  const GemmKernelSet<float>& ks_;
  const RnnKernels& rk_;
  int64_t K_, M_;
  std::vector<Seg> segs_;
  std::vector<int64_t> seg_off_;  // M == 1: float offset; else first panel of the segment
  std::vector<KBlock> kblocks_;
  int64_t panels_ = 0, boff_ = 0, aoff_ = 0;
  AlignedBuffer<float> bpack_;
};

// float64 (tests, gradcheck): the general GEMM per segment, nothing prepacked.
template <>
class Recur<double> {
 public:
  Recur(const double* w, int64_t rs, int64_t cs, int64_t K, int64_t, const std::vector<Seg>& segs,
        int64_t M)
      : w_(w), rs_(rs), cs_(cs), K_(K), M_(M), segs_(segs) {}
  int64_t a_elems() const { return 0; }
  void pack_a(const double*, int64_t, double*) const {}
  void seg(const double* a, int64_t lda, const double*, size_t s, double* c, int64_t ldc,
           double beta, const double* bias) const {
    const Seg& g = segs_[s];
    mm(M_, g.n, K_, a, lda, 1, w_ + g.col * cs_, rs_, cs_, beta, c + g.col, ldc,
       bias ? bias + g.col : nullptr);
  }

 private:
  const double* w_;
  int64_t rs_, cs_, K_, M_;
  std::vector<Seg> segs_;
};

// Hidden units per work item: whole GEMM micro-panels (batch 1: GEMV panels), about 8
// items (batch 1: 4, as GEMV panels are wide). A rule on the shape, never the thread count.
int64_t unit_chunk(int64_t H, int64_t B) {
  if (B == 1) return round_up(cdiv(H, 4), rnn_kernels().gemv_width);
  return round_up(cdiv(H, 8), gemm_table().f32.nr);
}

// Whether the x projection (forward: x_t @ W_ih^T; backward: dx_t = dg_t @ W_ih) runs
// inside the steps through W_ih packed once: with at least a GEMM micro-tile of batch rows,
// the step's product streams column segments of packed weights, closer to the
// micro-kernel's peak than one GEMM over all steps, and its output is still in cache.
// Fewer rows would make the per-step product bandwidth-bound, and weights past a few MiB
// (both matrices streamed from L3 every step) measured no faster than one GEMM over all
// T B rows (2 MiB: LSTM 256 x 256 ran 5-12% faster on one thread; 8 MiB did not).
constexpr int64_t kStepWeightBytes = int64_t{4} << 20;

bool x_in_steps(int64_t I, int64_t H, int64_t GH, int64_t B) {
  return I > 0 && B >= gemm_table().f32.mr &&
         GH * (I + H) * int64_t{sizeof(float)} <= kStepWeightBytes;
}

// Steps whose recurrent GEMM has fewer flops than this run on the calling thread: below it
// the SpinBarrier's handoff (about a microsecond with the cache lines it moves) outweighs
// the split. Batch-1 LSTM H = 256 (0.5 MFLOP a step) gains from two threads, each keeping
// its half of W_hh in its own L2.
constexpr int64_t kStepParallelFlops = int64_t{1} << 18;

int step_threads(int64_t step_flops, int64_t items) {
  const int nt = get_num_threads();
  if (nt <= 1 || step_flops < kStepParallelFlops) return 1;
  return static_cast<int>(min64(nt, items));
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

// Runs body(step, item, abuf) for every step and item, steps in order, after
// pack(step, abuf) on each thread; items of a step in parallel. A thread keeps the same run
// of items, and their weight panels in its cache, across steps; a SpinBarrier (not an
// OpenMP one, which sleeps under OMP_WAIT_POLICY=PASSIVE) separates the steps.
template <typename T, typename Pack, typename Body>
void time_loop(int64_t steps, int64_t items, int nt, int64_t a_elems, Pack&& pack, Body&& body) {
  if (nt <= 1) {
    AlignedBuffer<T> abuf(a_elems);
    for (int64_t s = 0; s < steps; ++s) {
      pack(s, abuf.get());
      for (int64_t i = 0; i < items; ++i) body(s, i, abuf.get());
    }
    return;
  }
  SpinBarrier barrier(nt);
#pragma omp parallel num_threads(nt)
  {
    barrier.fit_team();
    const int team = omp_get_num_threads(), tid = omp_get_thread_num();
    const int64_t i0 = items * tid / team, i1 = items * (tid + 1) / team;
    AlignedBuffer<T> abuf(a_elems);
    int phase = 0;
    for (int64_t s = 0; s < steps; ++s) {
      pack(s, abuf.get());
      for (int64_t i = i0; i < i1; ++i) body(s, i, abuf.get());
      barrier.wait(phase);
    }
  }
}

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
  // 1. Input projection: gates (T B, G H) = x (T B, I) @ W_ih^T + bias, inside the steps
  // (item by item, before the recurrent product) or as one GEMM here (x_in_steps).
  const bool x_in_step = x_in_steps(I, H, GH, B);
  if (I == 0) {
    for (int64_t r = 0; r < Tn * B; ++r)
      for (int64_t j = 0; j < GH; ++j) gates[r * GH + j] = bx ? bx[j] : T(0);
  } else if (!x_in_step) {
    mm(Tn * B, GH, I, x, I, 1, w_ih, 1, I, T(0), gates, GH, bx);
  }
  // 2. The time loop. Work items: chunks of hidden units; an item computes the recurrent
  // product for its units' G gate columns, then the cell for those units of every row.
  const int64_t first = s.reverse ? Tn : 0;  // slot of the initial state
  for (int64_t i = 0; i < BH; ++i) hs[first * BH + i] = h0 ? h0[i] : T(0);
  if (lstm)
    for (int64_t i = 0; i < BH; ++i) cs[first * BH + i] = c0 ? c0[i] : T(0);
  if (Tn == 0 || B == 0) {
    std::memcpy(hn, hs + first * BH, BH * sizeof(T));
    if (lstm) std::memcpy(cn, cs + first * BH, BH * sizeof(T));
    return;
  }
  const int64_t hc = unit_chunk(H, B), items = cdiv(H, hc);
  std::vector<Seg> segs;
  for (int64_t c = 0; c < items; ++c)
    for (int64_t g = 0; g < G; ++g) segs.push_back({g * H + c * hc, min64(hc, H - c * hc)});
  const Recur<T> rec(w_hh, 1, H, H, GH, segs, B);  // B(p, j) = W_hh[j, p]
  // B(p, j) = W_ih[j, p]; nothing packed (M 0) unless the x projection runs in the steps.
  const Recur<T> recx(w_ih, 1, I, I, GH, segs, x_in_step ? B : 0);
  const int64_t xoff = round_up(rec.a_elems(), 16);  // x's packed rows in a thread's buffer
  std::vector<T> hh(gru ? B * GH : 0);
  auto time_of = [&](int64_t step) { return s.reverse ? Tn - 1 - step : step; };
  auto before = [&](int64_t t) { return s.reverse ? t + 1 : t; };
  auto after = [&](int64_t t) { return s.reverse ? t : t + 1; };
  auto pack = [&](int64_t step, T* abuf) {
    const int64_t t = time_of(step);
    rec.pack_a(hs + before(t) * BH, H, abuf);
    if (x_in_step) recx.pack_a(x + t * B * I, I, abuf + xoff);
  };
  auto body = [&](int64_t step, int64_t c, const T* abuf) {
    const int64_t t = time_of(step), u0 = c * hc, n = min64(hc, H - u0);
    const T* hp = hs + before(t) * BH;
    T* hnew = hs + after(t) * BH;
    T* gt = gates + t * B * GH;
    for (int64_t g = 0; g < G; ++g) {
      if (x_in_step) recx.seg(x + t * B * I, I, abuf + xoff, c * G + g, gt, GH, T(0), bx);
      rec.seg(hp, H, abuf, c * G + g, gru ? hh.data() : gt, GH, gru ? T(0) : T(1),
              gru ? b_hh : nullptr);
    }
    for (int64_t b = 0; b < B; ++b) {
      const int64_t o = b * H + u0;
      T* yr = y + t * BH + o;
      if (!valid(lengths, t, b)) {  // padded step: keep the state, output zeros
        std::memcpy(hnew + o, hp + o, n * sizeof(T));
        if (lstm) std::memcpy(cs + after(t) * BH + o, cs + before(t) * BH + o, n * sizeof(T));
        std::memset(yr, 0, n * sizeof(T));
        continue;
      }
      T* g = gt + b * GH + u0;
      if (lstm)
        cell.lstm_fwd(n, g, H, cs + after(t) * BH + o, cs + before(t) * BH + o, hnew + o, yr);
      else if (gru)
        cell.gru_fwd(n, g, H, hh.data() + b * GH + u0, hn_lin + t * BH + o, hp + o, hnew + o, yr);
      else
        cell.rnn_fwd(n, g, relu, hnew + o, yr);
    }
  };
  const int64_t step_flops = 2 * B * GH * (H + (x_in_step ? I : 0));
  time_loop<T>(Tn, items, step_threads(step_flops, items), xoff + recx.a_elems(), pack, body);
  const int64_t last = s.reverse ? 0 : Tn;
  std::memcpy(hn, hs + last * BH, BH * sizeof(T));
  if (lstm) std::memcpy(cn, cs + last * BH, BH * sizeof(T));
}

template <typename T>
void rnn_backward(const RnnShape& s, const T* x, const T* w_ih, const T* w_hh,
                  const int64_t* lengths, const T* hs, const T* cs, const T* gates, const T* hn_lin,
                  const T* dy, const T* dhn, const T* dcn, T* dx, T* dw_ih, T* dw_hh, T* db_ih,
                  T* db_hh, T* dh0, T* dc0) {
  const int64_t Tn = s.T, B = s.B, I = s.I, H = s.H, G = rnn_gate_count(s.mode), GH = G * H;
  const int64_t BH = B * H;
  const bool lstm = s.mode == RnnMode::Lstm, gru = s.mode == RnnMode::Gru;
  const bool relu = s.mode == RnnMode::Relu;
  const Cell<T> cell{};
  // Gradients of the pre-activations, in time order: dgx for the x projection, dgh for the
  // h projection (the same buffer except for GRU).
  // Every element is written by the time loop before it is read (not zero-filled: at T 128,
  // B 64, H 512 each is 64 MiB, a few percent of the backward).
  AlignedBuffer<T> dgx_buf(Tn * B * GH), dgh_buf(gru ? Tn * B * GH : 0);
  T* dgx = dgx_buf.get();
  T* dgh = gru ? dgh_buf.get() : dgx;
  // dh0 / dc0 carry the state gradient through the loop.
  std::memcpy(dh0, dhn, BH * sizeof(T));
  if (lstm) std::memcpy(dc0, dcn, BH * sizeof(T));
  if (Tn > 0 && B > 0) {
    // Step k (0 <= k <= T) of the loop, per chunk of hidden units: first dh += dgh (B, G H)
    // @ W_hh (G H, H) for this chunk's columns, with dgh of the previous step's cells (k >
    // 0), then the cells' backward of this step (k < T: writes dgh and the direct part of
    // dh). A chunk's cells read only the dh columns its own GEMM wrote, so one barrier per
    // step (before the next step reads all of dgh) suffices. With x_in_steps, item c also
    // computes the previous step's dx = dgx (B, G H) @ W_ih (G H, I) for its chunk of I.
    const int64_t hc = unit_chunk(H, B), items = cdiv(H, hc);
    std::vector<Seg> segs, xsegs;
    for (int64_t c = 0; c < items; ++c) segs.push_back({c * hc, min64(hc, H - c * hc)});
    const bool x_in_step = x_in_steps(I, H, GH, B);
    const int64_t xc = round_up(cdiv(I, items), gemm_table().f32.nr);
    for (int64_t c = 0; x_in_step && c * xc < I; ++c)
      xsegs.push_back({c * xc, min64(xc, I - c * xc)});
    const Recur<T> rec(w_hh, H, 1, GH, H, segs, B);                    // B(p, j) = W_hh[p, j]
    const Recur<T> recx(w_ih, I, 1, GH, I, xsegs, x_in_step ? B : 0);  // B(p, j) = W_ih[p, j]
    // Both pack B rows of K = G H alike, so LSTM / RNN (dgx == dgh) pack once; GRU packs
    // dgx after dgh in a thread's buffer.
    const int64_t xoff = gru && x_in_step ? round_up(rec.a_elems(), 16) : 0;
    auto time_of = [&](int64_t step) { return s.reverse ? step : Tn - 1 - step; };
    auto pack = [&](int64_t step, T* abuf) {
      if (step == 0) return;
      const int64_t r0 = time_of(step - 1) * B * GH;
      rec.pack_a(dgh + r0, GH, abuf);
      if (xoff) recx.pack_a(dgx + r0, GH, abuf + xoff);
    };
    auto body = [&](int64_t step, int64_t c, const T* abuf) {
      if (step > 0) {
        const int64_t tp = time_of(step - 1);
        rec.seg(dgh + tp * B * GH, GH, abuf, c, dh0, H, T(1), nullptr);
        if (c < static_cast<int64_t>(xsegs.size()))
          recx.seg(dgx + tp * B * GH, GH, abuf + xoff, c, dx + tp * B * I, I, T(0), nullptr);
      }
      if (step == Tn) return;
      const int64_t t = time_of(step), u0 = c * hc, n = min64(hc, H - u0);
      const int64_t before = s.reverse ? t + 1 : t, after = s.reverse ? t : t + 1;
      for (int64_t b = 0; b < B; ++b) {
        const int64_t r = t * B + b, o = b * H + u0;
        T* gx = dgx + r * GH + u0;
        T* gh = dgh + r * GH + u0;
        if (!valid(lengths, t, b)) {  // no gradient; the state gradient passes through
          for (int64_t g = 0; g < G; ++g) {
            std::memset(gx + g * H, 0, n * sizeof(T));
            if (gru) std::memset(gh + g * H, 0, n * sizeof(T));
          }
          continue;
        }
        const T* a = gates + r * GH + u0;
        if (lstm)
          cell.lstm_bwd(n, a, H, cs + after * BH + o, cs + before * BH + o, dy + t * BH + o,
                        dh0 + o, dc0 + o, gx);
        else if (gru)
          cell.gru_bwd(n, a, H, hn_lin + t * BH + o, hs + before * BH + o, dy + t * BH + o, dh0 + o,
                       gx, gh);
        else
          cell.rnn_bwd(n, a, relu, dy + t * BH + o, dh0 + o, gx);
      }
    };
    const int64_t step_flops = 2 * B * GH * (H + (x_in_step ? I : 0));
    time_loop<T>(Tn + 1, items, step_threads(step_flops, items),
                 xoff ? xoff + recx.a_elems() : rec.a_elems(), pack, body);
  }
  // Whole-sequence GEMMs.
  const int64_t TB = Tn * B;
  if (I > 0) {
    if (!x_in_steps(I, H, GH, B)) mm(TB, I, GH, dgx, GH, 1, w_ih, I, 1, T(0), dx, I, nullptr);
    mm(GH, I, TB, dgx, 1, GH, x, I, 1, T(0), dw_ih, I, nullptr);
  }
  const int64_t off = s.reverse ? 1 : 0;  // hs slot of the state before time 0
  mm(GH, H, TB, dgh, 1, GH, hs + off * BH, H, 1, T(0), dw_hh, H, nullptr);
  if (db_ih) col_sums(TB, GH, dgx, db_ih);
  if (db_hh) col_sums(TB, GH, dgh, db_hh);
}

#define EMBER_RNN_INST(T)                                                                         \
  template void rnn_forward<T>(const RnnShape&, const T*, const T*, const T*, const T*, const T*, \
                               const T*, const T*, const int64_t*, T*, T*, T*, T*, T*, T*, T*);   \
  template void rnn_backward<T>(const RnnShape&, const T*, const T*, const T*, const int64_t*,    \
                                const T*, const T*, const T*, const T*, const T*, const T*,       \
                                const T*, T*, T*, T*, T*, T*, T*, T*);
EMBER_RNN_INST(float)
EMBER_RNN_INST(double)
#undef EMBER_RNN_INST

}  // namespace ember::cpu
