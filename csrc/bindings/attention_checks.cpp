#include "bindings/attention_checks.h"

#include "core/error.h"
#include "core/overlap.h"

namespace ember::bindings {
namespace {

constexpr const char* kOp = "ember.scaled_dot_product_attention";
constexpr const char* kVarlenOp = "ember.nn.functional.varlen_attention";

// A 4-D tensor on the device with unit stride along D, of a dtype `ok` admits.
void check_operand(const AttnDevice& dev, bool (*ok)(DType), const TensorImpl& t, const char* arg,
                   const char* layout) {
  check_device(t, dev.type, kOp, arg);
  EMBER_CHECK(t.ndim() == 4, ValueError, kOp, ": expected a 4-D ", arg, " ", layout, ", got shape ",
              shape_str(t.shape));
  EMBER_CHECK(ok(t.dtype), TypeError, kOp, ": ", arg, " has dtype ", dtype_name(t.dtype),
              ", expected ", dev.dtypes);
  EMBER_CHECK(t.shape[3] <= 1 || t.strides[3] == 1, ValueError, kOp, ": ", arg, " of shape ",
              shape_str(t.shape), " and strides ", shape_str(t.strides),
              " needs unit stride along the head dim");
}

// An operand of ref's dtype (which its own check admitted) and shape want.
void check_like(const AttnDevice& dev, const TensorImpl& t, const TensorImpl& ref,
                const Shape& want, const char* arg) {
  check_operand(dev, dev.takes, t, arg, "");
  EMBER_CHECK(t.dtype == ref.dtype, TypeError, kOp, ": ", arg, " has dtype ", dtype_name(t.dtype),
              ", expected ", dtype_name(ref.dtype), " (the dtype of query)");
  EMBER_CHECK(t.shape == want, ValueError, kOp, ": ", arg, " has shape ", shape_str(t.shape),
              ", expected ", shape_str(want));
}

// The dtype the kernels accumulate scores and softmax in: float64 for float64 operands, else
// float32 (16-bit operands too). Additive masks and lse come in it.
DType acc_dtype(DType q_dtype) {
  return q_dtype == DType::Float64 ? DType::Float64 : DType::Float32;
}

// The broadcast strides of a mask over `full` = (B, Hq, Tq, Tk).
Shape check_mask(DeviceType dev, const TensorImpl& m, DType q_dtype, const Shape& full) {
  check_device(m, dev, kOp, "attn_mask");
  const DType add = acc_dtype(q_dtype);
  EMBER_CHECK(m.dtype == DType::Bool || m.dtype == add, TypeError, kOp, ": attn_mask has dtype ",
              dtype_name(m.dtype), ", expected bool or ", dtype_name(add), " (query is ",
              dtype_name(q_dtype), ")");
  bool ok = m.ndim() == 4;
  for (int d = 0; ok && d < 4; ++d) ok = m.shape[d] == 1 || m.shape[d] == full[d];
  EMBER_CHECK(ok, ValueError, kOp, ": attn_mask of shape ", shape_str(m.shape),
              " does not broadcast to (B, Hq, Tq, Tk) = ", shape_str(full));
  return broadcast_strides(m, full, kOp);
}

// One cu_seqlens tensor: 1-D int64 on the CPU, S + 1 offsets from 0 to `total`,
// non-decreasing.
void check_offsets(const TensorImpl& cu, int64_t total, const char* arg) {
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

}  // namespace

AttnShape check_attention(const AttnDevice& dev, const TensorImpl& q, const TensorImpl& k,
                          const TensorImpl& v, const TensorImpl* mask, const TensorImpl& out,
                          const TensorImpl& lse) {
  check_operand(dev, dev.operands, q, "query", "(B, Hq, Tq, D)");
  check_operand(dev, dev.operands, k, "key", "(B, Hkv, Tk, D)");
  check_operand(dev, dev.operands, v, "value", "(B, Hkv, Tk, D)");
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
  EMBER_CHECK(D >= 1 && D <= dev.max_head_dim, ValueError, kOp, ": head dim D = ", D, " (query ",
              shape_str(q.shape), ") is not supported, expected 1 <= D <= ", dev.max_head_dim);
  EMBER_CHECK(Hkv >= 1 && Hq % Hkv == 0, ValueError, kOp, ": query heads ", Hq,
              " must be a multiple of key/value heads ", Hkv, " (query ", shape_str(q.shape),
              ", key ", shape_str(k.shape), ")");
  check_like(dev, out, q, {B, Hq, Tq, D}, "out");
  check_writable(out, kOp, "out");
  check_device(lse, dev.type, kOp, "lse");
  const DType lse_dtype = acc_dtype(q.dtype);
  EMBER_CHECK(lse.dtype == lse_dtype, TypeError, kOp, ": lse has dtype ", dtype_name(lse.dtype),
              ", expected ", dtype_name(lse_dtype), " (query is ", dtype_name(q.dtype), ")");
  check_contiguous(lse, kOp, "lse");
  EMBER_CHECK(lse.shape == Shape({B, Hq, Tq}), ValueError, kOp, ": lse has shape ",
              shape_str(lse.shape), ", expected ", shape_str({B, Hq, Tq}));
  AttnShape s{B, Hq, Hkv, Tq, Tk, D, {}};
  if (mask != nullptr) s.mask_strides = check_mask(dev.type, *mask, q.dtype, {B, Hq, Tq, Tk});
  check_no_overlap(out, q, kOp, "out", "query");
  check_no_overlap(out, k, kOp, "out", "key");
  check_no_overlap(out, v, kOp, "out", "value");
  return s;
}

void check_attention_varlen(const TensorImpl& q, const TensorImpl& k, const TensorImpl& cu_q,
                            const TensorImpl& cu_k) {
  EMBER_CHECK(q.shape[0] == 1, ValueError, kVarlenOp,
              ": expected the packed operands as batch-1 views, got query ", shape_str(q.shape));
  check_offsets(cu_q, q.shape[2], "cu_seqlens_q");
  check_offsets(cu_k, k.shape[2], "cu_seqlens_k");
  EMBER_CHECK(cu_q.shape[0] == cu_k.shape[0], ValueError, kVarlenOp,
              ": cu_seqlens_q and cu_seqlens_k must count the same sequences, got ",
              cu_q.shape[0] - 1, " and ", cu_k.shape[0] - 1);
}

void check_attention_outputs(const TensorImpl& q, const TensorImpl& k, const TensorImpl& v,
                             const TensorImpl* mask, const TensorImpl& out, const TensorImpl& lse,
                             const TensorImpl* cu_q, const TensorImpl* cu_k, const char* op) {
  check_outputs({{&out, "out"}, {&lse, "lse"}},
                {{&q, "query"},
                 {&k, "key"},
                 {&v, "value"},
                 {mask, "attn_mask"},
                 {cu_q, "cu_seqlens_q"},
                 {cu_k, "cu_seqlens_k"}},
                op);
}

void check_attention_grads(const AttnDevice& dev, const TensorImpl& q, const TensorImpl& k,
                           const TensorImpl& v, const TensorImpl* mask, const TensorImpl& out,
                           const TensorImpl& lse, const TensorImpl& grad_out,
                           const TensorImpl& grad_q, const TensorImpl& grad_k,
                           const TensorImpl& grad_v, const TensorImpl* cu_q, const TensorImpl* cu_k,
                           const char* op) {
  check_like(dev, grad_out, q, out.shape, "grad_out");
  check_like(dev, grad_q, q, q.shape, "grad_query");
  check_like(dev, grad_k, q, k.shape, "grad_key");
  check_like(dev, grad_v, q, k.shape, "grad_value");
  check_outputs({{&grad_q, "grad_query"}, {&grad_k, "grad_key"}, {&grad_v, "grad_value"}},
                {{&q, "query"},
                 {&k, "key"},
                 {&v, "value"},
                 {&out, "out"},
                 {&grad_out, "grad_out"},
                 {&lse, "lse"},
                 {mask, "attn_mask"},
                 {cu_q, "cu_seqlens_q"},
                 {cu_k, "cu_seqlens_k"}},
                op);
}

}  // namespace ember::bindings
