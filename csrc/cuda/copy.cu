// Copies into and out of CUDA memory with numpy broadcasting and dtype
// conversion (host->device, device->host, device->device), and fill.
//
// Same dtype, same shape and contiguous on both sides is one cudaMemcpy. Anything
// else runs the strided convert kernel on the device: a strided/broadcast/
// differently-typed CPU source is uploaded as its whole span of storage bytes
// and read there with its own strides; a device-to-host copy converts into a
// contiguous device temporary of the destination's dtype and downloads that.
#include <algorithm>

#include "core/dtype_dispatch.h"
#include "core/overlap.h"
#include "cuda/allocator.h"
#include "cuda/convert.cuh"
#include "cuda/loops.cuh"
#include "cuda/ops.h"
#include "cuda/runtime.h"
#include "cuda/scratch.h"
#include "cuda/stream.h"

namespace ember::cuda {
namespace {

constexpr const char* kOp = "ember.copy";

template <typename D, typename S>
struct ConvertFn {
  EMBER_HD D operator()(S v) const { return convert_to<D>(v); }
};

template <typename D>
struct FillFn {
  D value;
  EMBER_HD D operator()() const { return value; }
};

// Bytes from a view's first element to its last one (strides are non-negative).
size_t span_bytes(const TensorImpl& t) {
  if (t.numel() == 0) return 0;
  int64_t last = 0;
  for (size_t i = 0; i < t.shape.size(); ++i) last += (t.shape[i] - 1) * t.strides[i];
  return static_cast<size_t>(last + 1) * t.itemsize();
}

bool overlap(const TensorImpl& a, const TensorImpl& b) {
  const char* a0 = a.data();
  const char* b0 = b.data();
  return a0 < b0 + span_bytes(b) && b0 < a0 + span_bytes(a);
}

// dst (dtype dt, `shape`, dst_strides) = src (dtype st, its strides over `shape`),
// both in memory of `device`, which must be current.
void convert_on_device(int device, const Shape& shape, DType dt, char* dst,
                       const Shape& dst_strides, DType st, const char* src,
                       const Shape& src_strides) {
  visit_dtype(dt, [&](auto* dtag) {
    using D = std::remove_pointer_t<decltype(dtag)>;
    visit_dtype(st, [&](auto* stag) {
      using S = std::remove_pointer_t<decltype(stag)>;
      run_elementwise(kOp, device, ConvertFn<D, S>{}, shape,
                      Arg<D>{reinterpret_cast<D*>(dst), &dst_strides},
                      Arg<const S>{reinterpret_cast<const S*>(src), &src_strides});
    });
  });
}

// Strides that read a contiguous array of `shape` broadcast to `out_shape`.
Shape contiguous_broadcast(const Shape& shape, const Shape& out_shape) {
  TensorImpl t;
  t.shape = shape;
  t.strides = contiguous_strides(shape);
  return broadcast_strides(t, out_shape, kOp);
}

// src (any strides) into a contiguous device buffer of src's dtype and shape.
void pack_on_device(int device, const TensorImpl& src, char* buf) {
  convert_on_device(device, src.shape, src.dtype, buf, contiguous_strides(src.shape), src.dtype,
                    src.data(), src.strides);
}

void host_to_device(const TensorImpl& src, const Shape& src_strides, const TensorImpl& dst,
                    bool plain) {
  const int dev = dst.device().index;
  DeviceGuard guard(dev);
  if (plain) {
    EMBER_CUDA_CHECK(
        cudaMemcpy(dst.data(), src.data(), dst.numel() * dst.itemsize(), cudaMemcpyHostToDevice),
        kOp);
    return;
  }
  const size_t span = span_bytes(src);
  Scratch tmp(dev, span);
  EMBER_CUDA_CHECK(cudaMemcpy(tmp.as<char>(), src.data(), span, cudaMemcpyHostToDevice), kOp);
  convert_on_device(dev, dst.shape, dst.dtype, dst.data(), dst.strides, src.dtype, tmp.as<char>(),
                    src_strides);
}

void device_to_host(const TensorImpl& src, const Shape& src_strides, const TensorImpl& dst,
                    bool plain) {
  const int dev = src.device().index;
  DeviceGuard guard(dev);
  const size_t nbytes = dst.numel() * dst.itemsize();
  if (plain) {
    EMBER_CUDA_CHECK(cudaMemcpy(dst.data(), src.data(), nbytes, cudaMemcpyDeviceToHost), kOp);
    return;
  }
  Scratch tmp(dev, nbytes);
  convert_on_device(dev, dst.shape, dst.dtype, tmp.as<char>(), contiguous_strides(dst.shape),
                    src.dtype, src.data(), src_strides);
  // A pageable destination makes this wait for the kernel and the transfer.
  EMBER_CUDA_CHECK(cudaMemcpy(dst.data(), tmp.as<char>(), nbytes, cudaMemcpyDeviceToHost), kOp);
}

void device_to_device(const TensorImpl& src, const Shape& src_strides, const TensorImpl& dst,
                      bool plain) {
  const int sdev = src.device().index;
  const int ddev = dst.device().index;
  const size_t src_bytes = src.numel() * src.itemsize();
  if (sdev != ddev) {
    // Across GPUs: pack src on its device, copy the packed bytes peer to peer,
    // then broadcast/convert on the destination's device.
    Scratch packed_dst(ddev, src_bytes);
    const char* from = src.data();
    {
      DeviceGuard guard(sdev);
      Scratch packed_src(sdev, src.is_contiguous() ? 0 : src_bytes);
      if (!src.is_contiguous()) {
        pack_on_device(sdev, src, packed_src.as<char>());
        from = packed_src.as<char>();
      }
      EMBER_CUDA_CHECK(cudaMemcpyPeer(packed_dst.as<char>(), ddev, from, sdev, src_bytes), kOp);
    }
    DeviceGuard guard(ddev);
    convert_on_device(ddev, dst.shape, dst.dtype, dst.data(), dst.strides, src.dtype,
                      packed_dst.as<char>(), contiguous_broadcast(src.shape, dst.shape));
    return;
  }
  DeviceGuard guard(ddev);
  if (plain && dst.data() == src.data()) return;  // the same elements
  const bool overlaps = overlap(src, dst);
  if (plain && !overlaps) {
    EMBER_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), src_bytes, cudaMemcpyDeviceToDevice,
                                     current_stream()),
                     kOp);
    return;
  }
  if (overlaps) {
    // Elements would be overwritten before they are read: go through a packed copy.
    Scratch tmp(ddev, src_bytes);
    pack_on_device(ddev, src, tmp.as<char>());
    convert_on_device(ddev, dst.shape, dst.dtype, dst.data(), dst.strides, src.dtype,
                      tmp.as<char>(), contiguous_broadcast(src.shape, dst.shape));
    return;
  }
  convert_on_device(ddev, dst.shape, dst.dtype, dst.data(), dst.strides, src.dtype, src.data(),
                    src_strides);
}

}  // namespace

void copy(const TensorImpl& src, const TensorImpl& dst) {
  const bool src_cuda = src.device().type == DeviceType::CUDA;
  const bool dst_cuda = dst.device().type == DeviceType::CUDA;
  EMBER_CHECK(src_cuda || dst_cuda, ValueError, kOp,
              ": neither tensor is on cuda (CPU copies go through ember._C.copy)");
  const Shape src_strides = broadcast_strides(src, dst.shape, kOp);
  check_writable(dst, kOp, "destination");
  EMBER_CHECK(dst_cuda || dst.is_contiguous(), ValueError,
              "ember.copy: a CPU destination of a device-to-host copy must be contiguous");
  if (src_cuda) require_device(src.device().index, kOp);
  if (dst_cuda) require_device(dst.device().index, kOp);
  if (dst.numel() == 0) return;
  const bool plain = src.dtype == dst.dtype && src.shape == dst.shape && src.is_contiguous() &&
                     dst.is_contiguous();
  if (!src_cuda) return host_to_device(src, src_strides, dst, plain);
  if (!dst_cuda) return device_to_host(src, src_strides, dst, plain);
  device_to_device(src, src_strides, dst, plain);
}

void fill(const TensorImpl& dst, double value) {
  const char* op = "ember.fill";
  const int device = common_device(op, {{"destination", &dst}});
  check_writable(dst, op, "destination");
  if (dst.numel() == 0) return;
  require_device(device, op);
  DeviceGuard guard(device);
  visit_dtype(dst.dtype, [&](auto* tag) {
    using D = std::remove_pointer_t<decltype(tag)>;
    run_elementwise(op, device, FillFn<D>{convert<D>(value)}, dst.shape,
                    Arg<D>{dst.data_as<D>(), &dst.strides});
  });
}

}  // namespace ember::cuda
