#include "core/dtype.h"

namespace ember {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::Bool:
    case DType::Int8:
      return 1;
    case DType::Float16:
    case DType::BFloat16:
      return 2;
    case DType::Int32:
    case DType::Float32:
      return 4;
    case DType::Int64:
    case DType::Float64:
      return 8;
  }
  return 0;
}

const char* dtype_name(DType t) {
  static const char* names[kNumDTypes] = {"bool",    "int8",     "int32",   "int64",
                                          "float16", "bfloat16", "float32", "float64"};
  return names[static_cast<int>(t)];
}

bool dtype_is_floating(DType t) {
  return t == DType::Float16 || t == DType::BFloat16 || t == DType::Float32 || t == DType::Float64;
}

}  // namespace ember
