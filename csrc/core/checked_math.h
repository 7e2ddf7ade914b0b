// Overflow-checked int64 arithmetic for sizes: every product or sum of shapes, strides,
// offsets and byte counts that comes from a caller goes through these, so a hostile shape
// raises a ValueError naming the op instead of wrapping into a bounds check that passes.
#pragma once
#include <cstdint>

#include "core/error.h"

namespace ember {

// Largest tensor rank accepted anywhere (numpy's limit); kernels keep per-dim arrays.
constexpr int64_t kMaxDims = 64;

// a * b, or ValueError "<op>: <what> overflows" (what: e.g. "the extent of shape (..)").
template <typename... What>
int64_t checked_mul(int64_t a, int64_t b, const char* op, const What&... what) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) throw ValueError(cat_str(op, ": ", what..., " overflows"));
  return r;
}

// a + b, or ValueError "<op>: <what> overflows".
template <typename... What>
int64_t checked_add(int64_t a, int64_t b, const char* op, const What&... what) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) throw ValueError(cat_str(op, ": ", what..., " overflows"));
  return r;
}

// a - b, or ValueError "<op>: <what> overflows".
template <typename... What>
int64_t checked_sub(int64_t a, int64_t b, const char* op, const What&... what) {
  int64_t r;
  if (__builtin_sub_overflow(a, b, &r)) throw ValueError(cat_str(op, ": ", what..., " overflows"));
  return r;
}

}  // namespace ember
