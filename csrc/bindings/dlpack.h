// The DLPack ABI (v0.8 unversioned "dltensor" capsules), declared from the
// public specification at https://dmlc.github.io/dlpack/latest/c_api.html.
#pragma once
#include <cstdint>

extern "C" {
enum EmberDLDeviceType : int32_t { kDLCPU = 1, kDLCUDA = 2 };
enum EmberDLDataTypeCode : uint8_t {
  kDLInt = 0,
  kDLUInt = 1,
  kDLFloat = 2,
  kDLBfloat = 4,
  kDLBool = 6
};
struct DLDevice {
  int32_t device_type;
  int32_t device_id;
};
struct DLDataType {
  uint8_t code;
  uint8_t bits;
  uint16_t lanes;
};
struct DLTensor {
  void* data;
  DLDevice device;
  int32_t ndim;
  DLDataType dtype;
  int64_t* shape;
  int64_t* strides;  // in elements; NULL means compact row-major
  uint64_t byte_offset;
};
struct DLManagedTensor {
  DLTensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(DLManagedTensor* self);
};
}
