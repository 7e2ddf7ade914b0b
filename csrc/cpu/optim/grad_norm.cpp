// Gradient norms and clipping over many tensors in one call: clip_grad_norm is two passes
// over the flat work list (flat_list.h): per-chunk partial norms (combined in chunk order,
// so the result does not depend on the thread count), then a scale pass when the norm is
// above max_norm. The non-finite flag comes out of the first pass at no extra cost.
#include <cmath>
#include <limits>
#include <vector>

#include "cpu/optim/flat_list.h"
#include "cpu/optim/optim.h"

namespace ember::cpu {
namespace {

std::vector<const OptimTable*> tables(const std::vector<const TensorImpl*>& xs) {
  std::vector<const OptimTable*> tab(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) tab[i] = &optim_table_for(xs[i]->dtype);
  return tab;
}

char* at(const TensorImpl* x, int64_t start) { return x->data() + start * x->itemsize(); }

// sum |x|^p in double for the p that have no vector kernel.
template <typename T>
double pow_sum(const T* x, int64_t n, double p, int* flags) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double v = std::fabs(static_cast<double>(x[i]));
    if (!std::isfinite(v)) *flags |= std::isnan(v) ? 3 : 1;
    s += std::pow(v, p);
  }
  return s;
}

}  // namespace

GradNorm total_norm(const std::vector<const TensorImpl*>& xs, double p) {
  GradNorm out;
  if (xs.empty()) return out;
  const bool is_max = std::isinf(p);
  const int op = is_max     ? static_cast<int>(NormOp::Max)
                 : p == 2.0 ? static_cast<int>(NormOp::L2)
                 : p == 1.0 ? static_cast<int>(NormOp::L1)
                            : -1;
  const FlatList list(xs);
  const std::vector<const OptimTable*> tab = tables(xs);
  const size_t nc = static_cast<size_t>(list.num_chunks());
  std::vector<double> part(nc, 0.0);
  std::vector<int> flags(nc, 0);
  list.for_each_chunk([&](int64_t c, int64_t b, int64_t e) {
    double acc = 0;
    int f = 0;
    list.pieces(b, e, [&](int64_t t, int64_t start, int64_t n) {
      const TensorImpl* x = xs[t];
      double v;
      if (op >= 0)
        v = tab[t]->norm[op](at(x, start), n, &f);
      else if (x->dtype == DType::Float64)
        v = pow_sum(x->data_as<double>() + start, n, p, &f);
      else
        v = pow_sum(x->data_as<float>() + start, n, p, &f);
      acc = is_max ? (v > acc ? v : acc) : acc + v;
    });
    part[c] = acc;
    flags[c] = f;
  });
  double total = 0;
  int f = 0;
  for (size_t c = 0; c < nc; ++c) {
    total = is_max ? (part[c] > total ? part[c] : total) : total + part[c];
    f |= flags[c];
  }
  if (is_max)
    out.norm = (f & 2) ? std::numeric_limits<double>::quiet_NaN() : total;
  else if (op == static_cast<int>(NormOp::L2))
    out.norm = std::sqrt(total);
  else if (op == static_cast<int>(NormOp::L1))
    out.norm = total;
  else
    out.norm = std::pow(total, 1.0 / p);
  out.nonfinite = (f & 1) != 0;
  return out;
}

void scale_all(const std::vector<const TensorImpl*>& xs, double c) {
  const FlatList list(xs);
  const std::vector<const OptimTable*> tab = tables(xs);
  list.for_each_chunk([&](int64_t, int64_t b, int64_t e) {
    list.pieces(
        b, e, [&](int64_t t, int64_t start, int64_t n) { tab[t]->scale(at(xs[t], start), n, c); });
  });
}

GradNorm clip_grad_norm(const std::vector<const TensorImpl*>& xs, double max_norm, double p,
                        bool skip_if_nonfinite) {
  const GradNorm r = total_norm(xs, p);
  if (skip_if_nonfinite && (r.nonfinite || !std::isfinite(r.norm))) return r;
  const double coef = max_norm / (r.norm + 1e-6);
  // Scaling by the clamped coefficient 1 would change nothing; NaN scales (as PyTorch).
  if (!(coef >= 1.0)) scale_all(xs, coef);
  return r;
}

void clip_grad_value(const std::vector<const TensorImpl*>& xs, double clip) {
  const FlatList list(xs);
  const std::vector<const OptimTable*> tab = tables(xs);
  list.for_each_chunk([&](int64_t, int64_t b, int64_t e) {
    list.pieces(b, e, [&](int64_t t, int64_t start, int64_t n) {
      tab[t]->clamp(at(xs[t], start), n, -clip, clip);
    });
  });
}

}  // namespace ember::cpu
