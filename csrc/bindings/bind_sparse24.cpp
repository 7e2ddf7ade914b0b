// 2:4 semi-structured sparsity (csrc/cpu/sparse24): compress, decompress and sparse24_linear.
// The compressed weight is two tensors: values float32 (N, K / 2) and positions int8
// (N, K / 2), each a kept value's column in its group of 4. Every check runs before a kernel
// touches memory: ranks, dtypes, contiguity, K a multiple of 4, shapes,
// outputs' writability and overlap; kernels run without the GIL.
#include "bindings/bindings.h"
#include "bindings/checks.h"
#include "core/error.h"
#include "cpu/sparse24/sparse24.h"

namespace ember::bindings {
namespace {

void check_k(int64_t k, const char* op) {
  EMBER_CHECK(k > 0 && k % 4 == 0, ValueError, op,
              ": the row length K must be a positive multiple of 4 (2:4 groups), got ", k);
}

// values float32 (n, k / 2) and positions int8 (n, k / 2). The kernels read positions modulo
// 4, so their bytes need no scan here (it would cost a GEMV a sizeable share of its time).
void check_compressed(TensorRef values, TensorRef positions, int64_t n, int64_t k, const char* op) {
  check_cpu_matrix(values, DType::Float32, op, "values");
  check_cpu_matrix(positions, DType::Int8, op, "positions");
  check_shape(values, Shape{n, k / 2}, op, "values");
  check_shape(positions, Shape{n, k / 2}, op, "positions");
}

void check_output(TensorRef out, const Shape& shape, DType dt, const char* op, const char* arg) {
  check_cpu_matrix(out, dt, op, arg);
  check_shape(out, shape, op, arg);
  check_writable(out, op, arg);
}

void compress(TensorRef w, TensorRef values, TensorRef positions) {
  constexpr const char* op = "ember.ops.sparse24.compress_2to4";
  check_cpu_matrix(w, DType::Float32, op, "weight");
  const int64_t n = w.shape[0], k = w.shape[1];
  check_k(k, op);
  check_output(values, Shape{n, k / 2}, DType::Float32, op, "values");
  check_output(positions, Shape{n, k / 2}, DType::Int8, op, "positions");
  check_no_overlap(values, w, op, "values", "weight");
  check_no_overlap(positions, w, op, "positions", "weight");
  check_no_overlap(positions, values, op, "positions", "values");
  py::gil_scoped_release nogil;
  cpu::compress_2to4(w.data_as<float>(), n, k, values.data_as<float>(),
                     positions.data_as<int8_t>());
}

void decompress(TensorRef values, TensorRef positions, TensorRef out) {
  constexpr const char* op = "ember.ops.sparse24.decompress_2to4";
  check_cpu_matrix(out, DType::Float32, op, "out");
  const int64_t n = out.shape[0], k = out.shape[1];
  check_k(k, op);
  check_compressed(values, positions, n, k, op);
  check_writable(out, op, "out");
  check_no_overlap(out, values, op, "out", "values");
  check_no_overlap(out, positions, op, "out", "positions");
  py::gil_scoped_release nogil;
  cpu::decompress_2to4(values.data_as<float>(), positions.data_as<int8_t>(), n, k,
                       out.data_as<float>());
}

// The rows16 layout of a (n, k) weight: float32 and int32, each (rows16_elems,).
void check_rows16(TensorRef wv, TensorRef id, int64_t n, int64_t k, const char* op) {
  const Shape shape{cpu::sparse24_rows16_elems(n, k)};
  check_cpu_contiguous(wv, op, "packed values");
  check_cpu_contiguous(id, op, "packed ids");
  EMBER_CHECK(wv.dtype == DType::Float32 && id.dtype == DType::Int32, TypeError, op,
              ": packed values / ids must be float32 / int32, got ", dtype_name(wv.dtype), " / ",
              dtype_name(id.dtype));
  check_shape(wv, shape, op, "packed values");
  check_shape(id, shape, op, "packed ids");
}

void pack_rows16(TensorRef values, TensorRef positions, TensorRef wv, TensorRef id) {
  constexpr const char* op = "ember.ops.sparse24.pack_rows16";
  check_cpu_matrix(values, DType::Float32, op, "values");
  const int64_t n = values.shape[0], k = 2 * values.shape[1];
  check_k(k, op);
  check_compressed(values, positions, n, k, op);
  check_rows16(wv, id, n, k, op);
  check_writable(wv, op, "packed values");
  check_writable(id, op, "packed ids");
  check_no_overlap(wv, values, op, "packed values", "values");
  check_no_overlap(wv, positions, op, "packed values", "positions");
  check_no_overlap(id, values, op, "packed ids", "values");
  check_no_overlap(id, positions, op, "packed ids", "positions");
  check_no_overlap(wv, id, op, "packed values", "packed ids");
  py::gil_scoped_release nogil;
  cpu::sparse24_pack_rows16(values.data_as<float>(), positions.data_as<int8_t>(), n, k,
                            wv.data_as<float>(), id.data_as<int32_t>());
}

void linear(TensorRef x, TensorRef values, TensorRef positions, const TensorImpl* bias,
            TensorRef out, const TensorImpl* packed_values, const TensorImpl* packed_ids) {
  constexpr const char* op = "ember.ops.sparse24.sparse24_linear";
  check_cpu_matrix(x, DType::Float32, op, "input");
  check_cpu_matrix(values, DType::Float32, op, "values");
  const int64_t m = x.shape[0], k = x.shape[1], n = values.shape[0];
  check_k(k, op);
  check_positive(n, op, "N");
  check_compressed(values, positions, n, k, op);
  if (bias) {
    check_cpu_contiguous(*bias, op, "bias");
    EMBER_CHECK(bias->dtype == DType::Float32, TypeError, op, ": bias has dtype ",
                dtype_name(bias->dtype), ", expected float32");
    check_shape(*bias, Shape{n}, op, "bias");
    check_no_overlap(out, *bias, op, "out", "bias");
  }
  check_output(out, Shape{m, n}, DType::Float32, op, "out");
  check_no_overlap(out, x, op, "out", "input");
  check_no_overlap(out, values, op, "out", "values");
  check_no_overlap(out, positions, op, "out", "positions");
  EMBER_CHECK(!packed_values == !packed_ids, ValueError, op,
              ": packed values and packed ids come together (both or neither)");
  cpu::Sparse24Rows16 rows16{};
  if (packed_values) {
    check_rows16(*packed_values, *packed_ids, n, k, op);
    check_no_overlap(out, *packed_values, op, "out", "packed values");
    check_no_overlap(out, *packed_ids, op, "out", "packed ids");
    rows16 = {packed_values->data_as<float>(), packed_ids->data_as<int32_t>()};
  }
  py::gil_scoped_release nogil;
  cpu::sparse24_linear(x.data_as<float>(), values.data_as<float>(), positions.data_as<int8_t>(),
                       bias ? bias->data_as<float>() : nullptr, m, n, k,
                       packed_values ? &rows16 : nullptr, out.data_as<float>());
}

}  // namespace

void bind_sparse24(py::module_& m) {
  m.def("sparse24_compress", &compress, py::arg("weight"), py::arg("values"), py::arg("positions"),
        "float32 (N, K) -> the 2 largest-|w| values of each group of 4 (N, K / 2) and their "
        "positions 0..3 as int8 (N, K / 2).");
  m.def("sparse24_decompress", &decompress, py::arg("values"), py::arg("positions"), py::arg("out"),
        "values / positions (N, K / 2) -> float32 out (N, K), zeros elsewhere.");
  m.def("sparse24_linear", &linear, py::arg("input"), py::arg("values"), py::arg("positions"),
        py::arg("bias"), py::arg("out"), py::arg("packed_values") = nullptr,
        py::arg("packed_ids") = nullptr,
        "out (M, N) = input (M, K) . W^T + bias, W (N, K) 2:4-compressed; packed_values / "
        "packed_ids: its sparse24_pack_rows16 layout, if the caller keeps one.");
  m.def("sparse24_pack_rows16", &pack_rows16, py::arg("values"), py::arg("positions"),
        py::arg("packed_values"), py::arg("packed_ids"),
        "values / positions (N, K / 2) -> the many-token kernel's layout: float32 and int32, "
        "each (sparse24_rows16_elems(N, K),).");
  m.def("sparse24_rows16_elems", &cpu::sparse24_rows16_elems, py::arg("n"), py::arg("k"));
  m.def("sparse24_rows16_min", &cpu::sparse24_rows16_min,
        "Tokens from which sparse24_linear uses the packed layout under the current ISA (-1: "
        "never).");
}

}  // namespace ember::bindings
