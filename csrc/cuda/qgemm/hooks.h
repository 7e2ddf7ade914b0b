// Host entries to the int8 GEMM's __host__ __device__ math (math.cuh), compiled by nvcc with
// the kernels' own code, for the CPU tests.
#pragma once
#include <cstdint>
#include <utility>

namespace ember::cuda::qgemm {

float epilogue_host(int32_t acc, float a_scale, int32_t a_zero, float w_scale, int32_t colsum,
                    float bias, bool has_bias, int act);
// (scale, zero) of a row with range [lo, hi].
std::pair<float, float> row_qparams_host(float lo, float hi);
uint8_t quantize_code_host(float x, float scale, float zero);
// which: 0 the A fragment (lane, reg, byte), 1 the B fragment, 2 the C fragment (lane, i).
std::pair<int, int> fragment_coord_host(int which, int lane, int reg, int byte);
// The IMMA kernel's addressing (math.cuh): which 0 the chunk (c), 1 the warp origin (warp),
// 2 an A fragment offset and 3 a B one (warp, lane, tile, reg, ks) as (offset, 0), 4 the
// accumulator coordinates (warp, lane, mt, nt, i).
std::pair<int, int> imma_index_host(int which, int a, int b, int c, int d, int e);
int a_chunk_bytes_host(int64_t row, int64_t m, int64_t kk, int64_t k);
std::pair<int, int> tile_of_host(int64_t linear, int64_t n_tiles);

}  // namespace ember::cuda::qgemm
