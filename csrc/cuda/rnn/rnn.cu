// CUDA recurrent layers (see rnn.h): the time loops around the GEMM entry and the fused
// pointwise step kernels, whose per-unit math is rnn_cell.h.
#include <type_traits>

#include "core/error.h"
#include "cuda/allocator.h"
#include "cuda/cuda_check.h"
#include "cuda/gemm/gemm.h"
#include "cuda/loops.cuh"
#include "cuda/rnn/rnn.h"
#include "cuda/rnn/rnn_cell.h"
#include "cuda/runtime.h"
#include "cuda/scratch.h"
#include "cuda/stream.h"

namespace ember::cuda::rnn {
namespace {

using cpu::RnnMode;
constexpr const char* kOp = "ember.rnn";

// c (M, N; row stride ldc) = a (M, K) @ b (K, N) + beta c + bias, strided operands, in the
// operands' own precision (no TF32: the CPU's float32 results are the reference).
template <typename T>
void mm(int device, int64_t M, int64_t N, int64_t K, const T* a, int64_t ars, int64_t acs,
        const T* b, int64_t brs, int64_t bcs, double beta, T* c, int64_t ldc, const T* bias) {
  gemm::Problem p{};
  p.batch = 1, p.m = M, p.n = N, p.k = K;
  p.in = p.out = std::is_same_v<T, float> ? DType::Float32 : DType::Float64;
  p.a = {a, 0, ars, acs};
  p.b = {b, 0, brs, bcs};
  p.c = c, p.c_batch_stride = 0, p.c_row_stride = ldc;
  p.bias = bias;
  p.alpha = 1.0, p.beta = beta;
  p.act = gemm::Act::None;
  p.allow_tf32 = false;
  gemm::run(p, device);
}

template <typename T>
void copy_or_zero(T* dst, const T* src, int64_t n) {
  if (n == 0) return;
  if (src)
    EMBER_CUDA_CHECK(
        cudaMemcpyAsync(dst, src, n * sizeof(T), cudaMemcpyDeviceToDevice, current_stream()), kOp);
  else
    EMBER_CUDA_CHECK(cudaMemsetAsync(dst, 0, n * sizeof(T), current_stream()), kOp);
}

__device__ inline int64_t global_id() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ inline int64_t grid_stride() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

// One forward step at time t, one thread per (batch row, hidden unit).
template <typename T>
struct FwdStep {
  int64_t B, H, t;
  const int64_t* lengths;  // null: every step valid
  T* gates;                // (B, G H): pre-activations in (GRU: x part), activations out
  const T* hh;             // GRU: (B, 3 H) = h W_hh^T + b_hh
  const T *h_prev, *c_prev;
  T *h_next, *c_next, *y, *hn_lin;  // (B, H) slices; c: LSTM, hn_lin: GRU
};

template <typename T, RnnMode M>
__global__ void fwd_step_kernel(FwdStep<T> p) {
  const int64_t H = p.H, n = p.B * H;
  for (int64_t i = global_id(); i < n; i += grid_stride()) {
    const int64_t b = i / H, u = i - b * H;
    if (p.lengths && p.t >= p.lengths[b]) {  // padded step: keep the state, output zeros
      p.h_next[i] = p.h_prev[i];
      if constexpr (M == RnnMode::Lstm) p.c_next[i] = p.c_prev[i];
      p.y[i] = T(0);
      continue;
    }
    if constexpr (M == RnnMode::Lstm) {
      T* g = p.gates + b * 4 * H + u;
      T a[4] = {g[0], g[H], g[2 * H], g[3 * H]};
      T c, h;
      lstm_cell_fwd(a, p.c_prev[i], c, h);
      g[0] = a[0], g[H] = a[1], g[2 * H] = a[2], g[3 * H] = a[3];
      p.c_next[i] = c;
      p.h_next[i] = p.y[i] = h;
    } else if constexpr (M == RnnMode::Gru) {
      T* g = p.gates + b * 3 * H + u;
      const T* q = p.hh + b * 3 * H + u;
      T a[3] = {g[0], g[H], g[2 * H]};
      const T hh[3] = {q[0], q[H], q[2 * H]};
      T hl, h;
      gru_cell_fwd(a, hh, p.h_prev[i], hl, h);
      g[0] = a[0], g[H] = a[1], g[2 * H] = a[2];
      p.hn_lin[i] = hl;
      p.h_next[i] = p.y[i] = h;
    } else {
      T* g = p.gates + b * H + u;
      const T h = rnn_cell_fwd(*g, M == RnnMode::Relu);
      *g = p.h_next[i] = p.y[i] = h;
    }
  }
}

// One backward step at time t: the gate gradients of this step from the carried state
// gradients dh (recurrent part) and dc, which it updates to those of the previous state
// (dh: only the direct part; the GEMM after it adds dg @ W_hh).
template <typename T>
struct BwdStep {
  int64_t B, H, t;
  const int64_t* lengths;
  const T* a;                // (B, G H) saved activations
  const T *c, *c_prev;       // LSTM: c' and c
  const T *h_prev, *hn_lin;  // GRU
  const T* dy;               // (B, H)
  T *dh, *dc;                // (B, H) carried; dc: LSTM
  T *dgx, *dgh;              // (B, G H); the same buffer except for GRU
};

template <typename T, RnnMode M>
__global__ void bwd_step_kernel(BwdStep<T> p) {
  constexpr int G = M == RnnMode::Lstm ? 4 : M == RnnMode::Gru ? 3 : 1;
  const int64_t H = p.H, n = p.B * H;
  for (int64_t i = global_id(); i < n; i += grid_stride()) {
    const int64_t b = i / H, u = i - b * H, o = b * G * H + u;
    if (p.lengths && p.t >= p.lengths[b]) {  // no gradient; the state gradient passes through
      for (int k = 0; k < G; ++k) {
        p.dgx[o + k * H] = T(0);
        if constexpr (M == RnnMode::Gru) p.dgh[o + k * H] = T(0);
      }
      continue;
    }
    const T dh = p.dh[i] + p.dy[i];
    if constexpr (M == RnnMode::Lstm) {
      const T a[4] = {p.a[o], p.a[o + H], p.a[o + 2 * H], p.a[o + 3 * H]};
      T dg[4];
      T dc = p.dc[i];
      lstm_cell_bwd(a, p.c[i], p.c_prev[i], dh, dc, dg);
      for (int k = 0; k < 4; ++k) p.dgx[o + k * H] = dg[k];
      p.dc[i] = dc;
      p.dh[i] = T(0);
    } else if constexpr (M == RnnMode::Gru) {
      const T a[3] = {p.a[o], p.a[o + H], p.a[o + 2 * H]};
      T dgx[3], dgh[3];
      T d = dh;
      gru_cell_bwd(a, p.hn_lin[i], p.h_prev[i], d, dgx, dgh);
      for (int k = 0; k < 3; ++k) p.dgx[o + k * H] = dgx[k], p.dgh[o + k * H] = dgh[k];
      p.dh[i] = d;
    } else {
      p.dgx[o] = rnn_cell_bwd(p.a[o], M == RnnMode::Relu, dh);
      p.dh[i] = T(0);
    }
  }
}

// out[j] = sum over rows of m (rows, n): column blocks of kSumCols, kSumRows partial sums
// per column (rows r = y mod kSumRows, in order) added in a fixed order: the same result on
// every run and device.
constexpr int kSumCols = 32, kSumRows = 16;

template <typename T>
__global__ void col_sums_kernel(int64_t rows, int64_t n, const T* m, T* out) {
  __shared__ T part[kSumRows][kSumCols + 1];
  const int64_t j = static_cast<int64_t>(blockIdx.x) * kSumCols + threadIdx.x;
  T acc = T(0);
  if (j < n)
    for (int64_t r = threadIdx.y; r < rows; r += kSumRows) acc += m[r * n + j];
  part[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && j < n) {
    T s = T(0);
    for (int k = 0; k < kSumRows; ++k) s += part[k][threadIdx.x];
    out[j] = s;
  }
}

template <typename T>
void col_sums(int64_t rows, int64_t n, const T* m, T* out) {
  const unsigned blocks = static_cast<unsigned>((n + kSumCols - 1) / kSumCols);
  col_sums_kernel<T><<<blocks, dim3(kSumCols, kSumRows), 0, current_stream()>>>(rows, n, m, out);
  EMBER_CUDA_CHECK_LAUNCH(kOp);
}

template <typename T, RnnMode M>
void launch_fwd(const FwdStep<T>& p, int device) {
  fwd_step_kernel<T, M><<<detail::grid_for(p.B * p.H, device), kThreads, 0, current_stream()>>>(p);
  EMBER_CUDA_CHECK_LAUNCH(kOp);
}

template <typename T, RnnMode M>
void launch_bwd(const BwdStep<T>& p, int device) {
  bwd_step_kernel<T, M><<<detail::grid_for(p.B * p.H, device), kThreads, 0, current_stream()>>>(p);
  EMBER_CUDA_CHECK_LAUNCH(kOp);
}

template <typename Fn>
void by_mode(RnnMode m, Fn&& fn) {
  switch (m) {
    case RnnMode::Tanh:
      return fn(std::integral_constant<RnnMode, RnnMode::Tanh>{});
    case RnnMode::Relu:
      return fn(std::integral_constant<RnnMode, RnnMode::Relu>{});
    case RnnMode::Lstm:
      return fn(std::integral_constant<RnnMode, RnnMode::Lstm>{});
    case RnnMode::Gru:
      return fn(std::integral_constant<RnnMode, RnnMode::Gru>{});
  }
}

template <typename T>
void forward_t(const cpu::RnnShape& s, int device, const ForwardPtrs& q) {
  const int64_t Tn = s.T, B = s.B, I = s.I, H = s.H, G = cpu::rnn_gate_count(s.mode);
  const int64_t GH = G * H, BH = B * H, TB = Tn * B;
  const bool lstm = s.mode == RnnMode::Lstm, gru = s.mode == RnnMode::Gru;
  auto c = [](const void* v) { return static_cast<const T*>(v); };
  auto w = [](void* v) { return static_cast<T*>(v); };
  T *hs = w(q.hs), *cs = w(q.cs), *gates = w(q.gates);
  // Input projection of every step: gates = x W_ih^T + b_ih (K = I = 0: just b_ih or 0).
  mm<T>(device, TB, GH, I, c(q.x), I, 1, c(q.w_ih), 1, I, 0.0, gates, GH, c(q.b_ih));
  const int64_t first = s.reverse ? Tn : 0, last = s.reverse ? 0 : Tn;  // hs slots
  copy_or_zero(hs + first * BH, c(q.h0), BH);
  if (lstm) copy_or_zero(cs + first * BH, c(q.c0), BH);
  Scratch hh(device, gru ? B * GH * sizeof(T) : 0);
  for (int64_t step = 0; step < Tn && B > 0; ++step) {
    const int64_t t = s.reverse ? Tn - 1 - step : step;
    const int64_t before = s.reverse ? t + 1 : t, after = s.reverse ? t : t + 1;
    T* gt = gates + t * B * GH;
    // Recurrent product h W_hh^T + b_hh: added to the x part (RNN / LSTM), or apart for
    // GRU, whose n gate multiplies it by r.
    mm<T>(device, B, GH, H, hs + before * BH, H, 1, c(q.w_hh), 1, H, gru ? 0.0 : 1.0,
          gru ? hh.as<T>() : gt, GH, c(q.b_hh));
    const FwdStep<T> p{B,
                       H,
                       t,
                       q.lengths,
                       gt,
                       hh.as<T>(),
                       hs + before * BH,
                       lstm ? cs + before * BH : nullptr,
                       hs + after * BH,
                       lstm ? cs + after * BH : nullptr,
                       w(q.y) + t * BH,
                       gru ? w(q.hn_lin) + t * BH : nullptr};
    by_mode(s.mode, [&](auto m) { launch_fwd<T, decltype(m)::value>(p, device); });
  }
  copy_or_zero(w(q.hn), hs + last * BH, BH);
  if (lstm) copy_or_zero(w(q.cn), cs + last * BH, BH);
}

template <typename T>
void backward_t(const cpu::RnnShape& s, int device, const BackwardPtrs& q) {
  const int64_t Tn = s.T, B = s.B, I = s.I, H = s.H, G = cpu::rnn_gate_count(s.mode);
  const int64_t GH = G * H, BH = B * H, TB = Tn * B;
  const bool lstm = s.mode == RnnMode::Lstm, gru = s.mode == RnnMode::Gru;
  auto c = [](const void* v) { return static_cast<const T*>(v); };
  auto w = [](void* v) { return static_cast<T*>(v); };
  const T *hs = c(q.hs), *cs = c(q.cs);
  T *dh = w(q.dh0), *dc = w(q.dc0);
  // Gradients of the pre-activations in time order: dgx for the x projection, dgh for the
  // h projection (the same buffer except for GRU). Every element is written by a step.
  Scratch dgx_buf(device, TB * GH * sizeof(T)), dgh_buf(device, gru ? TB * GH * sizeof(T) : 0);
  T* dgx = dgx_buf.as<T>();
  T* dgh = gru ? dgh_buf.as<T>() : dgx;
  // dh0 / dc0 carry the state gradients through the loop.
  copy_or_zero(dh, c(q.dhn), BH);
  if (lstm) copy_or_zero(dc, c(q.dcn), BH);
  for (int64_t step = 0; step < Tn && B > 0; ++step) {
    const int64_t t = s.reverse ? step : Tn - 1 - step;
    const int64_t before = s.reverse ? t + 1 : t, after = s.reverse ? t : t + 1;
    const BwdStep<T> p{B,
                       H,
                       t,
                       q.lengths,
                       c(q.gates) + t * B * GH,
                       lstm ? cs + after * BH : nullptr,
                       lstm ? cs + before * BH : nullptr,
                       hs + before * BH,
                       gru ? c(q.hn_lin) + t * BH : nullptr,
                       c(q.dy) + t * BH,
                       dh,
                       dc,
                       dgx + t * B * GH,
                       dgh + t * B * GH};
    by_mode(s.mode, [&](auto m) { launch_bwd<T, decltype(m)::value>(p, device); });
    // dh += dg (B, G H) @ W_hh (G H, H): the recurrent part of the previous state's gradient.
    mm<T>(device, B, H, GH, dgh + t * B * GH, GH, 1, c(q.w_hh), H, 1, 1.0, dh, H, nullptr);
  }
  // Whole-sequence GEMMs: dx = dgx W_ih, dW_ih = dgx^T x, dW_hh = dgh^T h (states in time
  // order start at slot 1 for the reverse direction).
  if (I > 0) {
    mm<T>(device, TB, I, GH, dgx, GH, 1, c(q.w_ih), I, 1, 0.0, w(q.dx), I, nullptr);
    mm<T>(device, GH, I, TB, dgx, 1, GH, c(q.x), I, 1, 0.0, w(q.dw_ih), I, nullptr);
  }
  const int64_t off = s.reverse ? 1 : 0;
  mm<T>(device, GH, H, TB, dgh, 1, GH, hs + off * BH, H, 1, 0.0, w(q.dw_hh), H, nullptr);
  if (q.db_ih) col_sums(TB, GH, dgx, w(q.db_ih));
  if (q.db_hh) col_sums(TB, GH, dgh, w(q.db_hh));
}

}  // namespace

void forward(const cpu::RnnShape& s, DType dt, int device, const ForwardPtrs& p) {
  DeviceGuard guard(device);
  if (dt == DType::Float32)
    forward_t<float>(s, device, p);
  else
    forward_t<double>(s, device, p);
}

void backward(const cpu::RnnShape& s, DType dt, int device, const BackwardPtrs& p) {
  DeviceGuard guard(device);
  if (dt == DType::Float32)
    backward_t<float>(s, device, p);
  else
    backward_t<double>(s, device, p);
}

}  // namespace ember::cuda::rnn
