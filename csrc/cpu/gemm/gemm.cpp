// GEMM driver: blocking, packing buffers and threading around the per-ISA kernels
// (gemm_kernels.cpp). See gemm.h for the loop structure.
//
// Threading: one OpenMP team per call. For each (pc, jc) block pair the threads pack the
// shared A and B blocks together, meet at a barrier, then claim work items = (run of A
// micro-panels) x (run of B micro-panels) from an atomic counter. An element of C is always
// computed by the same kernel with the same K blocks, so which thread computes it (and how
// the M/N range is cut) changes no bit of the result. Batched problems whose matrices are
// too small to share are spread one matrix per thread.
#include "cpu/gemm/gemm.h"

#include <omp.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/isa.h"
#include "core/parallel.h"
#include "core/spin_barrier.h"
#include "cpu/driver_util.h"
#include "cpu/gemm/gemm_amx.h"

namespace ember::cpu {

const GemmTable& gemm_table() { return EMBER_ISA_TABLE(gemm_table); }

namespace {

std::atomic<int64_t> g_block[2][3];  // [bf16 native][mc, kc, nc] overrides, 0 = default

// Each thread of a team gets at least this many flops (2 M N K), about 50 us: a fork/join
// and its barriers cost microseconds, and on a shared machine a descheduled team member can
// stall the others for a scheduler tick, so small GEMMs run on the calling thread.
constexpr int64_t kParallelFlops = int64_t{3} << 21;
// Work items per (jc, pc) block: at least kMinItems, of at most kItemPanels A micro-panels
// (small items balance the team at each block's barrier; a shape-only rule).
constexpr int64_t kMinItems = 8;
constexpr int64_t kItemPanels = 4;
// The small-GEMM form (try_direct) for problems past kParallelFlops whose A and B together
// fit in kDirectBytes and B alone in kDirectBBytes (half an L2): measured on one thread, it
// matched or beat the packed path on those (768 x 128..512 x 128..512, 256^3) and lost
// 7-40% where a 1-4 MiB B in place streamed from L3 for a short A (32 x 1024 x 256,
// 64 x 2048 x 512).
constexpr int64_t kDirectBytes = int64_t{2} << 20;
constexpr int64_t kDirectBBytes = int64_t{512} << 10;
// GEMV: columns per parallel piece (the AVX-512 row-streaming form works on 2048).
constexpr int64_t kGemvChunk = 2048;

thread_local Scratch tl_scratch;

template <typename TC>
struct Plan {
  const GemmKernelSet<TC>* ks;
  int64_t mc, kc, nc;
  size_t src_bytes;  // bytes of one A / B source element
};

template <typename TC>
Plan<TC> make_plan(const GemmKernelSet<TC>& ks, size_t src_bytes, int override_set) {
  Plan<TC> p{&ks, ks.mc, ks.kc, ks.nc, src_bytes};
  if (override_set >= 0) {
    const int64_t mc = g_block[override_set][0].load(), kc = g_block[override_set][1].load(),
                  nc = g_block[override_set][2].load();
    if (mc > 0) p.mc = mc;
    if (kc > 0) p.kc = kc;
    if (nc > 0) p.nc = nc;
  }
  p.mc = round_up(p.mc, ks.mr);
  p.nc = round_up(p.nc, ks.nr);
  p.kc = round_up(p.kc, ks.kalign);
  return p;
}

// One matrix: c = act(alpha * a @ b + beta * c + bias). Pointers are already at this batch
// entry; strides in elements.
template <typename TC>
struct Job {
  int64_t M, N, K;
  const char* a;
  int64_t a_rs, a_cs;
  const char* b;
  int64_t b_rs, b_cs;
  TC* c;
  int64_t ldc;
  TC alpha, beta;
  const TC* bias;
  GemmAct act;
};

template <typename TC>
struct Sizes {
  int64_t kbp;     // packed K block (elements)
  size_t a_bytes;  // the A block
  size_t b_bytes;  // the B block
};

template <typename TC>
Sizes<TC> sizes(const Plan<TC>& pl, int64_t M, int64_t N, int64_t K) {
  const GemmKernelSet<TC>& ks = *pl.ks;
  Sizes<TC> s;
  s.kbp = round_up(max64(min64(pl.kc, K), 1), ks.kalign);
  s.a_bytes = static_cast<size_t>(round_up(min64(pl.mc, M), ks.mr) * s.kbp) * ks.packed_bytes;
  s.b_bytes = static_cast<size_t>(round_up(min64(pl.nc, N), ks.nr) * s.kbp) * ks.packed_bytes;
  s.a_bytes = (s.a_bytes + 63) & ~size_t{63};
  s.b_bytes = (s.b_bytes + 63) & ~size_t{63};
  return s;
}

// Work counters shared by a team: threads claim pack chunks and tile items with fetch_add,
// so a thread that the OS deschedules (these machines are shared) does not hold the others
// up until the next barrier. Who computes an item never changes its bits.
// The team meets at a SpinBarrier: an OpenMP barrier sleeps at once under
// OMP_WAIT_POLICY=PASSIVE, and the wake-up cost more than a small block's compute.
struct Counters {
  explicit Counters(int nt) : barrier(nt) {}
  std::atomic<int64_t> pack{0}, items{0};
  SpinBarrier barrier;
};

// Work items of a C block: runs of A micro-panels, and of B micro-panels when M is short, at
// least kMinItems of them (small items balance the team; who computes an item never changes
// its bits).
struct ItemGrid {
  int64_t run_m, items_m, run_n, items_n;
  int64_t count() const { return items_m * items_n; }
};
ItemGrid item_grid(int64_t mpanels, int64_t npanels) {
  ItemGrid g;
  g.run_m = min64(kItemPanels, cdiv(mpanels, kMinItems));
  g.items_m = cdiv(mpanels, g.run_m);
  g.run_n = npanels;
  if (g.items_m < kMinItems) g.run_n = cdiv(npanels, min64(npanels, cdiv(kMinItems, g.items_m)));
  g.items_n = cdiv(npanels, g.run_n);
  return g;
}

// Runs the five-loop GEMM of one matrix on thread `tid` of `nt` (all threads of the team
// call it with the same job, buffers and counters, each with its own barrier `phase`, kept
// from call to call; nt == 1: alone, no barriers). Both packed
// blocks are shared: the threads pack them together, meet at a barrier, then share out the
// micro-tiles of the block pair as items of whole micro-panels.
template <typename TC>
void gemm_one(const Plan<TC>& pl, const Job<TC>& jb, char* abuf, char* bbuf, Counters* cnt, int tid,
              int nt, int& phase, bool ends_region) {
  auto team_barrier = [&] {
    if (nt > 1) cnt->barrier.wait(phase);
  };
  const GemmKernelSet<TC>& ks = *pl.ks;
  const int64_t mr = ks.mr, nr = ks.nr, eb = ks.packed_bytes;
  const int64_t sb = static_cast<int64_t>(pl.src_bytes);
  const int64_t M = jb.M, N = jb.N, K = jb.K;
  constexpr int64_t kPackChunk = 4;  // micro-panels per pack claim
  for (int64_t ic = 0; ic < M; ic += pl.mc) {
    const int64_t mb = min64(pl.mc, M - ic), mpanels = cdiv(mb, mr);
    // K == 0: one empty K block, so the epilogue (beta * c + bias, act) still runs.
    for (int64_t pc = 0; pc == 0 || pc < K; pc += pl.kc) {
      const int64_t kb = min64(pl.kc, K - pc), kbp = round_up(kb, ks.kalign);
      const bool last = pc + kb >= K;
      GemmEpilogue<TC> ep{jb.alpha, pc == 0 ? jb.beta : TC(1), nullptr,
                          last ? jb.act : GemmAct::None};
      for (int64_t jc = 0; jc < N; jc += pl.nc) {
        const int64_t nb = min64(pl.nc, N - jc), npanels = cdiv(nb, nr);
        if (nt > 1 && tid == 0) cnt->items.store(0, std::memory_order_relaxed);
        if (kb > 0) {
          // Pack the B block (L2: kb x nb) and, on the first N block, the A block (L3: mb x
          // kb): chunks of B panels first, then of A panels.
          const int64_t bchunks = cdiv(npanels, kPackChunk);
          const int64_t chunks = bchunks + (jc == 0 ? cdiv(mpanels, kPackChunk) : 0);
          for (int64_t q = nt > 1 ? cnt->pack.fetch_add(1) : 0; q < chunks;
               q = nt > 1 ? cnt->pack.fetch_add(1) : q + 1) {
            if (q < bchunks) {
              const int64_t p0 = q * kPackChunk, j0 = p0 * nr;
              ks.pack_b(jb.b + (pc * jb.b_rs + (jc + j0) * jb.b_cs) * sb, jb.b_rs, jb.b_cs, kb,
                        min64(kPackChunk * nr, nb - j0), bbuf + j0 * kbp * eb);
            } else {
              const int64_t p0 = (q - bchunks) * kPackChunk, i0 = p0 * mr;
              ks.pack_a(jb.a + ((ic + i0) * jb.a_rs + pc * jb.a_cs) * sb, jb.a_rs, jb.a_cs,
                        min64(kPackChunk * mr, mb - i0), kb, abuf + i0 * kbp * eb);
            }
          }
        }
        team_barrier();  // both blocks packed, the item counter reset
        const ItemGrid g = item_grid(mpanels, npanels);
        const int64_t run_m = g.run_m, run_n = g.run_n, items_n = g.items_n, items = g.count();
        if (nt > 1 && tid == 0) cnt->pack.store(0, std::memory_order_relaxed);
        for (int64_t it = nt > 1 ? cnt->items.fetch_add(1) : 0; it < items;
             it = nt > 1 ? cnt->items.fetch_add(1) : it + 1) {
          const int64_t i0 = it / items_n * run_m * mr, j0 = it % items_n * run_n * nr;
          ep.bias = last && jb.bias ? jb.bias + jc + j0 : nullptr;
          ks.macro(min64(run_m * mr, mb - i0), min64(run_n * nr, nb - j0), kbp,
                   abuf + i0 * kbp * eb, bbuf + j0 * kbp * eb, jb.c + (ic + i0) * jb.ldc + jc + j0,
                   jb.ldc, ep);
        }
        // The buffers are repacked next (after the region's last block its join waits anyway).
        if (!ends_region || ic + mb < M || pc + kb < K || jc + nb < N) team_barrier();
      }
    }
  }
}

template <typename TC>
void run_packed(const Plan<TC>& pl, int64_t batch, int64_t M, int64_t N, int64_t K, TC alpha,
                const char* a, int64_t a_bs, int64_t a_rs, int64_t a_cs, const char* b,
                int64_t b_bs, int64_t b_rs, int64_t b_cs, TC beta, TC* c, int64_t c_bs,
                int64_t c_rs, const TC* bias, GemmAct act) {
  const int64_t sb = static_cast<int64_t>(pl.src_bytes);
  // One weight matrix over a batch of row-stacked inputs and outputs: one tall GEMM.
  if (batch > 1 && b_bs == 0 && a_bs == M * a_rs && c_bs == M * c_rs) {
    M *= batch;
    batch = 1;
  }
  const Sizes<TC> sz = sizes(pl, M, N, K);
  const size_t per = sz.a_bytes + sz.b_bytes;
  const int64_t flops = 2 * M * N * max64(K, 1);
  const int max_threads = get_num_threads();
  auto job_of = [&](int64_t bi) {
    return Job<TC>{M,
                   N,
                   K,
                   a + bi * a_bs * sb,
                   a_rs,
                   a_cs,
                   b + bi * b_bs * sb,
                   b_rs,
                   b_cs,
                   c + bi * c_bs,
                   c_rs,
                   alpha,
                   beta,
                   bias,
                   act};
  };
  if (max_threads == 1 || flops * batch < 2 * kParallelFlops) {
    char* buf = static_cast<char*>(tl_scratch.get(per));
    int phase = 0;
    for (int64_t bi = 0; bi < batch; ++bi)
      gemm_one(pl, job_of(bi), buf, buf + sz.a_bytes, nullptr, 0, 1, phase, true);
    return;
  }
  if (batch > 1 && flops < 8 * kParallelFlops) {
    // Many small matrices: one matrix per thread at a time, each with its own buffers.
    const int nt = static_cast<int>(min64(max_threads, batch));
    char* buf = static_cast<char*>(tl_scratch.get(per * nt));
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t bi = 0; bi < batch; ++bi) {
      char* mine = buf + per * omp_get_thread_num();
      int phase = 0;
      gemm_one(pl, job_of(bi), mine, mine + sz.a_bytes, nullptr, 0, 1, phase, true);
    }
    return;
  }
  const int nt = static_cast<int>(min64(max_threads, max64(1, flops / kParallelFlops)));
  char* buf = static_cast<char*>(tl_scratch.get(per));
  Counters cnt(nt);
#pragma omp parallel num_threads(nt)
  {
    cnt.barrier.fit_team();
    const int tid = omp_get_thread_num(), n = omp_get_num_threads();
    int phase = 0;
    for (int64_t bi = 0; bi < batch; ++bi)
      gemm_one(pl, job_of(bi), buf, buf + sz.a_bytes, &cnt, tid, n, phase, bi == batch - 1);
  }
}

// One float32 matrix in the small-GEMM form (GemmDirectFn): A read in place, and B too when
// its rows are contiguous, else from bp, B packed whole: K block pc at bp + pc * np (np: N
// rounded up to whole panels). The K blocks and kernels are the packed path's, so the bits
// are the same as there.
struct DirectJob {
  const Plan<float>* pl;
  int64_t M, N, K;
  float alpha;
  const float* a;
  int64_t a_rs, a_cs;
  const float* b;
  int64_t b_rs, b_cs;
  float beta;
  float* c;
  int64_t ldc;
  const float* bias;
  GemmAct act;
  float* bp;  // null: B read in place
  int64_t np;

  // Chunk q of packing B (kPackPanels panels of one K block).
  static constexpr int64_t kPackPanels = 4;
  int64_t pack_chunks() const { return cdiv(K, pl->kc) * cdiv(cdiv(N, pl->ks->nr), kPackPanels); }
  void pack(int64_t q) const {
    const int64_t nr = pl->ks->nr, per_k = cdiv(cdiv(N, nr), kPackPanels);
    const int64_t pc = q / per_k * pl->kc, kb = min64(pl->kc, K - pc);
    const int64_t j0 = q % per_k * kPackPanels * nr;
    pl->ks->pack_b(b + pc * b_rs + j0 * b_cs, b_rs, b_cs, kb, min64(kPackPanels * nr, N - j0),
                   bp + pc * np + j0 * kb);
  }
  // C rows [i0, i0 + m) x columns [j0, j0 + n) (j0 on a panel boundary), every K block.
  // own: null, or room for kc x n packed, where each K block of these columns of B is
  // packed first (items that own their columns of B: nothing shared, no barrier).
  void run(int64_t i0, int64_t m, int64_t j0, int64_t n, float* own = nullptr) const {
    const GemmDirectFn direct = gemm_table().direct;
    const int64_t nr = pl->ks->nr;
    // K == 0: one empty K block, so the epilogue still runs.
    for (int64_t pc = 0; pc == 0 || pc < K; pc += pl->kc) {
      const int64_t kb = min64(pl->kc, K - pc);
      const bool last = pc + kb >= K;
      const GemmEpilogue<float> ep{alpha, pc == 0 ? beta : 1.0f, last && bias ? bias + j0 : nullptr,
                                   last ? act : GemmAct::None};
      const float* ai = a + i0 * a_rs + pc * a_cs;
      float* ci = c + i0 * ldc + j0;
      if (own) {
        if (kb > 0) pl->ks->pack_b(b + pc * b_rs + j0 * b_cs, b_rs, b_cs, kb, n, own);
        direct(m, n, kb, ai, a_rs, a_cs, own, nr, nr * kb, ci, ldc, ep);
      } else if (bp) {
        direct(m, n, kb, ai, a_rs, a_cs, bp + pc * np + j0 * kb, nr, nr * kb, ci, ldc, ep);
      } else {
        direct(m, n, kb, ai, a_rs, a_cs, b + pc * b_rs + j0, b_rs, nr, ci, ldc, ep);
      }
    }
  }
};

// Float32 problems whose operands sit in L2 / L3 run in the small-GEMM form: packing costs
// about as much as a pass of the micro-kernel over them, and the packed path's shared
// blocks need two barriers per block. Small ones (below two threads' worth of flops) run on
// the calling thread; a team claims items of C (all K blocks each) from a counter, with one
// barrier after packing B when its rows are not contiguous, none otherwise.
bool try_direct(const Plan<float>& pl, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                const GemmOperand<float>& a, const GemmOperand<float>& b, float beta,
                const GemmOut<float>& c, const float* bias, GemmAct act) {
  if (!gemm_table().direct || (a.rs != 1 && a.cs != 1)) return false;
  const int64_t mr = pl.ks->mr, nr = pl.ks->nr, np = round_up(N, nr);
  const int64_t flops = 2 * M * N * max64(K, 1), fb = int64_t{sizeof(float)};
  const bool alone = flops * batch < 2 * kParallelFlops;
  // A short A (too few micro-panels to share out) with a large B: items are runs of B panels
  // over all rows, each reading its own columns of B in place when B's rows are contiguous
  // (packing them cost as much as the products: LSTM dG @ W, 32 x 1024 x 256, went from
  // 0.67x to 1.06x numpy), else packing them, so no packed panel is shared (the packed
  // path's shared B block crossed between the cores' L2s).
  const bool skinny =
      !alone && batch == 1 && cdiv(M, mr) < kMinItems && M * K * fb <= kDirectBBytes;
  // Rows of A 4 KiB or more apart fall in one L1 set: read in place, the 14 rows of a
  // micro-panel evict each other (LSTM dh = dG @ W_hh, 64 x 2048 x 512, ran 0.6x the packed
  // path). A skinny A is copied first to rows one cache line longer than K (M x K floats,
  // a few percent of the products' time), so its rows fall in consecutive sets; larger
  // problems with such an A take the packed path.
  const bool restride = !alone && a.cs == 1 && a.rs * fb >= 4096;
  if (restride && !skinny) return false;
  if (!alone && !skinny &&
      (batch > 1 || (M * K + K * N) * fb > kDirectBytes || K * N * fb > kDirectBBytes))
    return false;
  const int nt = alone ? 1 : static_cast<int>(min64(get_num_threads(), flops / kParallelFlops));
  DirectJob jb{&pl,  M,    N,    K,      alpha, a.data, a.rs, a.cs,    b.data,
               b.rs, b.cs, beta, c.data, c.rs,  bias,   act,  nullptr, np};
  if (skinny) {
    const int64_t run = max64(1, cdiv(N, nr) / kMinItems), items = cdiv(cdiv(N, nr), run);
    // Contiguous rows of B are read in place; else each thread packs its items' columns.
    const int64_t own = b.cs == 1 ? 0 : run * nr * min64(pl.kc, max64(K, 1));
    const int64_t lda = round_up(K, 16) + 16, a_elems = restride ? M * lda : 0;
    float* buf = static_cast<float*>(tl_scratch.get(static_cast<size_t>(own * nt + a_elems) * 4));
    if (restride) {
      float* ac = buf + own * nt;
      for (int64_t i = 0; i < M; ++i) std::memcpy(ac + i * lda, a.data + i * a.rs, K * fb);
      jb.a = ac, jb.a_rs = lda;
    }
    std::atomic<int64_t> next{0};
#pragma omp parallel num_threads(nt)
    {
      float* mine = buf + own * omp_get_thread_num();
      for (int64_t it = next.fetch_add(1); it < items; it = next.fetch_add(1))
        jb.run(0, M, it * run * nr, min64(run * nr, N - it * run * nr), own ? mine : nullptr);
    }
    return true;
  }
  const bool pack = b.cs != 1 && K > 0;
  if (pack) jb.bp = static_cast<float*>(tl_scratch.get(static_cast<size_t>(np * K) * 4));
  if (nt <= 1) {
    for (int64_t bi = 0; bi < batch; ++bi) {
      jb.a = a.data + bi * a.bs, jb.b = b.data + bi * b.bs, jb.c = c.data + bi * c.bs;
      if (pack)
        for (int64_t q = 0; q < jb.pack_chunks(); ++q) jb.pack(q);
      jb.run(0, M, 0, N);
    }
    return true;
  }
  const ItemGrid g = item_grid(cdiv(M, mr), cdiv(N, nr));
  Counters cnt(nt);
#pragma omp parallel num_threads(nt)
  {
    if (pack) {
      cnt.barrier.fit_team();
      for (int64_t q = cnt.pack.fetch_add(1); q < jb.pack_chunks(); q = cnt.pack.fetch_add(1))
        jb.pack(q);
      int phase = 0;
      cnt.barrier.wait(phase);
    }
    for (int64_t it = cnt.items.fetch_add(1); it < g.count(); it = cnt.items.fetch_add(1)) {
      const int64_t i0 = it / g.items_n * g.run_m * mr, j0 = it % g.items_n * g.run_n * nr;
      jb.run(i0, min64(g.run_m * mr, M - i0), j0, min64(g.run_n * nr, N - j0));
    }
  }
  return true;
}

// Float32 GEMV (M == 1 or N == 1): y[j * ys] = epilogue(sum_p x[p * xs] * B(p, j)).
bool try_gemv(int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
              const GemmOperand<float>& a, const GemmOperand<float>& b, float beta,
              const GemmOut<float>& c, const float* bias, GemmAct act) {
  const GemvFn gemv = gemm_table().gemv;
  if (!gemv) return false;
  // Per batch entry: x, its stride, B(p, j) strides, y, its stride, bias stride.
  const float *x0, *b0;
  int64_t x_bs, xs, bm_bs, rs, cs, n, ys, bias_s;
  if (M == 1 && (b.rs == 1 || b.cs == 1 || N == 1)) {
    x0 = a.data, x_bs = a.bs, xs = a.cs;
    b0 = b.data, bm_bs = b.bs, rs = b.rs, cs = b.cs;
    n = N, ys = 1, bias_s = 1;
  } else if (N == 1 && (a.rs == 1 || a.cs == 1 || M == 1)) {
    x0 = b.data, x_bs = b.bs, xs = b.rs;              // x = the column of b
    b0 = a.data, bm_bs = a.bs, rs = a.cs, cs = a.rs;  // B'(p, i) = a(i, p)
    n = M, ys = c.rs, bias_s = 0;                     // every row gets bias[0]
  } else {
    return false;
  }
  const bool dot = rs == 1 && (cs != 1 || n == 1);
  // The dot form reads x as a vector: make it contiguous.
  float* xbuf = nullptr;
  if (dot && xs != 1 && K > 0) {
    xbuf = static_cast<float*>(tl_scratch.get(static_cast<size_t>(batch * K) * 4));
    for (int64_t bi = 0; bi < batch; ++bi)
      for (int64_t p = 0; p < K; ++p) xbuf[bi * K + p] = x0[bi * x_bs + p * xs];
  }
  const GemmEpilogue<float> ep{alpha, beta, nullptr, act};
  const int64_t chunks = cdiv(n, kGemvChunk);
  parallel_chunks(batch * chunks, 1, kGemvChunk * max64(K, 1), [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t bi = q / chunks, j0 = (q % chunks) * kGemvChunk;
      const float* x = xbuf ? xbuf + bi * K : x0 + bi * x_bs;
      GemmEpilogue<float> e = ep;
      const float* bp = bias ? bias + j0 * bias_s : nullptr;
      gemv(min64(kGemvChunk, n - j0), K, x, xbuf ? 1 : xs, b0 + bi * bm_bs + j0 * cs, rs, cs,
           c.data + bi * c.bs + j0 * ys, ys, bp, bias_s, e);
    }
  });
  return true;
}

}  // namespace

void gemm_f32(int64_t batch, int64_t M, int64_t N, int64_t K, float alpha, GemmOperand<float> a,
              GemmOperand<float> b, float beta, GemmOut<float> c, const float* bias, GemmAct act) {
  if (batch <= 0 || M <= 0 || N <= 0) return;
  if (try_gemv(batch, M, N, K, alpha, a, b, beta, c, bias, act)) return;
  const Plan<float> pl = make_plan(gemm_table().f32, sizeof(float), 0);
  if (try_direct(pl, batch, M, N, K, alpha, a, b, beta, c, bias, act)) return;
  run_packed<float>(pl, batch, M, N, K, alpha, reinterpret_cast<const char*>(a.data), a.bs, a.rs,
                    a.cs, reinterpret_cast<const char*>(b.data), b.bs, b.rs, b.cs, beta, c.data,
                    c.bs, c.rs, bias, act);
}

void gemm_f64(int64_t batch, int64_t M, int64_t N, int64_t K, double alpha, GemmOperand<double> a,
              GemmOperand<double> b, double beta, GemmOut<double> c, const double* bias,
              GemmAct act) {
  if (batch <= 0 || M <= 0 || N <= 0) return;
  const Plan<double> pl = make_plan(generic::gemm_f64_kernels, sizeof(double), -1);
  run_packed<double>(pl, batch, M, N, K, alpha, reinterpret_cast<const char*>(a.data), a.bs, a.rs,
                     a.cs, reinterpret_cast<const char*>(b.data), b.bs, b.rs, b.cs, beta, c.data,
                     c.bs, c.rs, bias, act);
}

namespace {

constexpr const char* kBf16Paths[] = {"auto", "native", "widen", "amx"};
constexpr int kAuto = 0, kNative = 1, kWiden = 2, kAmx = 3;

std::atomic<int> g_bf16_path{kAuto};

void gemm_bf16_widen(int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                     const GemmOperand<uint16_t>& a, const GemmOperand<uint16_t>& b, float beta,
                     const GemmOut<float>& c, const float* bias, GemmAct act) {
  const Plan<float> pl = make_plan(gemm_table().bf16_widen, 2, 0);
  run_packed<float>(pl, batch, M, N, K, alpha, reinterpret_cast<const char*>(a.data), a.bs, a.rs,
                    a.cs, reinterpret_cast<const char*>(b.data), b.bs, b.rs, b.cs, beta, c.data,
                    c.bs, c.rs, bias, act);
}

}  // namespace

// Runs the AMX path's tile loop `run` on one small GEMM with K, M and N tails (odd K, a short
// K chunk, a 5-row block, an odd panel) and compares it with the widen path. The values are
// multiples of 1/8 in [-1, 1], so every product and partial sum is exact in fp32 and a
// correct tile layout gives exactly the widen path's result. Empty when they agree, else
// what differed.
std::string gemm_bf16_amx_self_check(AmxRunFn run) {
  constexpr int64_t M = 37, N = 45, K = 133;
  std::vector<uint16_t> a(M * K), b(K * N);
  uint32_t state = 12345;
  auto next = [&state] {
    state = state * 1664525u + 1013904223u;
    const float v = static_cast<float>(static_cast<int>((state >> 16) % 17) - 8) / 8.0f;
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    return static_cast<uint16_t>(bits >> 16);  // exact: at most 4 significant bits
  };
  for (auto& v : a) v = next();
  for (auto& v : b) v = next();
  std::vector<float> amx(M * N), widen(M * N), bias(N, 0.5f);
  const GemmOperand<uint16_t> ao{a.data(), 0, K, 1}, bo{b.data(), 0, N, 1};
  gemm_bf16_amx(run, 1, M, N, K, 1.0f, ao, bo, 0.0f, {amx.data(), 0, N}, bias.data(),
                GemmAct::None);
  gemm_bf16_widen(1, M, N, K, 1.0f, ao, bo, 0.0f, {widen.data(), 0, N}, bias.data(), GemmAct::None);
  for (int64_t i = 0; i < M * N; ++i)
    if (!(amx[i] == widen[i]))
      return cat_str("element (", i / N, ", ", i % N, ") of a ", M, " x ", N, " x ", K,
                     " product was ", amx[i], " on AMX and ", widen[i], " on the widen path");
  return {};
}

namespace {

// The auto choice's AMX verdict, made once at the first need: usable, and the self-check
// passed. `why` says which (gemm_bf16_amx_status).
struct AmxVerdict {
  bool use;
  std::string why;
};
const AmxVerdict& amx_verdict() {
  static const AmxVerdict v = []() -> AmxVerdict {
    if (const char* missing = gemm_bf16_amx_missing()) return {false, missing};
#ifdef EMBER_HAVE_AMX_BUILD
    const std::string failed = gemm_bf16_amx_self_check(amx_hw_run_dpbf16ps);
#else
    const std::string failed = "no AMX object in this build";
#endif
    if (!failed.empty()) return {false, "the AMX self-check failed: " + failed};
    return {true, "AMX-BF16 usable, the self-check passed"};
  }();
  return v;
}

enum class Bf16Kernel { Widen, Native, Amx };

// The kernels a bf16 GEMM runs now (gemm.h: gemm_bf16_native, gemm_set_bf16_path).
Bf16Kernel bf16_kernel() {
  const int path = g_bf16_path.load(std::memory_order_relaxed);
  if (current_isa() != Isa::Avx512 || path == kWiden) return Bf16Kernel::Widen;
  if (path == kAmx || (path == kAuto && amx_verdict().use)) return Bf16Kernel::Amx;
  const bool native = cpu_has_avx512_bf16() && gemm_table().bf16.macro != nullptr;
  if (native && (path == kNative || cpu_bf16_dot_full_rate())) return Bf16Kernel::Native;
  return Bf16Kernel::Widen;
}

}  // namespace

bool gemm_bf16_native() { return bf16_kernel() == Bf16Kernel::Native; }

const char* gemm_bf16_kernel_name() {
  switch (bf16_kernel()) {
    case Bf16Kernel::Amx:
      return "amx";
    case Bf16Kernel::Native:
      return "native";
    case Bf16Kernel::Widen:
      break;
  }
  return "widen";
}

const char* gemm_bf16_amx_status() { return amx_verdict().why.c_str(); }

void gemm_set_bf16_path(const char* path) {
  for (int i = 0; i < 4; ++i) {
    if (std::strcmp(path, kBf16Paths[i]) != 0) continue;
    if (i == kAmx)
      if (const char* missing = gemm_bf16_amx_missing())
        throw ValueError(cat_str("ember: the bf16 GEMM path 'amx' is not available: ", missing));
    return g_bf16_path.store(i);
  }
  throw ValueError(
      cat_str("ember: the bf16 GEMM path must be auto, native, widen or amx, got '", path, "'"));
}

const char* gemm_bf16_path() { return kBf16Paths[g_bf16_path.load()]; }

void gemm_bf16(int64_t batch, int64_t M, int64_t N, int64_t K, float alpha, GemmOperand<uint16_t> a,
               GemmOperand<uint16_t> b, float beta, GemmOut<float> c, const float* bias,
               GemmAct act) {
  if (batch <= 0 || M <= 0 || N <= 0) return;
  switch (bf16_kernel()) {
#ifdef EMBER_HAVE_AMX_BUILD
    case Bf16Kernel::Amx:
      return gemm_bf16_amx(amx_hw_run_dpbf16ps, batch, M, N, K, alpha, a, b, beta, c, bias, act);
#endif
    case Bf16Kernel::Native:
      return run_packed<float>(make_plan(gemm_table().bf16, 2, 1), batch, M, N, K, alpha,
                               reinterpret_cast<const char*>(a.data), a.bs, a.rs, a.cs,
                               reinterpret_cast<const char*>(b.data), b.bs, b.rs, b.cs, beta,
                               c.data, c.bs, c.rs, bias, act);
    default:
      return gemm_bf16_widen(batch, M, N, K, alpha, a, b, beta, c, bias, act);
  }
}

void gemm_bf16_tile_model(int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                          GemmOperand<uint16_t> a, GemmOperand<uint16_t> b, float beta,
                          GemmOut<float> c, const float* bias, GemmAct act) {
  gemm_bf16_amx(amx_model_run_dpbf16ps, batch, M, N, K, alpha, a, b, beta, c, bias, act);
}

void gemm_set_blocking(int64_t mc, int64_t kc, int64_t nc, bool bf16) {
  const int s = bf16 ? 1 : 0;
  g_block[s][0] = mc > 0 ? mc : 0;
  g_block[s][1] = kc > 0 ? kc : 0;
  g_block[s][2] = nc > 0 ? nc : 0;
}

double gemm_microkernel_gflops(int64_t k, int64_t iters, bool bf16) {
  const bool native = bf16 && gemm_bf16_native();
  const GemmKernelSet<float>& ks = native ? gemm_table().bf16 : gemm_table().f32;
  k = round_up(max64(k, 1), ks.kalign);
  iters = max64(iters, 1);
  // Panels 64-byte aligned, as sizes() lays them out: the kernels use aligned loads/stores.
  const size_t a_bytes = (static_cast<size_t>(ks.mr * k) * ks.packed_bytes + 63) & ~size_t{63};
  const size_t b_bytes = (static_cast<size_t>(ks.nr * k) * ks.packed_bytes + 63) & ~size_t{63};
  const size_t c_bytes = static_cast<size_t>(ks.mr * ks.nr) * 4;
  const size_t per = (a_bytes + b_bytes + c_bytes + 4095) & ~size_t{4095};
  const int nt = get_num_threads();
  char* buf = static_cast<char*>(tl_scratch.get(per * nt));
  double seconds = 0;
#pragma omp parallel num_threads(nt)
  {
    char* mine = buf + per * omp_get_thread_num();
    // Small values (0x3c00 is bf16 0.0078125; floats 1/128): nothing overflows or goes
    // subnormal, so every FMA runs at full speed.
    if (native) {
      uint16_t* p = reinterpret_cast<uint16_t*>(mine);
      for (size_t i = 0; i < (a_bytes + b_bytes) / 2; ++i) p[i] = 0x3c00;
    } else {
      float* p = reinterpret_cast<float*>(mine);
      for (size_t i = 0; i < (a_bytes + b_bytes) / 4; ++i) p[i] = 1.0f / 128;
    }
    float* c = reinterpret_cast<float*>(mine + a_bytes + b_bytes);
    const GemmEpilogue<float> ep{1.0f, 0.0f, nullptr, GemmAct::None};
    ks.macro(ks.mr, ks.nr, k, mine, mine + a_bytes, c, ks.nr, ep);  // warm up
#pragma omp barrier
    const double t0 = omp_get_wtime();
    for (int64_t it = 0; it < iters; ++it)
      ks.macro(ks.mr, ks.nr, k, mine, mine + a_bytes, c, ks.nr, ep);
#pragma omp barrier
#pragma omp master
    seconds = omp_get_wtime() - t0;
  }
  return 2.0 * ks.mr * ks.nr * k * iters * nt / seconds / 1e9;
}

void gemm_get_blocking(int64_t out[5], bool bf16) {
  const bool native = bf16 && gemm_bf16_native();
  const Plan<float> pl =
      native ? make_plan(gemm_table().bf16, 2, 1) : make_plan(gemm_table().f32, 4, 0);
  out[0] = pl.ks->mr;
  out[1] = pl.ks->nr;
  out[2] = pl.mc;
  out[3] = pl.kc;
  out[4] = pl.nc;
}

}  // namespace ember::cpu
