// Convolution drivers: algorithm choice, blocking, packing and threading around the packed
// GEMM's micro-kernels (cpu/gemm) and the depthwise kernels (conv_kernels.cpp). See conv.h.
//
// Implicit GEMM, per (image, group): out (Mg x P) = W_g (Mg x Kd) @ col (Kd x P), with
// Mg = out channels per group, Kd = in channels per group * kh * kw, P = output pixels.
// The weights are packed once per call into the GEMM's A panels (all K blocks, all groups)
// and shared by the threads. Work items are (image, group, tile of output pixels); an item
// im2cols its tile, one K block at a time, straight into packed B panels in a per-thread
// buffer sized for L2, and runs the GEMM macro-kernel over all M blocks. Each output element
// is summed over the same K blocks in the same order whoever computes it, so 1 and N threads
// agree bit for bit.
#include "cpu/conv/conv.h"

#include <omp.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include "core/isa.h"
#include "core/parallel.h"
#include "cpu/batchnorm/batchnorm.h"
#include "cpu/driver_util.h"

namespace ember::cpu {

const ConvTable& conv_table() { return EMBER_ISA_TABLE(conv_table); }

int64_t conv_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil) {
  return (in + 2 * pad - dil * (k - 1) - 1) / stride + 1;
}

namespace {

// Whether Winograd F(4x4, 3x3) runs for s (the rule in conv.h).
bool use_winograd(const ConvShape& s) {
  if (s.kh != 3 || s.kw != 3 || s.sh != 1 || s.sw != 1 || s.dh != 1 || s.dw != 1 || s.groups != 1 ||
      s.ph < 0 || s.pw < 0)
    return false;
  const char* env = std::getenv("EMBER_CONV_WINOGRAD");
  if (env && std::strcmp(env, "0") == 0) return false;
  if (env && std::strcmp(env, "1") == 0) return true;
  // Measured (2 threads): below these the fixed costs (the weight transform, per-tile
  // transforms, a part-empty block of tiles) outweigh the 2.25x fewer products.
  const int64_t tiles = s.n * ((s.oh + 3) / 4) * ((s.ow + 3) / 4);
  return s.c >= 16 && s.k >= 8 && tiles >= 32 && tiles * s.c * s.k >= (int64_t{1} << 18);
}

}  // namespace

ConvAlgo conv_algo(const ConvShape& s) {
  if (s.groups > 1 && s.groups == s.c) return ConvAlgo::Depthwise;
  if (s.kh == 1 && s.kw == 1 && s.sh == 1 && s.sw == 1 && s.ph == 0 && s.pw == 0)
    return ConvAlgo::Gemm1x1;
  if (use_winograd(s)) return ConvAlgo::Winograd;
  return ConvAlgo::ImplicitGemm;
}

const char* conv_algo_name(ConvAlgo a) {
  switch (a) {
    case ConvAlgo::Depthwise:
      return "depthwise";
    case ConvAlgo::Gemm1x1:
      return "gemm1x1";
    case ConvAlgo::Winograd:
      return "winograd";
    default:
      return "implicit_gemm";
  }
}

namespace {

// Bytes of packed B (one K block x one pixel tile) a thread keeps: about a quarter of L2,
// leaving room for the A block (mc x kc) it streams and the C tile.
constexpr int64_t kTileBytes = 256 * 1024;
// Below this many flops a call runs on the calling thread.
constexpr int64_t kParallelFlops = int64_t{1} << 21;
// Enough work items to balance a few threads (shape-only rules).
constexpr int64_t kTargetItems = 8;

thread_local Scratch tl_pack;  // packed B tiles
thread_local Scratch tl_aux;   // column tiles, padded planes
thread_local Scratch tl_tile;  // output tiles that span images

template <typename T>
const GemmKernelSet<T>& kernel_set();
template <>
const GemmKernelSet<float>& kernel_set<float>() {
  return gemm_table().f32;
}
template <>
const GemmKernelSet<double>& kernel_set<double>() {
  return generic::gemm_f64_kernels;
}

// Runs fn(item) for item < items, spread over the threads when the work is worth it.
// Items are independent; which thread runs one changes no result.
template <typename Fn>
void for_items(int64_t items, int64_t flops, Fn&& fn) {
  const int max_threads = get_num_threads();
  if (items <= 1 || max_threads == 1 || flops < kParallelFlops) {
    for (int64_t it = 0; it < items; ++it) fn(it);
    return;
  }
  const int nt = static_cast<int>(min64(max_threads, items));
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
  for (int64_t it = 0; it < items; ++it) fn(it);
}

// ---- packed weights (GEMM A panels)

// A (rows x kdim) of `groups` groups, all K blocks packed: block b of group g holds
// rows [0, rows) x k [b kc, b kc + kb) as ceil(rows / mr) panels of mr x kbp.
template <typename T>
struct PackedA {
  int64_t rows, kdim, kc, kblocks, rows_p, kcp;
  std::vector<int64_t> off;  // per (g, b)
  std::unique_ptr<AlignedBuffer<T>> buf;
  T* data = nullptr;
  const T* block(int64_t g, int64_t b) const { return data + off[g * kblocks + b]; }
};

// Lays out and packs A. Element (i, p) of group g is src[g * gs + i * rs + p * cs].
template <typename T>
void pack_weights(const GemmKernelSet<T>& ks, int64_t groups, int64_t rows, int64_t kdim,
                  const T* src, int64_t gs, int64_t rs, int64_t cs, PackedA<T>* pa) {
  pa->rows = rows;
  pa->kdim = kdim;
  pa->kc = max64(1, min64(ks.kc, max64(kdim, 1)));
  pa->kblocks = max64(1, cdiv(kdim, pa->kc));
  pa->rows_p = round_up(rows, ks.mr);
  pa->kcp = round_up(pa->kc, ks.kalign);
  pa->off.resize(groups * pa->kblocks);
  int64_t total = 0;
  for (int64_t g = 0; g < groups; ++g)
    for (int64_t b = 0; b < pa->kblocks; ++b) {
      pa->off[g * pa->kblocks + b] = total;
      total += pa->rows_p * pa->kcp;
    }
  pa->buf = std::make_unique<AlignedBuffer<T>>(total);
  pa->data = pa->buf->get();
  const int64_t kb_total = groups * pa->kblocks;
  const PackedA<T>& p = *pa;
  for_items(kb_total, 2 * rows * kdim * groups * 64, [&](int64_t it) {
    const int64_t g = it / p.kblocks, b = it % p.kblocks;
    const int64_t k0 = b * p.kc, kb = min64(p.kc, kdim - k0);
    if (kb <= 0) return;
    ks.pack_a(src + g * gs + k0 * cs, rs, cs, rows, kb, p.data + p.off[it]);
  });
}

// ---- im2col straight into packed B panels

using Seg = Im2colSeg;
constexpr int kMaxSegs = 128;  // a panel (nr <= 128 pixels) has at most nr segments

// Pixels [p0, p0 + n) as runs within output rows. Pixel p0 + j is pixel (p0 + j) % P of
// image (p0 + j) / P (P = oh * ow), so a range may span consecutive images.
int make_segs(const ConvShape& s, int64_t p0, int64_t n, Seg* segs) {
  const int64_t P = s.oh * s.ow, xstride = s.c * s.h * s.w;
  int ns = 0;
  for (int64_t j = 0; j < n;) {
    const int64_t img = (p0 + j) / P, p = (p0 + j) % P;
    const int64_t o = p / s.ow, q = p % s.ow;
    const int64_t len = min64(n - j, s.ow - q);
    segs[ns++] = {o, q, len, j, img * xstride};
    j += len;
  }
  return ns;
}

// Valid run [t_lo, t_hi) of t < len with 0 <= i0 + t * st < n.
inline void valid_run(int64_t i0, int64_t st, int64_t n, int64_t len, int64_t* t_lo,
                      int64_t* t_hi) {
  int64_t lo = i0 >= 0 ? 0 : (-i0 + st - 1) / st;
  int64_t hi = i0 > n - 1 ? 0 : (n - 1 - i0) / st + 1;
  if (lo > len) lo = len;
  if (hi > len) hi = len;
  if (hi < lo) hi = lo;
  *t_lo = lo;
  *t_hi = hi;
}

// d[t] = x at input column i0 + t * st of row xr (zero outside [0, w)), t < len.
template <typename T>
inline void gather_row(T* d, const T* xr, int64_t i0, int64_t st, int64_t w, int64_t len) {
  int64_t lo, hi;
  valid_run(i0, st, w, len, &lo, &hi);
  for (int64_t t = 0; t < lo; ++t) d[t] = T(0);
  if (st == 1) {
    if (hi > lo) std::memcpy(d + lo, xr + i0 + lo, (hi - lo) * sizeof(T));
  } else {
    for (int64_t t = lo; t < hi; ++t) d[t] = xr[i0 + t * st];
  }
  for (int64_t t = hi; t < len; ++t) d[t] = T(0);
}

// Rows [k0, k0 + kb) x pixels [j0, j0 + nt) of the im2col matrix of one group (xg: its first
// input channel in image 0; pixels past oh * ow belong to the next images, see make_segs)
// into ceil(nt / nr) panels of kbp x nr, k-major, zero padded.
// Row k = (c, i, j) reads input channel c at kernel tap (i, j). float32 goes through the
// ISA's vector panel kernel.
template <typename T>
void pack_im2col(const ConvShape& s, const T* xg, int64_t k0, int64_t kb, int64_t kbp, int64_t j0,
                 int64_t nt, int64_t nr, T* dst) {
  const int64_t khw = s.kh * s.kw, hw = s.h * s.w;
  Seg segs[kMaxSegs];
  for (int64_t q = 0; q * nr < nt; ++q) {
    T* panel = dst + q * kbp * nr;
    const int64_t nn = min64(nr, nt - q * nr);
    const int ns = make_segs(s, j0 + q * nr, nn, segs);
    bool done = false;
    if constexpr (sizeof(T) == 4) {
      if (s.sw < (int64_t{1} << 24) && (nr == 16 || nr == 32 || nr == 64)) {  // vector rows
        conv_table().im2col_panel(xg, s, k0, kb, segs, ns, nr, panel);
        done = true;
      }
    }
    if (!done) {
      int64_t c = k0 / khw, r = k0 % khw;
      int64_t ki = r / s.kw, kj = r % s.kw;
      for (int64_t p = 0; p < kb; ++p) {
        T* d = panel + p * nr;
        const T* xc = xg + c * hw;
        for (int si = 0; si < ns; ++si) {
          const Seg& sg = segs[si];
          const int64_t ih = sg.oh * s.sh - s.ph + ki * s.dh;
          if (ih < 0 || ih >= s.h) {
            for (int64_t t = 0; t < sg.len; ++t) d[sg.j + t] = T(0);
            continue;
          }
          gather_row(d + sg.j, xc + sg.xoff + ih * s.w, sg.ow * s.sw - s.pw + kj * s.dw, s.sw, s.w,
                     sg.len);
        }
        for (int64_t t = nn; t < nr; ++t) d[t] = T(0);
        if (++kj == s.kw) {
          kj = 0;
          if (++ki == s.kh) {
            ki = 0;
            ++c;
          }
        }
      }
    }
    for (int64_t p = kb; p < kbp; ++p)
      for (int64_t t = 0; t < nr; ++t) panel[p * nr + t] = T(0);
  }
}

// Transposed: B(p, j) = im2col row kk0 + j at pixel pix0 + p, for p < kb pixels (one image)
// and j < nb rows, into ceil(nb / nr) panels of kbp x nr (panel[p * nr + j]). Each row is
// gathered contiguously into rowbuf (kb values), then written down its panel column.
template <typename T>
void pack_im2col_t(const ConvShape& s, const T* xg, int64_t pix0, int64_t kb, int64_t kbp,
                   int64_t kk0, int64_t nb, int64_t nr, T* dst, T* rowbuf) {
  const int64_t khw = s.kh * s.kw, hw = s.h * s.w;
  if constexpr (sizeof(T) == 4) {
    // An (nr rows x nr pixels) im2col block per pixel chunk from the vector panel kernel,
    // transposed into place.
    if (s.sw < (int64_t{1} << 24) && (nr == 16 || nr == 32 || nr == 64)) {
      const ConvTable& ct = conv_table();
      alignas(64) float tmp[64 * 64];
      Seg segs[kMaxSegs];
      for (int64_t q = 0; q * nr < nb; ++q) {
        T* panel = dst + q * kbp * nr;
        const int64_t nn = min64(nr, nb - q * nr);
        for (int64_t t = nn * nr; t < nr * nr; ++t) tmp[t] = 0.0f;
        for (int64_t p0 = 0; p0 < kb; p0 += nr) {
          const int64_t np = min64(nr, kb - p0);
          const int ns = make_segs(s, pix0 + p0, np, segs);
          ct.im2col_panel(xg, s, kk0 + q * nr, nn, segs, ns, nr, tmp);
          ct.transpose(tmp, nr, nr, np, panel + p0 * nr, nr);
        }
        for (int64_t p = kb; p < kbp; ++p)
          for (int64_t t = 0; t < nr; ++t) panel[p * nr + t] = T(0);
      }
      return;
    }
  }
  for (int64_t q = 0; q * nr < nb; ++q) {
    T* panel = dst + q * kbp * nr;
    const int64_t nn = min64(nr, nb - q * nr);
    for (int64_t jj = 0; jj < nn; ++jj) {
      const int64_t kk = kk0 + q * nr + jj;
      const int64_t c = kk / khw, r = kk % khw, ki = r / s.kw, kj = r % s.kw;
      const T* xc = xg + c * hw;
      int64_t o = pix0 / s.ow, q0 = pix0 % s.ow;
      for (int64_t j = 0; j < kb; ++o, q0 = 0) {
        const int64_t len = min64(kb - j, s.ow - q0);
        const int64_t ih = o * s.sh - s.ph + ki * s.dh;
        if (ih < 0 || ih >= s.h) {
          for (int64_t t = 0; t < len; ++t) rowbuf[j + t] = T(0);
        } else {
          gather_row(rowbuf + j, xc + ih * s.w, q0 * s.sw - s.pw + kj * s.dw, s.sw, s.w, len);
        }
        j += len;
      }
      for (int64_t p = 0; p < kb; ++p) panel[p * nr + jj] = rowbuf[p];
    }
    for (int64_t jj = nn; jj < nr; ++jj)
      for (int64_t p = 0; p < kb; ++p) panel[p * nr + jj] = T(0);
    for (int64_t p = kb; p < kbp; ++p)
      for (int64_t t = 0; t < nr; ++t) panel[p * nr + t] = T(0);
  }
}

// ---- forward implicit GEMM over prepacked weights

// y = act(conv(x, A) + bias) where A holds the packed (Mg x Kd) weights of every group.
//
// Pixel tiles are multiples of nr. Small images (one tile each) whose pixel count leaves much
// of their last nr-wide panel empty (14x14 = 196 pixels fill 224 columns at nr 32) are tiled
// across images instead: a tile takes whole panels of the (image, pixel) sequence, runs into
// a buffer and is copied out image by image. Not for 1x1 convs: they pack each image's rows
// straight from x, which a tile across images cannot, and packing an im2col panel at a time
// cost more than the empty columns (measured). Tiles change no result (each element still
// sums the same K blocks in the same order).
template <typename T>
void gemm_conv(const ConvShape& s, const T* x, const PackedA<T>& pa, const T* bias, T* y,
               GemmAct act) {
  const GemmKernelSet<T>& ks = kernel_set<T>();
  const int64_t G = s.groups, cg = s.c / G, mg = s.k / G, kd = cg * s.kh * s.kw;
  const int64_t P = s.oh * s.ow, hw = s.h * s.w;
  const int64_t nr = ks.nr, mr = ks.mr;
  const int64_t mc = max64(mr, ks.mc / mr * mr);
  const int threads = get_num_threads();
  // Pixel tile: a multiple of nr whose packed K block fits kTileBytes.
  const int64_t kcp = pa.kcp;
  const int64_t nt_cap = max64(nr, kTileBytes / (kcp * static_cast<int64_t>(sizeof(T))) / nr * nr);
  const int64_t pr = round_up(P, nr);
  const bool direct = conv_algo(s) == ConvAlgo::Gemm1x1;
  const bool cross = !direct && s.n > 1 && P <= nt_cap && (pr - P) * 16 > pr;
  // Per image: tiles of equal size. Across images: a multiple of the thread count of tiles,
  // panel counts differing by at most one.
  const int64_t npan = cdiv(s.n * P, nr);
  int64_t tiles, nt;
  if (cross) {
    tiles = min64(npan, round_up(cdiv(npan * nr, nt_cap), threads));
    nt = cdiv(npan, tiles) * nr;
  } else {
    nt = round_up(cdiv(P, cdiv(P, nt_cap)), nr);
    tiles = cdiv(P, nt);
  }
  const int64_t images = cross ? 1 : s.n;
  // Few tiles (small batch): split the rows too, so every thread has work.
  int64_t items = images * G * tiles;
  const int64_t mpanels = cdiv(mg, mr);
  int64_t msplit = 1;
  if (items < 2 * threads) msplit = min64(mpanels, cdiv(2 * threads, items));
  const int64_t rows_per = cdiv(mpanels, msplit) * mr;
  msplit = cdiv(mg, rows_per);
  items *= msplit;
  const int64_t flops = 2 * s.n * s.k * P * kd;
  const size_t pack_bytes = static_cast<size_t>(kcp * round_up(nt, nr)) * sizeof(T);
  const size_t tile_bytes = static_cast<size_t>(rows_per * nt) * sizeof(T);
  for_items(items, flops, [&](int64_t it) {
    const int64_t ms = it % msplit;
    int64_t rest = it / msplit;
    const int64_t t = rest % tiles;
    rest /= tiles;
    const int64_t g = rest % G, n = rest / G;
    // Pixels [j0, j0 + jn) of image n, or of the (image, pixel) sequence when cross.
    int64_t j0, jn;
    if (cross) {
      j0 = t * npan / tiles * nr;
      jn = min64((t + 1) * npan / tiles * nr, s.n * P) - j0;
    } else {
      j0 = t * nt;
      jn = min64(nt, P - j0);
    }
    const int64_t m0 = ms * rows_per, m1 = min64(mg, m0 + rows_per);
    T* pb = static_cast<T*>(tl_pack.get(pack_bytes));
    // Output rows m0.. of the tile: in y, or in the buffer when cross.
    T* cb = cross ? static_cast<T*>(tl_tile.get(tile_bytes)) : y + (n * s.k + g * mg + m0) * P + j0;
    const int64_t ldc = cross ? nt : P;
    const T* xg = x + (n * s.c + g * cg) * hw;
    if (bias) {
      for (int64_t i = m0; i < m1; ++i) {
        const T b = bias[g * mg + i];
        T* cr = cb + (i - m0) * ldc;
        for (int64_t j = 0; j < jn; ++j) cr[j] = b;
      }
    }
    for (int64_t b = 0; b < pa.kblocks; ++b) {
      const int64_t k0 = b * pa.kc, kb = min64(pa.kc, kd - k0);
      const int64_t kbp = round_up(max64(kb, 0), ks.kalign);
      if (kb > 0) {
        if (direct)
          ks.pack_b(xg + k0 * hw + j0, hw, 1, kb, jn, pb);
        else
          pack_im2col(s, xg, k0, kb, kbp, j0, jn, nr, pb);
      }
      const bool last = b + 1 == pa.kblocks;
      GemmEpilogue<T> ep{T(1), (b == 0 && !bias) ? T(0) : T(1), nullptr,
                         last ? act : GemmAct::None};
      const T* ablk = pa.block(g, b);
      for (int64_t i0 = m0; i0 < m1; i0 += mc)
        ks.macro(min64(mc, m1 - i0), jn, kbp, ablk + i0 * kbp, pb, cb + (i0 - m0) * ldc, ldc, ep);
    }
    if (cross) {  // copy the tile out, one image's run of pixels at a time
      for (int64_t q = j0; q < j0 + jn;) {
        const int64_t img = q / P, p = q % P, len = min64(P - p, j0 + jn - q);
        for (int64_t i = m0; i < m1; ++i)
          std::memcpy(y + (img * s.k + g * mg + i) * P + p, cb + (i - m0) * ldc + (q - j0),
                      static_cast<size_t>(len) * sizeof(T));
        q += len;
      }
    }
  });
}

// ---- depthwise

// The (rows x cols) window of plane xpl (h x w) starting at (r0, c0), zero outside.
template <typename T>
void pad_plane(const T* xpl, int64_t h, int64_t w, int64_t r0, int64_t c0, int64_t rows,
               int64_t cols, T* dst) {
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t ih = r0 + r;
    T* d = dst + r * cols;
    if (ih < 0 || ih >= h) {
      for (int64_t t = 0; t < cols; ++t) d[t] = T(0);
      continue;
    }
    gather_row(d, xpl + ih * w, c0, 1, w, cols);
  }
}

// Depthwise forward of one output plane over a padded input plane (rows of xps values).
template <typename T>
void dw_plane(const ConvShape& s, const T* xp, int64_t xps, const T* wk, T* y, T bias,
              bool accumulate, bool relu) {
  if constexpr (sizeof(T) == 4) {
    if (s.sw == 1) {
      conv_table().dw_forward(xp, xps, s.sh, wk, s.kh, s.kw, s.dh, s.dw, s.oh, s.ow, y, s.ow, bias,
                              accumulate, relu);
      return;
    }
  }
  for (int64_t o = 0; o < s.oh; ++o)
    for (int64_t q = 0; q < s.ow; ++q) {
      T acc = accumulate ? y[o * s.ow + q] : bias;
      for (int64_t i = 0; i < s.kh; ++i) {
        const T* xr = xp + (o * s.sh + i * s.dh) * xps + q * s.sw;
        for (int64_t j = 0; j < s.kw; ++j) acc += wk[i * s.kw + j] * xr[j * s.dw];
      }
      y[o * s.ow + q] = relu && !(acc >= T(0)) && acc == acc ? T(0) : acc;
    }
}

template <typename T>
void depthwise_forward(const ConvShape& s, const T* x, const T* w, const T* bias, T* y, bool relu) {
  const int64_t mult = s.k / s.c, taps = s.kh * s.kw;
  const int64_t rows = (s.oh - 1) * s.sh + (s.kh - 1) * s.dh + 1;
  const int64_t cols = (s.ow - 1) * s.sw + (s.kw - 1) * s.dw + 1;
  const int64_t flops = 2 * s.n * s.k * s.oh * s.ow * taps;
  for_items(s.n * s.c, flops, [&](int64_t it) {
    const int64_t n = it / s.c, ci = it % s.c;
    T* xp = static_cast<T*>(tl_aux.get(static_cast<size_t>(rows * cols) * sizeof(T)));
    pad_plane(x + (n * s.c + ci) * s.h * s.w, s.h, s.w, -s.ph, -s.pw, rows, cols, xp);
    for (int64_t m = 0; m < mult; ++m) {
      const int64_t co = ci * mult + m;
      dw_plane(s, xp, cols, w + co * taps, y + (n * s.k + co) * s.oh * s.ow, bias ? bias[co] : T(0),
               false, relu);
    }
  });
}

template <typename T>
void depthwise_backward_input(const ConvShape& s, const T* gy, const T* w, T* gx) {
  const int64_t mult = s.k / s.c, taps = s.kh * s.kw;
  const int64_t flops = 2 * s.n * s.k * s.oh * s.ow * taps;
  if (s.sh == 1 && s.sw == 1) {
    // A stride-1 depthwise conv of the padded grad output with the flipped kernel.
    ConvShape t = s;
    t.h = s.oh;
    t.w = s.ow;
    t.oh = s.h;
    t.ow = s.w;
    t.ph = s.dh * (s.kh - 1) - s.ph;
    t.pw = s.dw * (s.kw - 1) - s.pw;
    const int64_t rows = (t.oh - 1) + (t.kh - 1) * t.dh + 1;
    const int64_t cols = (t.ow - 1) + (t.kw - 1) * t.dw + 1;
    for_items(s.n * s.c, flops, [&](int64_t it) {
      const int64_t n = it / s.c, ci = it % s.c;
      T* buf = static_cast<T*>(tl_aux.get(static_cast<size_t>(rows * cols + taps) * sizeof(T)));
      T* wf = buf + rows * cols;
      T* gxp = gx + (n * s.c + ci) * s.h * s.w;
      for (int64_t m = 0; m < mult; ++m) {
        const int64_t co = ci * mult + m;
        for (int64_t q = 0; q < taps; ++q) wf[q] = w[co * taps + taps - 1 - q];
        pad_plane(gy + (n * s.k + co) * s.oh * s.ow, s.oh, s.ow, -t.ph, -t.pw, rows, cols, buf);
        dw_plane(t, buf, cols, wf, gxp, T(0), m > 0, false);
      }
    });
    return;
  }
  for_items(s.n * s.c, flops, [&](int64_t it) {
    const int64_t n = it / s.c, ci = it % s.c;
    T* g = gx + (n * s.c + ci) * s.h * s.w;
    for (int64_t e = 0; e < s.h * s.w; ++e) g[e] = T(0);
    for (int64_t m = 0; m < mult; ++m) {
      const int64_t co = ci * mult + m;
      const T* gp = gy + (n * s.k + co) * s.oh * s.ow;
      const T* wk = w + co * taps;
      for (int64_t o = 0; o < s.oh; ++o)
        for (int64_t q = 0; q < s.ow; ++q) {
          const T v = gp[o * s.ow + q];
          for (int64_t i = 0; i < s.kh; ++i) {
            const int64_t ih = o * s.sh - s.ph + i * s.dh;
            if (ih < 0 || ih >= s.h) continue;
            for (int64_t j = 0; j < s.kw; ++j) {
              const int64_t iw = q * s.sw - s.pw + j * s.dw;
              if (iw >= 0 && iw < s.w) g[ih * s.w + iw] += wk[i * s.kw + j] * v;
            }
          }
        }
    }
  });
}

template <typename T>
void depthwise_backward_weight(const ConvShape& s, const T* gy, const T* x, T* gw) {
  const int64_t mult = s.k / s.c, taps = s.kh * s.kw;
  const int64_t rows = (s.oh - 1) * s.sh + (s.kh - 1) * s.dh + 1;
  const int64_t cols = (s.ow - 1) * s.sw + (s.kw - 1) * s.dw + 1;
  const int64_t flops = 2 * s.n * s.k * s.oh * s.ow * taps;
  for_items(s.k, flops, [&](int64_t co) {
    const int64_t ci = co / mult;
    double* acc = static_cast<double*>(tl_aux.get(static_cast<size_t>(taps) * sizeof(double) + 64 +
                                                  static_cast<size_t>(rows * cols) * sizeof(T)));
    T* xp = reinterpret_cast<T*>(reinterpret_cast<char*>(acc) +
                                 ((static_cast<size_t>(taps) * sizeof(double) + 63) & ~size_t{63}));
    for (int64_t q = 0; q < taps; ++q) acc[q] = 0.0;
    for (int64_t n = 0; n < s.n; ++n) {
      pad_plane(x + (n * s.c + ci) * s.h * s.w, s.h, s.w, -s.ph, -s.pw, rows, cols, xp);
      const T* gp = gy + (n * s.k + co) * s.oh * s.ow;
      bool done = false;
      if constexpr (sizeof(T) == 4) {
        if (s.sw == 1) {
          conv_table().dw_weight(xp, cols, s.sh, gp, s.oh, s.ow, s.kh, s.kw, s.dh, s.dw, acc);
          done = true;
        }
      }
      if (!done) {
        for (int64_t i = 0; i < s.kh; ++i)
          for (int64_t j = 0; j < s.kw; ++j) {
            T sum = T(0);
            for (int64_t o = 0; o < s.oh; ++o) {
              const T* xr = xp + (o * s.sh + i * s.dh) * cols + j * s.dw;
              for (int64_t q = 0; q < s.ow; ++q) sum += gp[o * s.ow + q] * xr[q * s.sw];
            }
            acc[i * s.kw + j] += sum;
          }
      }
    }
    for (int64_t q = 0; q < taps; ++q) gw[co * taps + q] = static_cast<T>(acc[q]);
  });
}

// ---- backward input by GEMM + col2im (stride > 1)

// gx[c, ih, iw] += col[(c, i, j), pixel] over the pixels [j0, j0 + jn) of a column tile
// (rows [r0, r1) of the image's column matrix; ld = row stride of col).
template <typename T>
void col2im_add(const ConvShape& s, const T* col, int64_t ld, int64_t r0, int64_t r1, int64_t j0,
                int64_t jn, T* gxg) {
  const int64_t khw = s.kh * s.kw, hw = s.h * s.w;
  for (int64_t kk = r0; kk < r1; ++kk) {
    const int64_t c = kk / khw, r = kk % khw, ki = r / s.kw, kj = r % s.kw;
    const T* src = col + (kk - r0) * ld;
    T* gc = gxg + c * hw;
    for (int64_t j = 0; j < jn;) {
      const int64_t o = (j0 + j) / s.ow, q0 = (j0 + j) % s.ow;
      const int64_t len = min64(jn - j, s.ow - q0);
      const int64_t ih = o * s.sh - s.ph + ki * s.dh;
      if (ih >= 0 && ih < s.h) {
        const int64_t i0 = q0 * s.sw - s.pw + kj * s.dw;
        int64_t lo, hi;
        valid_run(i0, s.sw, s.w, len, &lo, &hi);
        T* gr = gc + ih * s.w + i0;
        const T* sr = src + j;
        if constexpr (sizeof(T) == 4) {
          if (hi > lo) conv_table().strided_add(gr + lo * s.sw, s.sw, sr + lo, hi - lo);
        } else {
          for (int64_t t = lo; t < hi; ++t) gr[t * s.sw] += sr[t];
        }
      }
      j += len;
    }
  }
}

template <typename T>
void backward_input_col2im(const ConvShape& s, const T* gy, const T* w, T* gx) {
  const GemmKernelSet<T>& ks = kernel_set<T>();
  const int64_t G = s.groups, cg = s.c / G, mg = s.k / G, khw = s.kh * s.kw, kd = cg * khw;
  const int64_t P = s.oh * s.ow, hw = s.h * s.w;
  const int64_t nr = ks.nr, mr = ks.mr;
  const int64_t kc = max64(1, min64(ks.kc, mg)), kblocks = cdiv(mg, kc);
  const int64_t kcp = round_up(kc, ks.kalign);
  const int64_t nt = min64(
      round_up(P, nr), max64(nr, kTileBytes / (kcp * static_cast<int64_t>(sizeof(T))) / nr * nr));
  // Channel blocks: the column tile (rows x nt) stays near kTileBytes, and there are enough
  // items for the threads.
  int64_t cb = max64(1, min64(cg, kTileBytes / (khw * nt * static_cast<int64_t>(sizeof(T)))));
  cb = min64(cb, max64(1, cdiv(cg, cdiv(kTargetItems, s.n * G))));
  const int64_t ncb = cdiv(cg, cb);
  // A = W_g^T: element (kk, co) at w[(g mg + co) kd + kk]. Packed per (g, channel block).
  const int64_t rows_max_p = round_up(cb * khw, mr);
  const int64_t blk = rows_max_p * kcp;
  AlignedBuffer<T> abuf(G * ncb * kblocks * blk);
  T* ap = abuf.get();
  for_items(G * ncb * kblocks, 2 * s.c * s.k * khw * 16, [&](int64_t it) {
    const int64_t b = it % kblocks, gc = it / kblocks, g = gc / ncb, c0 = (gc % ncb) * cb;
    const int64_t rows = (min64(cg, c0 + cb) - c0) * khw;
    const int64_t k0 = b * kc, kb = min64(kc, mg - k0);
    ks.pack_a(w + (g * mg + k0) * kd + c0 * khw, 1, kd, rows, kb, ap + it * blk);
  });
  const int64_t ntiles = cdiv(P, nt);
  const int64_t flops = 2 * s.n * s.k * P * kd;
  for_items(s.n * G * ncb, flops, [&](int64_t it) {
    const int64_t cbi = it % ncb, g = (it / ncb) % G, n = it / (ncb * G);
    const int64_t c0 = cbi * cb, c1 = min64(cg, c0 + cb);
    const int64_t rows = (c1 - c0) * khw;
    T* gxg = gx + (n * s.c + g * cg) * hw;
    for (int64_t e = c0 * hw; e < c1 * hw; ++e) gxg[e] = T(0);
    T* pb = static_cast<T*>(tl_pack.get(static_cast<size_t>(kcp * nt) * sizeof(T)));
    T* col = static_cast<T*>(tl_aux.get(static_cast<size_t>(rows * nt) * sizeof(T)));
    const T* gyg = gy + (n * s.k + g * mg) * P;
    for (int64_t t = 0; t < ntiles; ++t) {
      const int64_t j0 = t * nt, jn = min64(nt, P - j0);
      for (int64_t b = 0; b < kblocks; ++b) {
        const int64_t k0 = b * kc, kb = min64(kc, mg - k0);
        const int64_t kbp = round_up(kb, ks.kalign);
        ks.pack_b(gyg + k0 * P + j0, P, 1, kb, jn, pb);
        GemmEpilogue<T> ep{T(1), b == 0 ? T(0) : T(1), nullptr, GemmAct::None};
        ks.macro(rows, jn, kbp, ap + ((g * ncb + cbi) * kblocks + b) * blk, pb, col, nt, ep);
      }
      col2im_add(s, col, nt, c0 * khw, c1 * khw, j0, jn, gxg);
    }
  });
}

// ---- grad weight: gw_g (mg x kd) = sum over images and pixels of gy_g (mg x P) @ col^T

template <typename T>
void backward_weight_gemm(const ConvShape& s, const T* gy, const T* x, T* gw) {
  const GemmKernelSet<T>& ks = kernel_set<T>();
  const int64_t G = s.groups, cg = s.c / G, mg = s.k / G, kd = cg * s.kh * s.kw;
  const int64_t P = s.oh * s.ow, hw = s.h * s.w;
  const int64_t nr = ks.nr, mr = ks.mr;
  const int64_t mc = max64(mr, ks.mc / mr * mr);
  const bool direct = conv_algo(s) == ConvAlgo::Gemm1x1;
  const int64_t kc = max64(1, min64(ks.kc, P));
  const int64_t kcp = round_up(kc, ks.kalign);
  const int64_t pblocks = cdiv(P, kc);
  // Columns of gw per item: a multiple of nr, the packed B block about kTileBytes.
  const int64_t ncw_cap = max64(nr, kTileBytes / (kcp * static_cast<int64_t>(sizeof(T))) / nr * nr);
  const int64_t ncb = cdiv(kd, ncw_cap);
  const int64_t ncw = round_up(cdiv(kd, ncb), nr);
  const int64_t ncb2 = cdiv(kd, ncw);
  // Split the image sum into chunks (a shape-only rule) when gw alone has too few tiles;
  // chunk partials are added in chunk order.
  int64_t nchunks = min64(s.n, max64(1, cdiv(kTargetItems, G * ncb2)));
  const int64_t ipc = cdiv(s.n, nchunks);
  nchunks = cdiv(s.n, ipc);
  const int64_t wsize = s.k * kd;
  AlignedBuffer<T> parts(nchunks > 1 ? (nchunks - 1) * wsize : 1);
  const int64_t mrows_p = round_up(mg, mr);
  const int64_t flops = 2 * s.n * s.k * P * kd;
  for_items(nchunks * G * ncb2, flops, [&](int64_t it) {
    const int64_t jb = it % ncb2, g = (it / ncb2) % G, ch = it / (ncb2 * G);
    const int64_t c0 = jb * ncw, cn = min64(ncw, kd - c0);
    T* out = (ch == 0 ? gw : parts.get() + (ch - 1) * wsize) + g * mg * kd + c0;
    // B panels are read with aligned loads: keep pb on a 64-byte boundary.
    const size_t a_elems = static_cast<size_t>(round_up(mrows_p * kcp, 64 / sizeof(T)));
    const size_t b_elems = static_cast<size_t>(round_up(kcp * round_up(cn, nr), 64 / sizeof(T)));
    T* pa = static_cast<T*>(tl_pack.get((a_elems + b_elems + kcp + 16) * sizeof(T)));
    T* pb = pa + a_elems;
    T* rowbuf = pb + b_elems;
    bool first = true;
    for (int64_t n = ch * ipc; n < min64(s.n, (ch + 1) * ipc); ++n) {
      const T* gyg = gy + (n * s.k + g * mg) * P;
      const T* xg = x + (n * s.c + g * cg) * hw;
      for (int64_t pbk = 0; pbk < pblocks; ++pbk) {
        const int64_t p0 = pbk * kc, kb = min64(kc, P - p0);
        const int64_t kbp = round_up(kb, ks.kalign);
        ks.pack_a(gyg + p0, P, 1, mg, kb, pa);
        if (direct)
          ks.pack_b(xg + c0 * hw + p0, 1, hw, kb, cn, pb);
        else
          pack_im2col_t(s, xg, p0, kb, kbp, c0, cn, nr, pb, rowbuf);
        GemmEpilogue<T> ep{T(1), first ? T(0) : T(1), nullptr, GemmAct::None};
        for (int64_t i0 = 0; i0 < mg; i0 += mc)
          ks.macro(min64(mc, mg - i0), cn, kbp, pa + i0 * kbp, pb, out + i0 * kd, kd, ep);
        first = false;
      }
    }
  });
  if (nchunks > 1) {
    const T* pp = parts.get();
    const int64_t chunk = 4096;
    for_items(cdiv(wsize, chunk), wsize * nchunks * 64, [&](int64_t it) {
      const int64_t e0 = it * chunk, e1 = min64(wsize, e0 + chunk);
      for (int64_t r = 0; r + 1 < nchunks; ++r) {
        const T* src = pp + r * wsize;
        for (int64_t e = e0; e < e1; ++e) gw[e] += src[e];
      }
    });
  }
}

}  // namespace

// ---- entry points

template <typename T>
void conv2d_forward(const ConvShape& s, const T* x, const T* w, const T* bias, T* y, GemmAct act) {
  if (s.n == 0 || s.k == 0 || s.oh * s.ow == 0) return;
  if (conv_algo(s) == ConvAlgo::Depthwise) {
    depthwise_forward(s, x, w, bias, y, act == GemmAct::Relu);
    return;
  }
  const GemmKernelSet<T>& ks = kernel_set<T>();
  const int64_t G = s.groups, mg = s.k / G, kd = (s.c / G) * s.kh * s.kw;
  if (kd == 0) {  // no input channels: bias only
    for (int64_t n = 0; n < s.n; ++n)
      for (int64_t k = 0; k < s.k; ++k) {
        T v = bias ? bias[k] : T(0);
        if (act == GemmAct::Relu && v < T(0)) v = T(0);
        for (int64_t p = 0; p < s.oh * s.ow; ++p) y[(n * s.k + k) * s.oh * s.ow + p] = v;
      }
    return;
  }
  if constexpr (sizeof(T) == 4) {
    if (conv_algo(s) == ConvAlgo::Winograd) {
      winograd_conv2d(s, x, w, bias, y, act);
      return;
    }
  }
  PackedA<T> pa;
  pack_weights(ks, G, mg, kd, w, mg * kd, kd, 1, &pa);
  gemm_conv(s, x, pa, bias, y, act);
}

template <typename T>
void conv2d_backward_input(const ConvShape& s, const T* gy, const T* w, T* gx) {
  if (s.n == 0 || s.c == 0 || s.h * s.w == 0) return;
  const int64_t G = s.groups, cg = s.c / G, mg = s.k / G, khw = s.kh * s.kw;
  if (mg == 0 || s.oh * s.ow == 0) {
    std::memset(gx, 0, static_cast<size_t>(s.n * s.c * s.h * s.w) * sizeof(T));
    return;
  }
  if (conv_algo(s) == ConvAlgo::Depthwise) {
    depthwise_backward_input(s, gy, w, gx);
    return;
  }
  if (s.sh != 1 || s.sw != 1) {
    backward_input_col2im(s, gy, w, gx);
    return;
  }
  // Stride 1: the forward implicit GEMM of gy with the flipped kernel, in and out channels
  // swapped per group: wt[g cg + ci][co khw + flipped tap] = w[g mg + co][ci][tap].
  ConvShape t = s;
  t.c = s.k;
  t.h = s.oh;
  t.w = s.ow;
  t.k = s.c;
  t.oh = s.h;
  t.ow = s.w;
  t.ph = s.dh * (s.kh - 1) - s.ph;
  t.pw = s.dw * (s.kw - 1) - s.pw;
  const int64_t kd_t = mg * khw;
  AlignedBuffer<T> wt(s.c * kd_t);
  T* wp = wt.get();
  for (int64_t g = 0; g < G; ++g)
    for (int64_t co = 0; co < mg; ++co)
      for (int64_t ci = 0; ci < cg; ++ci) {
        const T* src = w + ((g * mg + co) * cg + ci) * khw;
        T* dst = wp + (g * cg + ci) * kd_t + co * khw;
        for (int64_t q = 0; q < khw; ++q) dst[q] = src[khw - 1 - q];
      }
  if constexpr (sizeof(T) == 4) {
    if (conv_algo(t) == ConvAlgo::Winograd) {  // wt is t's (k, c, 3, 3) kernel (groups 1)
      winograd_conv2d(t, gy, wp, nullptr, gx, GemmAct::None);
      return;
    }
  }
  const GemmKernelSet<T>& ks = kernel_set<T>();
  PackedA<T> pa;
  pack_weights(ks, G, cg, kd_t, static_cast<const T*>(wp), cg * kd_t, kd_t, 1, &pa);
  gemm_conv(t, gy, pa, static_cast<const T*>(nullptr), gx, GemmAct::None);
}

template <typename T>
void conv2d_backward_weight(const ConvShape& s, const T* gy, const T* x, T* gw) {
  const int64_t kd = (s.c / s.groups) * s.kh * s.kw;
  if (s.k == 0 || kd == 0) return;
  if (s.n == 0 || s.oh * s.ow == 0) {
    std::memset(gw, 0, static_cast<size_t>(s.k * kd) * sizeof(T));
    return;
  }
  if (conv_algo(s) == ConvAlgo::Depthwise) {
    depthwise_backward_weight(s, gy, x, gw);
    return;
  }
  backward_weight_gemm(s, gy, x, gw);
}

template <typename T>
void conv2d_backward_bias(const ConvShape& s, const T* gy, T* gb) {
  const int64_t P = s.oh * s.ow;
  for_items(s.k, s.n * s.k * P * 64, [&](int64_t k) {
    double acc = 0.0;
    for (int64_t n = 0; n < s.n; ++n) {
      const T* g = gy + (n * s.k + k) * P;
      if constexpr (sizeof(T) == 4) {
        acc += P > 0 ? batchnorm_table().row_sum(g, P) : 0.0f;
      } else {
        T sum = T(0);
        for (int64_t p = 0; p < P; ++p) sum += g[p];
        acc += sum;
      }
    }
    gb[k] = static_cast<T>(acc);
  });
}

#define EMBER_CONV_INSTANTIATE(T)                                                               \
  template void conv2d_forward<T>(const ConvShape&, const T*, const T*, const T*, T*, GemmAct); \
  template void conv2d_backward_input<T>(const ConvShape&, const T*, const T*, T*);             \
  template void conv2d_backward_weight<T>(const ConvShape&, const T*, const T*, T*);            \
  template void conv2d_backward_bias<T>(const ConvShape&, const T*, T*);
EMBER_CONV_INSTANTIATE(float)
EMBER_CONV_INSTANTIATE(double)
#undef EMBER_CONV_INSTANTIATE

}  // namespace ember::cpu
