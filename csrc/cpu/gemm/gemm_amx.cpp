// AMX-BF16 path of the bf16 GEMM (gemm_amx.h): packing B in pairs of k, copying A rows, and
// the epilogue of the tile loop's blocks.
#include "cpu/gemm/gemm_amx.h"

#include <cstring>

#include "core/isa.h"
#include "core/parallel.h"
#include "cpu/driver_util.h"

namespace ember::cpu {
namespace {

thread_local Scratch tl_packed_b;

// One matrix of the job: the fill and emit callbacks' context.
struct Bf16Matrix {
  const uint16_t* a;
  int64_t a_rs, a_cs, k;
  float* c;
  int64_t ldc;
  GemmEpilogue<float> ep;  // bias: from column 0
  GemmEpilogueRowsFn epilogue_rows;
};

void fill_a(void* ctx, int64_t i, int64_t rows, uint8_t* dst, int64_t ld) {
  const Bf16Matrix& x = *static_cast<const Bf16Matrix*>(ctx);
  if (x.a_cs == 1) {
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(dst + r * ld, x.a + (i + r) * x.a_rs, static_cast<size_t>(x.k) * 2);
    return;
  }
  // A read down its columns (a transposed view): k outer, so consecutive rows are adjacent.
  for (int64_t p = 0; p < x.k; ++p)
    for (int64_t r = 0; r < rows; ++r) {
      const uint16_t v = x.a[(i + r) * x.a_rs + p * x.a_cs];
      std::memcpy(dst + r * ld + 2 * p, &v, 2);
    }
}

void emit_block(void* ctx, const void* block, int64_t i, int64_t mr, int64_t j0, int64_t nc) {
  const Bf16Matrix& x = *static_cast<const Bf16Matrix*>(ctx);
  GemmEpilogue<float> ep = x.ep;
  if (ep.bias) ep.bias += j0;
  x.epilogue_rows(static_cast<const float*>(block), kAmxBlockLd, mr, nc, x.c + i * x.ldc + j0,
                  x.ldc, ep);
}

// B (k x n, element (p, j) at b[p * rs + j * cs]) as panels of 16 channels: for each pair g
// of k, 16 x (b(2g, j), b(2g + 1, j)), zero past k and n (amx.h's B layout, 4 bytes a group).
void pack_b_pairs(const uint16_t* b, int64_t rs, int64_t cs, int64_t k, int64_t n, uint16_t* dst) {
  const int64_t groups = cdiv(k, 2), per_panel = groups * 2 * kAmxPanelChannels;
  parallel_chunks(cdiv(n, kAmxPanelChannels), 1, per_panel, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      uint16_t* d = dst + p * per_panel;
      const int64_t j0 = p * kAmxPanelChannels, nn = min64(kAmxPanelChannels, n - j0);
      for (int64_t g = 0; g < groups; ++g)
        for (int64_t t = 0; t < 2; ++t) {
          const int64_t kk = 2 * g + t;
          uint16_t* row = d + g * 2 * kAmxPanelChannels + t;
          for (int64_t jj = 0; jj < kAmxPanelChannels; ++jj)
            row[2 * jj] = kk < k && jj < nn ? b[kk * rs + (j0 + jj) * cs] : uint16_t{0};
        }
    }
  });
}

}  // namespace

void gemm_bf16_amx(AmxRunFn run, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                   const GemmOperand<uint16_t>& a, const GemmOperand<uint16_t>& b, float beta,
                   const GemmOut<float>& c, const float* bias, GemmAct act) {
  if (batch <= 0 || M <= 0 || N <= 0) return;
  // One B over a batch of row-stacked A and C: one tall matrix.
  if (batch > 1 && b.bs == 0 && a.bs == M * a.rs && c.bs == M * c.rs) {
    M *= batch;
    batch = 1;
  }
  const int64_t panel_bytes = amx_panel_bytes(2 * K);
  auto* packed = static_cast<uint16_t*>(
      tl_packed_b.get(static_cast<size_t>(max64(1, cdiv(N, kAmxPanelChannels) * panel_bytes))));
  Bf16Matrix x{
      nullptr, a.rs, a.cs, K, nullptr, c.rs, {alpha, beta, bias, act}, gemm_table().epilogue_rows};
  const AmxJob job{M, N, 2 * K, fill_a, reinterpret_cast<const uint8_t*>(packed), emit_block, &x};
  for (int64_t bi = 0; bi < batch; ++bi) {
    if (bi == 0 || b.bs != 0) pack_b_pairs(b.data + bi * b.bs, b.rs, b.cs, K, N, packed);
    x.a = a.data + bi * a.bs;
    x.c = c.data + bi * c.bs;
    amx_blocks(run, job);
  }
}

const char* gemm_bf16_amx_missing() {
#ifdef EMBER_HAVE_AMX_BUILD
  return cpu_amx_missing(AmxFeature::Bf16);
#else
  return "this build lacks the AMX object (the compiler has no -mamx-tile/-mamx-bf16)";
#endif
}

}  // namespace ember::cpu
