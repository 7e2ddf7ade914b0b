// A simple, correct batched matmul (out[b] = a[b] @ b[b], all contiguous row-major).
// Stand-in until the packed BLIS-style GEMM lands; deterministic: every output element
// sums its K products in increasing k order, whatever the thread count.
#pragma once
#include <cstdint>

namespace ember::cpu {

// a: (batch, M, K), b: (batch, K, N), out: (batch, M, N). K == 0 gives zeros.
template <typename T>
void matmul_simple(const T* a, const T* b, T* out, int64_t batch, int64_t M, int64_t K, int64_t N);

}  // namespace ember::cpu
