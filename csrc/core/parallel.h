// OpenMP helpers. Work is always cut into fixed-size pieces whose boundaries do
// not depend on the thread count, so results are bitwise identical for 1 or N
// threads; threads only decide who computes which piece.
#pragma once
#include <cstdint>

namespace ember {

int get_num_threads();
// The most threads set_num_threads accepts: max(256, 4 x the CPUs). libgomp starts a team
// by placing one record per thread on the calling thread's stack, so a team of ~10^5
// threads overflows an 8 MiB stack (SIGSEGV in GOMP_parallel); no kernel gains from more
// threads than a few per CPU.
int max_num_threads();
// ValueError naming ember.set_num_threads unless 1 <= n <= max_num_threads().
void set_num_threads(int64_t n);
// At import: an OMP_NUM_THREADS above max_num_threads() is lowered to it. Returns the
// value it replaced (for a warning), or 0 when it was in range.
int clamp_num_threads_from_env();

// Below this many elements of work a kernel runs on the calling thread.
constexpr int64_t kParallelGrain = 32768;

// fn(begin, end) over [0, n) in pieces of `chunk` (the last may be shorter).
// Runs serially when n * cost_per_item < kParallelGrain.
template <typename Fn>
void parallel_chunks(int64_t n, int64_t chunk, int64_t cost_per_item, Fn&& fn) {
  if (n <= 0) return;
  if (chunk < 1) chunk = 1;
  int64_t pieces = (n + chunk - 1) / chunk;
  if (pieces == 1 || n * cost_per_item < kParallelGrain) {
    for (int64_t p = 0; p < pieces; ++p) {
      int64_t b = p * chunk;
      fn(b, b + chunk < n ? b + chunk : n);
    }
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < pieces; ++p) {
    int64_t b = p * chunk;
    fn(b, b + chunk < n ? b + chunk : n);
  }
}

}  // namespace ember
