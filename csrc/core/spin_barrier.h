// A barrier for the threads of one OpenMP team that spins briefly before it yields.
//
// Why not `#pragma omp barrier`: under OMP_WAIT_POLICY=PASSIVE (which `ember serve` sets, and
// which servers commonly run with) libgomp's barrier sleeps on a futex at once, and waking a
// sleeping vCPU costs 10-50 us. A loop with one barrier per step of a few microseconds (a
// recurrent layer's time loop) then spends more time waking threads than computing. The
// spin is bounded (kSpinPauses), so a team whose member was descheduled degrades to
// yielding the core instead of burning it.
#pragma once
#include <omp.h>

#include <atomic>
#include <thread>

namespace ember {

class SpinBarrier {
 public:
  // About 40-100 us of `pause` (its latency is 40-140 cycles depending on the core).
  static constexpr int kSpinPauses = 2000;

  // For the team of the parallel region that is about to start with num_threads(planned).
  explicit SpinBarrier(int planned) : planned_(planned), n_(planned) {}

  // Called first in the region by every thread of the team: OpenMP may start fewer threads
  // than planned (a nested region runs on one), and the barrier must count those there are.
  void fit_team() {
    const int team = omp_get_num_threads();
    if (team == planned_) return;  // every thread of the team takes the same branch
#pragma omp single
    n_ = team;  // the single's own barrier publishes it
  }

  // Each thread passes its own `phase`, starting at 0, and keeps it between calls.
  // Returns once all n threads have called wait for this phase; every write a thread made
  // before its call is visible to all of them afterwards.
  void wait(int& phase) {
    phase ^= 1;
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) == n_ - 1) {
      arrived_.store(0, std::memory_order_relaxed);  // published by the release below
      phase_.store(phase, std::memory_order_release);
      return;
    }
    for (int i = 0; phase_.load(std::memory_order_acquire) != phase; ++i) {
      if (i < kSpinPauses)
        pause();
      else
        std::this_thread::yield();
    }
  }

 private:
  static void pause() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    std::this_thread::yield();
#endif
  }
  const int planned_;
  int n_;
  std::atomic<int> arrived_{0};
  std::atomic<int> phase_{0};
};

}  // namespace ember
