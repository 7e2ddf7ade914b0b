// Gradient norms and clipping over many tensors in one launch per dtype (optim.h).
//
// The norm is deterministic: each block reduces its chunk's per-thread partials (double)
// in a fixed-order tree in shared memory and writes one partial per chunk; the host sums
// the partials in chunk order. No float atomics, so every run gives the same bits. The
// NaN / inf flags come out of the same pass.
#include <cfloat>
#include <cmath>
#include <limits>

#include "cuda/optim/multi_tensor.cuh"
#include "cuda/stream.h"

namespace ember::cuda::optim {
namespace {

constexpr const char* kNormOp = "ember.nn.utils.clip_grad_norm_";

enum NormMode : int { kL1, kL2, kMax, kPow };

// acc combined with |x| (or |x|^p); flags |= 1 for NaN or inf, |= 2 for NaN.
template <int kMode, typename T>
EMBER_HD double norm_add(double acc, T x, double p, int* flags) {
  const double v = fabs(static_cast<double>(x));
  if (!(v <= DBL_MAX)) *flags |= v != v ? 3 : 1;
  if (kMode == kL1) return acc + v;
  if (kMode == kL2) return fma(v, v, acc);
  if (kMode == kMax) return v > acc ? v : acc;  // NaN never enters: it is in the flags
  // v^p as exp(p log v) (p > 0 here): libdevice's double pow spills registers on sm_80,
  // which the build forbids; this differs from the CPU's std::pow by a few ulp at most.
  return v == 0 ? acc : acc + exp(p * log(v));
}

template <int kMode>
EMBER_HD double norm_combine(double a, double b) {
  if (kMode == kMax) return a > b ? a : b;
  return a + b;
}

// Thread `tid`'s partial over chunk `index` of slot s (elements as in run_chunk).
template <typename T, int kMode>
EMBER_HD double norm_thread(const Slot& s, int32_t index, int tid, int nthreads, double p,
                            int* flags) {
  const int64_t begin = static_cast<int64_t>(index) * kChunk;
  const int64_t rest = s.n - begin;
  const int64_t n = rest < kChunk ? rest : kChunk;
  const T* x = static_cast<const T*>(s.ptr[0]) + begin;
  double acc = 0;
  int64_t done = 0;
  if (s.vec) {
    constexpr int V = 16 / sizeof(T);
    using W = Vec<T, V>;
    const int64_t nv = n / V;
    for (int64_t v = tid; v < nv; v += nthreads) {
      const W w = reinterpret_cast<const W*>(x)[v];
      EMBER_UNROLL
      for (int j = 0; j < V; ++j) acc = norm_add<kMode>(acc, w.v[j], p, flags);
    }
    done = nv * V;
  }
  for (int64_t i = done + tid; i < n; i += nthreads) acc = norm_add<kMode>(acc, x[i], p, flags);
  return acc;
}

// Pairwise tree over red[0, kBlock) into red[0]: level by level, the same additions in the
// same order on every run (the host emulation runs the same levels).
template <int kMode>
EMBER_HD void tree_level(double* red, int t, int half) {
  if (t < half) red[t] = norm_combine<kMode>(red[t], red[t + half]);
}

template <typename T, int kMode>
__global__ void __launch_bounds__(kBlock)
    norm_kernel(const Slot* slots, const Chunk* chunks, double p, double* partial, int* flags) {
  __shared__ double red[kBlock];
  const int t = static_cast<int>(threadIdx.x);
  const Chunk ch = chunks[blockIdx.x];
  int f = 0;
  red[t] = norm_thread<T, kMode>(slots[ch.slot], ch.index, t, kBlock, p, &f);
  const int bad = __syncthreads_or(f & 1);  // also the barrier before the tree
  const int nan = __syncthreads_or(f & 2);
  for (int half = kBlock / 2; half > 0; half >>= 1) {
    tree_level<kMode>(red, t, half);
    __syncthreads();
  }
  if (t == 0) {
    partial[blockIdx.x] = red[0];
    flags[blockIdx.x] = (bad ? 1 : 0) | (nan ? 2 : 0);
  }
}

// Appends the table's per-chunk partials and flags, in chunk order.
template <typename T, int kMode>
void norm_partials(const Table& t, double p, Where where, std::vector<double>* part,
                   std::vector<int>* flags) {
  const size_t nc = t.chunks.size();
  if (nc == 0) return;
  const size_t at = part->size();
  part->resize(at + nc);
  flags->resize(at + nc);
  if (where == Where::Host) {
    double red[kBlock];
    for (size_t c = 0; c < nc; ++c) {
      int f = 0;
      for (int tid = 0; tid < kBlock; ++tid)
        red[tid] =
            norm_thread<T, kMode>(t.slots[t.chunks[c].slot], t.chunks[c].index, tid, kBlock, p, &f);
      for (int half = kBlock / 2; half > 0; half >>= 1)
        for (int tid = 0; tid < kBlock; ++tid) tree_level<kMode>(red, tid, half);
      (*part)[at + c] = red[0];
      (*flags)[at + c] = f;
    }
    return;
  }
  const DeviceTable dt(t, kNormOp);
  const ScopedBlock out(nc * (sizeof(double) + sizeof(int)), kNormOp);
  double* d_part = static_cast<double*>(out.data());
  int* d_flags = reinterpret_cast<int*>(d_part + nc);
  norm_kernel<T, kMode><<<static_cast<unsigned>(nc), kBlock, 0, current_stream()>>>(
      dt.slots(), dt.chunks(), p, d_part, d_flags);
  EMBER_CUDA_CHECK_LAUNCH(kNormOp);
  // cudaMemcpy waits for the kernel (the legacy stream waits for every blocking stream).
  EMBER_CUDA_CHECK(
      cudaMemcpy(part->data() + at, d_part, nc * sizeof(double), cudaMemcpyDeviceToHost), kNormOp);
  EMBER_CUDA_CHECK(
      cudaMemcpy(flags->data() + at, d_flags, nc * sizeof(int), cudaMemcpyDeviceToHost), kNormOp);
}

template <int kMode>
void partials_of(const List& xs, double p, Where where, std::vector<double>* part,
                 std::vector<int>* flags) {
  const Arrays arrays{&xs, nullptr, nullptr, nullptr, nullptr};
  norm_partials<float, kMode>(make_table(arrays, {}, DType::Float32, kNormOp), p, where, part,
                              flags);
  norm_partials<double, kMode>(make_table(arrays, {}, DType::Float64, kNormOp), p, where, part,
                               flags);
}

}  // namespace

GradNorm total_norm(const List& xs, double p, Where where) {
  GradNorm out;
  if (xs.empty()) return out;
  const int mode = std::isinf(p) ? kMax : p == 2.0 ? kL2 : p == 1.0 ? kL1 : kPow;
  std::vector<double> part;
  std::vector<int> flags;
  if (mode == kMax)
    partials_of<kMax>(xs, p, where, &part, &flags);
  else if (mode == kL2)
    partials_of<kL2>(xs, p, where, &part, &flags);
  else if (mode == kL1)
    partials_of<kL1>(xs, p, where, &part, &flags);
  else
    partials_of<kPow>(xs, p, where, &part, &flags);
  double total = 0;
  int f = 0;
  for (size_t c = 0; c < part.size(); ++c) {
    total = mode == kMax ? (part[c] > total ? part[c] : total) : total + part[c];
    f |= flags[c];
  }
  if (mode == kMax)
    out.norm = (f & 2) ? std::numeric_limits<double>::quiet_NaN() : total;
  else if (mode == kL2)
    out.norm = std::sqrt(total);
  else if (mode == kL1)
    out.norm = total;
  else
    out.norm = std::pow(total, 1.0 / p);
  out.nonfinite = (f & 1) != 0;
  return out;
}

void scale_all(const List& xs, double c, Where where) {
  const Arrays arrays{&xs, nullptr, nullptr, nullptr, nullptr};
  apply<float>(ScaleOp<float>{static_cast<float>(c)},
               make_table(arrays, {}, DType::Float32, kNormOp), where, kNormOp);
  apply<double>(ScaleOp<double>{c}, make_table(arrays, {}, DType::Float64, kNormOp), where,
                kNormOp);
}

GradNorm clip_grad_norm(const List& xs, double max_norm, double p, bool skip_if_nonfinite,
                        Where where) {
  const GradNorm r = total_norm(xs, p, where);
  if (skip_if_nonfinite && (r.nonfinite || !std::isfinite(r.norm))) return r;
  const double coef = max_norm / (r.norm + 1e-6);
  // Scaling by the clamped coefficient 1 would change nothing; NaN scales (as PyTorch).
  if (!(coef >= 1.0)) scale_all(xs, coef, where);
  return r;
}

void clip_grad_value(const List& xs, double clip, Where where) {
  const char* op = "ember.nn.utils.clip_grad_value_";
  const Arrays arrays{&xs, nullptr, nullptr, nullptr, nullptr};
  apply<float>(ClampOp<float>{static_cast<float>(-clip), static_cast<float>(clip)},
               make_table(arrays, {}, DType::Float32, op), where, op);
  apply<double>(ClampOp<double>{-clip, clip}, make_table(arrays, {}, DType::Float64, op), where,
                op);
}

}  // namespace ember::cuda::optim
