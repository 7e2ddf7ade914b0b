// Scaled-dot-product attention (csrc/cpu/attention). Operands are 4-D (B, H, T, D) views of
// any strides with unit stride along D; the Python op passes (B, T, H, D) tensors as
// permuted views. Every check runs before a kernel touches memory; the kernels run without
// the GIL.
#include "bindings/bindings.h"
#include "bindings/checks.h"
#include "core/error.h"
#include "cpu/attention/attention.h"

namespace ember::bindings {
namespace {

constexpr const char* kOp = "ember.scaled_dot_product_attention";

// bf16: the forward's operands where attention_bf16_native() (checked by the forward).
void check_operand(TensorRef t, const char* arg, const char* layout, bool bf16_ok) {
  check_device(t, DeviceType::CPU, kOp, arg);
  EMBER_CHECK(t.ndim() == 4, ValueError, kOp, ": expected a 4-D ", arg, " ", layout, ", got shape ",
              shape_str(t.shape));
  if (!(bf16_ok && t.dtype == DType::BFloat16)) check_float(t, kOp, arg);
  EMBER_CHECK(t.shape[3] <= 1 || t.strides[3] == 1, ValueError, kOp, ": ", arg, " of shape ",
              shape_str(t.shape), " and strides ", shape_str(t.strides),
              " needs unit stride along the head dim");
}

void check_like(TensorRef t, TensorRef ref, const Shape& want, const char* arg) {
  check_operand(t, arg, "", true);  // of ref's dtype, which its own check admitted
  EMBER_CHECK(t.dtype == ref.dtype, TypeError, kOp, ": ", arg, " has dtype ", dtype_name(t.dtype),
              ", expected ", dtype_name(ref.dtype), " (the dtype of query)");
  EMBER_CHECK(t.shape == want, ValueError, kOp, ": ", arg, " has shape ", shape_str(t.shape),
              ", expected ", shape_str(want));
}

// Shapes and strides of q, k, v, mask and the output; lse (B, Hq, Tq) float32 contiguous.
// bf16_ok: the forward also takes bfloat16 q, k, v, out (an additive mask then float32).
cpu::AttnArgs make_args(TensorRef q, TensorRef k, TensorRef v, const TensorImpl* mask,
                        TensorRef out, TensorRef lse, bool causal, double scale,
                        bool bf16_ok = false) {
  check_operand(q, "query", "(B, Hq, Tq, D)", bf16_ok);
  check_operand(k, "key", "(B, Hkv, Tk, D)", bf16_ok);
  check_operand(v, "value", "(B, Hkv, Tk, D)", bf16_ok);
  const bool bf16 = q.dtype == DType::BFloat16;
  EMBER_CHECK(!bf16 || cpu::attention_bf16_native(), TypeError, kOp,
              ": bfloat16 operands need the native bf16 path (AVX512_BF16 at full rate, "
              "ember._C._gemm_bf16_native()); pass float32");
  EMBER_CHECK(k.dtype == q.dtype && v.dtype == q.dtype, TypeError, kOp,
              ": query, key and value must have one dtype, got ", dtype_name(q.dtype), ", ",
              dtype_name(k.dtype), " and ", dtype_name(v.dtype));
  const int64_t B = q.shape[0], Hq = q.shape[1], Tq = q.shape[2], D = q.shape[3];
  const int64_t Hkv = k.shape[1], Tk = k.shape[2];
  EMBER_CHECK(k.shape[3] == D && v.shape[3] == D, ValueError, kOp, ": mismatched head dims: query ",
              shape_str(q.shape), ", key ", shape_str(k.shape), ", value ", shape_str(v.shape),
              " (all must share D)");
  EMBER_CHECK(k.shape[0] == B && v.shape[0] == B, ValueError, kOp, ": batch sizes differ: query ",
              shape_str(q.shape), ", key ", shape_str(k.shape), ", value ", shape_str(v.shape));
  EMBER_CHECK(v.shape == k.shape, ValueError, kOp, ": key ", shape_str(k.shape), " and value ",
              shape_str(v.shape), " must have the same shape");
  EMBER_CHECK(D >= 1 && D <= cpu::kAttnMaxHeadDim, ValueError, kOp, ": head dim D = ", D,
              " (query ", shape_str(q.shape),
              ") is not supported, expected 1 <= D <= ", cpu::kAttnMaxHeadDim);
  EMBER_CHECK(Hkv >= 1 && Hq % Hkv == 0, ValueError, kOp, ": query heads ", Hq,
              " must be a multiple of key/value heads ", Hkv, " (query ", shape_str(q.shape),
              ", key ", shape_str(k.shape), ")");
  check_like(out, q, {B, Hq, Tq, D}, "out");
  check_writable(out, kOp, "out");
  check_device(lse, DeviceType::CPU, kOp, "lse");
  check_dtype(lse, DType::Float32, kOp, "lse");
  check_contiguous(lse, kOp, "lse");
  EMBER_CHECK(lse.shape == Shape({B, Hq, Tq}), ValueError, kOp, ": lse has shape ",
              shape_str(lse.shape), ", expected ", shape_str({B, Hq, Tq}));

  cpu::AttnArgs a{};
  a.B = B, a.Hq = Hq, a.Hkv = Hkv, a.Tq = Tq, a.Tk = Tk, a.D = D;
  a.scale = scale;
  a.causal = causal;
  a.q = q.data(), a.sqb = q.strides[0], a.sqh = q.strides[1], a.sqt = q.strides[2];
  a.k = k.data(), a.skb = k.strides[0], a.skh = k.strides[1], a.skt = k.strides[2];
  a.v = v.data(), a.svb = v.strides[0], a.svh = v.strides[1], a.svt = v.strides[2];
  a.o = out.data(), a.sob = out.strides[0], a.soh = out.strides[1], a.sot = out.strides[2];
  a.lse = lse.data_as<float>();
  a.slb = Hq * Tq, a.slh = Tq;
  a.mask_kind = cpu::AttnMask::None;
  if (mask != nullptr) {
    const TensorImpl& m = *mask;
    check_device(m, DeviceType::CPU, kOp, "attn_mask");
    const DType add = bf16 ? DType::Float32 : q.dtype;  // the dtype the scores are summed in
    EMBER_CHECK(m.dtype == DType::Bool || m.dtype == add, TypeError, kOp, ": attn_mask has dtype ",
                dtype_name(m.dtype), ", expected bool or ", dtype_name(add), " (query is ",
                dtype_name(q.dtype), ")");
    const Shape full = {B, Hq, Tq, Tk};
    bool ok = m.ndim() == 4;
    for (int d = 0; ok && d < 4; ++d) ok = m.shape[d] == 1 || m.shape[d] == full[d];
    EMBER_CHECK(ok, ValueError, kOp, ": attn_mask of shape ", shape_str(m.shape),
                " does not broadcast to (B, Hq, Tq, Tk) = ", shape_str(full));
    const Shape st = broadcast_strides(m, full, kOp);
    a.mask_kind = m.dtype == DType::Bool ? cpu::AttnMask::Bool : cpu::AttnMask::Add;
    a.mask = m.data();
    a.smb = st[0], a.smh = st[1], a.smq = st[2], a.smk = st[3];
  }
  check_no_overlap(out, q, kOp, "out", "query");
  check_no_overlap(out, k, kOp, "out", "key");
  check_no_overlap(out, v, kOp, "out", "value");
  return a;
}

// The backward's gradient arguments, shaped like what they are gradients of (their overlap
// checks are the caller's check_outputs), and their strides into a.
void set_grads(cpu::AttnArgs& a, TensorRef q, TensorRef k, TensorRef out, TensorRef grad_out,
               TensorRef grad_q, TensorRef grad_k, TensorRef grad_v) {
  check_like(grad_out, q, out.shape, "grad_out");
  check_like(grad_q, q, q.shape, "grad_query");
  check_like(grad_k, q, k.shape, "grad_key");
  check_like(grad_v, q, k.shape, "grad_value");
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
  check_outputs({{&out, "out"}, {&lse, "lse"}},
                {{&q, "query"}, {&k, "key"}, {&v, "value"}, {mask, "attn_mask"}}, kOp);
  py::gil_scoped_release nogil;
  if (q.dtype == DType::BFloat16) return cpu::attention_forward_bf16(a);
  visit_float(q.dtype, [&](auto tag) { cpu::attention_forward<decltype(tag)>(a); });
}

void attention_backward(TensorRef grad_out, TensorRef q, TensorRef k, TensorRef v,
                        const TensorImpl* mask, TensorRef out, TensorRef lse, TensorRef grad_q,
                        TensorRef grad_k, TensorRef grad_v, bool is_causal, double scale) {
  cpu::AttnArgs a = make_args(q, k, v, mask, out, lse, is_causal, scale);
  set_grads(a, q, k, out, grad_out, grad_q, grad_k, grad_v);
  check_outputs({{&grad_q, "grad_query"}, {&grad_k, "grad_key"}, {&grad_v, "grad_value"}},
                {{&q, "query"},
                 {&k, "key"},
                 {&v, "value"},
                 {&out, "out"},
                 {&grad_out, "grad_out"},
                 {&lse, "lse"},
                 {mask, "attn_mask"}},
                kOp);
  py::gil_scoped_release nogil;
  visit_float(q.dtype, [&](auto tag) { cpu::attention_backward<decltype(tag)>(a); });
}

// ---- variable-length (packed) attention: q (1, Hq, Nq, D), k / v (1, Hkv, Nk, D) views of
// the packed (N, H, D) tensors, sequence s owning rows [cu[s], cu[s + 1]).

constexpr const char* kVarlenOp = "ember.nn.functional.varlen_attention";

// Checks one cu_seqlens tensor: 1-D int64, S + 1 offsets from 0 to `total`, non-decreasing.
void check_offsets(TensorRef cu, int64_t total, const char* arg) {
  check_device(cu, DeviceType::CPU, kVarlenOp, arg);
  check_dtype(cu, DType::Int64, kVarlenOp, arg);
  check_contiguous(cu, kVarlenOp, arg);
  EMBER_CHECK(cu.ndim() == 1 && cu.shape[0] >= 1, ValueError, kVarlenOp, ": ", arg,
              " must be 1-D with (sequences + 1) offsets, got shape ", shape_str(cu.shape));
  const int64_t* c = cu.data_as<int64_t>();
  const int64_t n = cu.shape[0];
  EMBER_CHECK(c[0] == 0 && c[n - 1] == total, ValueError, kVarlenOp, ": ", arg,
              " must start at 0 and end at the packed length ", total, ", got ", c[0], " .. ",
              c[n - 1]);
  for (int64_t s = 0; s + 1 < n; ++s)
    EMBER_CHECK(c[s + 1] >= c[s], ValueError, kVarlenOp, ": ", arg, " must be non-decreasing, got ",
                c[s], " then ", c[s + 1], " at index ", s);
}

cpu::AttnArgs make_varlen_args(TensorRef q, TensorRef k, TensorRef v, TensorRef cu_q,
                               TensorRef cu_k, TensorRef out, TensorRef lse, bool causal,
                               double scale, bool bf16_ok = false) {
  const cpu::AttnArgs a = make_args(q, k, v, nullptr, out, lse, causal, scale, bf16_ok);
  EMBER_CHECK(a.B == 1, ValueError, kVarlenOp,
              ": expected the packed operands as batch-1 views, got query ", shape_str(q.shape));
  check_offsets(cu_q, a.Tq, "cu_seqlens_q");
  check_offsets(cu_k, a.Tk, "cu_seqlens_k");
  EMBER_CHECK(cu_q.shape[0] == cu_k.shape[0], ValueError, kVarlenOp,
              ": cu_seqlens_q and cu_seqlens_k must count the same sequences, got ",
              cu_q.shape[0] - 1, " and ", cu_k.shape[0] - 1);
  return a;
}

void attention_varlen_forward(TensorRef q, TensorRef k, TensorRef v, TensorRef cu_q, TensorRef cu_k,
                              TensorRef out, TensorRef lse, bool is_causal, double scale) {
  const cpu::AttnArgs a = make_varlen_args(q, k, v, cu_q, cu_k, out, lse, is_causal, scale, true);
  check_outputs(
      {{&out, "out"}, {&lse, "lse"}},
      {{&q, "query"}, {&k, "key"}, {&v, "value"}, {&cu_q, "cu_seqlens_q"}, {&cu_k, "cu_seqlens_k"}},
      kVarlenOp);
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
  set_grads(a, q, k, out, grad_out, grad_q, grad_k, grad_v);
  check_outputs({{&grad_q, "grad_query"}, {&grad_k, "grad_key"}, {&grad_v, "grad_value"}},
                {{&q, "query"},
                 {&k, "key"},
                 {&v, "value"},
                 {&out, "out"},
                 {&grad_out, "grad_out"},
                 {&lse, "lse"},
                 {&cu_q, "cu_seqlens_q"},
                 {&cu_k, "cu_seqlens_k"}},
                kVarlenOp);
  const int64_t* oq = cu_q.data_as<int64_t>();
  const int64_t* ok = cu_k.data_as<int64_t>();
  const int64_t S = cu_q.shape[0] - 1;
  py::gil_scoped_release nogil;
  visit_float(q.dtype,
              [&](auto tag) { cpu::attention_varlen_backward<decltype(tag)>(a, oq, ok, S); });
}

}  // namespace

void bind_attention(py::module_& m) {
  m.def("attention_forward", &attention_forward, py::arg("query"), py::arg("key"), py::arg("value"),
        py::arg("attn_mask"), py::arg("out"), py::arg("lse"), py::arg("is_causal"),
        py::arg("scale"),
        "out = softmax(scale * query key^T + mask) value over 4-D (B, H, T, D) strided views "
        "(unit stride on D), float32/float64, or bfloat16 (vdpbf16ps products, float32 "
        "softmax; where _attention_bf16_native()); lse (B, Hq, Tq) float32 gets the row "
        "log-sum-exp. attn_mask: None, bool (True = attend) or additive, 4-D broadcastable "
        "to (B, Hq, Tq, Tk). Fully masked rows give zeros (lse = inf).");
  m.def("attention_backward", &attention_backward, py::arg("grad_out"), py::arg("query"),
        py::arg("key"), py::arg("value"), py::arg("attn_mask"), py::arg("out"), py::arg("lse"),
        py::arg("grad_query"), py::arg("grad_key"), py::arg("grad_value"), py::arg("is_causal"),
        py::arg("scale"),
        "grad_query, grad_key, grad_value (overwritten) from grad_out and the forward's "
        "out and lse.");
  m.def("attention_varlen_forward", &attention_varlen_forward, py::arg("query"), py::arg("key"),
        py::arg("value"), py::arg("cu_seqlens_q"), py::arg("cu_seqlens_k"), py::arg("out"),
        py::arg("lse"), py::arg("is_causal"), py::arg("scale"),
        "Packed variable-length attention: query (1, Hq, Nq, D), key / value (1, Hkv, Nk, D) "
        "views, sequence s owning rows [cu[s], cu[s + 1]) (cu_seqlens int64, S + 1 offsets); "
        "out like query, lse (1, Hq, Nq) float32. Each sequence attends within itself.");
  m.def("attention_varlen_backward", &attention_varlen_backward, py::arg("grad_out"),
        py::arg("query"), py::arg("key"), py::arg("value"), py::arg("cu_seqlens_q"),
        py::arg("cu_seqlens_k"), py::arg("out"), py::arg("lse"), py::arg("grad_query"),
        py::arg("grad_key"), py::arg("grad_value"), py::arg("is_causal"), py::arg("scale"),
        "grad_query, grad_key, grad_value (overwritten) of attention_varlen_forward.");
  m.def("_attention_bf16_native", &cpu::attention_bf16_native,
        "Whether the attention forward takes bfloat16 operands (vdpbf16ps products): the bf16 "
        "GEMM's path choice (_gemm_bf16_native), where this build has the kernel.");
  m.attr("attention_max_head_dim") = cpu::kAttnMaxHeadDim;
}

}  // namespace ember::bindings
