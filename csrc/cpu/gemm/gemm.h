// Packed, cache-blocked GEMM in the BLIS / GotoBLAS structure, with the roles of the
// operands mirrored for row-major C (vectors run along N, A is broadcast):
//
//   for ic in M step MC:                 A block: MC x KC, packed once, shared, in L3
//     for pc in K step KC:  pack A
//       for jc in N step NC:  pack B     B block: KC x NC (about 1 MiB), shared, in L2
//         for ir in MC step MR:          A micro-panel: MR x KC, in L1      <- threads
//           for jr in NC step NR:  micro-kernel  (MR x NR tile of C in registers)
//
// Problems that fit in cache skip the packing of A (and of a row-major B): the small-GEMM
// form (GemmDirectFn) runs the same micro-kernel arithmetic on A read in place.
//
// Only packing and the micro-kernel are ISA-specific (gemm_<isa>.inc, included by
// gemm_kernels.cpp, which is compiled once per ISA); the driver (gemm.cpp) owns blocking and
// threading and calls them through the current ISA's table of function pointers.
//
// Operands are strided views, so the four transpose cases and any leading dimension are
// handled by the packing routines, never by a transposed copy. Each element of C sums
// its K products in increasing k inside fixed KC blocks, whatever the thread count, so
// results are bitwise identical for 1 or N threads (no split-K).
//
// Arguments are validated by the bindings; the kernels trust them.
#pragma once
#include <cstdint>
#include "core/isa.h"

namespace ember::cpu {

enum class GemmAct : int { None = 0, Relu = 1, Gelu = 2, GeluTanh = 3 };

// Element (i, j) of matrix `bi` of a batched operand is data[bi * bs + i * rs + j * cs]
// (strides in elements, >= 0).
template <typename T>
struct GemmOperand {
  const T* data;
  int64_t bs, rs, cs;
};

// out[bi] = act(alpha * a[bi] @ b[bi] + beta * out[bi] + bias) for bi < batch, with a
// (M, K), b (K, N), out (M, N) row-major with row stride c_rs (unit column stride).
// beta == 0: out is write-only (never read). bias: N values or null.
template <typename TC>
struct GemmOut {
  TC* data;
  int64_t bs, rs;
};

void gemm_f32(int64_t batch, int64_t M, int64_t N, int64_t K, float alpha, GemmOperand<float> a,
              GemmOperand<float> b, float beta, GemmOut<float> c, const float* bias, GemmAct act);
void gemm_f64(int64_t batch, int64_t M, int64_t N, int64_t K, double alpha, GemmOperand<double> a,
              GemmOperand<double> b, double beta, GemmOut<double> c, const double* bias,
              GemmAct act);
// a, b: bfloat16 bit patterns; float32 accumulation and output. Runs the kernels
// gemm_bf16_kernel_name() names: AMX-BF16 tiles (gemm_amx.h), vdpbf16ps (the native
// kernel), or float32 kernels on operands widened while packing.
void gemm_bf16(int64_t batch, int64_t M, int64_t N, int64_t K, float alpha, GemmOperand<uint16_t> a,
               GemmOperand<uint16_t> b, float beta, GemmOut<float> c, const float* bias,
               GemmAct act);
// The same product on the AMX path's tile loop run by the software tile model (tests: the
// AMX layout on any CPU).
void gemm_bf16_tile_model(int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                          GemmOperand<uint16_t> a, GemmOperand<uint16_t> b, float beta,
                          GemmOut<float> c, const float* bias, GemmAct act);

// Blocking overrides for tuning; 0 restores the ISA default. `bf16` picks
// the native bf16 kernel's set, else the float32 set (also used by widened bf16). Results
// depend on kc (the K block), never on mc / nc.
void gemm_set_blocking(int64_t mc, int64_t kc, int64_t nc, bool bf16);
// Effective blocking {mr, nr, mc, kc, nc} of the current ISA's float32 (or native bf16) path.
void gemm_get_blocking(int64_t out[5], bool bf16);
// GFLOP/s of the micro-kernel on L1-resident packed panels (one mr x nr tile, depth k,
// `iters` times), every thread of the team at once: the machine's attainable FMA peak.
double gemm_microkernel_gflops(int64_t k, int64_t iters, bool bf16);
// Which bf16 kernels run, under the avx512 ISA (the others always widen): with the path
// preference "auto" (the default), AMX where the CPU has AMX-BF16, the OS grants the tile
// state and a one-time self-check of the hardware path against the widen path passes; else
// vdpbf16ps where the CPU has AVX512_BF16 and issues it at full rate
// (cpu_bf16_dot_full_rate); else widen. "amx", "native" and "widen" force one (native needs
// AVX512_BF16, else widen). The paths round differently (vdpbf16ps sums pairs of products
// before accumulating; TDPBF16PS keeps even and odd k in separate sums per tile step).
// Returns "amx", "native" or "widen".
const char* gemm_bf16_kernel_name();
// True when the vdpbf16ps kernel runs.
bool gemm_bf16_native();
// Path preference: "auto", "native", "widen" or "amx" (ValueError else, and for "amx" where
// gemm_bf16_amx_missing() says why not); EMBER_GEMM_BF16 sets it at import.
void gemm_set_bf16_path(const char* path);
const char* gemm_bf16_path();
// Why auto does or does not pick AMX (runs the self-check if it has not run).
const char* gemm_bf16_amx_status();

// ---- per-ISA kernels (internal)

// Epilogue of one K block of a C block: c = act(alpha * acc + beta * c + bias).
// beta is the effective beta of this K block (the caller's on the first block, 1 after;
// 0 means c is not read); bias (indexed by column from the block's first column) and act
// are set on the last K block only.
template <typename TC>
struct GemmEpilogue {
  TC alpha, beta;
  const TC* bias;
  GemmAct act;
};

// pack_a: rows [0, m) x k of A (element (i, p) at src[i * rs + p * cs]) into ceil(m / mr)
// panels of mr x kp elements, k-major (panel[p * mr + r]), zero padded, kp = k rounded up
// to the kernel's k multiple. pack_b: k x columns [0, n) of B (element (p, j) at
// src[p * rs + j * cs]) into ceil(n / nr) panels of kp x nr, k-major (panel[p * nr + j]).
// bf16 kernels pack k in pairs: panel[(p/2 * mr + r) * 2 + p % 2].
using GemmPackFn = void (*)(const void* src, int64_t rs, int64_t cs, int64_t rows_or_k,
                            int64_t k_or_cols, void* dst);
// C block (m x n, row stride ldc) = epilogue(packed A (m x k) @ packed B (k x n)).
template <typename TC>
using GemmMacroFn = void (*)(int64_t m, int64_t n, int64_t k, const void* pa, const void* pb, TC* c,
                             int64_t ldc, const GemmEpilogue<TC>& e);
// y[j * ys] = epilogue(sum_p x[p * xs] * b[p * rs + j * cs]) for j < n (bias[j * bias_s]),
// whole K at once. Needs rs == 1 (dot products; then xs == 1 too) or cs == 1 (axpy rows).
using GemvFn = void (*)(int64_t n, int64_t k, const float* x, int64_t xs, const float* b,
                        int64_t rs, int64_t cs, float* y, int64_t ys, const float* bias,
                        int64_t bias_s, const GemmEpilogue<float>& e);

// The small-GEMM form (float32, no packing of A): C block (m x n, row stride ldc) =
// epilogue(A (m x k) @ B (k x n)) with A read in place (element (i, p) at a[i * rs + p * cs],
// rs == 1 or cs == 1) and B read as nr-column panels: row p of the panel holding column j
// at b[(j / nr) * b_ps + p * b_rs + j % nr] (unit column stride). A row-major B is its own
// panels (b_ps = nr); packed panels have b_rs = nr, b_ps = nr * k. Same per-element
// arithmetic as the packed macro-kernel, so either form gives the same bits.
using GemmDirectFn = void (*)(int64_t m, int64_t n, int64_t k, const float* a, int64_t rs,
                              int64_t cs, const float* b, int64_t b_rs, int64_t b_ps, float* c,
                              int64_t ldc, const GemmEpilogue<float>& e);

// Rows of C = epilogue(rows of float accumulators): c[r * ldc + j] = act(alpha * acc[r * ld +
// j] + beta * c[r * ldc + j] + e.bias[j]) for r < rows, j < n (the AMX path's blocks).
using GemmEpilogueRowsFn = void (*)(const float* acc, int64_t ld, int64_t rows, int64_t n, float* c,
                                    int64_t ldc, const GemmEpilogue<float>& e);

template <typename TC>
struct GemmKernelSet {
  int mr, nr;          // micro-tile
  int kalign;          // packed k is a multiple of this (2 for bf16 pairs)
  int packed_bytes;    // bytes of one packed element
  int64_t mc, kc, nc;  // default blocking
  GemmPackFn pack_a, pack_b;
  GemmMacroFn<TC> macro;
};

struct GemmTable {
  GemmKernelSet<float> f32;
  GemmKernelSet<float> bf16_widen;  // bf16 sources widened to float32 panels, f32 kernel
  GemmKernelSet<float> bf16;        // native vdpbf16ps (avx512 only; macro null elsewhere)
  GemvFn gemv;
  GemmDirectFn direct;  // the f32 set's small-GEMM form; null where the ISA has none
  GemmEpilogueRowsFn epilogue_rows;
};

const GemmTable& gemm_table();

}  // namespace ember::cpu

EMBER_ISA_TABLES(cpu::GemmTable, gemm_table)
namespace ember::generic {
extern const cpu::GemmKernelSet<double> gemm_f64_kernels;  // float64, every ISA
}
