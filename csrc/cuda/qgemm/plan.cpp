#include "cuda/qgemm/plan.h"

#include <climits>

#include "core/error.h"

namespace ember::cuda::qgemm {

const char* path_name(Path p) { return p == Path::Imma ? "imma" : "dp4a"; }

Plan make_plan(int64_t m, int64_t n, int64_t lda, uint64_t a_address) {
  // One row needs no row stride; several need it to keep every row 16-byte aligned.
  const bool aligned = a_address % 16 == 0 && (m <= 1 || lda % 16 == 0);
  Plan p{};
  if (aligned) {
    p = {Path::Imma,
         "16-byte aligned input rows",
         kImmaBM,
         kImmaBN,
         kImmaBK,
         kImmaStages,
         kImmaThreads,
         kImmaSmem,
         0,
         0,
         0};
  } else {
    p = {Path::Dp4a,
         "input rows not 16-byte aligned (cp.async needs them)",
         kDp4aBM,
         kDp4aBN,
         kDp4aBK,
         1,
         kDp4aThreads,
         (kDp4aBM + kDp4aBN) * kDp4aLds,
         0,
         0,
         0};
  }
  p.m_tiles = (m + p.bm - 1) / p.bm;
  p.n_tiles = (n + p.bn - 1) / p.bn;
  p.blocks = p.m_tiles * p.n_tiles;
  EMBER_CHECK(p.blocks <= INT_MAX, ValueError, "ember.ops.qgemm: an (", m, ", ", n,
              ") output needs more than 2^31 - 1 tiles");
  return p;
}

}  // namespace ember::cuda::qgemm
