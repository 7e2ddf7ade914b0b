// ember._C: the CPU kernels. Each bind_<family>.cpp validates arguments
// (ranks, shapes, dtypes, devices, sizes) before a kernel touches memory and
// releases the GIL around the kernel call.
#include "bindings/bindings.h"
#include "bindings/exceptions.h"
#include "core/error.h"
#include "core/isa.h"
#include "core/parallel.h"

#ifndef EMBER_VERSION
#define EMBER_VERSION "0.0.0"
#endif

PYBIND11_MODULE(_C, m) {
  using namespace ember;
  namespace py = pybind11;
  m.doc() = "ember CPU kernels";
  m.attr("__version__") = EMBER_VERSION;

  bindings::register_exception_translator();

  init_isa_from_env();
  if (const int asked = clamp_num_threads_from_env()) {
    const std::string msg = cat_str("ember: OMP_NUM_THREADS=", asked, " is above the limit of ",
                                    max_num_threads(), " threads; using ", max_num_threads());
    if (PyErr_WarnEx(PyExc_RuntimeWarning, msg.c_str(), 1) < 0) throw py::error_already_set();
  }
  bindings::bind_core(m);
  bindings::bind_elementwise(m);
  bindings::bind_reduce(m);
  bindings::bind_gemm(m);
  bindings::bind_index(m);
  bindings::bind_optim(m);
  bindings::bind_conv(m);
  bindings::bind_pool(m);
  bindings::bind_batchnorm(m);
  bindings::bind_norm(m);
  bindings::bind_cross_entropy(m);
  bindings::bind_rnn(m);
  bindings::bind_attention(m);
  bindings::bind_qblock(m);
  bindings::bind_qgemm(m);
  bindings::bind_qconv(m);
  bindings::bind_sparse24(m);
}
