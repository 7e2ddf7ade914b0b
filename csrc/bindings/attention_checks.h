// The attention argument checks the CPU and CUDA bindings share (compiled into both
// extensions): devices, ranks, dtypes, shapes, unit stride along the head dim, the mask's
// broadcast, the varlen offsets, writability and overlap, with the same ValueError /
// TypeError on both devices. What the device's kernels take is passed in (AttnDevice);
// what only one device checks (the CPU's bf16 path, the CUDA kernels' head dims per dtype
// and grid size, one device index) stays with its binding.
#pragma once
#include <cstdint>

#include "core/tensor_impl.h"

namespace ember::bindings {

// What one device's attention kernels take, for one call.
struct AttnDevice {
  DeviceType type;
  bool (*operands)(DType);  // the dtypes query, key and value may have in this call
  bool (*takes)(DType);     // the dtypes any operand may have on the device (out, gradients)
  const char* dtypes;       // "float32 or float64": names for the operands' TypeError
  int64_t max_head_dim;
};

// The sizes of q (B, Hq, Tq, D) and k, v (B, Hkv, Tk, D); the mask's strides broadcast to
// (B, Hq, Tq, Tk) (empty without a mask).
struct AttnShape {
  int64_t B, Hq, Hkv, Tq, Tk, D;
  Shape mask_strides;
};

// q, k, v, the optional mask (bool, or additive in float32, float64 for float64 operands),
// out (like q) and lse (B, Hq, Tq) contiguous, float64 for float64 operands, else float32
// (the accumulation dtype), out apart from q, k and v.
AttnShape check_attention(const AttnDevice& dev, const TensorImpl& q, const TensorImpl& k,
                          const TensorImpl& v, const TensorImpl* mask, const TensorImpl& out,
                          const TensorImpl& lse);

// The varlen form, after check_attention: batch-1 views, and cu_seqlens_q / _k, each 1-D
// int64 CPU offsets from 0 to the packed length, non-decreasing, counting the same sequences.
void check_attention_varlen(const TensorImpl& q, const TensorImpl& k, const TensorImpl& cu_q,
                            const TensorImpl& cu_k);

// The forward's outputs (out, lse) apart from its inputs; cu_q / cu_k: the varlen offsets,
// else null.
void check_attention_outputs(const TensorImpl& q, const TensorImpl& k, const TensorImpl& v,
                             const TensorImpl* mask, const TensorImpl& out, const TensorImpl& lse,
                             const TensorImpl* cu_q, const TensorImpl* cu_k, const char* op);

// The backward's gradients, shaped like what they are gradients of and of q's dtype, apart
// from the inputs and each other.
void check_attention_grads(const AttnDevice& dev, const TensorImpl& q, const TensorImpl& k,
                           const TensorImpl& v, const TensorImpl* mask, const TensorImpl& out,
                           const TensorImpl& lse, const TensorImpl& grad_out,
                           const TensorImpl& grad_q, const TensorImpl& grad_k,
                           const TensorImpl& grad_v, const TensorImpl* cu_q, const TensorImpl* cu_k,
                           const char* op);

}  // namespace ember::bindings
