// The m.def of the entry points ember._C and ember._C_cuda both define: one Python name,
// argument names, defaults and docstring each, so the Python ops call either module alike
// (python/ember/_primitives.py picks the module by the tensors' device). Each module passes
// its own functions, of the same signatures.
#pragma once
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>

#include "core/tensor_impl.h"

namespace ember::bindings {

namespace py = pybind11;

// attention_forward, attention_backward and their varlen forms; docs: their docstrings, in
// that order (what each device's kernels take differs).
template <class F, class B, class VF, class VB>
void def_attention(py::module_& m, F forward, B backward, VF varlen_forward, VB varlen_backward,
                   const char* const (&docs)[4]) {
  m.def("attention_forward", forward, py::arg("query"), py::arg("key"), py::arg("value"),
        py::arg("attn_mask"), py::arg("out"), py::arg("lse"), py::arg("is_causal"),
        py::arg("scale"), docs[0]);
  m.def("attention_backward", backward, py::arg("grad_out"), py::arg("query"), py::arg("key"),
        py::arg("value"), py::arg("attn_mask"), py::arg("out"), py::arg("lse"),
        py::arg("grad_query"), py::arg("grad_key"), py::arg("grad_value"), py::arg("is_causal"),
        py::arg("scale"), docs[1]);
  m.def("attention_varlen_forward", varlen_forward, py::arg("query"), py::arg("key"),
        py::arg("value"), py::arg("cu_seqlens_q"), py::arg("cu_seqlens_k"), py::arg("out"),
        py::arg("lse"), py::arg("is_causal"), py::arg("scale"), docs[2]);
  m.def("attention_varlen_backward", varlen_backward, py::arg("grad_out"), py::arg("query"),
        py::arg("key"), py::arg("value"), py::arg("cu_seqlens_q"), py::arg("cu_seqlens_k"),
        py::arg("out"), py::arg("lse"), py::arg("grad_query"), py::arg("grad_key"),
        py::arg("grad_value"), py::arg("is_causal"), py::arg("scale"), docs[3]);
}

template <class R, class A, class S, class SB>
void def_reduce(py::module_& m, R reduce, A reduce_arg, S softmax, SB softmax_backward) {
  m.def("reduce", reduce, py::arg("op"), py::arg("x"), py::arg("out"), py::arg("outer"),
        py::arg("r"), py::arg("inner"),
        "out[o, k] = op(x[o, :, k]) for contiguous x viewed as (outer, r, inner); op is sum, "
        "mean, prod, max or min.");
  m.def("reduce_arg", reduce_arg, py::arg("op"), py::arg("x"), py::arg("values"),
        py::arg("indices"), py::arg("outer"), py::arg("r"), py::arg("inner"),
        "values, indices (int64) of the first max/min of x[o, :, k] (NaN wins).");
  m.def("softmax", softmax, py::arg("x"), py::arg("out"), py::arg("log"),
        "Softmax (log=True: log_softmax) over the last dimension.");
  m.def("softmax_backward", softmax_backward, py::arg("y"), py::arg("grad_out"), py::arg("grad_in"),
        py::arg("log"), "grad_in of softmax / log_softmax from its output y.");
}

// norm_backward(op, grad_out, x, n, weight, mean, rstd, grad_in, grad_weight, grad_bias)
// serves both backwards (RMS norm: no mean, no grad_bias).
template <class LN, class RN, class NB>
void def_norm(py::module_& m, LN layer_norm_forward, RN rms_norm_forward, NB norm_backward) {
  using TensorRef = const TensorImpl&;
  using Opt = const TensorImpl*;
  m.def("layer_norm_forward", layer_norm_forward, py::arg("x"), py::arg("n"), py::arg("weight"),
        py::arg("bias"), py::arg("y"), py::arg("mean"), py::arg("rstd"), py::arg("eps"),
        "Layer norm over rows of n values of contiguous x; writes y, the per-row mean and rstd "
        "(float64 for float64 x, else float32). weight / bias: n values of x's dtype or None.");
  m.def("rms_norm_forward", rms_norm_forward, py::arg("x"), py::arg("n"), py::arg("weight"),
        py::arg("y"), py::arg("rstd"), py::arg("eps"),
        "RMS norm over rows of n values: y = x * rstd * weight, rstd = 1/sqrt(mean(x^2) + eps).");
  m.def(
      "layer_norm_backward",
      [norm_backward](TensorRef g, TensorRef x, int64_t n, Opt w, TensorRef mean, TensorRef rstd,
                      Opt gi, Opt gw, Opt gb) {
        norm_backward("ember.layer_norm_backward", g, x, n, w, &mean, rstd, gi, gw, gb);
      },
      py::arg("grad_out"), py::arg("x"), py::arg("n"), py::arg("weight"), py::arg("mean"),
      py::arg("rstd"), py::arg("grad_in"), py::arg("grad_weight"), py::arg("grad_bias"),
      "grad_input, grad_weight, grad_bias (each None when not needed) of layer_norm_forward.");
  m.def(
      "rms_norm_backward",
      [norm_backward](TensorRef g, TensorRef x, int64_t n, Opt w, TensorRef rstd, Opt gi, Opt gw) {
        norm_backward("ember.rms_norm_backward", g, x, n, w, nullptr, rstd, gi, gw, nullptr);
      },
      py::arg("grad_out"), py::arg("x"), py::arg("n"), py::arg("weight"), py::arg("rstd"),
      py::arg("grad_in"), py::arg("grad_weight"),
      "grad_input, grad_weight (each None when not needed) of rms_norm_forward.");
}

template <class F, class B>
void def_cross_entropy(py::module_& m, F forward, B backward) {
  m.def("cross_entropy_forward", forward, py::arg("logits"), py::arg("target"), py::arg("losses"),
        py::arg("dlogits"), py::arg("ignore_index"), py::arg("label_smoothing"),
        "Per-row softmax cross-entropy of (N, C) logits with class-index targets (int64/int32); "
        "writes losses (N,) and dlogits = softmax - smoothed one-hot (0 for ignored rows). "
        "Returns (number of non-ignored rows, sum of the losses).");
  m.def("cross_entropy_backward", backward, py::arg("dlogits"), py::arg("grad"), py::arg("grad_in"),
        py::arg("scale"), "grad_in[i] = dlogits[i] * grad[i or 0] * scale.");
}

template <class MP, class MPB, class AP, class APB, class AAP, class AAPB>
void def_pool(py::module_& m, MP max_pool2d, MPB max_pool2d_backward, AP avg_pool2d,
              APB avg_pool2d_backward, AAP adaptive_avg_pool2d, AAPB adaptive_avg_pool2d_backward) {
  m.def("max_pool2d", max_pool2d, py::arg("input"), py::arg("out"), py::arg("indices"),
        py::arg("kernel_size"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
        py::arg("ceil_mode"), "Max pooling; indices (int64) index the flattened H x W plane.");
  m.def("max_pool2d_backward", max_pool2d_backward, py::arg("grad_output"), py::arg("indices"),
        py::arg("grad_input"), "grad_input = scatter-add of grad_output through indices.");
  m.def("avg_pool2d", avg_pool2d, py::arg("input"), py::arg("out"), py::arg("kernel_size"),
        py::arg("stride"), py::arg("padding"), py::arg("ceil_mode"), py::arg("count_include_pad"),
        py::arg("divisor_override") = 0, "Average pooling (divisor_override 0: none).");
  m.def("avg_pool2d_backward", avg_pool2d_backward, py::arg("grad_output"), py::arg("grad_input"),
        py::arg("kernel_size"), py::arg("stride"), py::arg("padding"), py::arg("ceil_mode"),
        py::arg("count_include_pad"), py::arg("divisor_override") = 0,
        "Average pooling backward (grad_input overwritten).");
  m.def("adaptive_avg_pool2d", adaptive_avg_pool2d, py::arg("input"), py::arg("out"),
        "Adaptive average pooling to out's spatial size.");
  m.def("adaptive_avg_pool2d_backward", adaptive_avg_pool2d_backward, py::arg("grad_output"),
        py::arg("grad_input"), "Adaptive average pooling backward (grad_input overwritten).");
}

template <class F, class B>
void def_batchnorm(py::module_& m, F forward, B backward) {
  const auto none = py::none();
  m.def("batch_norm_forward", forward, py::arg("input"), py::arg("weight"), py::arg("bias"),
        py::arg("running_mean"), py::arg("running_var"), py::arg("out"), py::arg("save_mean"),
        py::arg("save_invstd"), py::arg("training"), py::arg("momentum"), py::arg("eps"),
        "Batch norm over (N, C, *): training uses batch statistics (and updates the running "
        "ones, unbiased variance); eval the running ones. save_mean / save_invstd feed the "
        "backward.");
  m.def("batch_norm_backward", backward, py::arg("grad_output"), py::arg("input"),
        py::arg("weight"), py::arg("save_mean"), py::arg("save_invstd"),
        py::arg("grad_input") = none, py::arg("grad_weight") = none, py::arg("grad_bias") = none,
        py::arg("training") = true,
        "Batch norm backward; any of grad_input / grad_weight / grad_bias may be None.");
}

}  // namespace ember::bindings
