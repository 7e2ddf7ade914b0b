#include "cpu/random/random.h"

#include <cmath>

#include "core/dtype_dispatch.h"
#include "core/parallel.h"

namespace ember::cpu {
namespace {

struct U32x4 {
  uint32_t v[4];
};

U32x4 philox(uint64_t seed, uint64_t counter) {
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32);
  uint32_t c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * c0;
    uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * c2;
    uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0;
    uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
    c1 = static_cast<uint32_t>(p1);
    c3 = static_cast<uint32_t>(p0);
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {{c0, c1, c2, c3}};
}

// 53 random bits -> [0, 1)
double unit(uint32_t hi, uint32_t lo) {
  uint64_t bits = (static_cast<uint64_t>(hi) << 21) ^ (lo >> 11);
  return static_cast<double>(bits & ((uint64_t(1) << 53) - 1)) * 0x1.0p-53;
}

}  // namespace

void random_fill(const TensorImpl& dst, RandomKind kind, double low, double high, uint64_t seed,
                 uint64_t offset) {
  check_contiguous(dst, "ember.random", "output");
  const int64_t n = dst.numel();
  visit_dtype(dst.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    T* out = reinterpret_cast<T*>(dst.data());
    parallel_chunks(n, 4096, 16, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        U32x4 r = philox(seed, offset + static_cast<uint64_t>(i));
        double v;
        if (kind == RandomKind::Uniform) {
          v = low + (high - low) * unit(r.v[0], r.v[1]);
          // Rounding to a narrow float type may land on `high`; keep the interval open.
          T t = convert<T>(v);
          if (to_double(t) >= high && high > low) t = convert<T>(low);
          out[i] = t;
          continue;
        } else if (kind == RandomKind::Normal) {
          double u1 = 1.0 - unit(r.v[0], r.v[1]);  // (0, 1]: log is finite
          double u2 = unit(r.v[2], r.v[3]);
          v = low + high * std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
        } else {
          uint64_t range =
              static_cast<uint64_t>(static_cast<int64_t>(high) - static_cast<int64_t>(low));
          uint64_t bits = (static_cast<uint64_t>(r.v[0]) << 32) | r.v[1];
          v = static_cast<double>(static_cast<int64_t>(low) + static_cast<int64_t>(bits % range));
          if constexpr (std::is_same_v<T, int64_t>) {  // exact beyond 2^53
            out[i] = static_cast<int64_t>(low) + static_cast<int64_t>(bits % range);
            continue;
          }
        }
        out[i] = convert<T>(v);
      }
    });
  });
}

}  // namespace ember::cpu
