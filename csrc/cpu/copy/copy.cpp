#include "cpu/copy/copy.h"

#include <cstring>

#include "core/dtype_dispatch.h"
#include "core/nditer.h"

namespace ember::cpu {

void copy(const TensorImpl& src, const TensorImpl& dst) {
  Shape src_strides = broadcast_strides(src, dst.shape, "ember.copy");
  NdLoop<2> loop(dst.shape, {&dst.strides, &src_strides});
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
