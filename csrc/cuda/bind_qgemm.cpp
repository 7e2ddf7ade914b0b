// ember._C_cuda's int8 GEMM: qgemm_packed_bytes, qgemm_pack, qgemm_s32, qgemm_linear,
// quantize_rows_u8 and quantize_u8_static with the CPU bindings' names, signatures and checks
// (bindings/qgemm_checks.h), on CUDA tensors of one device; the packed layout is CUDA's own
// (cuda/qgemm/plan.h). Every check runs before anything is launched (the zero points' range
// on the device, before the product). Underscored hooks expose the plan and the kernels'
// index and element math to the CPU tests.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings/qgemm_checks.h"
#include "core/error.h"
#include "core/tensor_impl.h"
#include "cuda/ops.h"
#include "cuda/qgemm/hooks.h"
#include "cuda/qgemm/plan.h"
#include "cuda/qgemm/qgemm.h"
#include "cuda/runtime.h"

namespace py = pybind11;

namespace ember::cuda {
namespace {

using TensorRef = const TensorImpl&;
using namespace ember::bindings;

int64_t packed_bytes(int64_t n, int64_t k) { return qgemm::packed_bytes(n, k); }

const uint8_t* u8(TensorRef t) { return reinterpret_cast<const uint8_t*>(t.data_as<int8_t>()); }
uint8_t* u8_out(TensorRef t) { return reinterpret_cast<uint8_t*>(t.data_as<int8_t>()); }

void pack(TensorRef w, TensorRef packed, TensorRef colsum) {
  auto [n, k] = check_qgemm_pack(DeviceType::CUDA, w, packed, colsum, &packed_bytes);
  const int device =
      common_device(kQgemmPack, {{"weight", &w}, {"packed", &packed}, {"colsum", &colsum}});
  require_device(device, kQgemmPack);
  py::gil_scoped_release nogil;
  qgemm::pack(w.data_as<int8_t>(), n, k, packed.data_as<int8_t>(), colsum.data_as<int32_t>(),
              device);
}

void s32(TensorRef x, TensorRef packed, int64_t n, TensorRef out) {
  auto [m, k, lda] = check_qgemm_product(DeviceType::CUDA, x, packed, n, out, DType::Int32,
                                         kQgemmMatmul, &packed_bytes);
  const int device =
      common_device(kQgemmMatmul, {{"input", &x}, {"packed weight", &packed}, {"out", &out}});
  require_device(device, kQgemmMatmul);
  py::gil_scoped_release nogil;
  qgemm::product_s32({u8(x), m, k, lda, packed.data_as<int8_t>(), n}, out.data_as<int32_t>(),
                     device);
}

void linear(TensorRef x, TensorRef a_scale, TensorRef a_zero, TensorRef packed, TensorRef colsum,
            TensorRef w_scale, const TensorImpl* bias, int act, TensorRef out, bool check_zero) {
  const char* op = kQgemmLinear;
  const int64_t n = colsum.numel();
  auto [m, k, lda] =
      check_qgemm_product(DeviceType::CUDA, x, packed, n, out, DType::Float32, op, &packed_bytes);
  check_qgemm_epilogue(DeviceType::CUDA, m, n, a_scale, a_zero, colsum, w_scale, bias, act, out);
  const int device = common_device(op, {{"input", &x},
                                        {"a_scale", &a_scale},
                                        {"a_zero", &a_zero},
                                        {"packed weight", &packed},
                                        {"colsum", &colsum},
                                        {"w_scale", &w_scale},
                                        {"out", &out}});
  if (bias) common_device(op, {{"input", &x}, {"bias", bias}});
  require_device(device, op);
  const qgemm::Epilogue e{a_scale.data_as<float>(),
                          a_zero.data_as<int32_t>(),
                          w_scale.data_as<float>(),
                          colsum.data_as<int32_t>(),
                          bias ? bias->data_as<float>() : nullptr,
                          act};
  py::gil_scoped_release nogil;
  // The fold is exact only for u8 zero points; checking them costs a wait on the device,
  // which callers holding ember's own quantizer's zero points skip.
  if (check_zero) qgemm::check_zero_points(e.a_zero, m, device);
  qgemm::product_f32({u8(x), m, k, lda, packed.data_as<int8_t>(), n}, e, out.data_as<float>(),
                     device);
}

void quantize(TensorRef x, TensorRef q, TensorRef scale, TensorRef zero) {
  auto [m, k] = check_qgemm_quantize(DeviceType::CUDA, x, q, scale, zero);
  const int device =
      common_device(kQgemmQuant, {{"input", &x}, {"q", &q}, {"scale", &scale}, {"zero", &zero}});
  require_device(device, kQgemmQuant);
  py::gil_scoped_release nogil;
  qgemm::quantize_rows(x.data_as<float>(), m, k, u8_out(q), scale.data_as<float>(),
                       zero.data_as<int32_t>(), device);
}

void quantize_static(TensorRef x, double scale, int64_t zero, TensorRef q) {
  const float s = check_qgemm_static(DeviceType::CUDA, x, scale, zero, q);
  const int device = common_device(kQgemmStatic, {{"input", &x}, {"q", &q}});
  require_device(device, kQgemmStatic);
  py::gil_scoped_release nogil;
  qgemm::quantize_static(x.data_as<float>(), x.numel(), s, static_cast<int32_t>(zero), u8_out(q),
                         device);
}

py::dict plan_dict(int64_t m, int64_t n, int64_t k, int64_t lda, uint64_t a_address) {
  EMBER_CHECK(m >= 0 && n >= 1 && k >= 1 && lda >= k, ValueError,
              "ember._C_cuda._qgemm_plan: expected m >= 0, n >= 1, k >= 1, lda >= k");
  const qgemm::Plan p = qgemm::make_plan(m, n, lda, a_address);
  py::dict d;
  d["path"] = qgemm::path_name(p.path);
  d["reason"] = p.reason;
  d["tile"] = py::make_tuple(p.bm, p.bn, p.bk);
  d["stages"] = p.stages;
  d["threads"] = p.threads;
  d["smem_bytes"] = p.smem_bytes;
  d["m_tiles"] = p.m_tiles;
  d["n_tiles"] = p.n_tiles;
  d["blocks"] = p.blocks;
  d["packed_ld"] = qgemm::packed_ld(k);
  return d;
}

}  // namespace

void bind_qgemm(py::module_& m) {
  m.def("qgemm_packed_bytes", &packed_bytes, py::arg("n"), py::arg("k"),
        "Bytes of a packed (n, k) int8 weight on CUDA: n rows of K rounded up to 64.");
  m.def("qgemm_pack", &pack, py::arg("weight"), py::arg("packed"), py::arg("colsum"));
  m.def("qgemm_s32", &s32, py::arg("input"), py::arg("packed"), py::arg("n"), py::arg("out"));
  m.def("qgemm_linear", &linear, py::arg("input"), py::arg("a_scale"), py::arg("a_zero"),
        py::arg("packed"), py::arg("colsum"), py::arg("w_scale"), py::arg("bias"), py::arg("act"),
        py::arg("out"), py::arg("check_zero") = true);
  m.def("quantize_rows_u8", &quantize, py::arg("input"), py::arg("q"), py::arg("scale"),
        py::arg("zero"));
  m.def("quantize_u8_static", &quantize_static, py::arg("input"), py::arg("scale"), py::arg("zero"),
        py::arg("q"));
  m.def("_qgemm_plan", &plan_dict, py::arg("m"), py::arg("n"), py::arg("k"), py::arg("lda"),
        py::arg("a_address") = 0, "Test hook: the path and launch shape (no GPU needed).");
  m.def("_qgemm_epilogue", &qgemm::epilogue_host, py::arg("acc"), py::arg("a_scale"),
        py::arg("a_zero"), py::arg("w_scale"), py::arg("colsum"), py::arg("bias"),
        py::arg("has_bias"), py::arg("act"), "Test hook: the kernels' per-element epilogue.");
  m.def("_qgemm_row_qparams", &qgemm::row_qparams_host, py::arg("lo"), py::arg("hi"));
  m.def("_qgemm_quantize_code", &qgemm::quantize_code_host, py::arg("x"), py::arg("scale"),
        py::arg("zero"));
  m.def("_qgemm_fragment_coord", &qgemm::fragment_coord_host, py::arg("which"), py::arg("lane"),
        py::arg("reg"), py::arg("byte"));
  m.def("_qgemm_imma_index", &qgemm::imma_index_host, py::arg("which"), py::arg("a"),
        py::arg("b") = 0, py::arg("c") = 0, py::arg("d") = 0, py::arg("e") = 0,
        "Test hook: the IMMA kernel's chunk, warp, fragment-offset and accumulator math.");
  m.def("_qgemm_a_chunk_bytes", &qgemm::a_chunk_bytes_host, py::arg("row"), py::arg("m"),
        py::arg("kk"), py::arg("k"));
  m.def("_qgemm_tile_of", &qgemm::tile_of_host, py::arg("linear"), py::arg("n_tiles"));
}

}  // namespace ember::cuda
