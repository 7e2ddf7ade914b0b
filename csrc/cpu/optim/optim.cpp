// Optimizer driver: step counts and per-tensor coefficients (bias corrections, NAdam's
// momentum schedule, RAdam's rectification), the optional non-finite
// pre-scan, and the threaded pass over the flat work list (flat_list.h) that calls the row
// kernels of optim_kernels.cpp.
#include <cmath>
#include <vector>

#include "cpu/optim/flat_list.h"
#include "cpu/optim/optim.h"

namespace ember::cpu {
namespace {

// Some gradient holds a NaN or an infinity. One flag per chunk, OR-ed afterwards.
bool any_nonfinite(const std::vector<const TensorImpl*>& xs) {
  const FlatList list(xs);
  std::vector<const OptimTable*> tab(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) tab[i] = &optim_table_for(xs[i]->dtype);
  std::vector<int> flags(static_cast<size_t>(list.num_chunks()), 0);
  list.for_each_chunk([&](int64_t c, int64_t b, int64_t e) {
    int f = 0;
    list.pieces(b, e, [&](int64_t t, int64_t start, int64_t n) {
      const TensorImpl* x = xs[t];
      tab[t]->norm[static_cast<int>(NormOp::L1)](x->data() + start * x->itemsize(), n, &f);
    });
    flags[c] = f;
  });
  for (int f : flags)
    if (f) return true;
  return false;
}

}  // namespace

bool optim_step(OptimKind kind, const OptimHyper& h, const OptimTensors& ts, bool check_finite) {
  const size_t nt = ts.params.size();
  if (nt == 0) return true;
  if (check_finite && any_nonfinite(ts.grads)) return false;

  // Count the step, then derive what depends on it (PyTorch increments first).
  std::vector<OptimTensorCoef> coef(nt);
  for (size_t i = 0; i < nt; ++i) {
    coef[i] = optim_step_coef(kind, h, ts.steps.empty() ? nullptr : ts.steps[i],
                              ts.mu_products.empty() ? nullptr : ts.mu_products[i],
                              !ts.first.empty() && ts.first[i]);
  }

  std::vector<OptimRowF> row(nt);
  for (size_t i = 0; i < nt; ++i)
    row[i] = optim_table_for(ts.params[i]->dtype).step[static_cast<int>(kind)];
  auto at = [](const std::vector<const TensorImpl*>& v, size_t i, int64_t start) -> char* {
    return v.empty() ? nullptr : v[i]->data() + start * v[i]->itemsize();
  };
  const FlatList list(ts.params);
  list.for_each_chunk([&](int64_t, int64_t b, int64_t e) {
    list.pieces(b, e, [&](int64_t t, int64_t start, int64_t n) {
      const size_t i = static_cast<size_t>(t);
      const OptimRow r{at(ts.params, i, start), at(ts.grads, i, start), at(ts.s0, i, start),
                       at(ts.s1, i, start),     at(ts.s2, i, start),    n};
      row[i](r, h, coef[i]);
    });
  });
  return true;
}

}  // namespace ember::cpu
