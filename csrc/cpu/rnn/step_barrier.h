// A barrier for the few threads of one recurrent time loop, crossed once per time step.
//
// Why not the OpenMP barrier: under OMP_WAIT_POLICY=PASSIVE (what a shared machine or a
// server sets) libgomp puts a waiting thread to sleep in the kernel at once, and waking it
// costs tens of microseconds per step, a large part of a small step's recurrent GEMM. The
// threads of a step usually arrive within microseconds of each other, so this barrier
// spins a short while first and sleeps (a futex on Linux; elsewhere it yields) only when
// the wait gets long, e.g. when a team member was descheduled.
#pragma once
#include <atomic>
#include <chrono>
#include <climits>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace ember::cpu {

class StepBarrier {
 public:
  explicit StepBarrier(int threads) : threads_(threads) {}

  // Returns once all `threads` threads have called wait() for this generation. Writes
  // before wait() are visible to every thread after it.
  void wait() {
    const int gen = gen_.load(std::memory_order_relaxed);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == threads_) {
      arrived_.store(0, std::memory_order_relaxed);
      gen_.store(static_cast<int>(static_cast<unsigned>(gen) + 1u), std::memory_order_seq_cst);
      if (sleepers_.load(std::memory_order_seq_cst) > 0) wake_all();
      return;
    }
    const auto start = std::chrono::steady_clock::now();
    for (unsigned spins = 1; gen_.load(std::memory_order_acquire) == gen; ++spins) {
      pause();
      if (spins % 64 == 0 && std::chrono::steady_clock::now() - start > kSpinTime) break;
    }
    // The seq_cst pair (sleepers_ here, gen_ in the last arrival) guarantees that either
    // the last arrival sees a sleeper and wakes it, or the sleeper sees the new generation.
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    while (gen_.load(std::memory_order_seq_cst) == gen) sleep_while(gen);
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
  }

 private:
  // Longer than a balanced step's arrival skew, shorter than a wake-up from sleep.
  static constexpr std::chrono::microseconds kSpinTime{50};

  static void pause() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#endif
  }
  // Sleeps until woken if gen_ still holds `gen` (it may return early; callers re-check).
  void sleep_while(int gen) {
#ifdef __linux__
    syscall(SYS_futex, reinterpret_cast<int*>(&gen_), FUTEX_WAIT_PRIVATE, gen, nullptr, nullptr, 0);
#else
    (void)gen;
    std::this_thread::yield();
#endif
  }
  void wake_all() {
#ifdef __linux__
    syscall(SYS_futex, reinterpret_cast<int*>(&gen_), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr,
            0);
#endif
  }

  const int threads_;
  alignas(64) std::atomic<int> arrived_{0};
  alignas(64) std::atomic<int> gen_{0};
  std::atomic<int> sleepers_{0};
};

static_assert(sizeof(std::atomic<int>) == sizeof(int), "the futex word is the atomic's int");

}  // namespace ember::cpu
