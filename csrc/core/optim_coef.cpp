#include "core/optim_coef.h"

#include <cmath>

namespace ember {
namespace {

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

OptimTensorCoef optim_step_coef(OptimKind kind, const OptimHyper& h, const TensorImpl* step_t,
                                const TensorImpl* mu_product, bool first) {
  double step = 0;
  if (step_t != nullptr) {
    step = read_scalar(*step_t) + 1;
    write_scalar(*step_t, step);
  }
  OptimTensorCoef c;
  if (kind == OptimKind::Adam) {
    c.step_size = h.lr / (1 - std::pow(h.beta1, step));
    c.inv_bc2_sqrt = 1 / std::sqrt(1 - std::pow(h.beta2, step));
  } else if (kind == OptimKind::Adagrad) {
    c.step_size = h.lr / (1 + (step - 1) * h.lr_decay);
  } else if (kind == OptimKind::Adamax) {
    c.step_size = h.lr / (1 - std::pow(h.beta1, step));
  } else if (kind == OptimKind::Nadam) {
    nadam_coef(h, step, *mu_product, &c);
  } else if (kind == OptimKind::Radam) {
    radam_coef(h, step, &c);
  }
  c.first = first;
  return c;
}

}  // namespace ember
