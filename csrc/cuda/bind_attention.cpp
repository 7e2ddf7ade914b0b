// ember._C_cuda.attention_forward / attention_backward: the same names, signatures and
// semantics as the CPU bindings (csrc/bindings/bind_attention.cpp), so the Python op runs on
// CUDA tensors unchanged. Operands are 4-D (B, H, T, D) views of any strides with unit stride
// along D, float32, float64 (D <= 128), float16 or bfloat16. Every check runs before any
// memory is touched; the kernels run without the GIL. Underscored functions expose the tiling
// plan and the online-softmax step to the CPU tests.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <limits>

#include "bindings/attention_checks.h"
#include "bindings/shared_defs.h"
#include "core/error.h"
#include "core/tensor_impl.h"
#include "cuda/attention/attention.h"
#include "cuda/ops.h"
#include "cuda/runtime.h"

namespace py = pybind11;

namespace ember::cuda {
namespace {

using TensorRef = const TensorImpl&;
using attn::MaskKind;
using attn::Operand;
using attn::Params;

constexpr const char* kOp = "ember.scaled_dot_product_attention";

bool attn_dtype(DType d) {
  return d == DType::Float32 || d == DType::Float64 || d == DType::Float16 || d == DType::BFloat16;
}

constexpr bindings::AttnDevice kCuda{DeviceType::CUDA, attn_dtype, attn_dtype,
                                     "float32, float64, float16 or bfloat16", attn::kMaxHeadDim};

Operand operand(TensorRef t) { return {t.data(), t.strides[0], t.strides[1], t.strides[2]}; }

// The checks shared with the CPU binding (bindings/attention_checks), the CUDA kernels'
// limits, then the kernels' parameters.
Params make_params(TensorRef q, TensorRef k, TensorRef v, const TensorImpl* mask, TensorRef out,
                   TensorRef lse, bool causal, double scale) {
  const bindings::AttnShape s = bindings::check_attention(kCuda, q, k, v, mask, out, lse);
  EMBER_CHECK(attn::supported(q.dtype, s.D), ValueError, kOp, ": head dim D = ", s.D, " (query ",
              shape_str(q.shape), ") is not supported for ", dtype_name(q.dtype),
              " on CUDA, expected D <= 128");
  // One launch covers every (batch, head, tile): its 1-D grid must fit.
  const int64_t blocks = std::max(s.B * s.Hq * attn::cdiv(s.Tq, attn::kRows),
                                  s.B * s.Hkv * attn::cdiv(s.Tk, attn::kRows));
  EMBER_CHECK(blocks <= std::numeric_limits<int32_t>::max(), ValueError, kOp, ": query ",
              shape_str(q.shape), " and key ", shape_str(k.shape), " need ", blocks,
              " thread blocks, more than one launch takes");

  Params p{};
  p.B = s.B, p.Hq = s.Hq, p.Hkv = s.Hkv, p.Tq = s.Tq, p.Tk = s.Tk, p.D = s.D;
  p.scale = scale;
  p.causal = causal;
  p.q = operand(q), p.k = operand(k), p.v = operand(v), p.o = operand(out);
  p.lse = lse.data();  // float32, float64 for float64 (checked)
  p.mask_kind = MaskKind::None;
  if (mask != nullptr) {
    const Shape& st = s.mask_strides;
    p.mask_kind = mask->dtype == DType::Bool ? MaskKind::Bool : MaskKind::Add;
    p.mask = mask->data();
    p.smb = st[0], p.smh = st[1], p.smq = st[2], p.smk = st[3];
  }
  return p;
}

void attention_forward(TensorRef q, TensorRef k, TensorRef v, const TensorImpl* mask, TensorRef out,
                       TensorRef lse, bool is_causal, double scale) {
  const Params p = make_params(q, k, v, mask, out, lse, is_causal, scale);
  bindings::check_attention_outputs(q, k, v, mask, out, lse, nullptr, nullptr, kOp);
  const int device = common_device(kOp, {{"query", &q},
                                         {"key", &k},
                                         {"value", &v},
                                         {"out", &out},
                                         {"lse", &lse},
                                         {"attn_mask", mask != nullptr ? mask : &q}});
  require_device(device, kOp);
  py::gil_scoped_release nogil;
  DeviceGuard guard(device);
  attn::forward(q.dtype, p, attn::query_blocks(p), kOp);
}

// The backward's gradient arguments (checked by the caller) into p.
void set_grads(Params& p, TensorRef grad_out, TensorRef grad_q, TensorRef grad_k,
               TensorRef grad_v) {
  p.go = operand(grad_out), p.gq = operand(grad_q), p.gk = operand(grad_k);
  p.gv = operand(grad_v);
}

// The gradients (shared checks), then everything on one device (returned); cu_q / cu_k:
// the varlen offsets, else null.
int check_backward_tensors(TensorRef grad_out, TensorRef q, TensorRef k, TensorRef v,
                           const TensorImpl* mask, TensorRef out, TensorRef lse, TensorRef grad_q,
                           TensorRef grad_k, TensorRef grad_v, const TensorImpl* cu_q,
                           const TensorImpl* cu_k, const char* op) {
  bindings::check_attention_grads(kCuda, q, k, v, mask, out, lse, grad_out, grad_q, grad_k, grad_v,
                                  cu_q, cu_k, op);
  return common_device(op, {{"grad_out", &grad_out},
                            {"query", &q},
                            {"key", &k},
                            {"value", &v},
                            {"out", &out},
                            {"lse", &lse},
                            {"grad_query", &grad_q},
                            {"grad_key", &grad_k},
                            {"grad_value", &grad_v},
                            {"attn_mask", mask != nullptr ? mask : &q}});
}

void attention_backward(TensorRef grad_out, TensorRef q, TensorRef k, TensorRef v,
                        const TensorImpl* mask, TensorRef out, TensorRef lse, TensorRef grad_q,
                        TensorRef grad_k, TensorRef grad_v, bool is_causal, double scale) {
  Params p = make_params(q, k, v, mask, out, lse, is_causal, scale);
  const int device = check_backward_tensors(grad_out, q, k, v, mask, out, lse, grad_q, grad_k,
                                            grad_v, nullptr, nullptr, kOp);
  set_grads(p, grad_out, grad_q, grad_k, grad_v);
  require_device(device, kOp);
  py::gil_scoped_release nogil;
  DeviceGuard guard(device);
  attn::backward(q.dtype, device, p, attn::query_blocks(p), attn::key_blocks(p), kOp);
}

// ---- variable-length (packed) attention: q (1, Hq, Nq, D), k / v (1, Hkv, Nk, D) views of
// the packed (N, H, D) tensors, sequence s owning rows [cu[s], cu[s + 1]); the offsets are
// int64 CPU tensors, as for the CPU binding.

constexpr const char* kVarlenOp = "ember.nn.functional.varlen_attention";

Params make_varlen_params(TensorRef q, TensorRef k, TensorRef v, TensorRef cu_q, TensorRef cu_k,
                          TensorRef out, TensorRef lse, bool causal, double scale) {
  const Params p = make_params(q, k, v, nullptr, out, lse, causal, scale);
  bindings::check_attention_varlen(q, k, cu_q, cu_k);
  return p;
}

void attention_varlen_forward(TensorRef q, TensorRef k, TensorRef v, TensorRef cu_q, TensorRef cu_k,
                              TensorRef out, TensorRef lse, bool is_causal, double scale) {
  const Params p = make_varlen_params(q, k, v, cu_q, cu_k, out, lse, is_causal, scale);
  bindings::check_attention_outputs(q, k, v, nullptr, out, lse, &cu_q, &cu_k, kVarlenOp);
  const int device = common_device(
      kVarlenOp, {{"query", &q}, {"key", &k}, {"value", &v}, {"out", &out}, {"lse", &lse}});
  require_device(device, kVarlenOp);
  py::gil_scoped_release nogil;
  DeviceGuard guard(device);
  attn::varlen_forward(q.dtype, device, p, cu_q.data_as<int64_t>(), cu_k.data_as<int64_t>(),
                       cu_q.shape[0] - 1, kVarlenOp);
}

void attention_varlen_backward(TensorRef grad_out, TensorRef q, TensorRef k, TensorRef v,
                               TensorRef cu_q, TensorRef cu_k, TensorRef out, TensorRef lse,
                               TensorRef grad_q, TensorRef grad_k, TensorRef grad_v, bool is_causal,
                               double scale) {
  Params p = make_varlen_params(q, k, v, cu_q, cu_k, out, lse, is_causal, scale);
  const int device = check_backward_tensors(grad_out, q, k, v, nullptr, out, lse, grad_q, grad_k,
                                            grad_v, &cu_q, &cu_k, kVarlenOp);
  set_grads(p, grad_out, grad_q, grad_k, grad_v);
  require_device(device, kVarlenOp);
  py::gil_scoped_release nogil;
  DeviceGuard guard(device);
  attn::varlen_backward(q.dtype, device, p, cu_q.data_as<int64_t>(), cu_k.data_as<int64_t>(),
                        cu_q.shape[0] - 1, kVarlenOp);
}

}  // namespace

void bind_attention_test_hooks(py::module_& m);

void bind_attention(py::module_& m) {
  bindings::def_attention(
      m, &attention_forward, &attention_backward, &attention_varlen_forward,
      &attention_varlen_backward,
      {"out = softmax(scale * query key^T + mask) value over 4-D (B, H, T, D) CUDA views "
       "(unit stride on D), float32, float64 (D <= 128), float16 or bfloat16 (float32 "
       "accumulation; tensor cores for D <= 128); lse (B, Hq, Tq) float32 (float64 for "
       "float64) gets the row log-sum-exp. attn_mask: None, "
       "bool (True = attend) or additive (float32; float64 for float64), 4-D broadcastable "
       "to (B, Hq, Tq, Tk). Fully masked rows give zeros (lse = inf).",
       "grad_query, grad_key, grad_value (overwritten) from grad_out and the forward's "
       "out and lse; deterministic (no atomics).",
       "Packed variable-length attention: query (1, Hq, Nq, D), key / value (1, Hkv, Nk, D) "
       "CUDA views, sequence s owning rows [cu[s], cu[s + 1]) (cu_seqlens int64 CPU tensors, "
       "S + 1 offsets); out like query, lse (1, Hq, Nq) float32 (float64 for float64). Each "
       "sequence attends within itself.",
       "grad_query, grad_key, grad_value (overwritten) of attention_varlen_forward."});
  m.attr("attention_max_head_dim") = attn::kMaxHeadDim;
  bind_attention_test_hooks(m);
}

}  // namespace ember::cuda
