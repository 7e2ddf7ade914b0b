// run(): the plan's path and the launcher of the problem's dtypes.
#include "core/dtype_dispatch.h"
#include "cuda/gemm/gemm.h"
#include "cuda/gemm/kernels.h"
#include "cuda/gemm/plan.h"
#include "cuda/runtime.h"

namespace ember::cuda::gemm {
namespace {

OperandLayout layout(const Operand& o) {
  return {o.batch_stride, o.row_stride, o.col_stride, reinterpret_cast<uint64_t>(o.data)};
}

template <typename TIn>
void run_half(const Problem& p, const Plan& plan) {
  const bool f32_out = p.out == DType::Float32;
  if (plan.path == Path::TensorCore) {
    f32_out ? launch_tensor_core<TIn, float>(p, plan) : launch_tensor_core<TIn, TIn>(p, plan);
  } else {
    f32_out ? launch_simt<TIn, float, float>(p, plan) : launch_simt<TIn, TIn, float>(p, plan);
  }
}

}  // namespace

void run(const Problem& p, int device) {
  if (p.batch == 0 || p.m == 0 || p.n == 0) return;
  const Plan plan = make_plan(p.batch, p.m, p.n, p.k, p.in, layout(p.a), layout(p.b), p.allow_tf32);
  DeviceGuard guard(device);
  switch (p.in) {
    case DType::BFloat16:
      return run_half<BFloat16>(p, plan);
    case DType::Float16:
      return run_half<Half>(p, plan);
    case DType::Float32:
      if (plan.path == Path::TF32) return launch_tensor_core<float, float>(p, plan);
      return launch_simt<float, float, float>(p, plan);
    default:
      return launch_simt<double, double, double>(p, plan);
  }
}

}  // namespace ember::cuda::gemm
