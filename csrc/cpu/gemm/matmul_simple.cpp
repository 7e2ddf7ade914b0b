#include "cpu/gemm/matmul_simple.h"

#include <cstring>

#include "core/parallel.h"

namespace ember::cpu {
namespace {

// Cache blocking: a (kKc x kNc) panel of B stays in L2 while a block of kMb output rows
// streams over it. Inside, a 4-row x 2-vector tile of C lives in registers across the
// k block (baseline SSE2 vectors via GCC vector extensions, so this file needs no ISA flags).
constexpr int64_t kMb = 16;   // output rows per parallel piece
constexpr int64_t kKc = 256;  // k block
constexpr int64_t kNc = 256;  // j block
constexpr int kRows = 4;      // register tile rows

template <typename T>
struct Vec16 {
  typedef T type __attribute__((vector_size(16)));
};

template <typename T>
inline typename Vec16<T>::type load16(const T* p) {
  typename Vec16<T>::type v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
template <typename T>
inline void store16(T* p, typename Vec16<T>::type v) {
  std::memcpy(p, &v, sizeof(v));
}

// c[r][j0 .. j0+2L) += sum_k a[r][k] * b[k][j0 ..], k in [k0, k1), for kRows rows.
template <typename T>
inline void tile(const T* a, int64_t lda, const T* b, int64_t ldb, T* c, int64_t ldc, int64_t k0,
                 int64_t k1) {
  using V = typename Vec16<T>::type;
  constexpr int L = 16 / sizeof(T);
  V acc[kRows][2];
  for (int r = 0; r < kRows; ++r) {
    acc[r][0] = load16(c + r * ldc);
    acc[r][1] = load16(c + r * ldc + L);
  }
  for (int64_t k = k0; k < k1; ++k) {
    const V b0 = load16(b + k * ldb), b1 = load16(b + k * ldb + L);
    for (int r = 0; r < kRows; ++r) {
      const T av = a[r * lda + k];
      acc[r][0] += av * b0;
      acc[r][1] += av * b1;
    }
  }
  for (int r = 0; r < kRows; ++r) {
    store16(c + r * ldc, acc[r][0]);
    store16(c + r * ldc + L, acc[r][1]);
  }
}

// Edge rows/columns: c[0..n) += alpha * brow[0..n), contiguous, vectorized by the compiler.
template <typename T>
inline void axpy_row(T* __restrict c, const T* __restrict brow, T alpha, int64_t n) {
  for (int64_t j = 0; j < n; ++j) c[j] += alpha * brow[j];
}

// Rows [i0, i1) of one batch entry. Every c element sums its products in increasing k.
template <typename T>
void matmul_rows(const T* a, const T* b, T* c, int64_t i0, int64_t i1, int64_t K, int64_t N) {
  constexpr int64_t kTileN = 2 * 16 / sizeof(T);
  for (int64_t i = i0; i < i1; ++i) std::memset(c + i * N, 0, sizeof(T) * N);
  for (int64_t j0 = 0; j0 < N; j0 += kNc) {
    const int64_t nj = N - j0 < kNc ? N - j0 : kNc;
    const int64_t nj_tiled = nj / kTileN * kTileN;
    for (int64_t k0 = 0; k0 < K; k0 += kKc) {
      const int64_t k1 = K - k0 < kKc ? K : k0 + kKc;
      int64_t i = i0;
      for (; i + kRows <= i1; i += kRows) {
        for (int64_t j = j0; j < j0 + nj_tiled; j += kTileN)
          tile(a + i * K, K, b + j, N, c + i * N + j, N, k0, k1);
        if (nj_tiled < nj)
          for (int r = 0; r < kRows; ++r)
            for (int64_t k = k0; k < k1; ++k)
              axpy_row(c + (i + r) * N + j0 + nj_tiled, b + k * N + j0 + nj_tiled,
                       a[(i + r) * K + k], nj - nj_tiled);
      }
      for (; i < i1; ++i)
        for (int64_t k = k0; k < k1; ++k)
          axpy_row(c + i * N + j0, b + k * N + j0, a[i * K + k], nj);
    }
  }
}

}  // namespace

template <typename T>
void matmul_simple(const T* a, const T* b, T* out, int64_t batch, int64_t M, int64_t K, int64_t N) {
  if (batch == 0 || M == 0 || N == 0) return;
  const int64_t row_blocks = (M + kMb - 1) / kMb;
  // Pieces are (batch, row block) pairs; each output row is written by exactly one piece.
  parallel_chunks(batch * row_blocks, 1, kMb * (K > 0 ? K : 1) * N, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t bi = p / row_blocks;
      const int64_t i0 = (p % row_blocks) * kMb;
      const int64_t i1 = M - i0 < kMb ? M : i0 + kMb;
      matmul_rows(a + bi * M * K, b + bi * K * N, out + bi * M * N, i0, i1, K, N);
    }
  });
}

template void matmul_simple<float>(const float*, const float*, float*, int64_t, int64_t, int64_t,
                                   int64_t);
template void matmul_simple<double>(const double*, const double*, double*, int64_t, int64_t,
                                    int64_t, int64_t);

}  // namespace ember::cpu
