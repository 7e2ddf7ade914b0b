#include "bindings/qgemm_checks.h"

#include <cmath>

#include "bindings/checks.h"
#include "core/error.h"
#include "core/overlap.h"

namespace ember::bindings {
namespace {

void check_on(DeviceType dev, const TensorImpl& t, const char* op, const char* arg) {
  check_device(t, dev, op, arg);
  check_contiguous(t, op, arg);
}

// A contiguous 2-D tensor of dtype dt on dev; returns its (rows, cols).
std::pair<int64_t, int64_t> matrix(DeviceType dev, const TensorImpl& t, DType dt, const char* op,
                                   const char* arg) {
  check_on(dev, t, op, arg);
  check_dtype(t, dt, op, arg);
  EMBER_CHECK(t.ndim() == 2, ValueError, op, ": ", arg, " must be 2-D, got shape ",
              shape_str(t.shape));
  return {t.shape[0], t.shape[1]};
}

// When given: a contiguous tensor of dtype dt on dev with n elements (one per row).
void row_vec(DeviceType dev, const TensorImpl* t, int64_t n, DType dt, const char* op,
             const char* arg) {
  if (!t) return;
  check_on(dev, *t, op, arg);
  check_dtype(*t, dt, op, arg);
  EMBER_CHECK(t->numel() == n, ValueError, op, ": ", arg, " of shape ", shape_str(t->shape),
              " must have ", n, " elements (one per row)");
}

void check_k(int64_t k, const char* op) {
  EMBER_CHECK(k >= 1 && k <= kQgemmMaxK, ValueError, op, ": K (the input features) must be ",
              "in [1, ", kQgemmMaxK, "] for exact int32 accumulation, got ", k);
}

void check_packed(DeviceType dev, const TensorImpl& packed, int64_t n, int64_t k, const char* op,
                  QgemmPackedBytes packed_bytes) {
  check_on(dev, packed, op, "packed weight");
  check_dtype(packed, DType::Int8, op, "packed weight");
  const int64_t bytes = packed_bytes(n, k);
  EMBER_CHECK(packed.shape == Shape{bytes}, ValueError, op, ": packed weight of shape ",
              shape_str(packed.shape), " does not hold an (", n, ", ", k,
              ") int8 weight (expected shape (", bytes, ",))");
}

}  // namespace

std::pair<int64_t, int64_t> check_qgemm_pack(DeviceType dev, const TensorImpl& w,
                                             const TensorImpl& packed, const TensorImpl& colsum,
                                             QgemmPackedBytes packed_bytes) {
  const char* op = kQgemmPack;
  auto [n, k] = matrix(dev, w, DType::Int8, op, "weight");
  check_k(k, op);
  EMBER_CHECK(n >= 1, ValueError, op, ": weight of shape ", shape_str(w.shape),
              " has no output channels");
  check_packed(dev, packed, n, k, op, packed_bytes);
  row_vec(dev, &colsum, n, DType::Int32, op, "colsum");
  check_writable(packed, op, "packed");
  check_writable(colsum, op, "colsum");
  check_no_overlap(packed, w, op, "packed", "weight");
  check_no_overlap(colsum, w, op, "colsum", "weight");
  check_no_overlap(packed, colsum, op, "packed", "colsum");
  return {n, k};
}

QgemmDims check_qgemm_product(DeviceType dev, const TensorImpl& x, const TensorImpl& packed,
                              int64_t n, const TensorImpl& out, DType out_dt, const char* op,
                              QgemmPackedBytes packed_bytes) {
  check_device(x, dev, op, "input");
  check_dtype(x, DType::Int8, op, "input");
  EMBER_CHECK(x.ndim() == 2, ValueError, op, ": input must be 2-D, got shape ", shape_str(x.shape));
  const int64_t m = x.shape[0], k = x.shape[1];
  const int64_t lda = m > 1 ? x.strides[0] : k;
  EMBER_CHECK((k == 1 || x.strides[1] == 1) && lda >= k, ValueError, op,
              ": input rows must be contiguous with a row stride >= K, got strides ",
              shape_str(x.strides), " for shape ", shape_str(x.shape));
  check_k(k, op);
  EMBER_CHECK(n >= 1, ValueError, op, ": the weight must have at least one output channel");
  check_packed(dev, packed, n, k, op, packed_bytes);
  check_on(dev, out, op, "out");
  check_dtype(out, out_dt, op, "out");
  check_shape(out, Shape{m, n}, op, "out");
  check_writable(out, op, "out");
  check_no_overlap(out, x, op, "out", "input");
  check_no_overlap(out, packed, op, "out", "packed weight");
  return {m, k, lda};
}

void check_qgemm_epilogue(DeviceType dev, int64_t m, int64_t n, const TensorImpl& a_scale,
                          const TensorImpl& a_zero, const TensorImpl& colsum,
                          const TensorImpl& w_scale, const TensorImpl* bias, int act,
                          const TensorImpl& out) {
  const char* op = kQgemmLinear;
  row_vec(dev, &a_scale, m, DType::Float32, op, "a_scale");
  row_vec(dev, &a_zero, m, DType::Int32, op, "a_zero");
  row_vec(dev, &colsum, n, DType::Int32, op, "colsum");
  row_vec(dev, &w_scale, n, DType::Float32, op, "w_scale");
  row_vec(dev, bias, n, DType::Float32, op, "bias");
  check_range(act, 0, 2, op, "activation code");
  for (const TensorImpl* t : {&a_scale, &a_zero, &colsum, &w_scale, bias})
    if (t) check_no_overlap(out, *t, op, "out", "a scale, zero point, colsum or bias");
}

void qgemm_bad_zero(int64_t row, int64_t zero) {
  throw ValueError(cat_str(kQgemmLinear, ": a_zero[", row, "] = ", zero, " is outside [0, 255]"));
}

std::pair<int64_t, int64_t> check_qgemm_quantize(DeviceType dev, const TensorImpl& x,
                                                 const TensorImpl& q, const TensorImpl& scale,
                                                 const TensorImpl& zero) {
  const char* op = kQgemmQuant;
  auto [m, k] = matrix(dev, x, DType::Float32, op, "input");
  check_on(dev, q, op, "q");
  check_dtype(q, DType::Int8, op, "q");
  check_shape(q, x.shape, op, "q");
  row_vec(dev, &scale, m, DType::Float32, op, "scale");
  row_vec(dev, &zero, m, DType::Int32, op, "zero");
  for (const TensorImpl* t : {&q, &scale, &zero}) {
    check_writable(*t, op, "an output");
    check_no_overlap(*t, x, op, "an output", "input");
  }
  check_no_overlap(q, scale, op, "q", "scale");
  check_no_overlap(q, zero, op, "q", "zero");
  check_no_overlap(scale, zero, op, "scale", "zero");
  return {m, k};
}

float check_qgemm_static(DeviceType dev, const TensorImpl& x, double scale, int64_t zero,
                         const TensorImpl& q) {
  const char* op = kQgemmStatic;
  check_on(dev, x, op, "input");
  check_dtype(x, DType::Float32, op, "input");
  check_on(dev, q, op, "q");
  check_dtype(q, DType::Int8, op, "q");
  check_shape(q, x.shape, op, "q");
  const float s = static_cast<float>(scale);
  EMBER_CHECK(std::isfinite(s) && s > 0.0f, ValueError, op,
              ": scale must be a positive finite float32, got ", scale);
  check_range(zero, 0, 255, op, "zero point");
  check_writable(q, op, "q");
  check_no_overlap(q, x, op, "q", "input");
  return s;
}

}  // namespace ember::bindings
