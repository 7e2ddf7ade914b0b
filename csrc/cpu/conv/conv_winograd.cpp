// Winograd F(4x4, 3x3) forward convolution, float32 (see conv.h for when it runs).
//
// Output tiles of 4x4 read 6x6 input patches. With V = B^T d B per (tile, input channel),
// U = G g G^T per (output channel, input channel) and M = A^T m A, the convolution is 36
// independent GEMMs over the 6x6 positions xi: m_xi (K x tiles) = U_xi (K x C) @ V_xi
// (C x tiles), on the packed GEMM's micro-kernels (cpu/gemm).
//
// U is computed and packed once per call into GEMM A panels (36 x K x C), shared by the
// threads. A work item is (block of tiles, range of output channels): a block holds nb tiles
// (a multiple of the GEMM's nr, possibly across images) whose transformed inputs for all 36
// xi fit about kBlockBytes. The item pads each input channel's rows under its tiles into a
// small zero-bordered plane, transforms them straight into packed B panels (the vector
// kernels of conv_kernels.cpp, one lane per tile), then, one chunk of output channels at a
// time, runs the 36 GEMMs into a chunk buffer and transforms it into the output, storing
// only the rows and columns inside the image (ragged edge tiles).
//
// Determinism: every output sums its input channels over the same K blocks in the same
// order whichever item or thread computes it, so 1 and N threads agree bit for bit.
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/parallel.h"
#include "cpu/conv/conv.h"
#include "cpu/driver_util.h"

namespace ember::cpu {
namespace {

constexpr int kXi = 36;
// Bytes of transformed input (36 x C x nb) and of GEMM output (36 x channels x nb) an item
// keeps: together about the 1 MiB L2 of one core.
constexpr int64_t kBlockBytes = 512 * 1024;
constexpr int64_t kChunkBytes = 384 * 1024;

thread_local Scratch tl_wino;  // per item: V, m, planes
// The caller's packed U (36 K C floats), kept between calls: a fresh buffer of that size
// (9 MiB at K = C = 256) page-faults on every call, ~1 ms.
thread_local Scratch tl_wino_u;

// o[i][r] = (G v)[i] for the 3-vectors v[r] = (a[r], b[r], c[r]), r < n (G of F(4, 3)).
inline void g_apply(const float* a, const float* b, const float* c, float* const (&o)[6],
                    int64_t n) {
  for (int64_t r = 0; r < n; ++r) {
    const float e = -(a[r] + c[r]) * (1.0f / 6), f = a[r] * (1.0f / 24) + c[r] * (1.0f / 6);
    o[0][r] = a[r] * 0.25f;
    o[1][r] = e - b[r] * (1.0f / 6);
    o[2][r] = e + b[r] * (1.0f / 6);
    o[3][r] = f + b[r] * (1.0f / 12);
    o[4][r] = f - b[r] * (1.0f / 12);
    o[5][r] = c[r];
  }
}

constexpr int64_t kMaxMr = 32;  // >= every float32 micro-tile's mr (14 at most)
constexpr int64_t kUCols = 8;   // A panel columns transformed before they are stored

// U = G g G^T of output channels [k0, k0 + mr) (zero past K) and input channels
// [c0, c0 + kb) straight into their GEMM A panel (gemm.h's packed layout): element (xi, r,
// p) at dst[xi * xs + p * mr + r]; columns [kb, kbp) zero. kUCols columns at a time go
// through a local buffer, so each xi's panel is written in runs, not 36 interleaved streams.
void pack_u_panel(const float* w, int64_t K, int64_t C, int64_t k0, int64_t mr, int64_t c0,
                  int64_t kb, int64_t kbp, float* dst, int64_t xs) {
  float g[9][kMaxMr], t[6][3][kMaxMr], u[kXi][kUCols * kMaxMr];
  for (int64_t p0 = 0; p0 < kbp; p0 += kUCols) {
    const int64_t np = min64(kUCols, kbp - p0);
    for (int64_t p = p0; p < p0 + np; ++p) {
      for (int64_t r = 0; r < mr; ++r)
        for (int q = 0; q < 9; ++q)
          g[q][r] = p < kb && k0 + r < K ? w[((k0 + r) * C + c0 + p) * 9 + q] : 0.0f;
      for (int j = 0; j < 3; ++j) {  // columns of G g
        float* const o[6] = {t[0][j], t[1][j], t[2][j], t[3][j], t[4][j], t[5][j]};
        g_apply(g[j], g[3 + j], g[6 + j], o, mr);
      }
      for (int i = 0; i < 6; ++i) {  // rows of (G g) G^T
        const int64_t at = (p - p0) * mr;
        float* const o[6] = {u[i * 6] + at,     u[i * 6 + 1] + at, u[i * 6 + 2] + at,
                             u[i * 6 + 3] + at, u[i * 6 + 4] + at, u[i * 6 + 5] + at};
        g_apply(t[i][0], t[i][1], t[i][2], o, mr);
      }
    }
    for (int xi = 0; xi < kXi; ++xi)
      std::memcpy(dst + xi * xs + p0 * mr, u[xi], static_cast<size_t>(np * mr) * sizeof(float));
  }
}

// Rows [r0, r0 + rows) x columns [0, cols) of the zero-padded plane whose (ph, pw) is
// the input's (0, 0).
void pad_rows(const float* xc, int64_t h, int64_t w, int64_t r0, int64_t rows, int64_t cols,
              int64_t pw, float* dst) {
  const int64_t q0 = min64(cols, pw), q1 = max64(q0, min64(cols, pw + w));
  for (int64_t r = 0; r < rows; ++r) {
    float* d = dst + r * cols;
    const int64_t ih = r0 + r;
    if (ih < 0 || ih >= h) {
      std::memset(d, 0, static_cast<size_t>(cols) * sizeof(float));
      continue;
    }
    std::memset(d, 0, static_cast<size_t>(q0) * sizeof(float));
    std::memcpy(d + q0, xc + ih * w + (q0 - pw), static_cast<size_t>(q1 - q0) * sizeof(float));
    std::memset(d + q1, 0, static_cast<size_t>(cols - q1) * sizeof(float));
  }
}

// The rows of one image a block reads: `rows` padded rows from input row 4 ty0 - ph (tile
// rows ty0 on), stored at `at` in the block's plane buffer.
struct Slot {
  int64_t img, ty0, rows, at;
};

}  // namespace

void winograd_conv2d(const ConvShape& s, const float* x, const float* w, const float* bias,
                     float* y, GemmAct act) {
  const GemmKernelSet<float>& ks = gemm_table().f32;
  const ConvTable& ct = conv_table();
  const int64_t C = s.c, K = s.k, P = s.oh * s.ow, hw = s.h * s.w;
  const int64_t mr = ks.mr, nr = ks.nr;
  // Tiles: th x tw per image, numbered image-major then row-major; planes are wp wide.
  const int64_t th = cdiv(s.oh, 4), tw = cdiv(s.ow, 4), tpi = th * tw, tiles = s.n * tpi;
  const int64_t wp = 4 * tw + 2;
  // Input channels in GEMM K blocks of kc (kcp padded rows each in the packed panels).
  const int64_t kc = max64(1, min64(ks.kc, C)), kblocks = cdiv(C, kc);
  const int64_t kcp = round_up(kc, ks.kalign);
  const int64_t cp = (kblocks - 1) * kcp + round_up(C - (kblocks - 1) * kc, ks.kalign);
  const int64_t kp = round_up(K, mr);

  // U, packed: A panels of block (xi, b) at ((xi * kblocks + b) * kp * kcp).
  float* pa = static_cast<float*>(
      tl_wino_u.get(static_cast<size_t>(kXi * kblocks * kp * kcp) * sizeof(float)));
  parallel_chunks(kblocks * (kp / mr), 1, mr * kc * 100, [&](int64_t i0, int64_t i1) {
    for (int64_t it = i0; it < i1; ++it) {
      const int64_t b = it / (kp / mr), k0 = it % (kp / mr) * mr;
      const int64_t c0 = b * kc, kb = min64(kc, C - c0), kbp = round_up(kb, ks.kalign);
      pack_u_panel(w, K, C, k0, mr, c0, kb, kbp, pa + b * kp * kcp + k0 * kbp, kblocks * kp * kcp);
    }
  });

  // Blocks of nb tiles; split the output channels too when blocks are few.
  const int64_t nb_cap = max64(nr, kBlockBytes / (kXi * cp * 4) / nr * nr);
  const int64_t nblocks = cdiv(tiles, nb_cap);
  const int64_t nb = round_up(cdiv(tiles, nblocks), nr);
  const int64_t nblocks2 = cdiv(tiles, nb);
  const int64_t kpanels = kp / mr;
  const int threads = get_num_threads();
  int64_t ksplit = 1;
  if (nblocks2 < 2 * threads) ksplit = min64(kpanels, cdiv(2 * threads, nblocks2));
  const int64_t rows_per = cdiv(kpanels, ksplit) * mr;
  ksplit = cdiv(K, rows_per);
  const int64_t chunk_cap = max64(mr, kChunkBytes / (kXi * nb * 4) / mr * mr);
  const int64_t nchunks = cdiv(rows_per, chunk_cap);
  const int64_t chunk = round_up(cdiv(rows_per, nchunks), mr);
  // Scratch per item (floats, each part 64-byte aligned): V, the chunk of m, the output
  // tile staging, the padded planes (at most 2 tile rows more than the tiles need per image).
  // V's xi stride: one cache line over the block, so the 36 streams a tile writes do not
  // all map to one L1 set (their stride would often be a multiple of 4 KiB; measured 18%
  // off the input transform at C = 64).
  const int64_t vxs = cp * nb + 16;
  const int64_t v_sz = round_up(kXi * vxs, 16), m_sz = round_up(kXi * chunk * nb, 16);
  const int64_t o_sz = round_up(16 * nb, 16);
  const int64_t img_max = min64(s.n, cdiv(nb, tpi) + 1);
  const int64_t plane_sz = round_up((4 * (cdiv(nb, tw) + 2 * img_max) + 2 * img_max) * wp, 16);
  // + per tile: patch offset (int32), output offset (int64), 8 x stored rows + columns (int32)
  const int64_t scratch = v_sz + m_sz + o_sz + plane_sz + 4 * nb;
  const int64_t cost = 2 * kXi * C * rows_per * nb + 300 * C * nb;
  const bool relu = act == GemmAct::Relu;

  parallel_chunks(nblocks2 * ksplit, 1, cost, [&](int64_t i0, int64_t i1) {
    float* V = static_cast<float*>(tl_wino.get(static_cast<size_t>(scratch) * sizeof(float)));
    float* Mb = V + v_sz;
    float* ob = Mb + m_sz;
    float* plane = ob + o_sz;
    int32_t* off = reinterpret_cast<int32_t*>(plane + plane_sz);
    int64_t* yoff = reinterpret_cast<int64_t*>(off + nb);  // 8-byte aligned: nb % 8 == 0
    int32_t* ext = reinterpret_cast<int32_t*>(yoff + nb);
    std::vector<Slot> slots(static_cast<size_t>(img_max));
    for (int64_t it = i0; it < i1; ++it) {
      const int64_t bi = it / ksplit, ks_i = it % ksplit;
      const int64_t g0 = bi * nb, gn = min64(nb, tiles - g0);
      const int64_t k_lo = ks_i * rows_per, k_hi = min64(K, k_lo + rows_per);
      // Slots of the images this block touches and each tile's patch offset (zero beyond gn:
      // those lanes read real data and are never stored).
      int64_t nslots = 0;
      int64_t at = 0;
      for (int64_t img = g0 / tpi; img * tpi < g0 + gn; ++img) {
        const int64_t a = max64(g0, img * tpi) - img * tpi;
        const int64_t z = min64(g0 + gn, (img + 1) * tpi) - 1 - img * tpi;
        const int64_t ty0 = a / tw, rows = 4 * (z / tw - ty0) + 6;
        slots[nslots++] = {img, ty0, rows, at};
        at += rows * wp;
      }
      for (int64_t j = 0, si = 0; j < nb; ++j) {
        if (j >= gn) {
          off[j] = 0;
          continue;
        }
        const int64_t g = g0 + j, img = g / tpi, ty = g % tpi / tw, tx = g % tw;
        while (slots[si].img != img) ++si;
        off[j] = static_cast<int32_t>(slots[si].at + 4 * (ty - slots[si].ty0) * wp + 4 * tx);
        yoff[j] = img * K * P + 4 * ty * s.ow + 4 * tx;
        ext[j] = static_cast<int32_t>(min64(4, s.oh - 4 * ty) * 8 + min64(4, s.ow - 4 * tx));
      }
      // V, one input channel at a time through its padded planes.
      for (int64_t c = 0; c < C; ++c) {
        for (int64_t si = 0; si < nslots; ++si) {
          const Slot& sl = slots[si];
          pad_rows(x + (sl.img * C + c) * hw, s.h, s.w, 4 * sl.ty0 - s.ph, sl.rows, wp, s.pw,
                   plane + sl.at);
        }
        const int64_t b = c / kc, kb = min64(kc, C - b * kc), kbp = round_up(kb, ks.kalign);
        float* dst = V + b * kcp * nb + (c - b * kc) * nr;
        ct.wino_input(plane, wp, off, nb, nr, kbp * nr, dst, vxs);
      }
      for (int64_t b = 0; b < kblocks; ++b) {  // zero rows padding a K block to kalign
        const int64_t kb = min64(kc, C - b * kc), kbp = round_up(kb, ks.kalign);
        for (int64_t xi = 0; xi < kXi; ++xi)
          for (int64_t q = 0; q < nb / nr; ++q)
            for (int64_t r = kb; r < kbp; ++r)
              std::memset(V + xi * vxs + b * kcp * nb + q * kbp * nr + r * nr, 0,
                          static_cast<size_t>(nr) * sizeof(float));
      }
      // m = U V per chunk of output channels, then the output transform.
      for (int64_t k0 = k_lo; k0 < k_hi; k0 += chunk) {
        const int64_t kn = min64(chunk, k_hi - k0);
        for (int64_t xi = 0; xi < kXi; ++xi)
          for (int64_t b = 0; b < kblocks; ++b) {
            const int64_t kb = min64(kc, C - b * kc), kbp = round_up(kb, ks.kalign);
            GemmEpilogue<float> ep{1.0f, b == 0 ? 0.0f : 1.0f, nullptr, GemmAct::None};
            ks.macro(kn, gn, kbp, pa + (xi * kblocks + b) * kp * kcp + k0 * kbp,
                     V + xi * vxs + b * kcp * nb, Mb + xi * chunk * nb, nb, ep);
          }
        for (int64_t k = k0; k < k0 + kn; ++k) {
          ct.wino_output(Mb + (k - k0) * nb, chunk * nb, nb, bias ? bias[k] : 0.0f, relu, ob, nb);
          float* yk = y + k * P;
          for (int64_t j = 0; j < gn; ++j) {
            const int64_t rv = ext[j] >> 3, cv = ext[j] & 7;
            float* yt = yk + yoff[j];
            for (int64_t r = 0; r < rv; ++r)
              for (int64_t q = 0; q < cv; ++q) yt[r * s.ow + q] = ob[(r * 4 + q) * nb + j];
          }
        }
      }
    }
  });
}

}  // namespace ember::cpu
