// Element types of ember tensors. The numeric codes are shared with
// python/ember/_dtype.py; keep the two in sync.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/half.h"

namespace ember {

enum class DType : int8_t {
  Bool = 0,
  Int8 = 1,
  Int32 = 2,
  Int64 = 3,
  Float16 = 4,
  BFloat16 = 5,
  Float32 = 6,
  Float64 = 7,
};
constexpr int kNumDTypes = 8;

size_t dtype_size(DType t);
const char* dtype_name(DType t);
bool dtype_is_floating(DType t);

}  // namespace ember
