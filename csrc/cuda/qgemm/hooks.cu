// The int8 GEMM's per-element and index math, callable on the host (see hooks.h).
#include "core/quant_code.h"
#include "cuda/qgemm/hooks.h"
#include "cuda/qgemm/math.cuh"

namespace ember::cuda::qgemm {

float epilogue_host(int32_t acc, float a_scale, int32_t a_zero, float w_scale, int32_t colsum,
                    float bias, bool has_bias, int act) {
  return epilogue(acc, a_scale, a_zero, w_scale, colsum, bias, has_bias, act);
}

std::pair<float, float> row_qparams_host(float lo, float hi) {
  const RowQParams q = row_qparams(lo, hi);
  return {q.scale, q.zero};
}

uint8_t quantize_code_host(float x, float scale, float zero) {
  return quantize_u8_code(x, scale, zero);
}

std::pair<int, int> fragment_coord_host(int which, int lane, int reg, int byte) {
  const RowCol rc = which == 0   ? mma_a_coord(lane, reg, byte)
                    : which == 1 ? mma_b_coord(lane, reg, byte)
                                 : mma_c_coord(lane, reg);
  return {rc.row, rc.col};
}

std::pair<int, int> imma_index_host(int which, int a, int b, int c, int d, int e) {
  RowCol rc{0, 0};
  if (which == 0) rc = imma_chunk(a);
  if (which == 1) rc = imma_warp_origin(a);
  if (which == 2) rc = {imma_a_offset(a, b, c, d, e), 0};
  if (which == 3) rc = {imma_b_offset(a, b, c, d, e), 0};
  if (which == 4) rc = imma_c_coord(a, b, c, d, e);
  return {rc.row, rc.col};
}

int a_chunk_bytes_host(int64_t row, int64_t m, int64_t kk, int64_t k) {
  return a_chunk_bytes(row, m, kk, k);
}

std::pair<int, int> tile_of_host(int64_t linear, int64_t n_tiles) {
  const RowCol rc = tile_of(linear, n_tiles);
  return {rc.row, rc.col};
}

}  // namespace ember::cuda::qgemm
