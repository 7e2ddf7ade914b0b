// Int8 GEMM (csrc/cpu/qgemm): weight packing, the s32 product, the fused fp32 linear and the
// per-row u8 activation quantizer. ember has no uint8 dtype, so u8 activations travel as
// int8 tensors holding the uint8 bit patterns. Every check runs before a kernel touches
// memory (bindings/qgemm_checks.h, shared with the CUDA binding, then the zero-point range);
// the kernels run without the GIL.
#include "bindings/bindings.h"
#include "bindings/checks.h"
#include "bindings/qgemm_checks.h"
#include "core/error.h"
#include "cpu/qgemm/qgemm.h"
#include "cpu/qgemm/qgemm_amx.h"

namespace ember::bindings {
namespace {

static_assert(cpu::kQgemmMaxK == kQgemmMaxK, "one exactness limit for every device");

const uint8_t* u8(TensorRef t) { return reinterpret_cast<const uint8_t*>(t.data_as<int8_t>()); }

void pack(TensorRef w, TensorRef packed, TensorRef colsum) {
  auto [n, k] = check_qgemm_pack(DeviceType::CPU, w, packed, colsum, &cpu::qgemm_packed_bytes);
  py::gil_scoped_release nogil;
  cpu::qgemm_pack(w.data_as<int8_t>(), n, k, packed.data_as<int8_t>(), colsum.data_as<int32_t>());
}

QgemmDims check_product(TensorRef x, TensorRef packed, int64_t n, TensorRef out, DType out_dt,
                        const char* op) {
  return check_qgemm_product(DeviceType::CPU, x, packed, n, out, out_dt, op,
                             &cpu::qgemm_packed_bytes);
}

void s32(TensorRef x, TensorRef packed, int64_t n, TensorRef out, cpu::QgemmPath path) {
  auto [m, k, lda] = check_product(x, packed, n, out, DType::Int32, kQgemmMatmul);
  py::gil_scoped_release nogil;
  cpu::qgemm_s32(u8(x), m, k, lda, packed.data_as<int8_t>(), n, out.data_as<int32_t>(), path);
}

void linear(TensorRef x, TensorRef a_scale, TensorRef a_zero, TensorRef packed, TensorRef colsum,
            TensorRef w_scale, const TensorImpl* bias, int act, TensorRef out, bool check_zero,
            cpu::QgemmPath path) {
  const int64_t n = colsum.numel();
  auto [m, k, lda] = check_product(x, packed, n, out, DType::Float32, kQgemmLinear);
  check_qgemm_epilogue(DeviceType::CPU, m, n, a_scale, a_zero, colsum, w_scale, bias, act, out);
  const int32_t* z = a_zero.data_as<int32_t>();
  for (int64_t i = 0; check_zero && i < m; ++i)  // the fold is exact only for u8 zero points
    if (z[i] < 0 || z[i] > 255) qgemm_bad_zero(i, z[i]);
  cpu::QgemmEpilogue e{a_scale.data_as<float>(),
                       z,
                       w_scale.data_as<float>(),
                       colsum.data_as<int32_t>(),
                       bias ? bias->data_as<float>() : nullptr,
                       static_cast<cpu::QgemmAct>(act)};
  py::gil_scoped_release nogil;
  cpu::qgemm_f32(u8(x), m, k, lda, packed.data_as<int8_t>(), n, e, out.data_as<float>(), path);
}

void quantize(TensorRef x, TensorRef q, TensorRef scale, TensorRef zero) {
  auto [m, k] = check_qgemm_quantize(DeviceType::CPU, x, q, scale, zero);
  py::gil_scoped_release nogil;
  cpu::quantize_rows_u8(x.data_as<float>(), m, k, reinterpret_cast<uint8_t*>(q.data_as<int8_t>()),
                        scale.data_as<float>(), zero.data_as<int32_t>());
}

void quantize_static(TensorRef x, double scale, int64_t zero, TensorRef q) {
  const float s = check_qgemm_static(DeviceType::CPU, x, scale, zero, q);
  py::gil_scoped_release nogil;
  cpu::quantize_u8_static(x.data_as<float>(), x.numel(), s, static_cast<int32_t>(zero),
                          reinterpret_cast<uint8_t*>(q.data_as<int8_t>()));
}

// Test hook: c (16, 16) int32 += one TDPBUSD of the software tile model with a (16, 64) int8
// holding u8 bits and b (16, 64) int8 (a B tile: 16 groups of 4 k x 16 channels).
void tile_model_dpbusd(TensorRef c, TensorRef a, TensorRef b) {
  constexpr const char* op = "ember._C.qgemm_tile_model_dpbusd";
  check_cpu_contiguous(c, op, "c");
  check_dtype(c, DType::Int32, op, "c");
  check_shape(c, Shape{16, 16}, op, "c");
  check_writable(c, op, "c");
  for (auto [t, name] : {std::pair{&a, "a"}, std::pair{&b, "b"}}) {
    check_cpu_contiguous(*t, op, name);
    check_dtype(*t, DType::Int8, op, name);
    check_shape(*t, Shape{16, 64}, op, name);
    check_no_overlap(c, *t, op, "c", name);
  }
  cpu::amx_tile_model_dpbusd(c.data_as<int32_t>(), u8(a), b.data_as<int8_t>());
}

}  // namespace

void bind_qgemm(py::module_& m) {
  m.def("qgemm_packed_bytes", &cpu::qgemm_packed_bytes, py::arg("n"), py::arg("k"));
  m.def("qgemm_pack", &pack, py::arg("weight"), py::arg("packed"), py::arg("colsum"));
  // name -> path: the *_tile_model entries run the AMX tile loop on the software tile model
  // (tests: they check the AMX path's layout on any CPU).
  for (auto [suffix, path] :
       {std::pair{"", cpu::QgemmPath::Auto}, std::pair{"_tile_model", cpu::QgemmPath::TileModel}}) {
    const cpu::QgemmPath p = path;
    m.def(
        cat_str("qgemm_s32", suffix).c_str(),
        [p](TensorRef x, TensorRef packed, int64_t n, TensorRef out) { s32(x, packed, n, out, p); },
        py::arg("input"), py::arg("packed"), py::arg("n"), py::arg("out"));
    m.def(
        cat_str("qgemm_linear", suffix).c_str(),
        [p](TensorRef x, TensorRef a_scale, TensorRef a_zero, TensorRef packed, TensorRef colsum,
            TensorRef w_scale, const TensorImpl* bias, int act, TensorRef out, bool check_zero) {
          linear(x, a_scale, a_zero, packed, colsum, w_scale, bias, act, out, check_zero, p);
        },
        py::arg("input"), py::arg("a_scale"), py::arg("a_zero"), py::arg("packed"),
        py::arg("colsum"), py::arg("w_scale"), py::arg("bias"), py::arg("act"), py::arg("out"),
        py::arg("check_zero") = true);
  }
  m.def("qgemm_tile_model_dpbusd", &tile_model_dpbusd, py::arg("c"), py::arg("a"), py::arg("b"));
  m.def("qgemm_amx_available", &cpu::qgemm_amx_available);
  m.def("qgemm_amx_enabled", &cpu::qgemm_amx_enabled);
  m.def("qgemm_set_amx_enabled", &cpu::qgemm_set_amx_enabled, py::arg("enabled"));
  m.def("qgemm_uses_amx", &cpu::qgemm_uses_amx);
  m.def("qgemm_path", &cpu::qgemm_path_name);
  m.def("quantize_rows_u8", &quantize, py::arg("input"), py::arg("q"), py::arg("scale"),
        py::arg("zero"));
  m.def("quantize_u8_static", &quantize_static, py::arg("input"), py::arg("scale"), py::arg("zero"),
        py::arg("q"));
  m.def("qgemm_vnni", &cpu::qgemm_vnni);
}

}  // namespace ember::bindings
