// Fused multi-tensor optimizer steps and gradient clipping on CUDA: the types shared by the
// host drivers and the kernels, and the drivers' entry points.
//
// One call updates every tensor of a parameter group in one kernel launch per dtype, as
// apex's / torch's multi_tensor_apply: the host cuts each tensor into chunks of kChunk
// elements, writes a table of tensor slots (pointers, length, per-tensor coefficients) and
// chunks (slot, chunk index) into one small device buffer, and launches one block per
// chunk. Every kernel body is a __host__ __device__ function, so the same work can run on
// the host over CPU tensors (Where::Host): that is how the tests check the per-element
// math, the chunking and the vector/tail split without a GPU. Arguments are validated by
// the bindings (checks.h); the drivers trust them.
#pragma once
#include <cstdint>
#include <vector>

#include "core/optim_coef.h"
#include "core/tensor_impl.h"

namespace ember::cuda::optim {

// Where a driver runs its kernels: on the current CUDA device, or on the host over CPU
// tensors (the tests' emulation of the same kernel bodies, thread by thread).
enum class Where : int { Device, Host };

// Elements per chunk (one thread block each): a multiple of every vector width, small
// enough that 100M parameters make several waves of blocks on a 132-SM GPU.
constexpr int64_t kChunk = 32768;
constexpr int kBlock = 256;
constexpr int kMaxArrays = 5;  // p, g, s0, s1, s2

// One tensor of the table: its arrays (null when the kind does not use them), length and
// coefficients. State buffers per kind:
//   Sgd: s0 momentum_buffer (if momentum != 0)
//   Adagrad: s0 sum
//   Rmsprop: s0 square_avg, s1 grad_avg (if centered), s2 momentum_buffer (if momentum > 0)
//   Adam: s0 exp_avg, s1 exp_avg_sq, s2 max_exp_avg_sq (if amsgrad)
//   Lion: s0 exp_avg
//   Adadelta: s0 square_avg, s1 acc_delta
//   Adamax: s0 exp_avg, s1 exp_inf
//   Nadam, Radam: s0 exp_avg, s1 exp_avg_sq
struct Slot {
  void* ptr[kMaxArrays];
  int64_t n;
  OptimTensorCoef coef;
  int32_t vec;  // every array is 16-byte aligned: the chunk runs on 16-byte vectors
  int32_t pad;
};

// Elements [index * chunk, min(n, (index + 1) * chunk)) of slot `slot`.
struct Chunk {
  int32_t slot;
  int32_t index;
};

using List = std::vector<const TensorImpl*>;

// The tensors of one optimizer step (s*: empty when unused; steps and mu_products are
// one-element CPU tensors the host updates in place).
struct StepTensors {
  List params, grads, s0, s1, s2, steps, mu_products;
  std::vector<bool> first;  // SGD: per tensor, the momentum buffer is new
};

// One fused step over a group, on the current device (Where::Device) or the host. With
// check_finite, the gradients are scanned first and nothing is written (steps not counted)
// when one holds NaN or inf; returns whether the step was taken.
bool optim_step(OptimKind kind, const OptimHyper& h, const StepTensors& t, bool check_finite,
                Where where);

struct GradNorm {
  double norm = 0;
  bool nonfinite = false;  // some element is NaN or infinite
};
// The p-norm of all the tensors together (p > 0, inf for the max norm): per-chunk partials
// reduced in a fixed-order tree inside each block, then combined on the host in chunk
// order, so the result is the same on every run.
GradNorm total_norm(const List& xs, double p, Where where);
// Every element *= c.
void scale_all(const List& xs, double c, Where where);
// total_norm, then scale by max_norm / (norm + 1e-6) when that is below 1 (or NaN), as
// torch.nn.utils.clip_grad_norm_. With skip_if_nonfinite, non-finite input is left as is.
GradNorm clip_grad_norm(const List& xs, double max_norm, double p, bool skip_if_nonfinite,
                        Where where);
// Every element clamped to [-clip, clip]; NaN stays NaN.
void clip_grad_value(const List& xs, double clip, Where where);

}  // namespace ember::cuda::optim
