// Elementwise kernels: unary ops (forward and fused backward), binary
// arithmetic / comparison / logical ops with numpy broadcasting, and where().
//
// float32 runs through per-ISA row kernels (elementwise_kernels.cpp, compiled
// once per ISA into a table of function pointers); float64, integers, bool,
// comparisons and where are plain C++ (elementwise_typed.cpp). The driver
// (elementwise.cpp) walks any strides with NdLoop, which also does the
// threading in fixed chunks (bitwise the same result for any thread count).
// Arguments are validated by the bindings; the kernels trust them.
#pragma once
#include <cstdint>
#include <string>

#include "core/isa.h"
#include "core/tensor_impl.h"

namespace ember::cpu {

enum class UnaryOp : int {
  Neg,
  Abs,
  Exp,
  Log,
  Sqrt,
  Rsqrt,
  Sin,
  Cos,
  Tanh,
  Sigmoid,
  Relu,
  Gelu,      // x/2 (1 + erf(x/sqrt2))
  GeluTanh,  // x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
  Silu,
  Clamp,  // alpha = min, beta = max
  Floor,
  Ceil,
  Trunc,
  Round,  // half to even; alpha = decimals (torch's scaling by 10^|decimals|)
  Log1p,
  Expm1,
  Erf,
};
constexpr int kNumUnaryOps = 22;

enum class BinaryOp : int {
  // arithmetic: a, b, out of one dtype
  Add,
  Sub,
  Mul,
  Div,
  Pow,
  Maximum,  // NaN-propagating, like numpy
  Minimum,
  // comparisons: a, b of one dtype, out bool
  Eq,
  Ne,
  Lt,
  Le,
  Gt,
  Ge,
  // logical: all bool
  LogicalAnd,
  LogicalOr,
  LogicalXor,
};
constexpr int kNumBinaryOps = 16;
constexpr int kNumArithOps = 7;  // Add .. Minimum

// Name -> op; false for unknown names.
bool parse_unary_op(const std::string& name, UnaryOp* op);
bool parse_binary_op(const std::string& name, BinaryOp* op);
inline bool is_arith(BinaryOp op) { return static_cast<int>(op) < kNumArithOps; }
inline bool is_comparison(BinaryOp op) { return op >= BinaryOp::Eq && op <= BinaryOp::Ge; }
inline bool is_logical(BinaryOp op) { return op >= BinaryOp::LogicalAnd; }
// Ops with a fused backward: tanh, sigmoid, relu, gelu, gelu_tanh, silu, clamp.
bool unary_has_backward(UnaryOp op);
// Whether the op is defined for the dtype (float32/64: all; int8/32/64: neg, abs,
// relu, clamp). Binary: see bind_elementwise.cpp for the dtype rules.
bool unary_supports(UnaryOp op, DType t);
bool binary_supports(BinaryOp op, DType t);

// out = op(x); x, out: same shape and dtype, any strides, out may be x.
void unary(UnaryOp op, const TensorImpl& x, const TensorImpl& out, double alpha, double beta);
// grad_in = grad_out * op'(x) (tanh / sigmoid read y = op(x)); all contiguous, same
// shape, float32 or float64.
void unary_backward(UnaryOp op, const TensorImpl& x, const TensorImpl& y,
                    const TensorImpl& grad_out, const TensorImpl& grad_in, double alpha,
                    double beta);
// out = op(a, b) with a and b broadcast to out.shape; out may alias a or b.
// Integer pow checks for negative exponents first (ValueError, nothing written).
void binary(BinaryOp op, const TensorImpl& a, const TensorImpl& b, const TensorImpl& out);
// out = cond ? a : b, all broadcast to out.shape.
void where(const TensorImpl& cond, const TensorImpl& a, const TensorImpl& b, const TensorImpl& out);

// ---- per-ISA float32 row kernels (strides in elements)
using UnaryRowF = void (*)(float* out, const float* x, int64_t n, int64_t s_out, int64_t s_x,
                           float alpha, float beta);
// Contiguous rows: gin[i] = gout[i] * op'(x[i]) (y[i] = op(x[i]) where used).
using UnaryBackwardRowF = void (*)(float* gin, const float* gout, const float* x, const float* y,
                                   int64_t n, float alpha, float beta);
using BinaryRowF = void (*)(float* out, const float* a, const float* b, int64_t n, int64_t s_out,
                            int64_t s_a, int64_t s_b);

struct ElementwiseTable {
  UnaryRowF unary[kNumUnaryOps];
  UnaryBackwardRowF unary_backward[kNumUnaryOps];  // null where there is no backward
  BinaryRowF binary[kNumArithOps];                 // null for Pow (scalar, typed path)
};

}  // namespace ember::cpu

EMBER_ISA_TABLES(cpu::ElementwiseTable, elementwise_table)

namespace ember::cpu::typed {
// The non-float32 paths (elementwise_typed.cpp), plus float32 pow and comparisons.
void unary(UnaryOp op, const TensorImpl& x, const TensorImpl& out, double alpha, double beta);
void unary_backward_f64(UnaryOp op, const double* x, const double* y, const double* gout,
                        double* gin, int64_t n, double alpha, double beta);
// Arithmetic (float32 only for pow), comparison and logical ops over broadcast strides.
void binary(BinaryOp op, const TensorImpl& a, const Shape& a_strides, const TensorImpl& b,
            const Shape& b_strides, const TensorImpl& out);
// Throws ValueError if an integer tensor holds a negative value (pow exponent check).
void check_nonnegative(const TensorImpl& t, const char* op);
void where(const TensorImpl& cond, const Shape& cond_strides, const TensorImpl& a,
           const Shape& a_strides, const TensorImpl& b, const Shape& b_strides,
           const TensorImpl& out);
}  // namespace ember::cpu::typed
