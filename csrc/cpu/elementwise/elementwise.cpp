// Elementwise driver: op names, dtype routing, strided iteration (NdLoop) and
// threading. float32 goes to the current ISA's row kernels; everything else to
// elementwise_typed.cpp.
#include "cpu/elementwise/elementwise.h"

#include "core/error.h"
#include "core/isa.h"
#include "core/nditer.h"
#include "core/parallel.h"

namespace ember::cpu {
namespace {

const char* const kUnaryNames[kNumUnaryOps] = {
    "neg",  "abs",     "exp",   "log",   "sqrt",      "rsqrt", "sin",   "cos",
    "tanh", "sigmoid", "relu",  "gelu",  "gelu_tanh", "silu",  "clamp", "floor",
    "ceil", "trunc",   "round", "log1p", "expm1",     "erf"};
const char* const kBinaryNames[kNumBinaryOps] = {
    "add", "sub", "mul", "div", "pow", "maximum",     "minimum",    "eq",
    "ne",  "lt",  "le",  "gt",  "ge",  "logical_and", "logical_or", "logical_xor"};

const ElementwiseTable& table() { return EMBER_ISA_TABLE(elementwise_table); }

// Elements per fixed chunk of the contiguous backward pass.
constexpr int64_t kChunk = 16384;

}  // namespace

bool parse_unary_op(const std::string& name, UnaryOp* op) {
  for (int i = 0; i < kNumUnaryOps; ++i)
    if (name == kUnaryNames[i]) {
      *op = static_cast<UnaryOp>(i);
      return true;
    }
  return false;
}

bool parse_binary_op(const std::string& name, BinaryOp* op) {
  for (int i = 0; i < kNumBinaryOps; ++i)
    if (name == kBinaryNames[i]) {
      *op = static_cast<BinaryOp>(i);
      return true;
    }
  return false;
}

bool unary_has_backward(UnaryOp op) {
  switch (op) {
    case UnaryOp::Tanh:
    case UnaryOp::Sigmoid:
    case UnaryOp::Relu:
    case UnaryOp::Gelu:
    case UnaryOp::GeluTanh:
    case UnaryOp::Silu:
    case UnaryOp::Clamp:
      return true;
    default:
      return false;
  }
}

bool unary_supports(UnaryOp op, DType t) {
  switch (t) {
    case DType::Float32:
    case DType::Float64:
      return true;
    case DType::Int8:
    case DType::Int32:
    case DType::Int64:
      return op == UnaryOp::Neg || op == UnaryOp::Abs || op == UnaryOp::Relu ||
             op == UnaryOp::Clamp;
    default:
      return false;
  }
}

bool binary_supports(BinaryOp op, DType t) {
  const bool is_float = t == DType::Float32 || t == DType::Float64;
  const bool is_int = t == DType::Int8 || t == DType::Int32 || t == DType::Int64;
  if (is_logical(op)) return t == DType::Bool;
  if (is_comparison(op)) return is_float || is_int || t == DType::Bool;
  if (op == BinaryOp::Div) return is_float;
  return is_float || is_int;
}

void unary(UnaryOp op, const TensorImpl& x, const TensorImpl& out, double alpha, double beta) {
  if (x.dtype != DType::Float32) return typed::unary(op, x, out, alpha, beta);
  const UnaryRowF row = table().unary[static_cast<int>(op)];
  const float a = static_cast<float>(alpha), b = static_cast<float>(beta);
  NdLoop<2> loop(out.shape, {&out.strides, &x.strides});
  loop.run({out.data(), x.data()}, {4, 4},
           [&](std::array<char*, 2> p, std::array<int64_t, 2> s, int64_t n) {
             row(reinterpret_cast<float*>(p[0]), reinterpret_cast<const float*>(p[1]), n, s[0],
                 s[1], a, b);
           });
}

void unary_backward(UnaryOp op, const TensorImpl& x, const TensorImpl& y,
                    const TensorImpl& grad_out, const TensorImpl& grad_in, double alpha,
                    double beta) {
  const int64_t n = grad_in.numel();
  if (x.dtype == DType::Float64) {
    const double* px = x.data_as<double>();
    const double* py = y.data_as<double>();
    const double* pg = grad_out.data_as<double>();
    double* pgi = grad_in.data_as<double>();
    parallel_chunks(n, kChunk, 1, [&](int64_t b, int64_t e) {
      typed::unary_backward_f64(op, px + b, py + b, pg + b, pgi + b, e - b, alpha, beta);
    });
    return;
  }
  const UnaryBackwardRowF row = table().unary_backward[static_cast<int>(op)];
  const float fa = static_cast<float>(alpha), fb = static_cast<float>(beta);
  const float* px = x.data_as<float>();
  const float* py = y.data_as<float>();
  const float* pg = grad_out.data_as<float>();
  float* pgi = grad_in.data_as<float>();
  parallel_chunks(n, kChunk, 1, [&](int64_t b, int64_t e) {
    row(pgi + b, pg + b, px + b, py + b, e - b, fa, fb);
  });
}

void binary(BinaryOp op, const TensorImpl& a, const TensorImpl& b, const TensorImpl& out) {
  const char* name = "ember.binary";
  const Shape sa = broadcast_strides(a, out.shape, name);
  const Shape sb = broadcast_strides(b, out.shape, name);
  if (op == BinaryOp::Pow && b.dtype != DType::Float32 && b.dtype != DType::Float64)
    typed::check_nonnegative(b, "ember.pow");  // before anything is written
  if (a.dtype != DType::Float32 || !is_arith(op) || op == BinaryOp::Pow)
    return typed::binary(op, a, sa, b, sb, out);
  const BinaryRowF row = table().binary[static_cast<int>(op)];
  NdLoop<3> loop(out.shape, {&out.strides, &sa, &sb});
  loop.run({out.data(), a.data(), b.data()}, {4, 4, 4},
           [&](std::array<char*, 3> p, std::array<int64_t, 3> s, int64_t n) {
             row(reinterpret_cast<float*>(p[0]), reinterpret_cast<const float*>(p[1]),
                 reinterpret_cast<const float*>(p[2]), n, s[0], s[1], s[2]);
           });
}

void where(const TensorImpl& cond, const TensorImpl& a, const TensorImpl& b,
           const TensorImpl& out) {
  const char* name = "ember.where";
  typed::where(cond, broadcast_strides(cond, out.shape, name), a,
               broadcast_strides(a, out.shape, name), b, broadcast_strides(b, out.shape, name),
               out);
}

}  // namespace ember::cpu
