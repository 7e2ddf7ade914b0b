// ember._C_cuda's GEMM: gemm and matmul with the CPU bindings' signatures, semantics and
// error messages (csrc/bindings/bind_gemm.cpp), plus bfloat16/float16 inputs with a float32
// or same-dtype out. Every check runs before anything is launched. Underscored hooks expose
// the host-side plan and index math to the CPU tests.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/gemm_checks.h"
#include "core/overlap.h"
#include "core/tensor_impl.h"
#include "cuda/gemm/gemm.h"
#include "cuda/gemm/hooks.h"
#include "cuda/gemm/layout.h"
#include "cuda/gemm/plan.h"
#include "cuda/ops.h"
#include "cuda/runtime.h"

namespace py = pybind11;

namespace ember::cuda {
namespace {

using TensorRef = const TensorImpl&;
constexpr const char* kMatmul = "ember.matmul";

// ember.backends.cuda.matmul.allow_tf32, pushed here by its setter.
std::atomic<bool> g_allow_tf32{false};

gemm::Act parse_activation(const std::string& name) {
  if (name == "none") return gemm::Act::None;
  if (name == "relu") return gemm::Act::Relu;
  if (name == "gelu") return gemm::Act::Gelu;
  if (name == "gelu_tanh") return gemm::Act::GeluTanh;
  throw ValueError(cat_str(kMatmul, ": unknown activation '", name,
                           "' (expected one of: none, relu, gelu, gelu_tanh)"));
}

// Devices, then the shape checks shared with the CPU binding; returns the common device.
int check_operands(TensorRef a, TensorRef b, TensorRef out) {
  const int device = common_device(kMatmul, {{"a", &a}, {"b", &b}, {"out", &out}});
  check_gemm_shapes(a, b, out);
  return device;
}

bool supported_dtypes(DType a, DType b, DType out) {
  if (a != b) return false;
  if (a == DType::Float32 || a == DType::Float64) return out == a;
  if (a == DType::BFloat16 || a == DType::Float16) return out == a || out == DType::Float32;
  return false;
}

void gemm_impl(TensorRef a, TensorRef b, TensorRef out, double alpha, double beta,
               const TensorImpl* bias, const std::string& activation) {
  const int device = check_operands(a, b, out);
  EMBER_CHECK(supported_dtypes(a.dtype, b.dtype, out.dtype), TypeError, kMatmul,
              ": unsupported dtypes (a ", dtype_name(a.dtype), ", b ", dtype_name(b.dtype),
              ", out ", dtype_name(out.dtype),
              "); expected all float32, all float64, or bfloat16/float16 a and b with a "
              "float32 or same-dtype out");
  const int64_t N = out.shape[2];
  if (bias) common_device(kMatmul, {{"out", &out}, {"bias", bias}});
  check_gemm_bias(bias, out);
  const gemm::Act act = parse_activation(activation);
  check_gemm_output(out, a, b, bias);
  require_device(device, kMatmul);
  const gemm::Problem p{a.shape[0],
                        a.shape[1],
                        N,
                        a.shape[2],
                        a.dtype,
                        out.dtype,
                        {a.data(), a.strides[0], a.strides[1], a.strides[2]},
                        {b.data(), b.strides[0], b.strides[1], b.strides[2]},
                        out.data(),
                        out.strides[0],
                        out.strides[1],
                        bias ? bias->data() : nullptr,
                        alpha,
                        beta,
                        act,
                        g_allow_tf32.load()};
  py::gil_scoped_release nogil;
  gemm::run(p, device);
}

// bias as a Python object (None or a TensorImpl), as the CPU binding takes it.
void gemm_py(TensorRef a, TensorRef b, TensorRef out, double alpha, double beta,
             const py::object& bias, const std::string& activation) {
  if (bias.is_none()) return gemm_impl(a, b, out, alpha, beta, nullptr, activation);
  EMBER_CHECK(py::isinstance<TensorImpl>(bias), TypeError, kMatmul,
              ": bias must be a TensorImpl or None, got ",
              std::string(py::str(py::type::of(bias).attr("__name__"))));
  gemm_impl(a, b, out, alpha, beta, &bias.cast<TensorRef>(), activation);
}

void matmul(TensorRef a, TensorRef b, TensorRef out) {
  check_operands(a, b, out);
  check_matmul_dense(a, b, out);
  gemm_impl(a, b, out, 1.0, 0.0, nullptr, "none");
}

py::dict plan_dict(int64_t batch, int64_t m, int64_t n, int64_t k, int dtype,
                   const std::vector<int64_t>& a_strides, const std::vector<int64_t>& b_strides,
                   uint64_t a_address, uint64_t b_address, bool allow_tf32) {
  const char* op = "ember._C_cuda._gemm_plan";
  EMBER_CHECK(a_strides.size() == 3 && b_strides.size() == 3, ValueError, op,
              ": strides must have 3 entries");
  EMBER_CHECK(batch >= 0 && m >= 0 && n >= 0 && k >= 0, ValueError, op,
              ": sizes must be non-negative");
  const DType in = static_cast<DType>(dtype);
  EMBER_CHECK(
      in == DType::Float32 || in == DType::Float64 || in == DType::BFloat16 || in == DType::Float16,
      TypeError, op, ": unsupported dtype code ", dtype);
  const gemm::Plan p =
      gemm::make_plan(batch, m, n, k, in, {a_strides[0], a_strides[1], a_strides[2], a_address},
                      {b_strides[0], b_strides[1], b_strides[2], b_address}, allow_tf32);
  py::dict d;
  d["path"] = gemm::path_name(p.path);
  d["reason"] = p.reason;
  d["a_k_contig"] = p.a_k_contig;
  d["b_k_contig"] = p.b_k_contig;
  d["a_ld"] = p.a_ld;
  d["b_ld"] = p.b_ld;
  d["tile"] = py::make_tuple(p.bm, p.bn, p.bk);
  d["stages"] = p.stages;
  d["threads"] = p.threads;
  d["smem_bytes"] = p.smem_bytes;
  d["m_tiles"] = p.m_tiles;
  d["n_tiles"] = p.n_tiles;
  d["grid"] = py::make_tuple(p.grid_x, 1, p.grid_z);
  return d;
}

std::vector<double> epilogue(const std::vector<double>& acc, const std::vector<double>& old,
                             const py::object& bias, double alpha, double beta,
                             const std::string& activation, bool f64) {
  const char* op = "ember._C_cuda._gemm_epilogue";
  const gemm::Act act = parse_activation(activation);
  const bool has_bias = !bias.is_none();
  const std::vector<double> bv = has_bias ? bias.cast<std::vector<double>>() : acc;
  EMBER_CHECK(old.size() == acc.size() && bv.size() == acc.size(), ValueError, op,
              ": acc, old and bias must have the same length");
  std::vector<double> out(acc.size());
  for (size_t i = 0; i < acc.size(); ++i) {
    out[i] =
        f64 ? gemm::epilogue_host_f64(acc[i], old[i], bv[i], has_bias, alpha, beta, act)
            : gemm::epilogue_host_f32(static_cast<float>(acc[i]), static_cast<float>(old[i]),
                                      static_cast<float>(bv[i]), has_bias,
                                      static_cast<float>(alpha), static_cast<float>(beta), act);
  }
  return out;
}

py::tuple pair(gemm::RowCol rc) { return py::make_tuple(rc.row, rc.col); }

}  // namespace

void bind_gemm(py::module_& m) {
  m.def("gemm", &gemm_py, py::arg("a"), py::arg("b"), py::arg("out"), py::arg("alpha") = 1.0,
        py::arg("beta") = 0.0, py::arg("bias") = py::none(), py::arg("activation") = "none",
        "out = act(alpha * a @ b + beta * out + bias) for (B, M, K) a and (B, K, N) b views with "
        "any strides (batch stride 0 broadcasts); out (B, M, N) with unit last stride. float32, "
        "float64, or bfloat16/float16 a/b with a float32 or same-dtype out. beta == 0: out is "
        "not read. activation: none, relu, gelu, gelu_tanh.");
  m.def("matmul", &matmul, py::arg("a"), py::arg("b"), py::arg("out"),
        "out = a @ b for contiguous (B, M, K) and (B, K, N) float32/float64 tensors.");
  m.def(
      "_set_allow_tf32", [](bool v) { g_allow_tf32.store(v); }, py::arg("allow"),
      "Whether float32 GEMMs may use TF32 tensor cores (ember.backends.cuda.matmul.allow_tf32).");
  m.def("_allow_tf32", [] { return g_allow_tf32.load(); });
  m.def("_gemm_plan", &plan_dict, py::arg("batch"), py::arg("m"), py::arg("n"), py::arg("k"),
        py::arg("dtype"), py::arg("a_strides"), py::arg("b_strides"), py::arg("a_address") = 0,
        py::arg("b_address") = 0, py::arg("allow_tf32") = false,
        "Test hook: the path and launch shape the GEMM picks (no GPU needed).");
  m.def("_gemm_epilogue", &epilogue, py::arg("acc"), py::arg("old"), py::arg("bias"),
        py::arg("alpha"), py::arg("beta"), py::arg("activation"), py::arg("float64") = false,
        "Test hook: the kernels' per-element epilogue, run on the host.");
  m.def("_gemm_swizzle_chunk", &gemm::swizzle_chunk, py::arg("row"), py::arg("chunk"),
        py::arg("chunks"));
  m.def("_gemm_swizzled_offset", &gemm::swizzled_offset_split, py::arg("row0"), py::arg("col0"),
        py::arg("r"), py::arg("c"), py::arg("chunks"), py::arg("vec"),
        "Test hook: element offset of (row0 + r, col0 + c) in a swizzled tile.");
  m.def("_gemm_tile_offset", &gemm::tile_offset, py::arg("k_contig"), py::arg("vec"), py::arg("bk"),
        py::arg("mn_extent"), py::arg("mn0"), py::arg("mn"), py::arg("k0"), py::arg("k"),
        "Test hook: element offset of (mn0 + mn, k0 + k) in a stage tile.");
  m.def(
      "_gemm_ldmatrix_coord",
      [](int lane, bool operand_b, bool k_contig) {
        return pair(gemm::ldmatrix_x4_coord(lane, operand_b, k_contig));
      },
      py::arg("lane"), py::arg("operand_b"), py::arg("k_contig"));
  m.def(
      "_gemm_acc_coord", [](int lane, int i) { return pair(gemm::mma_acc_coord(lane, i)); },
      py::arg("lane"), py::arg("i"));
  m.def(
      "_gemm_tf32_coord",
      [](int lane, int i, bool operand_b) {
        return pair(operand_b ? gemm::mma_tf32_b_coord(lane, i) : gemm::mma_tf32_a_coord(lane, i));
      },
      py::arg("lane"), py::arg("i"), py::arg("operand_b"));
  m.def(
      "_gemm_tile_coord",
      [](int64_t linear, int64_t m_tiles, int64_t n_tiles, int group) {
        EMBER_CHECK(
            group > 0 && m_tiles > 0 && n_tiles > 0 && linear >= 0 && linear < m_tiles * n_tiles,
            ValueError, "ember._C_cuda._gemm_tile_coord: bad arguments");
        return pair(gemm::tile_coord(linear, m_tiles, n_tiles, group));
      },
      py::arg("linear"), py::arg("m_tiles"), py::arg("n_tiles"), py::arg("group"));
}

}  // namespace ember::cuda
