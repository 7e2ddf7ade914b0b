// OpenMP helpers. Work is always cut into fixed-size pieces whose boundaries do
// not depend on the thread count, so results are bitwise identical for 1 or N
// threads; threads only decide who computes which piece.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

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

// fn(item) for every item of [0, n), n = prefix.size() - 1, where prefix[i] is the total cost
// of items [0, i): each thread takes a run of items of about equal cost, so a few long items
// next to many short ones still spread evenly (a split by count would give one thread all
// the long ones). Items run whole on one thread, so results do not depend on the split.
template <typename Fn>
void parallel_items_by_cost(const std::vector<int64_t>& prefix, Fn&& fn) {
  const int64_t n = static_cast<int64_t>(prefix.size()) - 1, total = prefix.back();
  const int64_t parts = get_num_threads();
  if (n <= 0) return;
  if (parts == 1 || n == 1 || total < kParallelGrain) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  // Part p runs the items whose cost starts in [p * total / parts, (p + 1) * total / parts).
  auto first_item = [&](int64_t p) {
    const int64_t at = total / parts * p + total % parts * p / parts;
    return static_cast<int64_t>(std::lower_bound(prefix.begin(), prefix.end() - 1, at) -
                                prefix.begin());
  };
#pragma omp parallel for schedule(static, 1)
  for (int64_t p = 0; p < parts; ++p) {
    const int64_t end = p + 1 == parts ? n : first_item(p + 1);
    for (int64_t i = first_item(p); i < end; ++i) fn(i);
  }
}

}  // namespace ember
