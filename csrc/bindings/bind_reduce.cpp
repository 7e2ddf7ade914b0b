#include "bindings/bindings.h"

namespace ember::bindings {
void bind_reduce(py::module_& m) { (void)m; }
}  // namespace ember::bindings
