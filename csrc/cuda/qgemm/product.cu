// The int8 GEMM kernels: the IMMA path (mma.sync m16n8k32 u8 x s8 on a 3-stage cp.async
// pipeline) and the dp4a SIMT path, each templated on its output store (int32 accumulators
// or the fused float epilogue). Layouts and tile sizes: plan.h; fragment math: math.cuh.
#include "cuda/cuda_check.h"
#include "cuda/gemm/ptx.cuh"
#include "cuda/qgemm/math.cuh"
#include "cuda/qgemm/plan.h"
#include "cuda/qgemm/qgemm.h"
#include "cuda/runtime.h"
#include "cuda/stream.h"

namespace ember::cuda::qgemm {
namespace {

using gemm::cp_async_16;
using gemm::cp_async_commit;
using gemm::cp_async_wait;
using gemm::dp4a_us;
using gemm::mma_16832;
using gemm::smem_addr;

struct StoreS32 {
  int32_t* out;
  int64_t n;
  __device__ void operator()(int64_t i, int64_t j, int32_t acc) const { out[i * n + j] = acc; }
};

struct StoreF32 {
  float* out;
  int64_t n;
  Epilogue e;
  __device__ void operator()(int64_t i, int64_t j, int32_t acc) const {
    const bool has_bias = e.bias != nullptr;
    out[i * n + j] = epilogue(acc, e.a_scale[i], e.a_zero[i], e.w_scale[j], e.colsum[j],
                              has_bias ? e.bias[j] : 0.0f, has_bias, e.act);
  }
};

__device__ __forceinline__ uint32_t lds32(const uint8_t* p) {
  return *reinterpret_cast<const uint32_t*>(p);
}

// Stage `stage` <- k block kt of the input rows [i0, i0 + BM) and weight rows [j0, j0 + BN).
__device__ __forceinline__ void imma_load(uint8_t* smem, int stage, int kt, const Operands& p,
                                          int64_t ldb, int64_t i0, int64_t j0) {
  constexpr int kChunks = kImmaBK / 16;  // 16-byte chunks per tile row
  uint8_t* sa = smem + stage * kImmaStageBytes;
  uint8_t* sb = sa + kImmaBM * kImmaLds;
  const int64_t k0 = static_cast<int64_t>(kt) * kImmaBK;
  for (int c = threadIdx.x; c < kImmaBM * kChunks; c += kImmaThreads) {
    const RowCol rk = imma_chunk(c);
    const int r = rk.row, kc = rk.col;
    const int bytes = a_chunk_bytes(i0 + r, p.m, k0 + kc, p.k);
    const uint8_t* src = bytes > 0 ? p.a + (i0 + r) * p.lda + k0 + kc : p.a;
    cp_async_16(smem_addr(sa + r * kImmaLds + kc), src, bytes);
  }
  for (int c = threadIdx.x; c < kImmaBN * kChunks; c += kImmaThreads) {
    const RowCol rk = imma_chunk(c);
    const int r = rk.row, kc = rk.col;
    const bool in = j0 + r < p.n;  // the packed row is whole chunks up to ldb
    const int8_t* src = in ? p.b + (j0 + r) * ldb + k0 + kc : p.b;
    cp_async_16(smem_addr(sb + r * kImmaLds + kc), src, in ? 16 : 0);
  }
}

template <typename Store>
__global__ void __launch_bounds__(kImmaThreads)
    imma_kernel(Operands p, int64_t ldb, int64_t n_tiles, Store store) {
  extern __shared__ __align__(16) uint8_t smem[];
  const RowCol tile = tile_of(blockIdx.x, n_tiles);
  const int64_t i0 = static_cast<int64_t>(tile.row) * kImmaBM;
  const int64_t j0 = static_cast<int64_t>(tile.col) * kImmaBN;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  constexpr int kMt = kImmaWarpM / 16, kNt = kImmaWarpN / 8;
  int32_t acc[kMt][kNt][4] = {};
  const int ktiles = static_cast<int>((p.k + kImmaBK - 1) / kImmaBK);

  // Group s holds k block s; a group is committed every step (maybe empty) so that
  // wait<stages - 2> at step kt always means block kt has landed.
  for (int s = 0; s < kImmaStages - 1; ++s) {
    if (s < ktiles) imma_load(smem, s, s, p, ldb, i0, j0);
    cp_async_commit();
  }
  for (int kt = 0; kt < ktiles; ++kt) {
    cp_async_wait<kImmaStages - 2>();
    // Block kt is visible to all, and every warp is done with step kt - 1's stage, which the
    // load below overwrites.
    __syncthreads();
    const int next = kt + kImmaStages - 1;
    if (next < ktiles) imma_load(smem, next % kImmaStages, next, p, ldb, i0, j0);
    cp_async_commit();

    const uint8_t* sa = smem + (kt % kImmaStages) * kImmaStageBytes;
    const uint8_t* sb = sa + kImmaBM * kImmaLds;
#pragma unroll
    for (int ks = 0; ks < kImmaBK; ks += 32) {
      uint32_t af[kMt][4], bf[kNt][2];
#pragma unroll
      for (int mt = 0; mt < kMt; ++mt)
#pragma unroll
        for (int r = 0; r < 4; ++r) af[mt][r] = lds32(sa + imma_a_offset(warp, lane, mt, r, ks));
#pragma unroll
      for (int nt = 0; nt < kNt; ++nt)
#pragma unroll
        for (int r = 0; r < 2; ++r) bf[nt][r] = lds32(sb + imma_b_offset(warp, lane, nt, r, ks));
#pragma unroll
      for (int mt = 0; mt < kMt; ++mt)
#pragma unroll
        for (int nt = 0; nt < kNt; ++nt) mma_16832(acc[mt][nt], af[mt], bf[nt]);
    }
  }
  cp_async_wait<0>();  // no copy may still target shared memory at exit

#pragma unroll
  for (int mt = 0; mt < kMt; ++mt)
#pragma unroll
    for (int nt = 0; nt < kNt; ++nt)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const RowCol rc = imma_c_coord(warp, lane, mt, nt, i);
        const int64_t row = i0 + rc.row, col = j0 + rc.col;
        if (row < p.m && col < p.n) store(row, col, acc[mt][nt][i]);
      }
}

template <typename Store>
__global__ void __launch_bounds__(kDp4aThreads)
    dp4a_kernel(Operands p, int64_t ldb, int64_t n_tiles, Store store) {
  __shared__ __align__(16) uint8_t sa[kDp4aBM * kDp4aLds];
  __shared__ __align__(16) uint8_t sb[kDp4aBN * kDp4aLds];
  const RowCol tile = tile_of(blockIdx.x, n_tiles);
  const int64_t i0 = static_cast<int64_t>(tile.row) * kDp4aBM;
  const int64_t j0 = static_cast<int64_t>(tile.col) * kDp4aBN;
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;  // rows ty + 16 r, columns tx + 16 c
  int32_t acc[4][4] = {};
  for (int64_t k0 = 0; k0 < p.k; k0 += kDp4aBK) {
    // Byte loads, consecutive threads on consecutive k; zero past M, N and K.
    for (int e = threadIdx.x; e < kDp4aBM * kDp4aBK; e += kDp4aThreads) {
      const int r = e / kDp4aBK, kk = e % kDp4aBK;
      const int64_t row = i0 + r, k = k0 + kk;
      sa[r * kDp4aLds + kk] = row < p.m && k < p.k ? p.a[row * p.lda + k] : 0;
    }
    for (int e = threadIdx.x; e < kDp4aBN * kDp4aBK; e += kDp4aThreads) {
      const int r = e / kDp4aBK, kk = e % kDp4aBK;
      const int64_t col = j0 + r;  // k0 + kk < ldb: the packed row's padding is zeros
      sb[r * kDp4aLds + kk] = col < p.n ? static_cast<uint8_t>(p.b[col * ldb + k0 + kk]) : 0;
    }
    __syncthreads();
#pragma unroll
    for (int w = 0; w < kDp4aBK; w += 4) {
      uint32_t aw[4], bw[4];
#pragma unroll
      for (int r = 0; r < 4; ++r) aw[r] = lds32(sa + (ty + 16 * r) * kDp4aLds + w);
#pragma unroll
      for (int c = 0; c < 4; ++c) bw[c] = lds32(sb + (tx + 16 * c) * kDp4aLds + w);
#pragma unroll
      for (int r = 0; r < 4; ++r)
#pragma unroll
        for (int c = 0; c < 4; ++c) acc[r][c] = dp4a_us(aw[r], bw[c], acc[r][c]);
    }
    __syncthreads();  // the next block's loads overwrite the tiles
  }
#pragma unroll
  for (int r = 0; r < 4; ++r)
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      const int64_t row = i0 + ty + 16 * r, col = j0 + tx + 16 * c;
      if (row < p.m && col < p.n) store(row, col, acc[r][c]);
    }
}

template <typename Store>
void launch(const Operands& p, const Store& store, int device) {
  constexpr const char* op = "ember.ops.qgemm";
  if (p.m == 0) return;
  DeviceGuard guard(device);
  const Plan plan = make_plan(p.m, p.n, p.lda, reinterpret_cast<uint64_t>(p.a));
  const int64_t ldb = packed_ld(p.k);
  const auto blocks = static_cast<unsigned>(plan.blocks);
  if (plan.path == Path::Imma) {
    auto* kernel = imma_kernel<Store>;
    EMBER_CUDA_CHECK(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kImmaSmem), op);
    kernel<<<blocks, kImmaThreads, kImmaSmem, current_stream()>>>(p, ldb, plan.n_tiles, store);
  } else {
    dp4a_kernel<Store><<<blocks, kDp4aThreads, 0, current_stream()>>>(p, ldb, plan.n_tiles, store);
  }
  EMBER_CUDA_CHECK_LAUNCH(op);
}

}  // namespace

void product_s32(const Operands& p, int32_t* out, int device) {
  launch(p, StoreS32{out, p.n}, device);
}

void product_f32(const Operands& p, const Epilogue& e, float* out, int device) {
  launch(p, StoreF32{out, p.n, e}, device);
}

}  // namespace ember::cuda::qgemm
