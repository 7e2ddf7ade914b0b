// The flat work list shared by the optimizer and grad-norm drivers: the tensors laid end
// to end (each starting at a multiple of kOptimAlign), cut into fixed chunks of
// kOptimChunk elements. A chunk may cover pieces of several small tensors or a piece of a
// big one; its boundaries depend only on the tensor sizes, never on the thread count.
// Driver-only header (baseline code: it instantiates std:: templates).
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/dtype.h"
#include "core/isa.h"
#include "core/parallel.h"
#include "core/tensor_impl.h"
#include "cpu/optim/optim.h"

namespace ember::cpu {

// Row kernels for a dtype: float64 has one portable table, float32 one per ISA.
inline const OptimTable& optim_table_for(DType t) {
  if (t == DType::Float64) return f64::optim_table;
  return EMBER_ISA_TABLE(optim_table);
}

struct FlatList {
  std::vector<int64_t> off;  // start of tensor t in the flat space; off[T] = end
  std::vector<int64_t> len;  // elements of tensor t
  int64_t total = 0;

  explicit FlatList(const std::vector<const TensorImpl*>& ts) {
    off.reserve(ts.size() + 1);
    len.reserve(ts.size());
    int64_t at = 0;
    for (const TensorImpl* t : ts) {
      const int64_t n = t->numel();
      off.push_back(at);
      len.push_back(n);
      at += (n + kOptimAlign - 1) / kOptimAlign * kOptimAlign;
    }
    off.push_back(at);
    total = at;
  }
  int64_t num_chunks() const { return (total + kOptimChunk - 1) / kOptimChunk; }

  // fn(t, start, n): the pieces of [b, e) in tensor order (start: element in tensor t).
  template <class Fn>
  void pieces(int64_t b, int64_t e, Fn&& fn) const {
    const int64_t nt = static_cast<int64_t>(len.size());
    int64_t t = std::upper_bound(off.begin(), off.end(), b) - off.begin() - 1;
    for (; t < nt && off[t] < e; ++t) {
      const int64_t lo = std::max(b, off[t]), hi = std::min(e, off[t] + len[t]);
      if (lo < hi) fn(t, lo - off[t], hi - lo);
    }
  }

  // fn(chunk_index, b, e) for every chunk, in parallel.
  template <class Fn>
  void for_each_chunk(Fn&& fn) const {
    parallel_chunks(total, kOptimChunk, 1,
                    [&](int64_t b, int64_t e) { fn(b / kOptimChunk, b, e); });
  }
};

}  // namespace ember::cpu
