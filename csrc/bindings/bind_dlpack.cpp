// __dlpack__ export and from_dlpack import. pybind11 has no DLPack type, so the
// capsule protocol is followed by hand: a consumer renames the capsule to
// "used_dltensor" ("used_dltensor_versioned") and takes over calling the deleter.
// Versioned capsules carry the read-only flag both ways (Storage::read_only).
#include <limits>

#include "bindings/bindings.h"
#include "bindings/dlpack.h"
#include "core/checked_math.h"
#include "core/error.h"

namespace ember::bindings {
namespace {

using ImplPtr = std::shared_ptr<TensorImpl>;

struct ExportCtx {
  DLManagedTensor managed;
  DLManagedTensorVersioned versioned;
  ImplPtr keep;  // the tensor (and its storage) stay alive while the consumer uses it
  Shape shape, strides;
};

void export_deleter(DLManagedTensor* self) { delete static_cast<ExportCtx*>(self->manager_ctx); }
void export_deleter_versioned(DLManagedTensorVersioned* self) {
  delete static_cast<ExportCtx*>(self->manager_ctx);
}

DLDataType to_dl(DType t) {
  switch (t) {
    case DType::Bool:
      return {kDLBool, 8, 1};
    case DType::Int8:
      return {kDLInt, 8, 1};
    case DType::Int32:
      return {kDLInt, 32, 1};
    case DType::Int64:
      return {kDLInt, 64, 1};
    case DType::Float16:
      return {kDLFloat, 16, 1};
    case DType::BFloat16:
      return {kDLBfloat, 16, 1};
    case DType::Float32:
      return {kDLFloat, 32, 1};
    case DType::Float64:
      return {kDLFloat, 64, 1};
  }
  return {};
}

DType from_dl(DLDataType t) {
  EMBER_CHECK(t.lanes == 1, TypeError, "ember.from_dlpack: vector dtypes are not supported");
  if (t.code == kDLBool && t.bits == 8) return DType::Bool;
  if (t.code == kDLInt && t.bits == 8) return DType::Int8;
  if (t.code == kDLInt && t.bits == 32) return DType::Int32;
  if (t.code == kDLInt && t.bits == 64) return DType::Int64;
  if (t.code == kDLFloat && t.bits == 16) return DType::Float16;
  if (t.code == kDLBfloat && t.bits == 16) return DType::BFloat16;
  if (t.code == kDLFloat && t.bits == 32) return DType::Float32;
  if (t.code == kDLFloat && t.bits == 64) return DType::Float64;
  throw TypeError(cat_str("ember.from_dlpack: unsupported dtype (code ", int(t.code), ", ",
                          int(t.bits), " bits)"));
}

void capsule_destructor(PyObject* capsule) {
  // Only an unconsumed capsule still owns the tensor.
  if (PyCapsule_IsValid(capsule, "dltensor")) {
    auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule, "dltensor"));
    if (m && m->deleter) m->deleter(m);
  }
}

void capsule_destructor_versioned(PyObject* capsule) {
  if (PyCapsule_IsValid(capsule, "dltensor_versioned")) {
    auto* m =
        static_cast<DLManagedTensorVersioned*>(PyCapsule_GetPointer(capsule, "dltensor_versioned"));
    if (m && m->deleter) m->deleter(m);
  }
}

// A "dltensor_versioned" capsule (flagged read-only when the storage is) or, for
// consumers that only know DLPack 0.x, a "dltensor" one. Python's __dlpack__ refuses the
// unversioned form of a read-only tensor, which could not say so.
py::object to_dlpack(const ImplPtr& t, bool versioned) {
  // pybind11 passes None as an empty holder (TensorImpl.to_dlpack(None)).
  EMBER_CHECK(t != nullptr, TypeError, "ember.to_dlpack: expected a tensor, got None");
  auto* ctx = new ExportCtx{};
  ctx->keep = t;
  ctx->shape = t->shape;
  ctx->strides = t->strides;
  DLTensor& dl = versioned ? ctx->versioned.dl_tensor : ctx->managed.dl_tensor;
  dl.data = t->storage->data();
  dl.byte_offset = static_cast<uint64_t>(t->offset) * t->itemsize();
  Device dev = t->device();
  dl.device = {dev.type == DeviceType::CPU ? kDLCPU : kDLCUDA, dev.index};
  dl.ndim = static_cast<int32_t>(t->shape.size());
  dl.dtype = to_dl(t->dtype);
  dl.shape = ctx->shape.data();
  dl.strides = ctx->strides.data();
  PyObject* cap;
  if (versioned) {
    ctx->versioned.version = {kDLPackMajorVersion, kDLPackMinorVersion};
    ctx->versioned.manager_ctx = ctx;
    ctx->versioned.deleter = export_deleter_versioned;
    ctx->versioned.flags = t->storage->read_only() ? kDLPackFlagReadOnly : 0;
    cap = PyCapsule_New(&ctx->versioned, "dltensor_versioned", capsule_destructor_versioned);
  } else {
    ctx->managed.manager_ctx = ctx;
    ctx->managed.deleter = export_deleter;
    cap = PyCapsule_New(&ctx->managed, "dltensor", capsule_destructor);
  }
  if (!cap) {
    delete ctx;
    throw py::error_already_set();
  }
  return py::reinterpret_steal<py::object>(cap);
}

ImplPtr from_dlpack(const py::capsule& cap) {
  PyObject* obj = cap.ptr();
  DLManagedTensor* m = nullptr;
  DLManagedTensorVersioned* mv = nullptr;
  if (PyCapsule_IsValid(obj, "dltensor_versioned")) {
    mv = static_cast<DLManagedTensorVersioned*>(PyCapsule_GetPointer(obj, "dltensor_versioned"));
    EMBER_CHECK(mv->version.major == kDLPackMajorVersion, ValueError,
                "ember.from_dlpack: unsupported DLPack version ", mv->version.major, ".",
                mv->version.minor, " (expected ", kDLPackMajorVersion, ".x)");
  } else {
    EMBER_CHECK(PyCapsule_IsValid(obj, "dltensor"), ValueError,
                "ember.from_dlpack: expected an unused 'dltensor' or 'dltensor_versioned' capsule");
    m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(obj, "dltensor"));
  }
  const DLTensor& dl = mv ? mv->dl_tensor : m->dl_tensor;
  const bool read_only = mv && (mv->flags & kDLPackFlagReadOnly) != 0;
  const char* op = "ember.from_dlpack";
  // On an error before the rename below, the capsule is untouched: its producer still
  // owns the tensor. A producer's header is untrusted: rank, sizes, strides and byte offset
  // are checked (with overflow checks) before the capsule is consumed.
  const DType dtype = from_dl(dl.dtype);
  EMBER_CHECK(dl.device.device_type == kDLCPU || dl.device.device_type == kDLCUDA, ValueError, op,
              ": unsupported device type ", dl.device.device_type);
  EMBER_CHECK(dl.ndim >= 0 && dl.ndim <= kMaxDims, ValueError, op, ": ndim ", dl.ndim,
              " is outside [0, ", kMaxDims, "]");
  EMBER_CHECK(dl.ndim == 0 || dl.shape != nullptr, ValueError, op, ": shape is missing");
  Shape shape(dl.shape, dl.shape + dl.ndim);
  checked_numel(shape, op);  // before contiguous_strides multiplies the sizes
  Shape strides = dl.strides ? Shape(dl.strides, dl.strides + dl.ndim) : contiguous_strides(shape);
  for (int64_t s : strides)
    EMBER_CHECK(s >= 0, ValueError, "ember.from_dlpack: negative strides are not supported");
  const int64_t item = static_cast<int64_t>(dtype_size(dtype));
  const size_t nbytes = static_cast<size_t>(checked_mul(
      view_extent(shape, strides, 0, op), item, op, "the byte size of shape ", shape_text(shape)));
  EMBER_CHECK(dl.byte_offset <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
              ValueError, op, ": byte_offset ", dl.byte_offset, " is too large");
  Device dev{dl.device.device_type == kDLCPU ? DeviceType::CPU : DeviceType::CUDA,
             dl.device.device_id};
  char* data = static_cast<char*>(dl.data) + dl.byte_offset;
  PyCapsule_SetName(obj, mv ? "used_dltensor_versioned" : "used_dltensor");
  auto storage = std::make_shared<Storage>(
      data, nbytes, dev,
      [m, mv] {
        py::gil_scoped_acquire gil;  // producers' deleters may touch Python objects
        if (mv && mv->deleter) mv->deleter(mv);
        if (m && m->deleter) m->deleter(m);
      },
      read_only);
  return TensorImpl::make(std::move(storage), dtype, shape, strides, 0, op);
}

}  // namespace

void bind_dlpack(py::module_& m, py::class_<TensorImpl, ImplPtr>& cls) {
  cls.def("to_dlpack", &to_dlpack, py::arg("versioned") = false,
          "A 'dltensor' (or 'dltensor_versioned') capsule viewing this tensor.");
  m.def("from_dlpack", &from_dlpack, py::arg("capsule"),
        "Zero-copy tensor from a 'dltensor' or 'dltensor_versioned' capsule (takes ownership).");
}

}  // namespace ember::bindings
