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

#include "core/error.h"
#include "core/overlap.h"
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

// The dtype of an additive mask: the accumulation type (float32 for 16-bit operands).
DType mask_add_dtype(DType d) { return d == DType::Float64 ? d : DType::Float32; }

void check_operand(TensorRef t, const char* arg, const char* layout) {
  check_device(t, DeviceType::CUDA, kOp, arg);
  EMBER_CHECK(t.ndim() == 4, ValueError, kOp, ": expected a 4-D ", arg, " ", layout, ", got shape ",
              shape_str(t.shape));
  EMBER_CHECK(attn_dtype(t.dtype), TypeError, kOp, ": ", arg, " has dtype ", dtype_name(t.dtype),
              ", expected float32, float64, float16 or bfloat16");
  EMBER_CHECK(t.shape[3] <= 1 || t.strides[3] == 1, ValueError, kOp, ": ", arg, " of shape ",
              shape_str(t.shape), " and strides ", shape_str(t.strides),
              " needs unit stride along the head dim");
}

void check_like(TensorRef t, TensorRef ref, const Shape& want, const char* arg) {
  check_operand(t, arg, "");
  EMBER_CHECK(t.dtype == ref.dtype, TypeError, kOp, ": ", arg, " has dtype ", dtype_name(t.dtype),
              ", expected ", dtype_name(ref.dtype), " (the dtype of query)");
  EMBER_CHECK(t.shape == want, ValueError, kOp, ": ", arg, " has shape ", shape_str(t.shape),
              ", expected ", shape_str(want));
}

Operand operand(TensorRef t) { return {t.data(), t.strides[0], t.strides[1], t.strides[2]}; }

// Shapes, dtypes and strides of q, k, v, mask, out and lse (B, Hq, Tq) float32 contiguous,
// as the CPU binding checks them.
Params make_params(TensorRef q, TensorRef k, TensorRef v, const TensorImpl* mask, TensorRef out,
                   TensorRef lse, bool causal, double scale) {
  check_operand(q, "query", "(B, Hq, Tq, D)");
  check_operand(k, "key", "(B, Hkv, Tk, D)");
  check_operand(v, "value", "(B, Hkv, Tk, D)");
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
  EMBER_CHECK(D >= 1 && D <= attn::kMaxHeadDim, ValueError, kOp, ": head dim D = ", D, " (query ",
              shape_str(q.shape), ") is not supported, expected 1 <= D <= ", attn::kMaxHeadDim);
  EMBER_CHECK(attn::supported(q.dtype, D), ValueError, kOp, ": head dim D = ", D, " (query ",
              shape_str(q.shape), ") is not supported for ", dtype_name(q.dtype),
              " on CUDA, expected D <= 128");
  EMBER_CHECK(Hkv >= 1 && Hq % Hkv == 0, ValueError, kOp, ": query heads ", Hq,
              " must be a multiple of key/value heads ", Hkv, " (query ", shape_str(q.shape),
              ", key ", shape_str(k.shape), ")");
  check_like(out, q, {B, Hq, Tq, D}, "out");
  check_writable(out, kOp, "out");
  check_device(lse, DeviceType::CUDA, kOp, "lse");
  check_dtype(lse, DType::Float32, kOp, "lse");
  check_contiguous(lse, kOp, "lse");
  EMBER_CHECK(lse.shape == Shape({B, Hq, Tq}), ValueError, kOp, ": lse has shape ",
              shape_str(lse.shape), ", expected ", shape_str({B, Hq, Tq}));
  // One launch covers every (batch, head, tile): its 1-D grid must fit.
  const int64_t blocks =
      std::max(B * Hq * attn::cdiv(Tq, attn::kRows), B * Hkv * attn::cdiv(Tk, attn::kRows));
  EMBER_CHECK(blocks <= std::numeric_limits<int32_t>::max(), ValueError, kOp, ": query ",
              shape_str(q.shape), " and key ", shape_str(k.shape), " need ", blocks,
              " thread blocks, more than one launch takes");

  Params p{};
  p.B = B, p.Hq = Hq, p.Hkv = Hkv, p.Tq = Tq, p.Tk = Tk, p.D = D;
  p.scale = scale;
  p.causal = causal;
  p.q = operand(q), p.k = operand(k), p.v = operand(v), p.o = operand(out);
  p.lse = lse.data_as<float>();
  p.mask_kind = MaskKind::None;
  if (mask != nullptr) {
    const TensorImpl& m = *mask;
    check_device(m, DeviceType::CUDA, kOp, "attn_mask");
    const DType add = mask_add_dtype(q.dtype);
    EMBER_CHECK(m.dtype == DType::Bool || m.dtype == add, TypeError, kOp, ": attn_mask has dtype ",
                dtype_name(m.dtype), ", expected bool or ", dtype_name(add), " (query is ",
                dtype_name(q.dtype), ")");
    const Shape full = {B, Hq, Tq, Tk};
    bool ok = m.ndim() == 4;
    for (int d = 0; ok && d < 4; ++d) ok = m.shape[d] == 1 || m.shape[d] == full[d];
    EMBER_CHECK(ok, ValueError, kOp, ": attn_mask of shape ", shape_str(m.shape),
                " does not broadcast to (B, Hq, Tq, Tk) = ", shape_str(full));
    const Shape st = broadcast_strides(m, full, kOp);
    p.mask_kind = m.dtype == DType::Bool ? MaskKind::Bool : MaskKind::Add;
    p.mask = m.data();
    p.smb = st[0], p.smh = st[1], p.smq = st[2], p.smk = st[3];
  }
  check_no_overlap(out, q, kOp, "out", "query");
  check_no_overlap(out, k, kOp, "out", "key");
  check_no_overlap(out, v, kOp, "out", "value");
  return p;
}

void attention_forward(TensorRef q, TensorRef k, TensorRef v, const TensorImpl* mask, TensorRef out,
                       TensorRef lse, bool is_causal, double scale) {
  const Params p = make_params(q, k, v, mask, out, lse, is_causal, scale);
  check_outputs({{&out, "out"}, {&lse, "lse"}},
                {{&q, "query"}, {&k, "key"}, {&v, "value"}, {mask, "attn_mask"}}, kOp);
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

// The backward's gradient arguments, shaped like what they are gradients of, into p; their
// overlap and device checks are the caller's.
void set_grads(Params& p, TensorRef q, TensorRef k, TensorRef out, TensorRef grad_out,
               TensorRef grad_q, TensorRef grad_k, TensorRef grad_v) {
  check_like(grad_out, q, out.shape, "grad_out");
  check_like(grad_q, q, q.shape, "grad_query");
  check_like(grad_k, q, k.shape, "grad_key");
  check_like(grad_v, q, k.shape, "grad_value");
  p.go = operand(grad_out), p.gq = operand(grad_q), p.gk = operand(grad_k);
  p.gv = operand(grad_v);
}

// Outputs apart from the inputs and each other, everything on one device (returned).
int check_backward_tensors(TensorRef grad_out, TensorRef q, TensorRef k, TensorRef v,
                           const TensorImpl* mask, TensorRef out, TensorRef lse, TensorRef grad_q,
                           TensorRef grad_k, TensorRef grad_v, const char* op) {
  check_outputs({{&grad_q, "grad_query"}, {&grad_k, "grad_key"}, {&grad_v, "grad_value"}},
                {{&q, "query"},
                 {&k, "key"},
                 {&v, "value"},
                 {&out, "out"},
                 {&grad_out, "grad_out"},
                 {&lse, "lse"},
                 {mask, "attn_mask"}},
                op);
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
  set_grads(p, q, k, out, grad_out, grad_q, grad_k, grad_v);
  const int device =
      check_backward_tensors(grad_out, q, k, v, mask, out, lse, grad_q, grad_k, grad_v, kOp);
  require_device(device, kOp);
  py::gil_scoped_release nogil;
  DeviceGuard guard(device);
  attn::backward(q.dtype, device, p, attn::query_blocks(p), attn::key_blocks(p), kOp);
}

// ---- variable-length (packed) attention: q (1, Hq, Nq, D), k / v (1, Hkv, Nk, D) views of
// the packed (N, H, D) tensors, sequence s owning rows [cu[s], cu[s + 1]); the offsets are
// int64 CPU tensors, as for the CPU binding.

constexpr const char* kVarlenOp = "ember.nn.functional.varlen_attention";

// One cu_seqlens tensor: 1-D int64 on the CPU, S + 1 offsets from 0 to `total`,
// non-decreasing.
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

Params make_varlen_params(TensorRef q, TensorRef k, TensorRef v, TensorRef cu_q, TensorRef cu_k,
                          TensorRef out, TensorRef lse, bool causal, double scale) {
  const Params p = make_params(q, k, v, nullptr, out, lse, causal, scale);
  EMBER_CHECK(p.B == 1, ValueError, kVarlenOp,
              ": expected the packed operands as batch-1 views, got query ", shape_str(q.shape));
  check_offsets(cu_q, p.Tq, "cu_seqlens_q");
  check_offsets(cu_k, p.Tk, "cu_seqlens_k");
  EMBER_CHECK(cu_q.shape[0] == cu_k.shape[0], ValueError, kVarlenOp,
              ": cu_seqlens_q and cu_seqlens_k must count the same sequences, got ",
              cu_q.shape[0] - 1, " and ", cu_k.shape[0] - 1);
  return p;
}

void attention_varlen_forward(TensorRef q, TensorRef k, TensorRef v, TensorRef cu_q, TensorRef cu_k,
                              TensorRef out, TensorRef lse, bool is_causal, double scale) {
  const Params p = make_varlen_params(q, k, v, cu_q, cu_k, out, lse, is_causal, scale);
  check_outputs({{&out, "out"}, {&lse, "lse"}}, {{&q, "query"}, {&k, "key"}, {&v, "value"}},
                kVarlenOp);
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
  set_grads(p, q, k, out, grad_out, grad_q, grad_k, grad_v);
  const int device = check_backward_tensors(grad_out, q, k, v, nullptr, out, lse, grad_q, grad_k,
                                            grad_v, kVarlenOp);
  require_device(device, kVarlenOp);
  py::gil_scoped_release nogil;
  DeviceGuard guard(device);
  attn::varlen_backward(q.dtype, device, p, cu_q.data_as<int64_t>(), cu_k.data_as<int64_t>(),
                        cu_q.shape[0] - 1, kVarlenOp);
}

}  // namespace

void bind_attention_test_hooks(py::module_& m);

void bind_attention(py::module_& m) {
  m.def("attention_forward", &attention_forward, py::arg("query"), py::arg("key"), py::arg("value"),
        py::arg("attn_mask"), py::arg("out"), py::arg("lse"), py::arg("is_causal"),
        py::arg("scale"),
        "out = softmax(scale * query key^T + mask) value over 4-D (B, H, T, D) CUDA views "
        "(unit stride on D), float32, float64 (D <= 128), float16 or bfloat16 (float32 "
        "accumulation; tensor cores for D <= 128); lse (B, Hq, Tq) float32 gets the row "
        "log-sum-exp. attn_mask: None, "
        "bool (True = attend) or additive (float32; float64 for float64), 4-D broadcastable "
        "to (B, Hq, Tq, Tk). Fully masked rows give zeros (lse = inf).");
  m.def("attention_backward", &attention_backward, py::arg("grad_out"), py::arg("query"),
        py::arg("key"), py::arg("value"), py::arg("attn_mask"), py::arg("out"), py::arg("lse"),
        py::arg("grad_query"), py::arg("grad_key"), py::arg("grad_value"), py::arg("is_causal"),
        py::arg("scale"),
        "grad_query, grad_key, grad_value (overwritten) from grad_out and the forward's "
        "out and lse; deterministic (no atomics).");
  m.def("attention_varlen_forward", &attention_varlen_forward, py::arg("query"), py::arg("key"),
        py::arg("value"), py::arg("cu_seqlens_q"), py::arg("cu_seqlens_k"), py::arg("out"),
        py::arg("lse"), py::arg("is_causal"), py::arg("scale"),
        "Packed variable-length attention: query (1, Hq, Nq, D), key / value (1, Hkv, Nk, D) "
        "CUDA views, sequence s owning rows [cu[s], cu[s + 1]) (cu_seqlens int64 CPU tensors, "
        "S + 1 offsets); out like query, lse (1, Hq, Nq) float32. Each sequence attends "
        "within itself.");
  m.def("attention_varlen_backward", &attention_varlen_backward, py::arg("grad_out"),
        py::arg("query"), py::arg("key"), py::arg("value"), py::arg("cu_seqlens_q"),
        py::arg("cu_seqlens_k"), py::arg("out"), py::arg("lse"), py::arg("grad_query"),
        py::arg("grad_key"), py::arg("grad_value"), py::arg("is_causal"), py::arg("scale"),
        "grad_query, grad_key, grad_value (overwritten) of attention_varlen_forward.");
  m.attr("attention_max_head_dim") = attn::kMaxHeadDim;
  bind_attention_test_hooks(m);
}

}  // namespace ember::cuda
