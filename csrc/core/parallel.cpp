#include "core/parallel.h"

#include <omp.h>

#include <algorithm>

#include "core/error.h"

namespace ember {

int get_num_threads() { return omp_get_max_threads(); }

int max_num_threads() { return std::max(256, 4 * omp_get_num_procs()); }

void set_num_threads(int64_t n) {
  EMBER_CHECK(n >= 1 && n <= max_num_threads(), ValueError,
              "ember.set_num_threads: expected 1 <= n <= ", max_num_threads(),
              " (max(256, 4 x the ", omp_get_num_procs(), " CPUs)), got ", n);
  omp_set_num_threads(static_cast<int>(n));
}

int clamp_num_threads_from_env() {
  const int n = omp_get_max_threads();
  if (n <= max_num_threads()) return 0;
  omp_set_num_threads(max_num_threads());
  return n;
}

}  // namespace ember
