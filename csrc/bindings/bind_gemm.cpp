// Linear algebra: the strided batched GEMM with fused epilogue (gemm) and the plain
// contiguous batched matmul (matmul) on top of it. Every check runs before a kernel touches
// memory; the kernels run without the GIL.
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>

#include "bindings/bindings.h"
#include "bindings/checks.h"
#include "core/error.h"
#include "core/gemm_checks.h"
#include "cpu/amx/amx.h"
#include "cpu/gemm/gemm.h"
#include "cpu/gemm/gemm_amx.h"

namespace ember::bindings {
namespace {

constexpr const char* kMatmul = "ember.matmul";
// Bounds of the tuning hooks' arguments: a block of 2^20 rows is far past any cache, and
// the micro-kernel benchmark runs at most 2^28 k-steps per thread (seconds).
constexpr int64_t kMaxBlock = int64_t{1} << 20;
constexpr int64_t kMaxBenchK = 4096;
constexpr int64_t kMaxBenchWork = int64_t{1} << 28;

cpu::GemmAct parse_activation(const std::string& name) {
  if (name == "none") return cpu::GemmAct::None;
  if (name == "relu") return cpu::GemmAct::Relu;
  if (name == "gelu") return cpu::GemmAct::Gelu;
  if (name == "gelu_tanh") return cpu::GemmAct::GeluTanh;
  throw ValueError(cat_str(kMatmul, ": unknown activation '", name,
                           "' (expected one of: none, relu, gelu, gelu_tanh)"));
}

void check_operands(TensorRef a, TensorRef b, TensorRef out) {
  check_device(a, DeviceType::CPU, kMatmul, "a");
  check_device(b, DeviceType::CPU, kMatmul, "b");
  check_device(out, DeviceType::CPU, kMatmul, "out");
  check_gemm_shapes(a, b, out);
}

template <typename T>
cpu::GemmOperand<T> operand(const TensorImpl& t) {
  return {t.data_as<T>(), t.strides[0], t.strides[1], t.strides[2]};
}

// tile_model: bf16 only, on the AMX path's software tile model (gemm_bf16_tile_model).
void gemm(TensorRef a, TensorRef b, TensorRef out, double alpha, double beta,
          const TensorImpl* bias, const std::string& activation, bool tile_model = false) {
  check_operands(a, b, out);
  const bool f32 =
      a.dtype == DType::Float32 && b.dtype == DType::Float32 && out.dtype == DType::Float32;
  const bool f64 =
      a.dtype == DType::Float64 && b.dtype == DType::Float64 && out.dtype == DType::Float64;
  const bool bf16 =
      a.dtype == DType::BFloat16 && b.dtype == DType::BFloat16 && out.dtype == DType::Float32;
  EMBER_CHECK(f32 || f64 || bf16, TypeError, kMatmul, ": unsupported dtypes (a ",
              dtype_name(a.dtype), ", b ", dtype_name(b.dtype), ", out ", dtype_name(out.dtype),
              "); expected all float32, all float64, or bfloat16 a and b with a float32 out");
  EMBER_CHECK(bf16 || !tile_model, TypeError, kMatmul,
              ": the AMX tile model computes bfloat16 a and b with a float32 out, got a ",
              dtype_name(a.dtype), ", b ", dtype_name(b.dtype), ", out ", dtype_name(out.dtype));
  const int64_t N = out.shape[2];
  if (bias) check_device(*bias, DeviceType::CPU, kMatmul, "bias");
  check_gemm_bias(bias, out);
  const cpu::GemmAct act = parse_activation(activation);
  check_gemm_output(out, a, b, bias);
  const int64_t B = a.shape[0], M = a.shape[1], K = a.shape[2];
  py::gil_scoped_release nogil;
  if (f32) {
    cpu::gemm_f32(B, M, N, K, static_cast<float>(alpha), operand<float>(a), operand<float>(b),
                  static_cast<float>(beta), {out.data_as<float>(), out.strides[0], out.strides[1]},
                  bias ? bias->data_as<float>() : nullptr, act);
  } else if (f64) {
    cpu::gemm_f64(B, M, N, K, alpha, operand<double>(a), operand<double>(b), beta,
                  {out.data_as<double>(), out.strides[0], out.strides[1]},
                  bias ? bias->data_as<double>() : nullptr, act);
  } else {
    (tile_model ? cpu::gemm_bf16_tile_model : cpu::gemm_bf16)(
        B, M, N, K, static_cast<float>(alpha), operand<uint16_t>(a), operand<uint16_t>(b),
        static_cast<float>(beta), {out.data_as<float>(), out.strides[0], out.strides[1]},
        bias ? bias->data_as<float>() : nullptr, act);
  }
}

void matmul(TensorRef a, TensorRef b, TensorRef out) {
  check_operands(a, b, out);
  check_matmul_dense(a, b, out);
  gemm(a, b, out, 1.0, 0.0, nullptr, "none");
}

// a (M, K) @ b (K, N), any strides, one float dtype, as a new contiguous (M, N) tensor: the
// whole of a small product in one call (ember.matmul's path when nothing is recorded).
std::shared_ptr<TensorImpl> matmul2d(TensorRef a, TensorRef b) {
  check_device(a, DeviceType::CPU, kMatmul, "a");
  check_device(b, DeviceType::CPU, kMatmul, "b");
  EMBER_CHECK(a.ndim() == 2 && b.ndim() == 2, ValueError, kMatmul,
              ": expected two matrices, got shapes ", shape_str(a.shape), " and ",
              shape_str(b.shape));
  EMBER_CHECK(a.dtype == DType::Float32 || a.dtype == DType::Float64, TypeError, kMatmul,
              ": expected float32 or float64, got ", dtype_name(a.dtype));
  check_same_dtype(a, b, kMatmul);
  const int64_t M = a.shape[0], K = a.shape[1], N = b.shape[1];
  EMBER_CHECK(K == b.shape[0], ValueError, kMatmul, ": shapes ", shape_str(a.shape), " and ",
              shape_str(b.shape), " are not aligned (", K, " != ", b.shape[0], ")");
  auto out = TensorImpl::empty_cpu(Shape{M, N}, a.dtype, kMatmul);
  py::gil_scoped_release nogil;
  if (a.dtype == DType::Float32) {
    cpu::gemm_f32(1, M, N, K, 1.0f, {a.data_as<float>(), 0, a.strides[0], a.strides[1]},
                  {b.data_as<float>(), 0, b.strides[0], b.strides[1]}, 0.0f,
                  {out->data_as<float>(), 0, N}, nullptr, cpu::GemmAct::None);
  } else {
    cpu::gemm_f64(1, M, N, K, 1.0, {a.data_as<double>(), 0, a.strides[0], a.strides[1]},
                  {b.data_as<double>(), 0, b.strides[0], b.strides[1]}, 0.0,
                  {out->data_as<double>(), 0, N}, nullptr, cpu::GemmAct::None);
  }
  return out;
}

py::tuple blocking(bool bf16) {
  int64_t v[5];
  cpu::gemm_get_blocking(v, bf16);
  return py::make_tuple(v[0], v[1], v[2], v[3], v[4]);
}

// gemm with bias as a Python object: pybind11 converts None to a null TensorImpl pointer
// only after looking for a foreign-module conduit attribute on None, a raised and discarded
// AttributeError that cost 0.7 us per call (a 64^3 GEMM takes 7 us).
void gemm_py(TensorRef a, TensorRef b, TensorRef out, double alpha, double beta,
             const py::object& bias, const std::string& activation, bool tile_model = false) {
  if (bias.is_none()) return gemm(a, b, out, alpha, beta, nullptr, activation, tile_model);
  EMBER_CHECK(py::isinstance<TensorImpl>(bias), TypeError, kMatmul,
              ": bias must be a TensorImpl or None, got ",
              std::string(py::str(py::type::of(bias).attr("__name__"))));
  gemm(a, b, out, alpha, beta, &bias.cast<TensorRef>(), activation, tile_model);
}

// Test hook: c (16, 16) float32 += one TDPBF16PS of the software tile model with a and b
// (16, 32) bfloat16 (b: a B tile, 16 pairs of k x 16 channels x 2).
void tile_model_dpbf16ps(TensorRef c, TensorRef a, TensorRef b) {
  constexpr const char* op = "ember._C._gemm_tile_model_dpbf16ps";
  check_cpu_contiguous(c, op, "c");
  check_dtype(c, DType::Float32, op, "c");
  check_shape(c, Shape{16, 16}, op, "c");
  check_writable(c, op, "c");
  for (auto [t, name] : {std::pair{&a, "a"}, std::pair{&b, "b"}}) {
    check_cpu_contiguous(*t, op, name);
    check_dtype(*t, DType::BFloat16, op, name);
    check_shape(*t, Shape{16, 32}, op, name);
    check_no_overlap(c, *t, op, "c", name);
  }
  cpu::amx_tile_model_dpbf16ps(c.data_as<float>(), a.data_as<uint16_t>(), b.data_as<uint16_t>());
}

}  // namespace

void bind_gemm(py::module_& m) {
  m.def("matmul2d", &matmul2d, py::arg("a"), py::arg("b"),
        "a (M, K) @ b (K, N) -> a new (M, N) tensor; float32 or float64, any strides.");
  m.def(
      "gemm",
      [](TensorRef a, TensorRef b, TensorRef out, double alpha, double beta, const py::object& bias,
         const std::string& activation) { gemm_py(a, b, out, alpha, beta, bias, activation); },
      py::arg("a"), py::arg("b"), py::arg("out"), py::arg("alpha") = 1.0, py::arg("beta") = 0.0,
      py::arg("bias") = py::none(), py::arg("activation") = "none",
      "out = act(alpha * a @ b + beta * out + bias) for (B, M, K) a and (B, K, N) b views with "
      "any strides (batch stride 0 broadcasts); out (B, M, N) with unit last stride. float32, "
      "float64, or bfloat16 a/b with float32 out. beta == 0: out is not read. activation: "
      "none, relu, gelu, gelu_tanh.");
  m.def("matmul", &matmul, py::arg("a"), py::arg("b"), py::arg("out"),
        "out = a @ b for contiguous (B, M, K) and (B, K, N) float32/float64 tensors.");
  m.def(
      "_gemm_set_blocking",
      [](int64_t mc, int64_t kc, int64_t nc, bool bf16) {
        const char* op = "ember._gemm_set_blocking";
        check_range(mc, 0, kMaxBlock, op, "mc");
        check_range(kc, 0, kMaxBlock, op, "kc");
        check_range(nc, 0, kMaxBlock, op, "nc");
        cpu::gemm_set_blocking(mc, kc, nc, bf16);
      },
      py::arg("mc") = 0, py::arg("kc") = 0, py::arg("nc") = 0, py::arg("bf16") = false,
      "Tuning hook: override the GEMM cache blocking (0 = the ISA default).");
  m.def("_gemm_blocking", &blocking, py::arg("bf16") = false,
        "(mr, nr, mc, kc, nc) of the current ISA's float32 (or native bf16) GEMM.");
  m.def(
      "_gemm_microkernel_gflops",
      [](int64_t k, int64_t iters, bool bf16) {
        // Bounded so one call takes seconds and (with every thread's panels) megabytes.
        const char* op = "ember._gemm_microkernel_gflops";
        check_range(k, 1, kMaxBenchK, op, "k");
        check_range(iters, 1, kMaxBenchWork / k, op, "iters");
        py::gil_scoped_release nogil;
        return cpu::gemm_microkernel_gflops(k, iters, bf16);
      },
      py::arg("k") = 256, py::arg("iters") = 20000, py::arg("bf16") = false,
      "GFLOP/s of the GEMM micro-kernel on L1-resident data, all threads (the FMA peak).");
  m.def(
      "_gemm_bf16_tile_model",
      [](TensorRef a, TensorRef b, TensorRef out, double alpha, double beta, const py::object& bias,
         const std::string& activation) {
        gemm_py(a, b, out, alpha, beta, bias, activation, true);
      },
      py::arg("a"), py::arg("b"), py::arg("out"), py::arg("alpha") = 1.0, py::arg("beta") = 0.0,
      py::arg("bias") = py::none(), py::arg("activation") = "none",
      "Test hook: gemm for bfloat16 a/b on the AMX path run by the software tile model.");
  m.def("_gemm_tile_model_dpbf16ps", &tile_model_dpbf16ps, py::arg("c"), py::arg("a"), py::arg("b"),
        "Test hook: c += one TDPBF16PS of the software tile model.");
  m.def(
      "_gemm_bf16_self_check_tile_model",
      [] {
        py::gil_scoped_release nogil;
        return cpu::gemm_bf16_amx_self_check(cpu::amx_model_run_dpbf16ps);
      },
      "Test hook: the AMX self-check run on the software tile model ('' when it passes).");
  m.def("_gemm_bf16_native", &cpu::gemm_bf16_native,
        "Whether bf16 GEMM runs on vdpbf16ps under the current ISA.");
  m.def("_gemm_bf16_kernel", &cpu::gemm_bf16_kernel_name,
        "The kernels a bf16 GEMM runs now: 'amx', 'native' (vdpbf16ps) or 'widen'.");
  m.def("_gemm_bf16_amx_status", &cpu::gemm_bf16_amx_status,
        "Why the auto bf16 path does or does not use AMX (runs its one-time self-check).");
  m.def(
      "_gemm_set_bf16_path", [](const std::string& path) { cpu::gemm_set_bf16_path(path.c_str()); },
      py::arg("path"),
      "bf16 GEMM path preference: 'auto', 'native' (vdpbf16ps), 'widen' or 'amx' (AMX-BF16 "
      "tiles; ValueError where the CPU or OS lacks them).");
  m.def("_gemm_bf16_path", &cpu::gemm_bf16_path, "The bf16 GEMM path preference.");
  if (const char* env = std::getenv("EMBER_GEMM_BF16"); env != nullptr && *env != 0) {
    try {
      cpu::gemm_set_bf16_path(env);
    } catch (const ValueError& e) {
      throw ValueError(cat_str("EMBER_GEMM_BF16=", env, ": ", e.what()));
    }
  }
}

}  // namespace ember::bindings
