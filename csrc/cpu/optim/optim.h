// Fused multi-tensor optimizer updates (SGD, Adagrad, RMSprop, Adam/AdamW, Lion, Adadelta,
// Adamax, NAdam, RAdam) and the
// gradient-norm kernels behind clip_grad_norm_ / clip_grad_value_.
//
// One call updates every tensor of a parameter group: the tensors are laid end to end in
// a flat index space (each padded to a 64-byte boundary) that is cut into fixed chunks of
// kOptimChunk elements, so 2000 small tensors spread over the threads like one big one and
// the chunk boundaries never depend on the thread count. Each element is read once (p, g,
// state) and written once (p, state). float32 runs through per-ISA row kernels
// (optim_kernels.cpp compiled once per ISA), float64 through the same source compiled on a
// plain-C++ double vector (cpu/simd/vec_f64.h). Arguments are validated by the bindings; the
// kernels trust them.
#pragma once
#include <cstdint>
#include <vector>

#include "core/isa.h"
#include "core/optim_coef.h"
#include "core/tensor_impl.h"

namespace ember::cpu {

// Elements per work chunk of the flat list (a multiple of kOptimAlign).
constexpr int64_t kOptimChunk = 16384;
// Tensors start at multiples of this many elements in the flat space, so a chunk boundary
// inside a tensor falls on a 64-byte boundary of its (64-byte aligned) storage.
constexpr int64_t kOptimAlign = 16;

// A piece of one tensor: pointers at its first element (float or double, by table), and
// its length. State buffers per kind:
//   Sgd: s0 momentum_buffer (if momentum != 0)
//   Adagrad: s0 sum
//   Rmsprop: s0 square_avg, s1 grad_avg (if centered), s2 momentum_buffer (if momentum > 0)
//   Adam: s0 exp_avg, s1 exp_avg_sq, s2 max_exp_avg_sq (if amsgrad)
//   Lion: s0 exp_avg
//   Adadelta: s0 square_avg, s1 acc_delta
//   Adamax: s0 exp_avg, s1 exp_inf
//   Nadam, Radam: s0 exp_avg, s1 exp_avg_sq
struct OptimRow {
  void* p;
  const void* g;
  void* s0;
  void* s1;
  void* s2;
  int64_t n;
};

using OptimRowF = void (*)(const OptimRow& row, const OptimHyper& h, const OptimTensorCoef& t);

// Norm partials: 0 = sum |x|, 1 = sum x^2, 2 = max |x|. flags |= 1 when some x is NaN or
// infinite, |= 2 when some x is NaN.
enum class NormOp : int { L1, L2, Max };
constexpr int kNumNormOps = 3;
using NormRowF = double (*)(const void* x, int64_t n, int* flags);
// x *= c
using ScaleRowF = void (*)(void* x, int64_t n, double c);
// x = min(hi, max(lo, x)); NaN stays NaN.
using ClampRowF = void (*)(void* x, int64_t n, double lo, double hi);

struct OptimTable {
  OptimRowF step[kNumOptimKinds];
  NormRowF norm[kNumNormOps];
  ScaleRowF scale;
  ClampRowF clamp;
};

// ---- drivers (optim.cpp, grad_norm.cpp)

struct OptimTensors {
  std::vector<const TensorImpl*> params, grads, s0, s1, s2;  // s*: empty when unused
  std::vector<const TensorImpl*> steps;        // 0-d float32/float64 step counts (may be empty)
  std::vector<bool> first;                     // SGD: per tensor, momentum buffer is new
  std::vector<const TensorImpl*> mu_products;  // NAdam: 0-d products of the momentum schedule
};

// One fused step over a group. When check_finite is set, the gradients are scanned first
// and the step is skipped (nothing written, steps not counted) if one holds a NaN or an
// infinity; returns whether the step was taken. Step tensors (and NAdam's mu_products) are
// updated in place.
bool optim_step(OptimKind kind, const OptimHyper& h, const OptimTensors& t, bool check_finite);

struct GradNorm {
  double norm = 0;
  bool nonfinite = false;  // some element is NaN or infinite
};
// The p-norm of all the tensors together (p > 0, inf for the max norm).
GradNorm total_norm(const std::vector<const TensorImpl*>& xs, double p);
// Every element *= c.
void scale_all(const std::vector<const TensorImpl*>& xs, double c);
// total_norm, then scale by max_norm / (norm + 1e-6) when that is below 1 (or NaN), as
// torch.nn.utils.clip_grad_norm_ does. With skip_if_nonfinite, non-finite input is left
// untouched (the caller raises).
GradNorm clip_grad_norm(const std::vector<const TensorImpl*>& xs, double max_norm, double p,
                        bool skip_if_nonfinite);
// Every element clamped to [-clip, clip].
void clip_grad_value(const std::vector<const TensorImpl*>& xs, double clip);

}  // namespace ember::cpu

EMBER_ISA_TABLES(cpu::OptimTable, optim_table)
namespace ember::f64 {
extern const cpu::OptimTable optim_table;  // float64 tensors, every ISA
}
