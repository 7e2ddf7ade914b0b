// The int8 GEMM's memory-bound kernels: weight packing with column sums, the zero-point
// range check, and the two uint8 activation quantizers (per row and static), bit for bit the
// CPU's (math.cuh, core/quant_code.h).
#include <climits>

#include "bindings/qgemm_checks.h"
#include "core/quant_code.h"
#include "cuda/cuda_check.h"
#include "cuda/first_bad.cuh"
#include "cuda/qgemm/math.cuh"
#include "cuda/qgemm/plan.h"
#include "cuda/qgemm/qgemm.h"
#include "cuda/runtime.h"
#include "cuda/scratch.h"
#include "cuda/stream.h"

namespace ember::cuda::qgemm {
namespace {

constexpr int kThreads = 256;
constexpr const char* kOp = "ember.ops.qgemm";
constexpr int64_t kMaxRowBlocks = 1 << 20;  // quantize_rows: blocks loop over rows past this

__device__ __forceinline__ int64_t global_id() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t grid_stride() {
  return static_cast<int64_t>(gridDim.x) * blockDim.x;
}

// Grid-stride launches: enough blocks to fill the device, at most one per kThreads items.
unsigned grid_for(int64_t work, int device) {
  const int64_t want = (work + kThreads - 1) / kThreads, cap = 32LL * sm_count(device);
  return static_cast<unsigned>(want < cap ? want : cap);
}

// packed[j * ldb + kk] = w[j, kk], zero for kk >= k.
__global__ void pack_kernel(const int8_t* w, int64_t n, int64_t k, int64_t ldb, int8_t* packed) {
  for (int64_t e = global_id(); e < n * ldb; e += grid_stride()) {
    const int64_t j = e / ldb, kk = e % ldb;
    packed[e] = kk < k ? w[j * k + kk] : int8_t{0};
  }
}

// colsum[j] = sum_k w[j, k]: a warp per weight row (j is uniform in a warp, so whole warps
// run the shuffles).
__global__ void colsum_kernel(const int8_t* w, int64_t n, int64_t k, int32_t* colsum) {
  const int lane = threadIdx.x % 32;
  for (int64_t j = global_id() / 32; j < n; j += grid_stride() / 32) {
    int32_t s = 0;
    for (int64_t kk = lane; kk < k; kk += 32) s += w[j * k + kk];
    for (int off = 16; off > 0; off /= 2) s += __shfl_xor_sync(0xffffffffu, s, off);
    if (lane == 0) colsum[j] = s;
  }
}

// One row of quantize_rows_u8 by the whole block: the range [min(0, min x), max(0, max x)],
// its qparams, then the codes. lo_w / hi_w: one slot per warp.
__device__ void quantize_row(const float* xr, int64_t k, uint8_t* qr, float* scale, int32_t* zero,
                             float* lo_w, float* hi_w) {
  float lo = 0.0f, hi = 0.0f;
  for (int64_t j = threadIdx.x; j < k; j += kThreads) {
    lo = fminf(lo, xr[j]);
    hi = fmaxf(hi, xr[j]);
  }
  for (int off = 16; off > 0; off /= 2) {
    lo = fminf(lo, __shfl_xor_sync(0xffffffffu, lo, off));
    hi = fmaxf(hi, __shfl_xor_sync(0xffffffffu, hi, off));
  }
  if (threadIdx.x % 32 == 0) {
    lo_w[threadIdx.x / 32] = lo;
    hi_w[threadIdx.x / 32] = hi;
  }
  __syncthreads();
  for (int w = 0; w < kThreads / 32; ++w) {  // min and max are exact in any order
    lo = fminf(lo, lo_w[w]);
    hi = fmaxf(hi, hi_w[w]);
  }
  __syncthreads();  // the slots are free for the block's next row
  const RowQParams qp = row_qparams(lo, hi);
  for (int64_t j = threadIdx.x; j < k; j += kThreads)
    qr[j] = quantize_u8_code(xr[j], qp.scale, qp.zero);
  if (threadIdx.x == 0) {
    *scale = qp.scale;
    *zero = static_cast<int32_t>(qp.zero);
  }
}

__global__ void __launch_bounds__(kThreads)
    quantize_rows_kernel(const float* x, int64_t m, int64_t k, uint8_t* q, float* scale,
                         int32_t* zero) {
  __shared__ float lo_w[kThreads / 32], hi_w[kThreads / 32];
  for (int64_t row = blockIdx.x; row < m; row += gridDim.x)
    quantize_row(x + row * k, k, q + row * k, scale + row, zero + row, lo_w, hi_w);
}

__global__ void quantize_static_kernel(const float* x, int64_t n, float scale, float z,
                                       uint8_t* q) {
  for (int64_t i = global_id(); i < n; i += grid_stride()) q[i] = quantize_u8_code(x[i], scale, z);
}

}  // namespace

void pack(const int8_t* w, int64_t n, int64_t k, int8_t* packed, int32_t* colsum, int device) {
  DeviceGuard guard(device);
  const int64_t ldb = packed_ld(k);
  pack_kernel<<<grid_for(n * ldb, device), kThreads, 0, current_stream()>>>(w, n, k, ldb, packed);
  EMBER_CUDA_CHECK_LAUNCH(kOp);
  colsum_kernel<<<grid_for(n * 32, device), kThreads, 0, current_stream()>>>(w, n, k, colsum);
  EMBER_CUDA_CHECK_LAUNCH(kOp);
}

void check_zero_points(const int32_t* zero, int64_t m, int device) {
  DeviceGuard guard(device);
  const BadElement bad = first_bad(device, zero, m, OutsideRange<int32_t>{0, 255}, kOp);
  if (bad.position >= 0) bindings::qgemm_bad_zero(bad.position, bad.value);
}

void quantize_rows(const float* x, int64_t m, int64_t k, uint8_t* q, float* scale, int32_t* zero,
                   int device) {
  if (m == 0) return;
  DeviceGuard guard(device);
  const int64_t blocks = m < kMaxRowBlocks ? m : kMaxRowBlocks;
  quantize_rows_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, current_stream()>>>(
      x, m, k, q, scale, zero);
  EMBER_CUDA_CHECK_LAUNCH(kOp);
}

void quantize_static(const float* x, int64_t n, float scale, int32_t zero, uint8_t* q, int device) {
  if (n == 0) return;
  DeviceGuard guard(device);
  quantize_static_kernel<<<grid_for(n, device), kThreads, 0, current_stream()>>>(
      x, n, scale, static_cast<float>(zero), q);
  EMBER_CUDA_CHECK_LAUNCH(kOp);
}

}  // namespace ember::cuda::qgemm
