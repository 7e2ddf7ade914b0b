// Int8 GEMM (csrc/cpu/qgemm): weight packing, the s32 product, the fused fp32 linear and the
// per-row u8 activation quantizer. ember has no uint8 dtype, so u8 activations travel as
// int8 tensors holding the uint8 bit patterns. Every check runs before a kernel touches
// memory (shapes, dtypes, contiguity, K, zero-point range, outputs writable and not
// overlapping inputs); the kernels run without the GIL.
#include <cmath>

#include "bindings/bindings.h"
#include "bindings/checks.h"
#include "core/error.h"
#include "cpu/qgemm/qgemm.h"
#include "cpu/qgemm/qgemm_amx.h"

namespace ember::bindings {
namespace {

constexpr const char* kPack = "ember.ops.qgemm.pack_int8_weight";
constexpr const char* kLinear = "ember.ops.qgemm.int8_linear";
constexpr const char* kMatmul = "ember.ops.qgemm.int8_matmul";
constexpr const char* kQuant = "ember.ops.qgemm.quantize_rows_u8";
constexpr const char* kStatic = "ember.ops.qgemm.quantize_u8_static";

// A contiguous CPU matrix of dtype dt; returns its (rows, cols).
std::pair<int64_t, int64_t> matrix(TensorRef t, DType dt, const char* op, const char* arg) {
  check_cpu_contiguous(t, op, arg);
  check_dtype(t, dt, op, arg);
  EMBER_CHECK(t.ndim() == 2, ValueError, op, ": ", arg, " must be 2-D, got shape ",
              shape_str(t.shape));
  return {t.shape[0], t.shape[1]};
}

void check_k(int64_t k, const char* op) {
  EMBER_CHECK(k >= 1 && k <= cpu::kQgemmMaxK, ValueError, op, ": K (the input features) must be ",
              "in [1, ", cpu::kQgemmMaxK, "] for exact int32 accumulation, got ", k);
}

// The packed weights of an (n, k) weight: `packed` int8 of qgemm_packed_bytes bytes.
void check_packed(TensorRef packed, int64_t n, int64_t k, const char* op) {
  check_cpu_contiguous(packed, op, "packed weight");
  check_dtype(packed, DType::Int8, op, "packed weight");
  EMBER_CHECK(packed.shape == Shape{cpu::qgemm_packed_bytes(n, k)}, ValueError, op,
              ": packed weight of shape ", shape_str(packed.shape), " does not hold an (", n, ", ",
              k, ") int8 weight (expected shape (", cpu::qgemm_packed_bytes(n, k), ",))");
}

const uint8_t* u8(TensorRef t) { return reinterpret_cast<const uint8_t*>(t.data_as<int8_t>()); }

void pack(TensorRef w, TensorRef packed, TensorRef colsum) {
  auto [n, k] = matrix(w, DType::Int8, kPack, "weight");
  check_k(k, kPack);
  EMBER_CHECK(n >= 1, ValueError, kPack, ": weight of shape ", shape_str(w.shape),
              " has no output channels");
  check_packed(packed, n, k, kPack);
  check_row_vec(&colsum, n, DType::Int32, kPack, "colsum");
  check_writable(packed, kPack, "packed");
  check_writable(colsum, kPack, "colsum");
  check_no_overlap(packed, w, kPack, "packed", "weight");
  check_no_overlap(colsum, w, kPack, "colsum", "weight");
  check_no_overlap(packed, colsum, kPack, "packed", "colsum");
  py::gil_scoped_release nogil;
  cpu::qgemm_pack(w.data_as<int8_t>(), n, k, packed.data_as<int8_t>(), colsum.data_as<int32_t>());
}

struct ProductDims {
  int64_t m, k, lda;
};

// x (M, K) int8 (u8 bits; rows contiguous, row stride lda >= K) against packed (n, K); out
// (M, n) of dtype out_dt.
ProductDims check_product(TensorRef x, TensorRef packed, int64_t n, TensorRef out, DType out_dt,
                          const char* op) {
  check_device(x, DeviceType::CPU, op, "input");
  check_dtype(x, DType::Int8, op, "input");
  EMBER_CHECK(x.ndim() == 2, ValueError, op, ": input must be 2-D, got shape ", shape_str(x.shape));
  const int64_t m = x.shape[0], k = x.shape[1];
  const int64_t lda = m > 1 ? x.strides[0] : k;
  EMBER_CHECK((k == 1 || x.strides[1] == 1) && lda >= k, ValueError, op,
              ": input rows must be contiguous with a row stride >= K, got strides ",
              shape_str(x.strides), " for shape ", shape_str(x.shape));
  check_k(k, op);
  EMBER_CHECK(n >= 1, ValueError, op, ": the weight must have at least one output channel");
  check_packed(packed, n, k, op);
  check_cpu_contiguous(out, op, "out");
  check_dtype(out, out_dt, op, "out");
  check_shape(out, Shape{m, n}, op, "out");
  check_writable(out, op, "out");
  check_no_overlap(out, x, op, "out", "input");
  check_no_overlap(out, packed, op, "out", "packed weight");
  return {m, k, lda};
}

void s32(TensorRef x, TensorRef packed, int64_t n, TensorRef out, cpu::QgemmPath path) {
  auto [m, k, lda] = check_product(x, packed, n, out, DType::Int32, kMatmul);
  py::gil_scoped_release nogil;
  cpu::qgemm_s32(u8(x), m, k, lda, packed.data_as<int8_t>(), n, out.data_as<int32_t>(), path);
}

void linear(TensorRef x, TensorRef a_scale, TensorRef a_zero, TensorRef packed, TensorRef colsum,
            TensorRef w_scale, const TensorImpl* bias, int act, TensorRef out,
            cpu::QgemmPath path) {
  const int64_t n = colsum.numel();
  auto [m, k, lda] = check_product(x, packed, n, out, DType::Float32, kLinear);
  check_row_vec(&a_scale, m, DType::Float32, kLinear, "a_scale");
  check_row_vec(&a_zero, m, DType::Int32, kLinear, "a_zero");
  check_row_vec(&colsum, n, DType::Int32, kLinear, "colsum");
  check_row_vec(&w_scale, n, DType::Float32, kLinear, "w_scale");
  check_row_vec(bias, n, DType::Float32, kLinear, "bias");
  check_range(act, 0, 2, kLinear, "activation code");
  const int32_t* z = a_zero.data_as<int32_t>();
  for (int64_t i = 0; i < m; ++i)  // the zero-point fold is exact only for u8 zero points
    EMBER_CHECK(z[i] >= 0 && z[i] <= 255, ValueError, kLinear, ": a_zero[", i, "] = ", z[i],
                " is outside [0, 255]");
  for (const TensorImpl* t : {&a_scale, &a_zero, &colsum, &w_scale, bias})
    if (t) check_no_overlap(out, *t, kLinear, "out", "a scale, zero point, colsum or bias");
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
  auto [m, k] = matrix(x, DType::Float32, kQuant, "input");
  check_cpu_contiguous(q, kQuant, "q");
  check_dtype(q, DType::Int8, kQuant, "q");
  check_shape(q, x.shape, kQuant, "q");
  check_row_vec(&scale, m, DType::Float32, kQuant, "scale");
  check_row_vec(&zero, m, DType::Int32, kQuant, "zero");
  for (const TensorImpl* t : {&q, &scale, &zero}) {
    check_writable(*t, kQuant, "an output");
    check_no_overlap(*t, x, kQuant, "an output", "input");
  }
  check_no_overlap(q, scale, kQuant, "q", "scale");
  check_no_overlap(q, zero, kQuant, "q", "zero");
  check_no_overlap(scale, zero, kQuant, "scale", "zero");
  py::gil_scoped_release nogil;
  cpu::quantize_rows_u8(x.data_as<float>(), m, k, reinterpret_cast<uint8_t*>(q.data_as<int8_t>()),
                        scale.data_as<float>(), zero.data_as<int32_t>());
}

void quantize_static(TensorRef x, double scale, int64_t zero, TensorRef q) {
  check_cpu_contiguous(x, kStatic, "input");
  check_dtype(x, DType::Float32, kStatic, "input");
  check_cpu_contiguous(q, kStatic, "q");
  check_dtype(q, DType::Int8, kStatic, "q");
  check_shape(q, x.shape, kStatic, "q");
  const float s = static_cast<float>(scale);
  EMBER_CHECK(std::isfinite(s) && s > 0.0f, ValueError, kStatic,
              ": scale must be a positive finite float32, got ", scale);
  check_range(zero, 0, 255, kStatic, "zero point");
  check_writable(q, kStatic, "q");
  check_no_overlap(q, x, kStatic, "q", "input");
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
            TensorRef w_scale, const TensorImpl* bias, int act, TensorRef out) {
          linear(x, a_scale, a_zero, packed, colsum, w_scale, bias, act, out, p);
        },
        py::arg("input"), py::arg("a_scale"), py::arg("a_zero"), py::arg("packed"),
        py::arg("colsum"), py::arg("w_scale"), py::arg("bias"), py::arg("act"), py::arg("out"));
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
