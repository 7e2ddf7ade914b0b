// Binary elementwise ops (arithmetic, comparisons, logical) and where on CUDA,
// with numpy broadcasting of the inputs to out.shape. Same op names, dtype rules
// and error messages as the CPU versions in ember._C (bind_elementwise.cpp).
#include <string>

#include "core/dtype_dispatch.h"
#include "cuda/allocator.h"
#include "cuda/loops.cuh"
#include "cuda/math.cuh"
#include "cuda/ops.h"
#include "cuda/runtime.h"
#include "cuda/stream.h"

namespace ember::cuda {
namespace {

struct BinaryName {
  const char* name;
  BOp op;
};
constexpr BinaryName kBinaryOps[] = {
    {"add", BOp::Add},
    {"sub", BOp::Sub},
    {"mul", BOp::Mul},
    {"div", BOp::Div},
    {"pow", BOp::Pow},
    {"maximum", BOp::Maximum},
    {"minimum", BOp::Minimum},
    {"eq", BOp::Eq},
    {"ne", BOp::Ne},
    {"lt", BOp::Lt},
    {"le", BOp::Le},
    {"gt", BOp::Gt},
    {"ge", BOp::Ge},
    {"logical_and", BOp::LogicalAnd},
    {"logical_or", BOp::LogicalOr},
    {"logical_xor", BOp::LogicalXor},
};

BOp parse_op(const std::string& name) {
  for (const auto& e : kBinaryOps) {
    if (name == e.name) return e.op;
  }
  throw ValueError(
      cat_str("ember.binary: unknown op '", name,
              "' (expected one of: add, sub, mul, div, pow, maximum, minimum, eq, ne, lt, le, gt, "
              "ge, logical_and, logical_or, logical_xor)"));
}

bool is_float(DType t) { return t == DType::Float32 || t == DType::Float64; }
bool is_int(DType t) { return t == DType::Int8 || t == DType::Int32 || t == DType::Int64; }

bool binary_supports(BOp op, DType t) {
  if (bop_is_logical(op)) return t == DType::Bool;
  if (bop_is_compare(op)) return is_float(t) || is_int(t) || t == DType::Bool;
  if (op == BOp::Div) return is_float(t);
  return is_float(t) || is_int(t);
}

// Shapes as the CPU checks them: every input broadcasts to the output shape.
void check_broadcast(const char* name, std::initializer_list<const TensorImpl*> inputs,
                     const TensorImpl& out, const std::string& shapes) {
  for (const TensorImpl* t : inputs) {
    bool ok = t->shape.size() <= out.shape.size();
    const size_t lead = ok ? out.shape.size() - t->shape.size() : 0;
    for (size_t d = 0; ok && d < t->shape.size(); ++d)
      ok = t->shape[d] == 1 || t->shape[d] == out.shape[lead + d];
    EMBER_CHECK(ok, ValueError, name, ": shapes ", shapes, " do not broadcast to the output shape ",
                shape_str(out.shape));
  }
}

template <BOp Op, typename T>
struct BinaryFn {
  EMBER_HD auto operator()(T a, T b) const { return binary_value<Op, T>(a, b); }
};

// Bits move unchanged (by element size), cond bytes read as "nonzero".
template <typename U>
struct WhereFn {
  EMBER_HD U operator()(uint8_t c, U a, U b) const { return c != 0 ? a : b; }
};

// *flag = 1 if any element is negative (a benign race: every writer stores 1).
template <typename I, typename T>
__global__ void any_negative_kernel(int64_t n, Indexer<I, 1> ix, const T* v, int* flag) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    I off[1];
    ix.offsets(static_cast<I>(i), off);
    if (v[off[0]] < T(0)) *flag = 1;
  }
}

// Integer pow: like the CPU (and numpy), a negative exponent anywhere is a
// ValueError, found before anything is written. Waits for the device.
template <typename T>
void check_nonnegative(int device, const TensorImpl& t, const char* op) {
  const int64_t n = t.numel();
  if (n == 0) return;
  const Collapsed<1> c = collapse<1>(t.shape, {&t.strides}, op);
  Block flag = device_alloc(device, sizeof(int));
  int found = 0;
  try {
    EMBER_CUDA_CHECK(cudaMemsetAsync(flag.ptr, 0, sizeof(int), current_stream()), op);
    int* f = static_cast<int*>(flag.ptr);
    const unsigned grid = detail::grid_for(n, device);
    if (c.fits32) {
      any_negative_kernel<uint32_t, T><<<grid, kThreads, 0, current_stream()>>>(
          n, make_indexer<uint32_t>(c), t.data_as<T>(), f);
    } else {
      any_negative_kernel<int64_t, T>
          <<<grid, kThreads, 0, current_stream()>>>(n, make_indexer<int64_t>(c), t.data_as<T>(), f);
    }
    EMBER_CUDA_CHECK_LAUNCH(op);
    EMBER_CUDA_CHECK(cudaMemcpy(&found, f, sizeof(int), cudaMemcpyDeviceToHost), op);
  } catch (...) {
    device_free(device, flag);
    throw;
  }
  device_free(device, flag);
  EMBER_CHECK(found == 0, ValueError, op, ": integers to negative integer powers are not allowed");
}

template <BOp Op, typename T>
void launch_binary(const char* name, int device, const TensorImpl& a, const Shape& sa,
                   const TensorImpl& b, const Shape& sb, const TensorImpl& out) {
  // Only the (op, dtype) pairs the checks let through are compiled. Bool arrives
  // as uint8_t (compared as bytes, never loaded as a C++ bool, as on the CPU).
  constexpr bool is_byte = std::is_same_v<T, uint8_t>;
  constexpr bool arith = bop_is_arith(Op) && !is_byte && !(Op == BOp::Div && std::is_integral_v<T>);
  constexpr bool compare = bop_is_compare(Op);
  constexpr bool logical = bop_is_logical(Op) && is_byte;
  if constexpr (arith || compare || logical) {
    using Out = std::conditional_t<arith, T, bool>;
    if constexpr (Op == BOp::Pow && std::is_integral_v<T>) check_nonnegative<T>(device, b, name);
    run_elementwise(name, device, BinaryFn<Op, T>{}, out.shape,
                    Arg<Out>{out.data_as<Out>(), &out.strides}, Arg<const T>{a.data_as<T>(), &sa},
                    Arg<const T>{b.data_as<T>(), &sb});
  }
}

template <typename T>
void binary_typed(BOp op, const char* name, int device, const TensorImpl& a, const Shape& sa,
                  const TensorImpl& b, const Shape& sb, const TensorImpl& out) {
#define EMBER_BINARY_CASE(E) \
  case BOp::E:               \
    return launch_binary<BOp::E, T>(name, device, a, sa, b, sb, out);
  switch (op) {
    EMBER_BINARY_CASE(Add)
    EMBER_BINARY_CASE(Sub)
    EMBER_BINARY_CASE(Mul)
    EMBER_BINARY_CASE(Div)
    EMBER_BINARY_CASE(Pow)
    EMBER_BINARY_CASE(Maximum)
    EMBER_BINARY_CASE(Minimum)
    EMBER_BINARY_CASE(Eq)
    EMBER_BINARY_CASE(Ne)
    EMBER_BINARY_CASE(Lt)
    EMBER_BINARY_CASE(Le)
    EMBER_BINARY_CASE(Gt)
    EMBER_BINARY_CASE(Ge)
    EMBER_BINARY_CASE(LogicalAnd)
    EMBER_BINARY_CASE(LogicalOr)
    EMBER_BINARY_CASE(LogicalXor)
  }
#undef EMBER_BINARY_CASE
}

}  // namespace

void binary(const std::string& op_name, const TensorImpl& a, const TensorImpl& b,
            const TensorImpl& out) {
  const BOp op = parse_op(op_name);
  const std::string name_s = "ember." + op_name;
  const char* name = name_s.c_str();
  const int device =
      common_device(name, {{"first input", &a}, {"second input", &b}, {"output", &out}});
  check_same_dtype(a, b, name);
  if (bop_is_arith(op)) {
    EMBER_CHECK(out.dtype == a.dtype, TypeError, name, ": output dtype ", dtype_name(out.dtype),
                " differs from the input dtype ", dtype_name(a.dtype));
  } else {
    check_dtype(out, DType::Bool, name, "output");
  }
  EMBER_CHECK(op != BOp::Div || !is_int(a.dtype), TypeError, name,
              ": not supported for integer dtype ", dtype_name(a.dtype),
              " (convert to a float dtype first)");
  EMBER_CHECK(binary_supports(op, a.dtype), TypeError, name, ": not supported for dtype ",
              dtype_name(a.dtype));
  check_broadcast(name, {&a, &b}, out, cat_str(shape_str(a.shape), " and ", shape_str(b.shape)));
  check_output_aliasing(out, {{&a, "first input"}, {&b, "second input"}}, name);
  const Shape sa = broadcast_strides(a, out.shape, name);
  const Shape sb = broadcast_strides(b, out.shape, name);
  if (out.numel() == 0) return;
  require_device(device, name);
  DeviceGuard guard(device);
  switch (a.dtype) {
    case DType::Bool:
      return binary_typed<uint8_t>(op, name, device, a, sa, b, sb, out);
    case DType::Int8:
      return binary_typed<int8_t>(op, name, device, a, sa, b, sb, out);
    case DType::Int32:
      return binary_typed<int32_t>(op, name, device, a, sa, b, sb, out);
    case DType::Int64:
      return binary_typed<int64_t>(op, name, device, a, sa, b, sb, out);
    case DType::Float32:
      return binary_typed<float>(op, name, device, a, sa, b, sb, out);
    case DType::Float64:
      return binary_typed<double>(op, name, device, a, sa, b, sb, out);
    default:
      return;
  }
}

void where(const TensorImpl& cond, const TensorImpl& a, const TensorImpl& b,
           const TensorImpl& out) {
  const char* name = "ember.where";
  const int device = common_device(
      name, {{"condition", &cond}, {"first input", &a}, {"second input", &b}, {"output", &out}});
  check_dtype(cond, DType::Bool, name, "condition");
  check_same_dtype(a, b, name);
  check_same_dtype(a, out, name);
  check_broadcast(
      name, {&cond, &a, &b}, out,
      cat_str(shape_str(cond.shape), ", ", shape_str(a.shape), " and ", shape_str(b.shape)));
  check_output_aliasing(out, {{&cond, "condition"}, {&a, "first input"}, {&b, "second input"}},
                        name);
  const Shape sc = broadcast_strides(cond, out.shape, name);
  const Shape sa = broadcast_strides(a, out.shape, name);
  const Shape sb = broadcast_strides(b, out.shape, name);
  if (out.numel() == 0) return;
  require_device(device, name);
  DeviceGuard guard(device);
  auto run = [&](auto* tag) {
    using U = std::remove_pointer_t<decltype(tag)>;
    run_elementwise(name, device, WhereFn<U>{}, out.shape, Arg<U>{out.data_as<U>(), &out.strides},
                    Arg<const uint8_t>{cond.data_as<uint8_t>(), &sc},
                    Arg<const U>{a.data_as<U>(), &sa}, Arg<const U>{b.data_as<U>(), &sb});
  };
  switch (out.itemsize()) {
    case 1:
      return run(static_cast<uint8_t*>(nullptr));
    case 2:
      return run(static_cast<uint16_t*>(nullptr));
    case 4:
      return run(static_cast<uint32_t*>(nullptr));
    default:
      return run(static_cast<uint64_t*>(nullptr));
  }
}

}  // namespace ember::cuda
