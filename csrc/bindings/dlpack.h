// The DLPack ABI (unversioned "dltensor" capsules of v0.8 and versioned
// "dltensor_versioned" ones of v1, which add flags such as read-only), declared from
// the public specification at https://dmlc.github.io/dlpack/latest/c_api.html.
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
struct DLPackVersion {
  uint32_t major;
  uint32_t minor;
};
struct DLManagedTensorVersioned {
  DLPackVersion version;
  void* manager_ctx;
  void (*deleter)(DLManagedTensorVersioned* self);
  uint64_t flags;
  DLTensor dl_tensor;
};
constexpr uint32_t kDLPackMajorVersion = 1;
constexpr uint32_t kDLPackMinorVersion = 0;
constexpr uint64_t kDLPackFlagReadOnly = uint64_t{1} << 0;
}
