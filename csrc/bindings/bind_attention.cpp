// Scaled-dot-product attention (csrc/cpu/attention). Operands are 4-D (B, H, T, D) views of
// any strides with unit stride along D; the Python op passes (B, T, H, D) tensors as
// permuted views. Every check runs before a kernel touches memory; the kernels run without
// the GIL.
#include "bindings/attention_checks.h"
#include "bindings/bindings.h"
#include "bindings/checks.h"
#include "bindings/shared_defs.h"
#include "core/error.h"
#include "cpu/attention/attention.h"

namespace ember::bindings {
namespace {

constexpr const char* kOp = "ember.scaled_dot_product_attention";
constexpr const char* kVarlenOp = "ember.nn.functional.varlen_attention";

bool is_attn_dtype(DType d) {
  return d == DType::Float32 || d == DType::Float64 || d == DType::BFloat16;
}
bool is_float(DType d) { return d == DType::Float32 || d == DType::Float64; }

// The forward also takes bfloat16 q, k, v, out (where attention_bf16_native()), the backward
// only float32 / float64.
AttnDevice cpu_device(bool bf16_ok) {
  return {DeviceType::CPU, bf16_ok ? is_attn_dtype : is_float, is_attn_dtype, "float32 or float64",
          cpu::kAttnMaxHeadDim};
}

// The shared checks (bindings/attention_checks), then the kernels' arguments.
cpu::AttnArgs make_args(TensorRef q, TensorRef k, TensorRef v, const TensorImpl* mask,
                        TensorRef out, TensorRef lse, bool causal, double scale,
                        bool bf16_ok = false) {
  const AttnShape s = check_attention(cpu_device(bf16_ok), q, k, v, mask, out, lse);
  EMBER_CHECK(q.dtype != DType::BFloat16 || cpu::attention_bf16_native(), TypeError, kOp,
              ": bfloat16 operands need the native bf16 path (AVX512_BF16 at full rate, "
              "ember._C._gemm_bf16_native()); pass float32");
  cpu::AttnArgs a{};
  a.B = s.B, a.Hq = s.Hq, a.Hkv = s.Hkv, a.Tq = s.Tq, a.Tk = s.Tk, a.D = s.D;
  a.scale = scale;
  a.causal = causal;
  a.q = q.data(), a.sqb = q.strides[0], a.sqh = q.strides[1], a.sqt = q.strides[2];
  a.k = k.data(), a.skb = k.strides[0], a.skh = k.strides[1], a.skt = k.strides[2];
  a.v = v.data(), a.svb = v.strides[0], a.svh = v.strides[1], a.svt = v.strides[2];
  a.o = out.data(), a.sob = out.strides[0], a.soh = out.strides[1], a.sot = out.strides[2];
  a.lse = lse.data();  // float32, float64 for float64 (checked)
  a.slb = s.Hq * s.Tq, a.slh = s.Tq;
  a.mask_kind = cpu::AttnMask::None;
  if (mask != nullptr) {
    const Shape& st = s.mask_strides;
    a.mask_kind = mask->dtype == DType::Bool ? cpu::AttnMask::Bool : cpu::AttnMask::Add;
    a.mask = mask->data();
    a.smb = st[0], a.smh = st[1], a.smq = st[2], a.smk = st[3];
  }
  return a;
}

// The backward's gradient arguments (checked by the caller) and their strides into a.
void set_grads(cpu::AttnArgs& a, TensorRef grad_out, TensorRef grad_q, TensorRef grad_k,
               TensorRef grad_v) {
  a.go = grad_out.data(), a.sgob = grad_out.strides[0], a.sgoh = grad_out.strides[1];
  a.sgot = grad_out.strides[2];
  a.gq = grad_q.data(), a.sgqb = grad_q.strides[0], a.sgqh = grad_q.strides[1];
  a.sgqt = grad_q.strides[2];
  a.gk = grad_k.data(), a.sgkb = grad_k.strides[0], a.sgkh = grad_k.strides[1];
  a.sgkt = grad_k.strides[2];
  a.gv = grad_v.data(), a.sgvb = grad_v.strides[0], a.sgvh = grad_v.strides[1];
  a.sgvt = grad_v.strides[2];
}

void attention_forward(TensorRef q, TensorRef k, TensorRef v, const TensorImpl* mask, TensorRef out,
                       TensorRef lse, bool is_causal, double scale) {
  const cpu::AttnArgs a = make_args(q, k, v, mask, out, lse, is_causal, scale, true);
  // The forward also writes lse (the backward reads it).
  check_attention_outputs(q, k, v, mask, out, lse, nullptr, nullptr, kOp);
  py::gil_scoped_release nogil;
  if (q.dtype == DType::BFloat16) return cpu::attention_forward_bf16(a);
  visit_float(q.dtype, [&](auto tag) { cpu::attention_forward<decltype(tag)>(a); });
}

void attention_backward(TensorRef grad_out, TensorRef q, TensorRef k, TensorRef v,
                        const TensorImpl* mask, TensorRef out, TensorRef lse, TensorRef grad_q,
                        TensorRef grad_k, TensorRef grad_v, bool is_causal, double scale) {
  cpu::AttnArgs a = make_args(q, k, v, mask, out, lse, is_causal, scale);
  check_attention_grads(cpu_device(false), q, k, v, mask, out, lse, grad_out, grad_q, grad_k,
                        grad_v, nullptr, nullptr, kOp);
  set_grads(a, grad_out, grad_q, grad_k, grad_v);
  py::gil_scoped_release nogil;
  visit_float(q.dtype, [&](auto tag) { cpu::attention_backward<decltype(tag)>(a); });
}

// ---- variable-length (packed) attention: q (1, Hq, Nq, D), k / v (1, Hkv, Nk, D) views of
// the packed (N, H, D) tensors, sequence s owning rows [cu[s], cu[s + 1]).

cpu::AttnArgs make_varlen_args(TensorRef q, TensorRef k, TensorRef v, TensorRef cu_q,
                               TensorRef cu_k, TensorRef out, TensorRef lse, bool causal,
                               double scale, bool bf16_ok = false) {
  const cpu::AttnArgs a = make_args(q, k, v, nullptr, out, lse, causal, scale, bf16_ok);
  check_attention_varlen(q, k, cu_q, cu_k);
  return a;
}

void attention_varlen_forward(TensorRef q, TensorRef k, TensorRef v, TensorRef cu_q, TensorRef cu_k,
                              TensorRef out, TensorRef lse, bool is_causal, double scale) {
  const cpu::AttnArgs a = make_varlen_args(q, k, v, cu_q, cu_k, out, lse, is_causal, scale, true);
  check_attention_outputs(q, k, v, nullptr, out, lse, &cu_q, &cu_k, kVarlenOp);
  const int64_t* oq = cu_q.data_as<int64_t>();
  const int64_t* ok = cu_k.data_as<int64_t>();
  const int64_t S = cu_q.shape[0] - 1;
  py::gil_scoped_release nogil;
  if (q.dtype == DType::BFloat16) return cpu::attention_varlen_forward_bf16(a, oq, ok, S);
  visit_float(q.dtype,
              [&](auto tag) { cpu::attention_varlen_forward<decltype(tag)>(a, oq, ok, S); });
}

void attention_varlen_backward(TensorRef grad_out, TensorRef q, TensorRef k, TensorRef v,
                               TensorRef cu_q, TensorRef cu_k, TensorRef out, TensorRef lse,
                               TensorRef grad_q, TensorRef grad_k, TensorRef grad_v, bool is_causal,
                               double scale) {
  cpu::AttnArgs a = make_varlen_args(q, k, v, cu_q, cu_k, out, lse, is_causal, scale);
  check_attention_grads(cpu_device(false), q, k, v, nullptr, out, lse, grad_out, grad_q, grad_k,
                        grad_v, &cu_q, &cu_k, kVarlenOp);
  set_grads(a, grad_out, grad_q, grad_k, grad_v);
  const int64_t* oq = cu_q.data_as<int64_t>();
  const int64_t* ok = cu_k.data_as<int64_t>();
  const int64_t S = cu_q.shape[0] - 1;
  py::gil_scoped_release nogil;
  visit_float(q.dtype,
              [&](auto tag) { cpu::attention_varlen_backward<decltype(tag)>(a, oq, ok, S); });
}

}  // namespace

void bind_attention(py::module_& m) {
  def_attention(
      m, &attention_forward, &attention_backward, &attention_varlen_forward,
      &attention_varlen_backward,
      {"out = softmax(scale * query key^T + mask) value over 4-D (B, H, T, D) strided views "
       "(unit stride on D), float32/float64, or bfloat16 (vdpbf16ps products, float32 "
       "softmax; where _attention_bf16_native()); lse (B, Hq, Tq) float32 (float64 for "
       "float64) gets the row log-sum-exp. attn_mask: None, bool (True = attend) or "
       "additive, 4-D broadcastable to (B, Hq, Tq, Tk). Fully masked rows give zeros "
       "(lse = inf).",
       "grad_query, grad_key, grad_value (overwritten) from grad_out and the forward's "
       "out and lse.",
       "Packed variable-length attention: query (1, Hq, Nq, D), key / value (1, Hkv, Nk, D) "
       "views, sequence s owning rows [cu[s], cu[s + 1]) (cu_seqlens int64, S + 1 offsets); "
       "out like query, lse (1, Hq, Nq) float32 (float64 for float64). Each sequence attends "
       "within itself.",
       "grad_query, grad_key, grad_value (overwritten) of attention_varlen_forward."});
  m.def("_attention_bf16_native", &cpu::attention_bf16_native,
        "Whether the attention forward takes bfloat16 operands (vdpbf16ps products): the bf16 "
        "GEMM's path choice (_gemm_bf16_native), where this build has the kernel.");
  m.attr("attention_max_head_dim") = cpu::kAttnMaxHeadDim;
}

}  // namespace ember::bindings
