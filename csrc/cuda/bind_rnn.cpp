// ember._C_cuda rnn_forward / rnn_backward: the CPU bindings' names, signatures and checks
// (core/rnn_checks.h), on CUDA tensors of one device; the lengths are checked on a host
// copy and masked from the device tensor. _rnn_cell exposes the cells' per-unit math.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "core/rnn_checks.h"
#include "cuda/cuda_check.h"
#include "cuda/rnn/rnn.h"
#include "cuda/runtime.h"

namespace py = pybind11;

namespace ember::cuda {
namespace {

using TensorRef = const TensorImpl&;
using NamedArg = std::pair<const char*, const TensorImpl*>;

// The device of the given tensors (all already checked to be CUDA ones; absent ones
// skipped), which must be one device (common_device's error).
int rnn_device(const RnnOp& op, std::initializer_list<NamedArg> args) {
  int device = -1;
  const char* first = nullptr;
  for (const auto& [name, t] : args) {
    if (!t) continue;
    const int d = t->device().index;
    if (!first) device = d, first = name;
    EMBER_CHECK(d == device, ValueError, op.name, ": expected all tensors on one device, got ",
                first, " on cuda:", device, " and ", name, " on cuda:", d);
  }
  return device;
}

// Copies the (already shape-checked) lengths to the host, where the shared checks read them.
struct LengthsCopy {
  const RnnOp& op;
  std::vector<int64_t> host;
  const int64_t* operator()(TensorRef lengths) {
    const char* o = op.name.c_str();
    require_device(lengths.device().index, o);
    host.resize(static_cast<size_t>(lengths.numel()));
    if (!host.empty())
      EMBER_CUDA_CHECK(cudaMemcpy(host.data(), lengths.data_as<int64_t>(),
                                  host.size() * sizeof(int64_t), cudaMemcpyDeviceToHost),
                       o);
    return host.data();
  }
};

const void* ptr(const TensorImpl* t) { return t ? t->data() : nullptr; }
void* mptr(const TensorImpl* t) { return t ? t->data() : nullptr; }

void rnn_forward(const std::string& mode, TensorRef x, TensorRef w_ih, TensorRef w_hh,
                 const TensorImpl* b_ih, const TensorImpl* b_hh, const TensorImpl* h0,
                 const TensorImpl* c0, const TensorImpl* lengths, bool reverse, TensorRef y,
                 TensorRef hn, const TensorImpl* cn, TensorRef hs, const TensorImpl* cs,
                 TensorRef gates, const TensorImpl* hn_lin) {
  const RnnOp op = parse_rnn_mode(mode);
  LengthsCopy copy{op, {}};
  const int64_t* host_len = nullptr;
  const cpu::RnnShape s = check_rnn_forward(
      op, {&x, &w_ih, &w_hh, b_ih, b_hh, h0, c0, lengths, &y, &hn, cn, &hs, cs, &gates, hn_lin},
      reverse, DeviceType::CUDA, std::ref(copy), &host_len);
  const int device = rnn_device(op, {{"input", &x},
                                     {"weight_ih", &w_ih},
                                     {"weight_hh", &w_hh},
                                     {"bias_ih", b_ih},
                                     {"bias_hh", b_hh},
                                     {"h0", h0},
                                     {"c0", c0},
                                     {"lengths", lengths},
                                     {"output", &y},
                                     {"h_n", &hn},
                                     {"c_n", cn},
                                     {"hidden_states", &hs},
                                     {"cell_states", cs},
                                     {"gates", &gates},
                                     {"hn_lin", hn_lin}});
  require_device(device, op.name.c_str());
  const rnn::ForwardPtrs p{
      ptr(&x),   ptr(&w_ih),   ptr(&w_hh),  ptr(b_ih),
      ptr(b_hh), ptr(h0),      ptr(c0),     lengths ? lengths->data_as<int64_t>() : nullptr,
      mptr(&y),  mptr(&hn),    mptr(cn),    mptr(&hs),
      mptr(cs),  mptr(&gates), mptr(hn_lin)};
  py::gil_scoped_release nogil;
  rnn::forward(s, x.dtype, device, p);
}

void rnn_backward(const std::string& mode, TensorRef x, TensorRef w_ih, TensorRef w_hh,
                  const TensorImpl* lengths, bool reverse, TensorRef hs, const TensorImpl* cs,
                  TensorRef gates, const TensorImpl* hn_lin, TensorRef dy, TensorRef dhn,
                  const TensorImpl* dcn, TensorRef dx, TensorRef dw_ih, TensorRef dw_hh,
                  const TensorImpl* db_ih, const TensorImpl* db_hh, TensorRef dh0,
                  const TensorImpl* dc0) {
  const RnnOp op = parse_rnn_mode(mode);
  LengthsCopy copy{op, {}};
  const int64_t* host_len = nullptr;
  const cpu::RnnShape s =
      check_rnn_backward(op,
                         {&x, &w_ih, &w_hh, lengths, &hs, cs, &gates, hn_lin, &dy, &dhn, dcn, &dx,
                          &dw_ih, &dw_hh, db_ih, db_hh, &dh0, dc0},
                         reverse, DeviceType::CUDA, std::ref(copy), &host_len);
  const int device = rnn_device(op, {{"input", &x},
                                     {"weight_ih", &w_ih},
                                     {"weight_hh", &w_hh},
                                     {"lengths", lengths},
                                     {"hidden_states", &hs},
                                     {"cell_states", cs},
                                     {"gates", &gates},
                                     {"hn_lin", hn_lin},
                                     {"grad_output", &dy},
                                     {"grad_h_n", &dhn},
                                     {"grad_c_n", dcn},
                                     {"grad_input", &dx},
                                     {"grad_weight_ih", &dw_ih},
                                     {"grad_weight_hh", &dw_hh},
                                     {"grad_bias_ih", db_ih},
                                     {"grad_bias_hh", db_hh},
                                     {"grad_h0", &dh0},
                                     {"grad_c0", dc0}});
  require_device(device, op.name.c_str());
  const rnn::BackwardPtrs p{
      ptr(&x),      ptr(&w_ih),   ptr(&w_hh),  lengths ? lengths->data_as<int64_t>() : nullptr,
      ptr(&hs),     ptr(cs),      ptr(&gates), ptr(hn_lin),
      ptr(&dy),     ptr(&dhn),    ptr(dcn),    mptr(&dx),
      mptr(&dw_ih), mptr(&dw_hh), mptr(db_ih), mptr(db_hh),
      mptr(&dh0),   mptr(dc0)};
  py::gil_scoped_release nogil;
  rnn::backward(s, x.dtype, device, p);
}

}  // namespace

void bind_rnn(py::module_& m) {
  m.def("rnn_forward", &rnn_forward, py::arg("mode"), py::arg("input"), py::arg("weight_ih"),
        py::arg("weight_hh"), py::arg("bias_ih"), py::arg("bias_hh"), py::arg("h0"), py::arg("c0"),
        py::arg("lengths"), py::arg("reverse"), py::arg("output"), py::arg("h_n"), py::arg("c_n"),
        py::arg("hidden_states"), py::arg("cell_states"), py::arg("gates"), py::arg("hn_lin"),
        "ember._C.rnn_forward on CUDA tensors of one device (lengths: a CUDA int64 tensor).");
  m.def("rnn_backward", &rnn_backward, py::arg("mode"), py::arg("input"), py::arg("weight_ih"),
        py::arg("weight_hh"), py::arg("lengths"), py::arg("reverse"), py::arg("hidden_states"),
        py::arg("cell_states"), py::arg("gates"), py::arg("hn_lin"), py::arg("grad_output"),
        py::arg("grad_h_n"), py::arg("grad_c_n"), py::arg("grad_input"), py::arg("grad_weight_ih"),
        py::arg("grad_weight_hh"), py::arg("grad_bias_ih"), py::arg("grad_bias_hh"),
        py::arg("grad_h0"), py::arg("grad_c0"), "ember._C.rnn_backward on CUDA tensors.");
  m.def(
      "_rnn_cell",
      [](const std::string& mode, bool backward, bool f64,
         const std::vector<std::vector<double>>& in) {
        return rnn::cell_host(parse_rnn_mode(mode).mode, backward, f64, in);
      },
      py::arg("mode"), py::arg("backward"), py::arg("f64"), py::arg("inputs"),
      "Test hook: the cells' per-unit math (the kernels' host/device code) on rows of "
      "inputs, in float32 (f64 False) or float64; see csrc/cuda/rnn/rnn.h for the layouts.");
}

}  // namespace ember::cuda
