// Translate ember's C++ errors (core/error.h) to the matching Python exceptions.
// Each extension module (ember._C, ember._C_cuda) registers this for its own functions.
#pragma once
#include <pybind11/pybind11.h>

#include "core/error.h"

namespace ember::bindings {

inline void register_exception_translator() {
  pybind11::register_local_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const IndexError& e) {
      PyErr_SetString(PyExc_IndexError, e.what());
    }
  });
}

}  // namespace ember::bindings
