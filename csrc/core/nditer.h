// Iteration over N operands that share one shape but have their own strides
// (elements) and element sizes: the driver of every strided/broadcast kernel.
// Dimensions of size 1 are dropped and adjacent dimensions that are
// contiguous for every operand are merged, so a contiguous tensor becomes one
// long row; rows are then cut into fixed-size pieces and handed to
// `row(ptrs, inner_strides, n)` (strides in elements), in parallel.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "core/parallel.h"

namespace ember {

template <int K>
struct NdLoop {
  std::vector<int64_t> shape;                   // collapsed, outermost first
  std::array<std::vector<int64_t>, K> strides;  // per operand, elements

  NdLoop(const std::vector<int64_t>& full_shape,
         const std::array<const std::vector<int64_t>*, K>& full_strides) {
    for (size_t d = 0; d < full_shape.size(); ++d) {
      if (full_shape[d] == 1) continue;
      bool merge = !shape.empty();
      for (int k = 0; k < K && merge; ++k)
        merge = strides[k].back() == (*full_strides[k])[d] * full_shape[d];
      if (merge) {
        shape.back() *= full_shape[d];
        for (int k = 0; k < K; ++k) strides[k].back() = (*full_strides[k])[d];
      } else {
        shape.push_back(full_shape[d]);
        for (int k = 0; k < K; ++k) strides[k].push_back((*full_strides[k])[d]);
      }
    }
    if (shape.empty()) {  // a single element
      shape.push_back(1);
      for (int k = 0; k < K; ++k) strides[k].push_back(0);
    }
  }

  // row(std::array<char*, K> ptrs, std::array<int64_t, K> inner_strides, int64_t n)
  template <typename Row>
  void run(const std::array<char*, K>& base, const std::array<int64_t, K>& itemsize, Row&& row,
           int64_t chunk = 16384) const {
    const int nd = static_cast<int>(shape.size());
    const int64_t n = shape[nd - 1];
    int64_t rows = 1;
    for (int d = 0; d < nd - 1; ++d) rows *= shape[d];
    if (rows == 0 || n == 0) return;
    const int64_t pieces_per_row = (n + chunk - 1) / chunk;
    std::array<int64_t, K> inner;
    for (int k = 0; k < K; ++k) inner[k] = strides[k][nd - 1];
    parallel_chunks(rows * pieces_per_row, 1, n < chunk ? n : chunk, [&](int64_t b, int64_t e) {
      for (int64_t item = b; item < e; ++item) {
        int64_t r = item / pieces_per_row;
        int64_t start = (item % pieces_per_row) * chunk;
        int64_t len = n - start < chunk ? n - start : chunk;
        std::array<char*, K> p = base;
        int64_t rem = r;
        for (int d = nd - 2; d >= 0; --d) {
          int64_t idx = rem % shape[d];
          rem /= shape[d];
          for (int k = 0; k < K; ++k) p[k] += idx * strides[k][d] * itemsize[k];
        }
        for (int k = 0; k < K; ++k) p[k] += start * inner[k] * itemsize[k];
        row(p, inner, len);
      }
    });
  }
};

}  // namespace ember
