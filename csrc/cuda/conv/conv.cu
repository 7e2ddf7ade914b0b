// conv2d on CUDA (conv.h): one SIMT implicit-GEMM kernel for the three passes, plans and
// the host test hook (the grad-weight chunks are summed by splits.cuh).
#include <algorithm>
#include <climits>

#include "cuda/conv/conv.h"
#include "cuda/conv/conv_index.cuh"
#include "cuda/conv/splits.cuh"
#include "cuda/cuda_check.h"
#include "cuda/runtime.h"
#include "cuda/scratch.h"
#include "cuda/stream.h"

namespace ember::cuda {

namespace {

int ceil_div(int64_t a, int64_t b) { return static_cast<int>((a + b - 1) / b); }

// One BM x BN tile of C (of group grp, reduction chunk split) per block: the A tile (BM x BK,
// dense rows of the weight or grad output) and the B tile (BK x BN, gathered through
// conv_b_offset) go through registers into shared memory, the next stage's global loads in
// flight while the current one is multiplied. Every tail (M, N, R) reads zeros and writes
// nothing. With splits > 1, c is the partial-sum workspace, one groups x M x N slice per
// split. Thread (tx, ty) owns rows ty * 4 + i + 4 (BM / TM) u and columns likewise: 4 x 4
// pieces, so a warp reads contiguous runs of shared memory.
// Blocks per SM the register allocation must allow: the large tile needs ~140 registers
// (one block), the small one fits four float32 (two float64) blocks without spilling.
template <typename T, int BM>
constexpr int conv_min_blocks() {
  return BM > 64 ? 1 : (sizeof(T) == 4 ? 4 : 2);
}

template <typename T, ConvPass P, int BM, int BN, int BK, int TM, int TN>
__global__ void __launch_bounds__(kConvThreads, conv_min_blocks<T, BM>())
    conv_gemm_kernel(ConvGeom g, ConvPlan plan, const T* __restrict__ a, const T* __restrict__ b,
                     const T* __restrict__ bias, T* __restrict__ c, bool relu) {
  constexpr int kLoad = BM * BK / kConvThreads;  // A and B elements per thread per stage
  static_assert(kLoad == 4 && BN * BK / kConvThreads == 4, "the loader fetches 4 of each");
  static_assert((BM / TM) * (BN / TN) == kConvThreads && TM % 4 == 0 && TN % 4 == 0,
                "one micro-tile per thread, in 4 x 4 pieces");
  constexpr int kRowStep = 4 * (BM / TM), kColStep = 4 * (BN / TN);  // between pieces
  __shared__ alignas(16) T As[BK][BM];
  __shared__ alignas(16) T Bs[BK][BN];

  const int tid = threadIdx.x;
  const int tn = blockIdx.x;
  int rest = blockIdx.y;
  const int tm = rest % plan.tiles_m;
  rest /= plan.tiles_m;
  const int grp = rest % g.groups;
  const int split = rest / g.groups;
  const int m0 = tm * BM, p0 = tn * BN;
  const int r_begin = split * plan.chunk;
  const int r_end = min(plan.r, r_begin + plan.chunk);

  const int am = tid / (BK / kLoad), ak = (tid % (BK / kLoad)) * kLoad;
  const int bp = tid % BN, bk = (tid / BN) * kLoad;
  const bool a_row = m0 + am < plan.m, b_col = p0 + bp < plan.n;
  T ra[kLoad], rb[kLoad];
  auto load = [&](int k0) {
#pragma unroll
    for (int e = 0; e < kLoad; ++e) {
      const int ra_k = k0 + ak + e, rb_k = k0 + bk + e;
      ra[e] = (a_row && ra_k < r_end) ? a[conv_a_offset(g, P, grp, m0 + am, ra_k)] : T(0);
      const int64_t off = (b_col && rb_k < r_end) ? conv_b_offset(g, P, grp, rb_k, p0 + bp) : -1;
      rb[e] = off >= 0 ? b[off] : T(0);
    }
  };

  const int tx = tid % (BN / TN), ty = tid / (BN / TN);
  auto row = [&](int i) { return (i / 4) * kRowStep + ty * 4 + i % 4; };
  auto col = [&](int j) { return (j / 4) * kColStep + tx * 4 + j % 4; };
  T acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = T(0);

  if (r_begin < r_end) load(r_begin);
  for (int k0 = r_begin; k0 < r_end; k0 += BK) {
#pragma unroll
    for (int e = 0; e < kLoad; ++e) {
      As[ak + e][am] = ra[e];
      Bs[bk + e][bp] = rb[e];
    }
    __syncthreads();
    if (k0 + BK < r_end) load(k0 + BK);  // in flight during the products below
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      T av[TM], bv[TN];
#pragma unroll
      for (int i = 0; i < TM; ++i) av[i] = As[kk][row(i)];
#pragma unroll
      for (int j = 0; j < TN; ++j) bv[j] = Bs[kk][col(j)];
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] += av[i] * bv[j];
    }
    __syncthreads();  // the tiles are overwritten next stage
  }

  T* out = c + static_cast<int64_t>(split) * g.groups * plan.m * plan.n;
#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int m = m0 + row(i);
    if (m >= plan.m) continue;
    const T bv = (P == ConvPass::Forward && bias) ? bias[grp * g.kg + m] : T(0);
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const int p = p0 + col(j);
      if (p >= plan.n) continue;
      T v = acc[i][j] + bv;
      if (relu && v < T(0)) v = T(0);
      out[conv_c_offset(g, P, grp, m, p)] = v;
    }
  }
}

template <typename T, ConvPass P>
void launch_gemm(const char* op, const ConvGeom& g, const T* a, const T* b, const T* bias, T* c,
                 bool relu, int device) {
  const ConvPlan plan = conv_plan(g, P, sizeof(T));
  if (plan.m == 0 || plan.n == 0) return;
  DeviceGuard guard(device);
  Scratch scratch(device, plan.splits > 1 ? plan.workspace * sizeof(T) : 0);
  T* dst = plan.splits > 1 ? scratch.as<T>() : c;
  const dim3 grid(static_cast<unsigned>(plan.grid_x), static_cast<unsigned>(plan.grid_y));
  constexpr ConvTile S = kConvSmall, L = kConvLarge;
  if constexpr (sizeof(T) == 4) {
    if (plan.large)
      conv_gemm_kernel<T, P, L.bm, L.bn, L.bk, L.tm, L.tn>
          <<<grid, kConvThreads, 0, current_stream()>>>(g, plan, a, b, bias, dst, relu);
    else
      conv_gemm_kernel<T, P, S.bm, S.bn, S.bk, S.tm, S.tn>
          <<<grid, kConvThreads, 0, current_stream()>>>(g, plan, a, b, bias, dst, relu);
  } else {
    conv_gemm_kernel<T, P, S.bm, S.bn, S.bk, S.tm, S.tn>
        <<<grid, kConvThreads, 0, current_stream()>>>(g, plan, a, b, bias, dst, relu);
  }
  EMBER_CUDA_CHECK_LAUNCH(op);
  if (plan.splits > 1)
    sum_splits(dst, plan.splits, static_cast<int64_t>(g.groups) * plan.m * plan.n, c, op);
}

}  // namespace

bool conv_geom_fits(const cpu::ConvShape& s) {
  const int64_t lim = INT_MAX;
  const int64_t taps = s.kh * s.kw;
  for (int64_t v : {s.n, s.c, s.h + 2 * s.ph + s.dh * s.kh, s.w + 2 * s.pw + s.dw * s.kw, s.k,
                    s.oh * s.sh + s.dh * s.kh, s.ow * s.sw + s.dw * s.kw})
    if (v > lim) return false;
  // Pixel counts and reduction lengths of the three GEMMs.
  return s.n * s.oh * s.ow <= lim && s.n * s.h * s.w <= lim && s.c * taps <= lim &&
         s.k * taps <= lim;
}

ConvGeom conv_geom(const cpu::ConvShape& s) {
  auto i = [](int64_t v) { return static_cast<int>(v); };
  return {i(s.n),
          i(s.c),
          i(s.h),
          i(s.w),
          i(s.k),
          i(s.kh),
          i(s.kw),
          i(s.oh),
          i(s.ow),
          i(s.sh),
          i(s.sw),
          i(s.ph),
          i(s.pw),
          i(s.dh),
          i(s.dw),
          i(s.groups),
          i(s.c / s.groups),
          i(s.k / s.groups)};
}

ConvSplit conv_split(int r, int64_t tiles, int bk, bool split) {
  int splits = 1;
  if (split && r > kConvMinChunk) {
    const int64_t want = (kConvTargetBlocks + tiles - 1) / std::max<int64_t>(tiles, 1);
    splits = static_cast<int>(
        std::clamp<int64_t>(want, 1, std::min<int64_t>(kConvMaxSplits, r / kConvMinChunk)));
  }
  // Chunks of whole bk stages; recount the splits so none is empty.
  const int chunk = ceil_div(ceil_div(std::max(r, 1), splits), bk) * bk;
  return {std::max(1, ceil_div(r, chunk)), chunk};
}

ConvPlan conv_plan(const ConvGeom& g, ConvPass pass, int elem_size) {
  const GemmDims d = conv_gemm_dims(g, pass);
  ConvPlan p{};
  p.m = d.m;
  p.n = d.n;
  p.r = d.r;
  p.large = elem_size == 4 && d.m >= kConvLarge.bm && d.n >= kConvLarge.bn;
  p.tile = p.large ? kConvLarge : kConvSmall;
  p.tiles_m = ceil_div(d.m, p.tile.bm);
  p.tiles_n = ceil_div(d.n, p.tile.bn);
  const ConvSplit split = conv_split(d.r, static_cast<int64_t>(p.tiles_m) * p.tiles_n * g.groups,
                                     p.tile.bk, pass == ConvPass::BackwardWeight);
  p.splits = split.splits;
  p.chunk = split.chunk;
  p.grid_x = p.tiles_n;
  p.grid_y = static_cast<int64_t>(p.tiles_m) * g.groups * p.splits;
  p.workspace = p.splits > 1 ? static_cast<int64_t>(p.splits) * g.groups * d.m * d.n : 0;
  p.smem_bytes = p.tile.bk * (p.tile.bm + p.tile.bn) * elem_size;
  return p;
}

ConvGatherTable conv_gather_table(const ConvGeom& g, ConvPass pass) {
  const GemmDims d = conv_gemm_dims(g, pass);
  ConvGatherTable t;
  for (int grp = 0; grp < g.groups; ++grp) {
    for (int m = 0; m < d.m; ++m)
      for (int r = 0; r < d.r; ++r) t.a.push_back(conv_a_offset(g, pass, grp, m, r));
    for (int r = 0; r < d.r; ++r)
      for (int p = 0; p < d.n; ++p) t.b.push_back(conv_b_offset(g, pass, grp, r, p));
    for (int m = 0; m < d.m; ++m)
      for (int p = 0; p < d.n; ++p) t.c.push_back(conv_c_offset(g, pass, grp, m, p));
  }
  return t;
}

template <typename T>
void conv2d_forward(const ConvGeom& g, const T* x, const T* w, const T* bias, T* y, bool relu,
                    int device) {
  launch_gemm<T, ConvPass::Forward>("ember.conv2d", g, w, x, bias, y, relu, device);
}

template <typename T>
void conv2d_backward_input(const ConvGeom& g, const T* gy, const T* w, T* gx, int device) {
  launch_gemm<T, ConvPass::BackwardInput>("ember.conv2d", g, w, gy, nullptr, gx, false, device);
}

template <typename T>
void conv2d_backward_weight(const ConvGeom& g, const T* gy, const T* x, T* gw, int device) {
  launch_gemm<T, ConvPass::BackwardWeight>("ember.conv2d", g, gy, x, nullptr, gw, false, device);
}

#define EMBER_CONV_INSTANTIATE(T)                                                                \
  template void conv2d_forward<T>(const ConvGeom&, const T*, const T*, const T*, T*, bool, int); \
  template void conv2d_backward_input<T>(const ConvGeom&, const T*, const T*, T*, int);          \
  template void conv2d_backward_weight<T>(const ConvGeom&, const T*, const T*, T*, int);
EMBER_CONV_INSTANTIATE(float)
EMBER_CONV_INSTANTIATE(double)
#undef EMBER_CONV_INSTANTIATE

}  // namespace ember::cuda
