// 2:4 semi-structured sparsity: in every group of 4 consecutive input columns of a weight row,
// 2 values are kept (the 2 of largest magnitude when compressing; ties keep the lower column).
// A (N, K) float32 weight, K a multiple of 4, is stored as
//   values    float32 (N, K / 2): the kept values, group after group, in column order;
//   positions int8    (N, K / 2): each kept value's column within its group (0..3).
// int8 offsets rather than packed 2-bit ones: the kernels turn them into an address with one
// byte load, and the format stays plain tensors; weights then take 5 / 8 of float32's bytes.
//
// sparse24_linear: y (M, N) = x (M, K) . W^T (+ bias). Three kernels:
//  - few tokens (M < kSparse24PanelMin), every ISA: per token, each row's dot product over its
//    kept values (AVX-512 picks the 16 inputs of 8 groups with one two-source permute, AVX2
//    gathers them);
//  - many tokens (M >= kSparse24Rows16Min), AVX-512 (rows16): output rows in the lanes. W is
//    repacked into blocks of 16 rows side by side with permute indices (sparse24_pack_rows16;
//    a caller that keeps the result passes it in, else every call repacks); a window of
//    16 inputs of a token sits in one register and each kept value costs one vpermps and one
//    FMA, for 12 tokens a pass. Work split: (480 tokens, 16 rows) pieces. Measured faster on
//    Zen 4 from ~160 tokens than the panel kernel below, which is bound by its vector load per
//    FMA (4096 x 768 -> 3072, 1 thread: rows16 172 ms, panels 268 ms); below that the per-call
//    repack of W dominates it (64 tokens: rows16 6.6 ms, panels 4.0 ms);
//  - otherwise (panel_rows): tokens in the lanes. x is repacked into panels of P tokens
//    transposed (K x P floats, P = 4 vectors); each kept weight's value is broadcast and
//    multiplied into the P tokens' inputs at its column, so the column is just an address, and
//    the FP work is half of dense. Columns go in blocks of kSparse24ColBlock, so a block of the
//    panel stays in L1 while a block of rows passes. Work split: (panel, 48 rows) pieces.
// Positions are read modulo 4 (only their low 2 bits), so no stored byte can make a kernel
// read outside its inputs; compress_2to4 writes only 0..3.
// Every output is computed whole by one thread in a fixed order, so results do not depend on
// the thread count (they may differ across ISAs by float rounding of the sum).
//
// Arguments are validated by the bindings (csrc/bindings/bind_sparse24.cpp); kernels trust them.
#pragma once
#include <cstdint>

#include "core/isa.h"

namespace ember::cpu {

constexpr int64_t kSparse24PanelMin = 8;     // tokens from which the panel kernel is used
constexpr int64_t kSparse24Rows16Min = 160;  // AVX-512: tokens from which rows16 beats panels
constexpr int64_t kSparse24ColBlock = 128;   // columns of a panel block (AVX-512: 32 KiB)

// w (n, k) -> values, positions (n, k / 2); and back (the dropped values become zeros).
void compress_2to4(const float* w, int64_t n, int64_t k, float* values, int8_t* positions);
void decompress_2to4(const float* values, const int8_t* positions, int64_t n, int64_t k, float* w);

// The rows16 kernel's weight: for each block of 16 rows (the last padded with zero rows) and
// each kept index j < k / 2, the 16 rows' values (wv) and permute indices (id) =
// 4 * ((j / 2) % 4) + position: each sparse24_rows16_elems(n, k) long.
struct Sparse24Rows16 {
  const float* values;
  const int32_t* ids;
};
inline int64_t sparse24_rows16_elems(int64_t n, int64_t k) { return (n + 15) / 16 * 16 * (k / 2); }
void sparse24_pack_rows16(const float* values, const int8_t* positions, int64_t n, int64_t k,
                          float* wv, int32_t* id);
// Tokens from which sparse24_linear runs rows16 under the current ISA; -1 if it never does.
int64_t sparse24_rows16_min();

// y (m, n) = x (m, k) . W^T + bias (n, may be null), W given as values / positions and, when
// not null, already packed for rows16 (used only if this call runs rows16).
void sparse24_linear(const float* x, const float* values, const int8_t* positions,
                     const float* bias, int64_t m, int64_t n, int64_t k,
                     const Sparse24Rows16* rows16, float* y);

struct Sparse24Table {
  int64_t panel;  // P: tokens per panel
  // yt (rows, P) (+)= for each of `rows` weight rows, the products of its kb kept values from
  // `values` / `positions` (row stride ld) with the P tokens of the transposed panel xt
  // (2 kb columns, P tokens each); accumulate adds to yt instead of overwriting it.
  void (*panel_rows)(const float* xt, const float* values, const int8_t* positions, int64_t ld,
                     int64_t kb, int64_t rows, bool accumulate, float* yt);
  // y[r] = row r's dot product with one token x (k floats), for `rows` rows.
  void (*row_dots)(const float* x, const float* values, const int8_t* positions, int64_t kh,
                   int64_t rows, float* y);
  // AVX-512 only (else null): y (tokens, 16, row stride ldy) = x (tokens, k) . 16 rows^T + bias
  // (16 floats), the rows repacked side by side: wv float32 (k / 2, 16), id int32 (k / 2, 16)
  // = 4 * (group % 4) + position.
  void (*rows16)(const float* x, int64_t k, int64_t tokens, const float* wv, const int32_t* id,
                 const float* bias, float* y, int64_t ldy);
};

}  // namespace ember::cpu

EMBER_ISA_TABLES(cpu::Sparse24Table, sparse24_table)
