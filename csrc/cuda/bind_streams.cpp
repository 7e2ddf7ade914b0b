// ember._C_cuda.Event and the stream functions under ember.cuda.Stream: an event marks a
// point in one stream's queue (by default the current one, where ember's kernels go), for
// timing GPU work, waiting for it and ordering another stream after it. Streams travel as
// their handle, an int (0: the legacy default stream).
#include <pybind11/pybind11.h>

#include <cuda_runtime.h>

#include <cstdint>

#include "core/error.h"
#include "core/tensor_impl.h"
#include "cuda/allocator.h"
#include "cuda/cuda_check.h"
#include "cuda/runtime.h"
#include "cuda/stream.h"

namespace py = pybind11;

namespace ember::cuda {
namespace {

cudaStream_t from_handle(uintptr_t handle) { return reinterpret_cast<cudaStream_t>(handle); }
uintptr_t to_handle(cudaStream_t s) { return reinterpret_cast<uintptr_t>(s); }

class Event {
 public:
  explicit Event(bool timing) : timing_(timing) {}
  ~Event() {
    if (event_ != nullptr && cudaEventDestroy(event_) != cudaSuccess) cudaGetLastError();
  }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  // Created on first record, on that device (torch's events are lazy too).
  void record(int device, uintptr_t stream) {
    require_device(device, "ember.cuda.Event.record");
    EMBER_CHECK(event_ == nullptr || device == device_, ValueError,
                "ember.cuda.Event.record: the event belongs to cuda:", device_,
                ", cannot record it on cuda:", device);
    DeviceGuard guard(device);
    if (event_ == nullptr) {
      EMBER_CUDA_CHECK(
          cudaEventCreateWithFlags(&event_, timing_ ? cudaEventDefault : cudaEventDisableTiming),
          "ember.cuda.Event.record");
      device_ = device;
    }
    EMBER_CUDA_CHECK(cudaEventRecord(event_, from_handle(stream)), "ember.cuda.Event.record");
  }

  // Work queued on `stream` from now on waits for the recorded work (nothing recorded:
  // nothing to wait for).
  void block(int device, uintptr_t stream) const {
    if (event_ == nullptr) return;
    require_device(device, "ember.cuda.Stream.wait_event");
    DeviceGuard guard(device);
    EMBER_CUDA_CHECK(cudaStreamWaitEvent(from_handle(stream), event_, 0),
                     "ember.cuda.Stream.wait_event");
  }

  // True when the work before the last record has finished (or nothing was recorded).
  bool query() const {
    if (event_ == nullptr) return true;
    const cudaError_t err = cudaEventQuery(event_);
    if (err == cudaErrorNotReady) {
      cudaGetLastError();
      return false;
    }
    EMBER_CUDA_CHECK(err, "ember.cuda.Event.query");
    return true;
  }

  void synchronize() const {
    if (event_ == nullptr) return;
    py::gil_scoped_release nogil;
    EMBER_CUDA_CHECK(cudaEventSynchronize(event_), "ember.cuda.Event.synchronize");
  }

  // Milliseconds from this event to `end`; both recorded, both with timing.
  float elapsed_time(const Event& end) const {
    EMBER_CHECK(timing_ && end.timing_, ValueError,
                "ember.cuda.Event.elapsed_time: both events need enable_timing=True");
    EMBER_CHECK(event_ != nullptr && end.event_ != nullptr, ValueError,
                "ember.cuda.Event.elapsed_time: both events must be recorded first");
    float ms = 0.0f;
    EMBER_CUDA_CHECK(cudaEventElapsedTime(&ms, event_, end.event_),
                     "ember.cuda.Event.elapsed_time");
    return ms;
  }

 private:
  bool timing_;
  cudaEvent_t event_ = nullptr;
  int device_ = -1;
};

}  // namespace

void bind_streams(py::module_& m) {
  py::class_<Event>(m, "Event", "A CUDA event: a point in one stream's queue.")
      .def(py::init<bool>(), py::arg("enable_timing") = false)
      .def("record", &Event::record, py::arg("device"), py::arg("stream"),
           "Mark the point after all work queued so far on the stream (a handle).")
      .def("block", &Event::block, py::arg("device"), py::arg("stream"),
           "Make later work on the stream wait for the recorded work.")
      .def("query", &Event::query, "True when the recorded work has finished.")
      .def("synchronize", &Event::synchronize, "Wait until the recorded work has finished.")
      .def("elapsed_time", &Event::elapsed_time, py::arg("end"),
           "Milliseconds between this event and `end`.");
  m.def(
      "_stream_new",
      [](int device, int priority) { return to_handle(pooled_stream(device, priority)); },
      py::arg("device"), py::arg("priority"), "A pooled stream's handle.");
  m.def(
      "_current_stream",
      [](int device) {
        require_device(device, "ember.cuda.current_stream");
        return to_handle(current_stream(device));
      },
      py::arg("device"));
  m.def(
      "_set_current_stream",
      [](int device, uintptr_t stream) {
        require_device(device, "ember.cuda.stream");
        set_current_stream(device, from_handle(stream));
      },
      py::arg("device"), py::arg("stream"));
  m.def(
      "_stream_query",
      [](int device, uintptr_t stream) {
        require_device(device, "ember.cuda.Stream.query");
        DeviceGuard guard(device);
        const cudaError_t err = cudaStreamQuery(from_handle(stream));
        if (err == cudaErrorNotReady) {
          cudaGetLastError();
          return false;
        }
        EMBER_CUDA_CHECK(err, "ember.cuda.Stream.query");
        return true;
      },
      py::arg("device"), py::arg("stream"));
  m.def(
      "_stream_synchronize",
      [](int device, uintptr_t stream) {
        require_device(device, "ember.cuda.Stream.synchronize");
        py::gil_scoped_release nogil;
        DeviceGuard guard(device);
        EMBER_CUDA_CHECK(cudaStreamSynchronize(from_handle(stream)),
                         "ember.cuda.Stream.synchronize");
      },
      py::arg("device"), py::arg("stream"));
  m.def(
      "_record_stream",
      [](const TensorImpl& t, uintptr_t stream) {
        check_device(t, DeviceType::CUDA, "ember.Tensor.record_stream", "tensor");
        record_stream(t.device().index, t.storage->data(), from_handle(stream));
      },
      py::arg("tensor"), py::arg("stream"));
}

}  // namespace ember::cuda
