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

double read_scalar(const TensorImpl& t) {
  return t.dtype == DType::Float64 ? *t.data_as<double>() : *t.data_as<float>();
}
void write_scalar(const TensorImpl& t, double v) {
  if (t.dtype == DType::Float64)
    *t.data_as<double>() = v;
  else
    *t.data_as<float>() = static_cast<float>(v);
}

// NAdam's momentum schedule mu_t = beta1 (1 - 0.5 * 0.96^(t psi)): multiplies the stored
// product by mu_t (rounded to the product's dtype, as PyTorch's in-place `mu_product *= mu`
// on a float32 tensor), then derives the two update coefficients from it.
void nadam_coef(const OptimHyper& h, double step, const TensorImpl& mu_product,
                OptimTensorCoef* c) {
  const double mu = h.beta1 * (1 - 0.5 * std::pow(0.96, step * h.momentum_decay));
  const double mu_next = h.beta1 * (1 - 0.5 * std::pow(0.96, (step + 1) * h.momentum_decay));
  double prod = read_scalar(mu_product);
  prod = mu_product.dtype == DType::Float64
             ? prod * mu
             : static_cast<double>(static_cast<float>(prod) * static_cast<float>(mu));
  write_scalar(mu_product, prod);
  prod = read_scalar(mu_product);
  c->bc2 = 1 - std::pow(h.beta2, step);
  c->step_size = h.lr * (1 - mu) / (1 - prod);
  c->avg_size = h.lr * mu_next / (1 - prod * mu_next);
}

// RAdam's rectification: the length rho_t of the approximated simple moving average decides
// whether the adaptive term is used (rho_t > 5) and scales it by rect_t.
void radam_coef(const OptimHyper& h, double step, OptimTensorCoef* c) {
  const double bc1 = 1 - std::pow(h.beta1, step);
  const double bc2 = 1 - std::pow(h.beta2, step);
  const double rho_inf = 2 / (1 - h.beta2) - 1;
  const double rho_t = rho_inf - 2 * step * std::pow(h.beta2, step) / bc2;
  c->rectified = rho_t > 5.0;
  c->step_size = h.lr / bc1;
  if (c->rectified) {
    const double rect =
        std::sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t));
    c->step_size *= rect * std::sqrt(bc2);
  }
}

}  // namespace

bool optim_step(OptimKind kind, const OptimHyper& h, const OptimTensors& ts, bool check_finite) {
  const size_t nt = ts.params.size();
  if (nt == 0) return true;
  if (check_finite && any_nonfinite(ts.grads)) return false;

  // Count the step, then derive what depends on it (PyTorch increments first).
  std::vector<OptimTensorCoef> coef(nt);
  for (size_t i = 0; i < nt; ++i) {
    double step = 0;
    if (!ts.steps.empty()) {
      step = read_scalar(*ts.steps[i]) + 1;
      write_scalar(*ts.steps[i], step);
    }
    OptimTensorCoef& c = coef[i];
    if (kind == OptimKind::Adam) {
      c.step_size = h.lr / (1 - std::pow(h.beta1, step));
      c.inv_bc2_sqrt = 1 / std::sqrt(1 - std::pow(h.beta2, step));
    } else if (kind == OptimKind::Adagrad) {
      c.step_size = h.lr / (1 + (step - 1) * h.lr_decay);
    } else if (kind == OptimKind::Adamax) {
      c.step_size = h.lr / (1 - std::pow(h.beta1, step));
    } else if (kind == OptimKind::Nadam) {
      nadam_coef(h, step, *ts.mu_products[i], &c);
    } else if (kind == OptimKind::Radam) {
      radam_coef(h, step, &c);
    }
    c.first = !ts.first.empty() && ts.first[i];
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
