// Block quantization (csrc/cpu/qblock): Q8_0 / Q4_0 quantize, dequantize and qblock_linear.
// Blocks travel as int8 tensors of raw bytes (N, K / 32 * bytes per block). Every check runs
// before a kernel touches memory: ranks, dtypes, contiguity, K a multiple of 32, the block
// tensor's width against K, outputs' shapes, writability and overlap; kernels run without
// the GIL.
#include <string>

#include "bindings/bindings.h"
#include "bindings/checks.h"
#include "core/error.h"
#include "cpu/qblock/qblock.h"

namespace ember::bindings {
namespace {

cpu::QScheme scheme_of(const std::string& s, const char* op) {
  if (s == "q8_0") return cpu::QScheme::Q8_0;
  if (s == "q4_0") return cpu::QScheme::Q4_0;
  throw ValueError(cat_str(op, ": unknown block scheme '", s, "' (expected 'q8_0' or 'q4_0')"));
}

void check_k(int64_t k, const char* op) {
  EMBER_CHECK(k > 0 && k % cpu::kQBlock == 0, ValueError, op,
              ": the row length K must be a positive multiple of 32 (the block size), got ", k);
}

// blocks: int8 (n, k / 32 * bytes per block)
void check_blocks(TensorRef blocks, cpu::QScheme s, int64_t n, int64_t k, const char* op) {
  check_cpu_matrix(blocks, DType::Int8, op, "blocks");
  check_shape(blocks, Shape{n, k / cpu::kQBlock * cpu::qblock_bytes(s)}, op, "blocks");
}

void check_output(TensorRef out, TensorRef in, const Shape& shape, DType dt, const char* op) {
  check_cpu_matrix(out, dt, op, "out");
  check_shape(out, shape, op, "out");
  check_writable(out, op, "out");
  check_no_overlap(out, in, op, "out", "input");
}

void quantize(TensorRef x, TensorRef out, const std::string& scheme) {
  constexpr const char* op = "ember.ops.qblock.quantize";
  const cpu::QScheme s = scheme_of(scheme, op);
  check_cpu_matrix(x, DType::Float32, op, "input");
  const int64_t n = x.shape[0], k = x.shape[1];
  check_k(k, op);
  check_output(out, x, Shape{n, k / cpu::kQBlock * cpu::qblock_bytes(s)}, DType::Int8, op);
  py::gil_scoped_release nogil;
  cpu::quantize_rows(s, x.data_as<float>(), n, k, out.data_as<uint8_t>());
}

void dequantize(TensorRef blocks, TensorRef out, const std::string& scheme) {
  constexpr const char* op = "ember.ops.qblock.dequantize";
  const cpu::QScheme s = scheme_of(scheme, op);
  check_cpu_matrix(out, DType::Float32, op, "out");
  const int64_t n = out.shape[0], k = out.shape[1];
  check_k(k, op);
  check_blocks(blocks, s, n, k, op);
  check_writable(out, op, "out");
  check_no_overlap(out, blocks, op, "out", "blocks");
  py::gil_scoped_release nogil;
  cpu::dequantize_rows(s, blocks.data_as<uint8_t>(), n, k, out.data_as<float>());
}

void linear(TensorRef x, TensorRef w, const TensorImpl* bias, TensorRef out,
            const std::string& scheme, int64_t n) {
  constexpr const char* op = "ember.ops.qblock.qblock_linear";
  const cpu::QScheme s = scheme_of(scheme, op);
  check_cpu_matrix(x, DType::Float32, op, "input");
  const int64_t m = x.shape[0], k = x.shape[1];
  check_k(k, op);
  check_positive(n, op, "N");
  check_blocks(w, s, n, k, op);
  if (bias) {
    check_cpu_contiguous(*bias, op, "bias");
    EMBER_CHECK(bias->dtype == DType::Float32, TypeError, op, ": bias has dtype ",
                dtype_name(bias->dtype), ", expected float32");
    check_shape(*bias, Shape{n}, op, "bias");
  }
  check_output(out, x, Shape{m, n}, DType::Float32, op);
  check_no_overlap(out, w, op, "out", "blocks");
  if (bias) check_no_overlap(out, *bias, op, "out", "bias");
  py::gil_scoped_release nogil;
  cpu::qblock_linear(s, x.data_as<float>(), w.data_as<uint8_t>(),
                     bias ? bias->data_as<float>() : nullptr, m, n, k, out.data_as<float>());
}

}  // namespace

void bind_qblock(py::module_& m) {
  m.def("qblock_quantize", &quantize, py::arg("input"), py::arg("out"), py::arg("scheme"),
        "float32 (N, K) -> ggml Q8_0 / Q4_0 blocks as int8 bytes (N, K / 32 * 34 or 18).");
  m.def("qblock_dequantize", &dequantize, py::arg("blocks"), py::arg("out"), py::arg("scheme"),
        "ggml Q8_0 / Q4_0 blocks (N, K / 32 * bytes) -> float32 out (N, K).");
  m.def("qblock_linear", &linear, py::arg("input"), py::arg("blocks"), py::arg("bias"),
        py::arg("out"), py::arg("scheme"), py::arg("n"),
        "out (M, N) = input (M, K) . W^T + bias, W (N, K) in blocks; input quantized to Q8_0.");
}

}  // namespace ember::bindings
