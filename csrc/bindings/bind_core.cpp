// Tensor metadata (TensorImpl), numpy buffer interop, copies, fills, random
// fills, and the runtime configuration (ISA, threads).
#include <pybind11/numpy.h>

#include <cmath>

#include "bindings/bindings.h"
#include "bindings/checks.h"
#include "core/checked_math.h"
#include "core/error.h"
#include "core/isa.h"
#include "core/parallel.h"
#include "core/view.h"
#include "cpu/copy/copy.h"
#include "cpu/random/random.h"

namespace ember::bindings {
namespace {

using ImplPtr = std::shared_ptr<TensorImpl>;

DType dtype_from_int(int code) {
  EMBER_CHECK(code >= 0 && code < kNumDTypes, ValueError, "ember: unknown dtype code ", code);
  return static_cast<DType>(code);
}

const char* buffer_format(DType t) {
  switch (t) {
    case DType::Bool:
      return "?";
    case DType::Int8:
      return "b";
    case DType::Int32:
      return "i";
    case DType::Int64:
      return "q";
    case DType::Float16:
      return "e";
    case DType::Float32:
      return "f";
    case DType::Float64:
      return "d";
    case DType::BFloat16:
      break;
  }
  throw TypeError(cat_str("ember: ", dtype_name(t),
                          " has no numpy equivalent; convert first, e.g. t.float().numpy()"));
}

DType dtype_from_format(std::string fmt, ssize_t itemsize) {
  while (!fmt.empty() && (fmt[0] == '<' || fmt[0] == '=' || fmt[0] == '@' || fmt[0] == '!'))
    fmt.erase(0, 1);
  if (fmt.size() == 1) {
    char c = fmt[0];
    if (c == '?') return DType::Bool;
    if (c == 'b') return DType::Int8;
    if ((c == 'i' || c == 'l' || c == 'q') && itemsize == 4) return DType::Int32;
    if ((c == 'i' || c == 'l' || c == 'q') && itemsize == 8) return DType::Int64;
    if (c == 'e') return DType::Float16;
    if (c == 'f') return DType::Float32;
    if (c == 'd') return DType::Float64;
  }
  throw TypeError(cat_str("ember.from_numpy: unsupported element type '", fmt,
                          "' (supported: bool, int8, int32, int64, float16, float32, float64)"));
}

// Zero-copy view of any object exporting the buffer protocol (numpy arrays).
ImplPtr from_buffer(const py::buffer& obj) {
  py::buffer_info info = obj.request();
  DType dtype = dtype_from_format(info.format, info.itemsize);
  Shape shape(info.shape.begin(), info.shape.end());
  Shape strides(info.ndim);
  for (ssize_t i = 0; i < info.ndim; ++i) {
    EMBER_CHECK(info.strides[i] >= 0, ValueError,
                "ember.from_numpy: arrays with negative strides are not supported; "
                "pass a copy (np.ascontiguousarray)");
    EMBER_CHECK(info.strides[i] % info.itemsize == 0, ValueError,
                "ember.from_numpy: strides that are not a multiple of the element size are "
                "not supported; pass a copy (np.ascontiguousarray)");
    strides[i] = info.strides[i] / info.itemsize;
  }
  const char* op = "ember.from_numpy";
  const size_t nbytes =
      static_cast<size_t>(checked_mul(view_extent(shape, strides, 0, op), info.itemsize, op,
                                      "the byte size of shape ", shape_text(shape)));
  // The storage keeps the exporting object alive; dropping it needs the GIL. A read-only
  // buffer (bytes, a read-only array or mmap) gives a read-only storage: writing it would
  // change an immutable object or fault.
  auto* owner = new py::object(obj);
  auto storage = std::make_shared<Storage>(
      info.ptr, nbytes, Device{},
      [owner] {
        py::gil_scoped_acquire gil;
        delete owner;
      },
      info.readonly);
  return TensorImpl::make(std::move(storage), dtype, shape, strides, 0, op);
}

py::tuple to_tuple(const Shape& s) {
  py::tuple t(s.size());
  for (size_t i = 0; i < s.size(); ++i) t[i] = s[i];
  return t;
}

}  // namespace

void bind_core(py::module_& m) {
  auto cls = py::class_<TensorImpl, ImplPtr>(m, "TensorImpl", py::buffer_protocol());
  cls.def_static(
         "empty",
         [](const Shape& shape, int dtype) {
           return TensorImpl::empty_cpu(shape, dtype_from_int(dtype));
         },
         py::arg("shape"), py::arg("dtype"), "Uninitialized contiguous CPU tensor.")
      .def_static("from_buffer", &from_buffer, py::arg("obj"),
                  "Zero-copy view of a buffer-protocol object (numpy array).")
      .def(
          "as_strided",
          [](const TensorImpl& t, const Shape& shape, const Shape& strides, int64_t offset) {
            return TensorImpl::make(t.storage, t.dtype, shape, strides, offset);
          },
          py::arg("shape"), py::arg("strides"), py::arg("offset"),
          "A view of the same storage, bounds-checked.")
      .def(
          "reshape_view",
          [](const TensorImpl& t, const Shape& shape, const std::string& op) {
            // (shape with -1 resolved, a view in that shape or None when a copy is needed)
            Shape resolved = infer_shape(shape, t.numel(), op.c_str());
            auto strides = view_strides(t.shape, t.strides, resolved);
            py::object view = py::none();
            if (strides)
              view = py::cast(TensorImpl::make(t.storage, t.dtype, resolved, *strides, t.offset));
            return py::make_tuple(to_tuple(resolved), view);
          },
          py::arg("shape"), py::arg("op"))
      .def(
          "view_as_dtype",
          [](const TensorImpl& t, int dtype) {
            // Same bytes under another dtype of the same size (used for bit casts).
            DType d = dtype_from_int(dtype);
            EMBER_CHECK(dtype_size(d) == t.itemsize(), ValueError,
                        "ember.view: dtype sizes differ");
            return TensorImpl::make(t.storage, d, t.shape, t.strides, t.offset);
          },
          py::arg("dtype"))
      .def_property_readonly("shape", [](const TensorImpl& t) { return to_tuple(t.shape); })
      .def_property_readonly("strides", [](const TensorImpl& t) { return to_tuple(t.strides); })
      .def_readonly("offset", &TensorImpl::offset)
      .def_property_readonly("dtype", [](const TensorImpl& t) { return static_cast<int>(t.dtype); })
      .def_property_readonly("device_type",
                             [](const TensorImpl& t) { return static_cast<int>(t.device().type); })
      .def_property_readonly("device_index", [](const TensorImpl& t) { return t.device().index; })
      .def_property_readonly("numel", &TensorImpl::numel)
      .def_property_readonly("is_contiguous", &TensorImpl::is_contiguous)
      .def_property_readonly(
          "data_ptr", [](const TensorImpl& t) { return reinterpret_cast<uintptr_t>(t.data()); })
      .def_property_readonly(
          "storage_ptr",
          [](const TensorImpl& t) { return reinterpret_cast<uintptr_t>(t.storage->data()); })
      .def_property_readonly("storage_nbytes",
                             [](const TensorImpl& t) { return t.storage->nbytes(); })
      .def_property_readonly("read_only",
                             [](const TensorImpl& t) { return t.storage->read_only(); })
      .def_buffer([](TensorImpl& t) -> py::buffer_info {
        EMBER_CHECK(t.device().type == DeviceType::CPU, TypeError,
                    "ember: can't convert a cuda tensor to numpy; call .cpu() first");
        const char* fmt = buffer_format(t.dtype);
        std::vector<ssize_t> shape(t.shape.begin(), t.shape.end());
        std::vector<ssize_t> strides(t.strides.size());
        for (size_t i = 0; i < strides.size(); ++i)
          strides[i] = static_cast<ssize_t>(t.strides[i] * t.itemsize());
        return py::buffer_info(t.data(), static_cast<ssize_t>(t.itemsize()), fmt,
                               static_cast<ssize_t>(shape.size()), shape, strides,
                               t.storage->read_only());
      });
  bind_dlpack(m, cls);

  m.def(
      "copy",
      [](TensorRef src, TensorRef dst) {
        check_device(src, DeviceType::CPU, "ember.copy", "source");
        check_device(dst, DeviceType::CPU, "ember.copy", "destination");
        check_writable(dst, "ember.copy", "destination");
        // A source overlapping the destination (x[1:].copy_(x[:-1]), or two tensors over one
        // numpy buffer) is read whole before anything is written, as numpy's copyto and the
        // CUDA copy do; the identical view copies onto itself.
        const bool through_temp = !same_view(src, dst) && may_overlap(src, dst);
        ImplPtr tmp =
            through_temp ? TensorImpl::empty_cpu(src.shape, src.dtype, "ember.copy") : nullptr;
        py::gil_scoped_release nogil;
        if (tmp) cpu::copy(src, *tmp);
        cpu::copy(tmp ? *tmp : src, dst);
      },
      py::arg("src"), py::arg("dst"), "dst[...] = src (broadcast, dtype conversion).");
  m.def(
      "fill",
      [](TensorRef dst, double value) {
        check_device(dst, DeviceType::CPU, "ember.fill", "destination");
        check_writable(dst, "ember.fill", "destination");
        py::gil_scoped_release nogil;
        cpu::fill(dst, value);
      },
      py::arg("dst"), py::arg("value"));
  m.def(
      "random_fill",
      [](TensorRef dst, const std::string& kind, double low, double high, uint64_t seed,
         uint64_t offset) {
        check_device(dst, DeviceType::CPU, "ember.random", "output");
        check_writable(dst, "ember.random", "output");
        cpu::RandomKind k;
        if (kind == "uniform")
          k = cpu::RandomKind::Uniform;
        else if (kind == "normal")
          k = cpu::RandomKind::Normal;
        else if (kind == "integer")
          k = cpu::RandomKind::Integer;
        else
          throw ValueError(cat_str("ember.random: unknown distribution '", kind, "'"));
        if (k == cpu::RandomKind::Integer) {
          // The kernel draws int64(low) + bits % (int64(high) - int64(low)): the bounds must
          // be int64 integers and their difference positive and representable.
          const auto is_int64 = [](double v) {
            return std::trunc(v) == v && v >= -0x1p63 && v < 0x1p63;
          };
          EMBER_CHECK(is_int64(low) && is_int64(high), ValueError,
                      "ember.randint: bounds must be integers in the int64 range, got [", low, ", ",
                      high, ")");
          EMBER_CHECK(high > low, ValueError, "ember.randint: empty range [", low, ", ", high, ")");
          checked_sub(static_cast<int64_t>(high), static_cast<int64_t>(low), "ember.randint",
                      "the range [", low, ", ", high, ")");
        }
        py::gil_scoped_release nogil;
        cpu::random_fill(dst, k, low, high, seed, offset);
      },
      py::arg("dst"), py::arg("kind"), py::arg("low"), py::arg("high"), py::arg("seed"),
      py::arg("offset"));

  m.def("get_isa", [] { return std::string(isa_name(current_isa())); });
  m.def("set_isa", [](const std::string& name) { set_isa(parse_isa(name)); }, py::arg("name"));
  m.def("best_isa", [] { return std::string(isa_name(best_isa())); });
  m.def("available_isas", [] {
    std::vector<std::string> names;
    for (Isa i : available_isas()) names.emplace_back(isa_name(i));
    return names;
  });
  m.def("cpu_features", [] {
    py::dict d;
    d["avx512_bf16"] = cpu_has_avx512_bf16();
    d["avx512_vnni"] = cpu_has_avx512_vnni();
    // Usable by this process: the CPU has them and the OS granted the tile state.
    d["amx_int8"] = cpu_amx_missing(AmxFeature::Int8) == nullptr;
    d["amx_bf16"] = cpu_amx_missing(AmxFeature::Bf16) == nullptr;
    return d;
  });
  m.def("_may_overlap", &may_overlap, py::arg("a"), py::arg("b"),
        "Whether two views can touch a common byte (the check every binding runs on its outputs).");
  m.def("_check_writable", &check_writable, py::arg("t"), py::arg("op"), py::arg("arg"),
        "The output check every binding runs (read-only memory, elements sharing an address), "
        "for in-place ops to run first under the name the user called.");
  m.def("get_num_threads", &get_num_threads);
  m.def("max_num_threads", &max_num_threads,
        "The most threads set_num_threads accepts: max(256, 4 x the CPUs).");
  m.def("set_num_threads", &set_num_threads, py::arg("n"));
}

}  // namespace ember::bindings
