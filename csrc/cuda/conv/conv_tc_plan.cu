// Host side of the tensor-core conv (conv_tc.h): the plan, and the gather table the CPU tests
// check, produced by the kernel's own gathers walked in the kernel's order.
#include <algorithm>

#include "cuda/conv/conv_tc.h"
#include "cuda/conv/conv_tc_index.cuh"

namespace ember::cuda {

namespace {

int ceil_div(int64_t a, int64_t b) { return static_cast<int>((a + b - 1) / b); }

// One thread's run of one stage into the table (rows_total x steps per group).
template <int Run, typename G>
void put_run(const G& gather, const ConvGeom& g, int grp, int row, int rows_total, int k, int r_end,
             int steps, std::vector<int64_t>& out) {
  int64_t off[Run * 8];
  gather.run(g, k, r_end, off);
  for (int e = 0; e < Run * 8; ++e)
    out[(static_cast<size_t>(grp) * rows_total + row) * steps + k + e] = off[e];
}

// Every block's loads, as the kernel makes them: the block's coordinates from its grid
// index, then for each stage and thread the thread's runs of the A and B tiles.
template <ConvPass P, int BN>
void fill_table(const ConvGeom& g, const ConvTcPlan& p, ConvTcGatherTable& t) {
  using L = TcLayout<BN>;
  t.a.assign(static_cast<size_t>(g.groups) * t.rows_a * t.steps, -2);  // -2: never loaded
  t.b.assign(static_cast<size_t>(g.groups) * t.rows_b * t.steps, -2);
  for (int64_t by = 0; by < p.grid_y; ++by)
    for (int64_t bx = 0; bx < p.grid_x; ++bx) {
      const TcBlock blk = conv_tc_block(static_cast<int>(by), p.tiles_n, g.groups);
      const int m0 = static_cast<int>(bx) * kConvTcBM, n0 = blk.tile_n * BN;
      const int r_begin = blk.split * p.chunk, r_end = std::min(p.r, r_begin + p.chunk);
      for (int tid = 0; tid < L::kThreads; ++tid) {
        const int ra = m0 + tc_row(tid, kConvTcBM), rb = n0 + tc_row(tid, BN);
        typename TcGathers<P>::A ga;
        typename TcGathers<P>::B gb;
        ga.init(g, blk.grp, ra, p.m);
        gb.init(g, blk.grp, rb, p.n);
        for (int k0 = r_begin; k0 < r_end; k0 += kConvTcBK) {
          const int ka = k0 + tc_first_chunk(tid, kConvTcBM, L::kRunA) * 8;
          const int kb = k0 + tc_first_chunk(tid, BN, L::kRunB) * 8;
          put_run<L::kRunA>(ga, g, blk.grp, ra, t.rows_a, ka, r_end, t.steps, t.a);
          put_run<L::kRunB>(gb, g, blk.grp, rb, t.rows_b, kb, r_end, t.steps, t.b);
        }
      }
    }
}

template <ConvPass P>
void fill_table(const ConvGeom& g, const ConvTcPlan& p, ConvTcGatherTable& t) {
  if (p.bn == 64)
    fill_table<P, 64>(g, p, t);
  else
    fill_table<P, 128>(g, p, t);
}

}  // namespace

ConvTcPlan conv_tc_plan(const ConvGeom& g, ConvPass pass) {
  const GemmDims d = conv_tc_dims(g, pass);
  ConvTcPlan p{};
  p.m = d.m;
  p.n = d.n;
  p.r = d.r;
  p.bn = d.n <= 64 ? 64 : 128;
  p.threads = 2 * p.bn;
  p.tiles_m = ceil_div(d.m, kConvTcBM);
  p.tiles_n = ceil_div(d.n, p.bn);
  const ConvSplit split = conv_split(d.r, static_cast<int64_t>(p.tiles_m) * p.tiles_n * g.groups,
                                     kConvTcBK, pass == ConvPass::BackwardWeight);
  p.splits = split.splits;
  p.chunk = split.chunk;
  p.grid_x = p.tiles_m;
  p.grid_y = static_cast<int64_t>(p.tiles_n) * g.groups * p.splits;
  p.workspace =
      pass == ConvPass::BackwardWeight ? static_cast<int64_t>(p.splits) * g.groups * d.m * d.n : 0;
  p.smem_bytes = 2 * (kConvTcBM + p.bn) * kConvTcBK * 2;
  return p;
}

ConvTcGatherTable conv_tc_gather_table(const ConvGeom& g, ConvPass pass) {
  const ConvTcPlan p = conv_tc_plan(g, pass);
  ConvTcGatherTable t;
  t.rows_a = p.tiles_m * kConvTcBM;
  t.rows_b = p.tiles_n * p.bn;
  t.steps = p.splits * p.chunk;
  switch (pass) {
    case ConvPass::Forward:
      fill_table<ConvPass::Forward>(g, p, t);
      break;
    case ConvPass::BackwardInput:
      fill_table<ConvPass::BackwardInput>(g, p, t);
      break;
    default:
      fill_table<ConvPass::BackwardWeight>(g, p, t);
  }
  for (int grp = 0; grp < g.groups; ++grp)
    for (int m = 0; m < p.m; ++m) t.c_row.push_back(conv_tc_c_row(g, pass, grp, m));
  t.c_col_stride = conv_tc_c_col_stride(g, pass);
  return t;
}

}  // namespace ember::cuda
