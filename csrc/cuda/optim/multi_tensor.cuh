// The multi-tensor apply engine: one thread block per chunk of the table (optim.h); a
// thread walks its chunk with a stride of the block, on 16-byte vectors when every array
// of the tensor is 16-byte aligned (chunks start at multiples of kChunk, so they stay
// aligned), then the last n % V elements one by one. run_chunk is the whole body of a
// thread; apply() runs it on the GPU, or on the host thread by thread for the tests.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/cuda_check.h"
#include "cuda/loops.cuh"
#include "cuda/optim/table.h"
#include "cuda/optim/update.cuh"
#include "cuda/stream.h"

namespace ember::cuda::optim {

// One element of each array at i; unused arrays (null) read 0 and are never written.
template <typename T, class Op>
EMBER_HD void apply_scalar(const Op& op, const Coef<T>& c, T* const* a, int uses, int64_t i) {
  T p = a[0][i];
  const T g = (uses & kUseG) ? a[1][i] : T(0);
  T s0 = (uses & kUseS0) ? a[2][i] : T(0);
  T s1 = (uses & kUseS1) ? a[3][i] : T(0);
  T s2 = (uses & kUseS2) ? a[4][i] : T(0);
  op(c, p, g, s0, s1, s2);
  a[0][i] = p;
  if (uses & kUseS0) a[2][i] = s0;
  if (uses & kUseS1) a[3][i] = s1;
  if (uses & kUseS2) a[4][i] = s2;
}

// The vector at element i (a multiple of V) of each array.
template <typename T, class Op>
EMBER_HD void apply_vector(const Op& op, const Coef<T>& c, T* const* a, int uses, int64_t i) {
  constexpr int V = 16 / sizeof(T);
  using W = Vec<T, V>;
  const W zero{};
  W p = *reinterpret_cast<const W*>(a[0] + i);
  const W g = (uses & kUseG) ? *reinterpret_cast<const W*>(a[1] + i) : zero;
  W s0 = (uses & kUseS0) ? *reinterpret_cast<const W*>(a[2] + i) : zero;
  W s1 = (uses & kUseS1) ? *reinterpret_cast<const W*>(a[3] + i) : zero;
  W s2 = (uses & kUseS2) ? *reinterpret_cast<const W*>(a[4] + i) : zero;
  EMBER_UNROLL
  for (int j = 0; j < V; ++j) op(c, p.v[j], g.v[j], s0.v[j], s1.v[j], s2.v[j]);
  *reinterpret_cast<W*>(a[0] + i) = p;
  if (uses & kUseS0) *reinterpret_cast<W*>(a[2] + i) = s0;
  if (uses & kUseS1) *reinterpret_cast<W*>(a[3] + i) = s1;
  if (uses & kUseS2) *reinterpret_cast<W*>(a[4] + i) = s2;
}

// Thread `tid` of `nthreads` over chunk `index` of slot s. Every element of the chunk is
// visited by exactly one thread, so the threads never touch a common element.
template <typename T, class Op>
EMBER_HD void run_chunk(const Op& op, int uses, const Slot& s, int32_t index, int tid,
                        int nthreads) {
  const int64_t begin = static_cast<int64_t>(index) * kChunk;
  const int64_t rest = s.n - begin;
  const int64_t n = rest < kChunk ? rest : kChunk;
  T* a[kMaxArrays];
  EMBER_UNROLL
  for (int k = 0; k < kMaxArrays; ++k)
    a[k] = s.ptr[k] == nullptr ? nullptr : static_cast<T*>(s.ptr[k]) + begin;
  const Coef<T> c(s.coef);
  int64_t done = 0;
  if (s.vec) {
    constexpr int V = 16 / sizeof(T);
    const int64_t nv = n / V;
    for (int64_t v = tid; v < nv; v += nthreads) apply_vector<T>(op, c, a, uses, v * V);
    done = nv * V;
  }
  for (int64_t i = done + tid; i < n; i += nthreads) apply_scalar<T>(op, c, a, uses, i);
}

template <typename T, class Op>
__global__ void __launch_bounds__(kBlock)
    multi_tensor_kernel(Op op, int uses, const Slot* slots, const Chunk* chunks) {
  const Chunk ch = chunks[blockIdx.x];
  run_chunk<T>(op, uses, slots[ch.slot], ch.index, static_cast<int>(threadIdx.x), kBlock);
}

// op over every element of the table's tensors, on the current device or on the host.
template <typename T, class Op>
void apply(const Op& op, const Table& t, Where where, const char* name) {
  if (t.chunks.empty()) return;
  const int uses = op.uses();
  if (where == Where::Host) {
    for (const Chunk& ch : t.chunks)
      for (int tid = 0; tid < kBlock; ++tid)
        run_chunk<T>(op, uses, t.slots[ch.slot], ch.index, tid, kBlock);
    return;
  }
  const DeviceTable dt(t, name);
  multi_tensor_kernel<T, Op>
      <<<static_cast<unsigned>(t.chunks.size()), kBlock, 0, current_stream()>>>(
          op, uses, dt.slots(), dt.chunks());
  EMBER_CUDA_CHECK_LAUNCH(name);
}

}  // namespace ember::cuda::optim
