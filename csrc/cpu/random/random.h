// Counter-based random numbers (Philox-4x32-10, Salmon et al., SC'11). Element i
// of a fill draws from counter (offset + i) under key `seed`, so any element can be
// computed independently: results do not depend on thread count, and the Python
// generator only advances `offset`.
#pragma once
#include <cstdint>

#include "core/tensor_impl.h"

namespace ember::cpu {

enum class RandomKind { Uniform, Normal, Integer };

// Fills contiguous `dst`: Uniform in [low, high), Normal with mean `low` and std `high`,
// Integer uniformly in [low, high) (integer bounds).
void random_fill(const TensorImpl& dst, RandomKind kind, double low, double high, uint64_t seed,
                 uint64_t offset);

}  // namespace ember::cpu
