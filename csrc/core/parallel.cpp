#include "core/parallel.h"

#include <omp.h>

#include "core/error.h"

namespace ember {

int get_num_threads() { return omp_get_max_threads(); }

void set_num_threads(int n) {
  EMBER_CHECK(n >= 1, ValueError, "ember.set_num_threads: expected a positive count, got ", n);
  omp_set_num_threads(n);
}

}  // namespace ember
