// Int8 GEMM driver (ISA-neutral): packing, blocking, threading, the row quantizer.
#include "cpu/qgemm/qgemm.h"

#include <cmath>
#include <cstring>

#include "core/parallel.h"
#include "cpu/driver_util.h"
#include "cpu/qgemm/qgemm_amx.h"

namespace ember::cpu {
namespace {

constexpr int64_t kMC = 96;     // rows per task: the A block (96 x K bytes) stays in L2
constexpr int64_t kPanels = 8;  // panels per task: 128 channels, 128 x K bytes of weights
constexpr int64_t kTileLd = 2 * kQgemmNR;

// This call's kernels: the avx512 table where the CPU has VNNI; AVX-512 without VNNI runs the
// AVX2 widening kernel, which is the fastest exact one there.
const QgemmTable& table() {
  if (current_isa() == Isa::Avx512 && !cpu_has_avx512_vnni()) return avx2::qgemm_table;
  return EMBER_ISA_TABLE(qgemm_table);
}

// Runs fn(table, tile, i, mr, j0, nc) for every micro-tile (mr <= MR rows, nc <= 32 columns) of
// the (M, N) output, tasks of kMC rows x kPanels panels spread over the team.
template <typename Fn>
void for_each_tile(const uint8_t* a, int64_t m, int64_t k, int64_t lda, const int8_t* packed,
                   int64_t n, Fn&& fn) {
  const QgemmTable& t = table();
  const int64_t k4 = qgemm_k4(k), panels = cdiv(n, kQgemmNR);
  const int64_t mblocks = cdiv(m, kMC), nblocks = cdiv(panels, kPanels);
  parallel_chunks(mblocks * nblocks, 1, kMC * kPanels * kQgemmNR * k4, [&](int64_t b, int64_t e) {
    alignas(64) int32_t tile[kQgemmMR * kTileLd];
    for (int64_t task = b; task < e; ++task) {
      const int64_t i_lo = (task / nblocks) * kMC, i_hi = min64(m, i_lo + kMC);
      const int64_t p_lo = (task % nblocks) * kPanels, p_hi = min64(panels, p_lo + kPanels);
      for (int64_t p = p_lo; p < p_hi; p += 2) {
        const int8_t* b0 = packed + p * k4 * kQgemmNR;
        const int8_t* b1 = p + 1 < p_hi ? b0 + k4 * kQgemmNR : nullptr;
        const int64_t j0 = p * kQgemmNR, nc = min64(n - j0, b1 ? 2 * kQgemmNR : kQgemmNR);
        for (int64_t i = i_lo; i < i_hi; i += kQgemmMR) {
          const int64_t mr = min64(kQgemmMR, i_hi - i);
          t.micro(a + i * lda, lda, mr, k, b0, b1, tile);
          fn(t, tile, i, mr, j0, nc);
        }
      }
    }
  });
}

// The AMX tile loop to run for `path`, or null for the micro-kernels.
AmxRunFn amx_run(QgemmPath path) {
  if (path == QgemmPath::TileModel) return amx_model_run_dpbusd;
#ifdef EMBER_HAVE_AMX_BUILD
  if (qgemm_uses_amx()) return amx_hw_run_dpbusd;
#endif
  return nullptr;
}

// fn(table, tile, i, mr, j0, nc) for every finished piece of the output (row stride kTileLd):
// micro-tiles of up to kQgemmMR rows, or the AMX loop's blocks of up to kAmxBlockRows rows.
template <typename Fn>
void for_each_block(QgemmPath path, const uint8_t* a, int64_t m, int64_t k, int64_t lda,
                    const int8_t* packed, int64_t n, Fn&& fn) {
  const AmxRunFn run = amx_run(path);
  if (!run) return for_each_tile(a, m, k, lda, packed, n, fn);
  static_assert(kTileLd == kAmxBlockLd && kQgemmNR == kAmxPanelChannels,
                "AMX blocks share the tile row stride, a panel is one B tile wide");
  const QgemmTable& t = table();
  auto* const fn_ptr = &fn;
  struct Ctx {
    const uint8_t* a;
    int64_t lda, k;
    const QgemmTable* t;
    decltype(fn_ptr) fn;
  } ctx{a, lda, k, &t, fn_ptr};
  const AmxJob job{m,
                   n,
                   k,
                   [](void* c, int64_t i, int64_t rows, uint8_t* dst, int64_t ld) {
                     const Ctx& x = *static_cast<const Ctx*>(c);
                     for (int64_t r = 0; r < rows; ++r)
                       std::memcpy(dst + r * ld, x.a + (i + r) * x.lda, x.k);
                   },
                   reinterpret_cast<const uint8_t*>(packed),
                   [](void* c, const void* block, int64_t i, int64_t mr, int64_t j0, int64_t nc) {
                     const Ctx& x = *static_cast<const Ctx*>(c);
                     (*x.fn)(*x.t, static_cast<const int32_t*>(block), i, mr, j0, nc);
                   },
                   &ctx};
  amx_blocks(run, job);
}

}  // namespace

void qgemm_pack(const int8_t* w, int64_t n, int64_t k, int8_t* packed, int32_t* colsum) {
  const int64_t k4 = qgemm_k4(k), panels = cdiv(n, kQgemmNR);
  parallel_chunks(panels, 1, kQgemmNR * k4, [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      int8_t* dst = packed + p * k4 * kQgemmNR;
      for (int64_t jj = 0; jj < kQgemmNR; ++jj) {
        const int64_t j = p * kQgemmNR + jj;
        int32_t s = 0;
        for (int64_t kk = 0; kk < k4; ++kk) {
          const int8_t v = (j < n && kk < k) ? w[j * k + kk] : int8_t{0};
          dst[(kk / 4) * 4 * kQgemmNR + jj * 4 + kk % 4] = v;
          s += v;
        }
        if (j < n) colsum[j] = s;
      }
    }
  });
}

void qgemm_s32(const uint8_t* a, int64_t m, int64_t k, int64_t lda, const int8_t* packed, int64_t n,
               int32_t* acc, QgemmPath path) {
  for_each_block(
      path, a, m, k, lda, packed, n,
      [&](const QgemmTable&, const int32_t* tile, int64_t i, int64_t mr, int64_t j0, int64_t nc) {
        for (int64_t r = 0; r < mr; ++r)
          for (int64_t j = 0; j < nc; ++j) acc[(i + r) * n + j0 + j] = tile[r * kTileLd + j];
      });
}

void qgemm_f32(const uint8_t* a, int64_t m, int64_t k, int64_t lda, const int8_t* packed, int64_t n,
               const QgemmEpilogue& e, float* out, QgemmPath path) {
  for_each_block(
      path, a, m, k, lda, packed, n,
      [&](const QgemmTable& t, const int32_t* tile, int64_t i, int64_t mr, int64_t j0, int64_t nc) {
        for (int64_t r = 0; r < mr; ++r)
          t.epi_row(tile + r * kTileLd, nc, e.a_scale[i + r], e.a_zero[i + r], e.w_scale + j0,
                    e.colsum + j0, e.bias ? e.bias + j0 : nullptr, e.act, out + (i + r) * n + j0);
      });
}

void quantize_rows_u8(const float* x, int64_t m, int64_t k, uint8_t* q, float* scale,
                      int32_t* zero) {
  const QgemmTable& t = EMBER_ISA_TABLE(qgemm_table);
  parallel_chunks(m, 1, k, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) t.quant_row(x + i * k, k, q + i * k, scale + i, zero + i);
  });
}

void quantize_u8_static(const float* x, int64_t n, float scale, int32_t zero, uint8_t* q) {
  // Scalar: O(n) next to the O(n * N) GEMM it feeds, so not worth a kernel per ISA.
  const float z = static_cast<float>(zero);
  parallel_chunks(n, 4096, 1,
                  [&](int64_t b, int64_t e) { quantize_u8_span(x + b, e - b, scale, z, q + b); });
}

bool qgemm_vnni() { return table().vnni; }

bool qgemm_uses_amx() {
  return current_isa() == Isa::Avx512 && qgemm_amx_available() && qgemm_amx_enabled();
}

const char* qgemm_path_name() {
  if (qgemm_uses_amx()) return "amx";
  if (table().vnni) return "vnni";
  return current_isa() == Isa::Generic ? "generic" : "avx2";
}

}  // namespace ember::cpu
