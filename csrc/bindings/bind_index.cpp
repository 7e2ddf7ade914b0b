#include "bindings/bindings.h"

namespace ember::bindings {
void bind_index(py::module_& m) { (void)m; }
}  // namespace ember::bindings
