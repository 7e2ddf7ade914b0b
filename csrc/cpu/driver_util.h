// Small helpers shared by the kernel drivers (csrc/cpu/<family>/*.cpp compiled once; never
// include this from a kernel source compiled per ISA: it instantiates std:: code).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace ember::cpu {

inline int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return cdiv(a, b) * b; }
inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

// Grow-only, 64-byte-aligned scratch memory (kept thread_local by its users).
class Scratch {
 public:
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() { std::free(p_); }
  void* get(size_t bytes) {
    if (bytes > n_) {
      std::free(p_);
      p_ = nullptr;
      n_ = 0;
      const size_t n = (bytes + 4095) & ~size_t{4095};
      p_ = std::aligned_alloc(64, n);
      if (!p_) throw std::bad_alloc();
      n_ = n;
    }
    return p_;
  }

 private:
  void* p_ = nullptr;
  size_t n_ = 0;
};

// A 64-byte-aligned heap array of n elements (packed panels are read with aligned loads).
template <typename T>
class AlignedBuffer {
 public:
  explicit AlignedBuffer(int64_t n) {
    const size_t bytes = (static_cast<size_t>(n > 0 ? n : 1) * sizeof(T) + 63) & ~size_t{63};
    p_ = static_cast<T*>(std::aligned_alloc(64, bytes));
    if (!p_) throw std::bad_alloc();
  }
  ~AlignedBuffer() { std::free(p_); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  T* get() const { return p_; }

 private:
  T* p_;
};

}  // namespace ember::cpu
