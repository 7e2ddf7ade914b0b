// Batch normalization on CUDA over x viewed as (n, c, s), float32 / float64, contiguous,
// with the CPU's semantics (cpu/batchnorm/batchnorm.h): training statistics (biased
// variance to normalize, unbiased into the running ones), eval from the running ones,
// save_mean / save_invstd for the backward; weight / bias optional.
//
// Statistics: each channel's n s values are cut into shape-determined chunks (bn_plan);
// one block per (channel, chunk) computes the chunk's mean and sum of squared deviations
// (two passes, double, a fixed-shape tree across the block), and one thread per channel
// combines the chunks in order (Chan's formula). Deterministic, no atomics. The backward's
// two sums and conv's grad bias (channel_sum) go the same way.
#pragma once
#include <cstdint>
#include <vector>

#include "cpu/batchnorm/batchnorm.h"

namespace ember::cuda {

// Chunks per channel: at least kBnMinChunk values each (one block's worth of work), at
// most kBnMaxChunks of them.
constexpr int64_t kBnMinChunk = 4096;
constexpr int kBnMaxChunks = 64;
constexpr int kBnThreads = 256;

// The kernels index a channel's values with 32 bits: n s <= INT_MAX (bn_fits).
inline bool bn_fits(int64_t n, int64_t s) { return s == 0 || n <= 2147483647 / s; }

struct BnPlan {
  int64_t m;                   // values per channel (n s)
  int64_t chunk;               // values per chunk
  int nchunks;                 // ceil(m / chunk); 0 when m == 0
  double inv_chunk, inv_last;  // 1 / the size of a full chunk and of the last one
};
BnPlan bn_plan(int64_t n, int64_t s);

// Host test hook: the mean and biased variance of one channel's values (n x s) through the
// kernels' chunking and in-order combination.
std::vector<double> bn_chunk_moments(const std::vector<double>& values, int64_t n, int64_t s);

template <typename T>
void batch_norm_forward(const cpu::BatchNormArgs& a, bool training, const T* x, const T* weight,
                        const T* bias, T* running_mean, T* running_var, T* y, T* save_mean,
                        T* save_invstd, int device);
// Any of gx, gw, gb may be null.
template <typename T>
void batch_norm_backward(const cpu::BatchNormArgs& a, bool training, const T* gy, const T* x,
                         const T* weight, const T* save_mean, const T* save_invstd, T* gx, T* gw,
                         T* gb, int device);
// out[c] = sum of x over (n, s) for each of the c channels (conv's grad bias).
template <typename T>
void channel_sum(int64_t n, int64_t c, int64_t s, const T* x, T* out, int device);

}  // namespace ember::cuda
