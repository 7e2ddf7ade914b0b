#include "cpu/copy/copy.h"

#include <cstring>

#include "core/dtype_dispatch.h"
#include "core/nditer.h"

namespace ember::cpu {
namespace {

// dst (rows, cols) row-major from a source whose rows are the contiguous direction
// (a transposed matrix): go tile by tile so both sides stay in cache. Tiles are a
// fixed size, so the split does not depend on the thread count.
template <typename T>
void copy_transposed(T* dst, int64_t dst_row_stride, const T* src, int64_t src_col_stride,
                     int64_t rows, int64_t cols) {
  constexpr int64_t kTile = 32;
  const int64_t row_tiles = (rows + kTile - 1) / kTile;
  parallel_chunks(row_tiles, 1, kTile * cols, [&](int64_t b, int64_t e) {
    for (int64_t rt = b; rt < e; ++rt) {
      const int64_t r0 = rt * kTile, r1 = r0 + kTile < rows ? r0 + kTile : rows;
      for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
        const int64_t c1 = c0 + kTile < cols ? c0 + kTile : cols;
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t c = c0; c < c1; ++c)
            dst[r * dst_row_stride + c] = src[r + c * src_col_stride];
      }
    }
  });
}

template <size_t N>
struct Bytes {
  unsigned char b[N];
};

// True if it handled the copy: same dtype, 2-D after collapsing, dst rows contiguous,
// src contiguous along dst's rows (the transpose pattern).
bool try_copy_transposed(const NdLoop<2>& loop, const TensorImpl& src, const TensorImpl& dst) {
  if (src.dtype != dst.dtype || loop.shape.size() != 2) return false;
  const auto& ds = loop.strides[0];
  const auto& ss = loop.strides[1];
  if (ds[1] != 1 || ss[0] != 1 || ss[1] < 16) return false;
  const int64_t rows = loop.shape[0], cols = loop.shape[1];
  switch (dst.itemsize()) {
    case 1:
      copy_transposed(reinterpret_cast<Bytes<1>*>(dst.data()), ds[0],
                      reinterpret_cast<const Bytes<1>*>(src.data()), ss[1], rows, cols);
      return true;
    case 2:
      copy_transposed(reinterpret_cast<Bytes<2>*>(dst.data()), ds[0],
                      reinterpret_cast<const Bytes<2>*>(src.data()), ss[1], rows, cols);
      return true;
    case 4:
      copy_transposed(reinterpret_cast<Bytes<4>*>(dst.data()), ds[0],
                      reinterpret_cast<const Bytes<4>*>(src.data()), ss[1], rows, cols);
      return true;
    case 8:
      copy_transposed(reinterpret_cast<Bytes<8>*>(dst.data()), ds[0],
                      reinterpret_cast<const Bytes<8>*>(src.data()), ss[1], rows, cols);
      return true;
  }
  return false;
}

}  // namespace

void copy(const TensorImpl& src, const TensorImpl& dst) {
  Shape src_strides = broadcast_strides(src, dst.shape, "ember.copy");
  NdLoop<2> loop(dst.shape, {&dst.strides, &src_strides});
  if (try_copy_transposed(loop, src, dst)) return;
  const std::array<int64_t, 2> item = {static_cast<int64_t>(dst.itemsize()),
                                       static_cast<int64_t>(src.itemsize())};
  visit_dtype(dst.dtype, [&](auto* dtag) {
    using D = std::remove_pointer_t<decltype(dtag)>;
    visit_dtype(src.dtype, [&](auto* stag) {
      using S = std::remove_pointer_t<decltype(stag)>;
      loop.run({dst.data(), src.data()}, item,
               [](std::array<char*, 2> p, std::array<int64_t, 2> s, int64_t n) {
                 D* d = reinterpret_cast<D*>(p[0]);
                 const S* x = reinterpret_cast<const S*>(p[1]);
                 if constexpr (std::is_same_v<D, S>) {
                   if (s[0] == 1 && s[1] == 1) {
                     std::memcpy(d, x, n * sizeof(D));
                     return;
                   }
                 }
                 for (int64_t i = 0; i < n; ++i) d[i * s[0]] = convert<D>(x[i * s[1]]);
               });
    });
  });
}

void fill(const TensorImpl& dst, double value) {
  NdLoop<1> loop(dst.shape, {&dst.strides});
  visit_dtype(dst.dtype, [&](auto* tag) {
    using D = std::remove_pointer_t<decltype(tag)>;
    const D v = convert<D>(value);
    loop.run({dst.data()}, {static_cast<int64_t>(dst.itemsize())},
             [v](std::array<char*, 1> p, std::array<int64_t, 1> s, int64_t n) {
               D* d = reinterpret_cast<D*>(p[0]);
               for (int64_t i = 0; i < n; ++i) d[i * s[0]] = v;
             });
  });
}

}  // namespace ember::cpu
