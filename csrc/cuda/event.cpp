// ember._C_cuda.Event: a CUDA event on the legacy default stream, for timing GPU work and
// waiting for it (every ember kernel runs on that stream, so an event recorded after a call
// completes when the call's kernels have).
#include <pybind11/pybind11.h>

#include <cuda_runtime.h>

#include "core/error.h"
#include "cuda/cuda_check.h"
#include "cuda/runtime.h"

namespace py = pybind11;

namespace ember::cuda {
namespace {

class Event {
 public:
  explicit Event(bool timing) : timing_(timing) {}
  ~Event() {
    if (event_ != nullptr && cudaEventDestroy(event_) != cudaSuccess) cudaGetLastError();
  }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  // Created on first record, on that device (torch's events are lazy too).
  void record(int device) {
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
    EMBER_CUDA_CHECK(cudaEventRecord(event_, nullptr), "ember.cuda.Event.record");
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

void bind_event(py::module_& m) {
  py::class_<Event>(m, "Event", "A CUDA event on the default stream.")
      .def(py::init<bool>(), py::arg("enable_timing") = false)
      .def("record", &Event::record, py::arg("device") = 0,
           "Mark the point after all work queued so far on the device.")
      .def("query", &Event::query, "True when the recorded work has finished.")
      .def("synchronize", &Event::synchronize, "Wait until the recorded work has finished.")
      .def("elapsed_time", &Event::elapsed_time, py::arg("end"),
           "Milliseconds between this event and `end`.");
}

}  // namespace ember::cuda
