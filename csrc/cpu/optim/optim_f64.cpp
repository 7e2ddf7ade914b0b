// float64 optimizer and grad-norm row kernels: optim_kernels.inc on the plain-C++ double
// vectors of vec_f64.h (baseline x86-64, used whatever the ISA). Everything lives in
// ember::f64.
#include "cpu/optim/vec_f64.h"
//
#include "cpu/optim/optim.h"

namespace ember::f64 {
using Real = double;
#include "cpu/optim/optim_kernels.inc"
}  // namespace ember::f64
