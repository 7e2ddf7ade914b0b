// Path and launch-shape choice of the CUDA GEMM (see plan.h).
#include "cuda/gemm/plan.h"

#include "core/error.h"

namespace ember::cuda::gemm {
namespace {

// An operand the tensor-core tiles can stream with 16-byte cp.async: one of its two
// matrix dimensions has unit stride (or extent 1), the other stride and the batch stride
// are whole 16-byte chunks, and element 0 is 16-byte aligned. Tails need no alignment:
// a partial chunk is zero-filled. Prefers contiguity along k (plain ldmatrix).
struct Streamable {
  bool ok = false, k_contig = false;
  int64_t ld = 0;
};

Streamable streamable(const OperandLayout& o, int64_t batch, int64_t rows, int64_t cols,
                      bool k_is_cols, int64_t vec) {
  Streamable s;
  if (o.address % 16 != 0) return s;
  if (batch > 1 && o.batch_stride % vec != 0) return s;
  const bool cols_unit = o.col_stride == 1 || cols == 1;
  const bool rows_unit = o.row_stride == 1 || rows == 1;
  const int64_t row_ld = rows == 1 ? 0 : o.row_stride;  // stride between rows of cols
  const int64_t col_ld = cols == 1 ? 0 : o.col_stride;
  const bool cols_ok = cols_unit && row_ld % vec == 0;
  const bool rows_ok = rows_unit && col_ld % vec == 0;
  // Contiguous along cols: tile rows are matrix rows; along rows: tile rows are columns.
  const bool prefer_cols = k_is_cols ? cols_ok : !rows_ok && cols_ok;
  if (prefer_cols) {
    s = {true, k_is_cols, row_ld};
  } else if (rows_ok) {
    s = {true, !k_is_cols, col_ld};
  }
  return s;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

const char* path_name(Path p) {
  switch (p) {
    case Path::TensorCore:
      return "tensor_core";
    case Path::TF32:
      return "tf32";
    default:
      return "simt";
  }
}

Plan make_plan(int64_t batch, int64_t m, int64_t n, int64_t k, DType in, const OperandLayout& a,
               const OperandLayout& b, bool allow_tf32) {
  Plan p{};
  const bool half = in == DType::BFloat16 || in == DType::Float16;
  const int64_t elem = half ? 2 : in == DType::Float32 ? 4 : 8;
  p.path = Path::Simt;
  if (in == DType::Float64) {
    p.reason = "float64 runs on the SIMT path";
  } else if (in == DType::Float32 && !allow_tf32) {
    p.reason = "float32 without TF32 (ember.backends.cuda.matmul.allow_tf32) runs on SIMT";
  } else {
    const int64_t vec = 16 / elem;
    const Streamable sa = streamable(a, batch, m, k, /*k_is_cols=*/true, vec);
    const Streamable sb = streamable(b, batch, k, n, /*k_is_cols=*/false, vec);
    if (sa.ok && sb.ok) {
      p.path = half ? Path::TensorCore : Path::TF32;
      p.a_k_contig = sa.k_contig;
      p.b_k_contig = sb.k_contig;
      p.a_ld = sa.ld;
      p.b_ld = sb.ld;
      p.reason = half ? "16-bit inputs on mma.sync m16n8k16" : "TF32 allowed: mma.sync m16n8k8";
    } else {
      p.reason =
          "an operand is not 16-byte aligned or has no unit-stride dimension with 16-byte "
          "aligned rows: SIMT";
    }
  }
  if (p.path == Path::Simt) {
    p.bm = kSimtBM;
    p.bn = kSimtBN;
    p.bk = kSimtBK;
    p.stages = 1;
    p.threads = kSimtThreads;
    p.smem_bytes = 0;  // static shared memory
  } else {
    p.bm = kTcBM;
    p.bn = kTcBN;
    p.bk = kTcBK;
    p.stages = half ? kTcStages16 : kTcStagesTf32;
    p.threads = kTcThreads;
    p.smem_bytes = int64_t{p.stages} * (p.bm + p.bn) * p.bk * elem;
  }
  p.m_tiles = ceil_div(m, p.bm);
  p.n_tiles = ceil_div(n, p.bn);
  p.grid_x = p.m_tiles * p.n_tiles;
  p.grid_z = batch < kMaxGridZ ? batch : kMaxGridZ;
  EMBER_CHECK(p.grid_x <= INT32_MAX, ValueError, "ember.matmul: ", m, " x ", n,
              " output is too large for one CUDA launch");
  return p;
}

}  // namespace ember::cuda::gemm
