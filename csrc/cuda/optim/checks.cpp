// Argument checks of the CUDA optimizer bindings (checks.h).
#include "cuda/optim/checks.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/overlap.h"

namespace ember::cuda::optim {
namespace {
bool is_float(DType t) { return t == DType::Float32 || t == DType::Float64; }
}  // namespace

void Checks::device_of(const char* list, size_t i, const TensorImpl& t) {
  const Device d = t.device();
  if (where_ == Where::Host) {
    EMBER_CHECK(d.type == DeviceType::CPU, ValueError, op_, ": ", list, "[", i,
                "] is on cuda; the host emulation of the CUDA kernels needs CPU tensors");
    return;
  }
  EMBER_CHECK(d.type == DeviceType::CUDA, ValueError, op_, ": ", list, "[", i,
              "] is on cpu; ember CUDA optimizers need every tensor on one CUDA device");
  if (device_ < 0) {
    device_ = d.index;
    first_ = cat_str(list, "[", i, "]");
    return;
  }
  EMBER_CHECK(d.index == device_, ValueError, op_, ": expected all tensors on one device, got ",
              first_, " on cuda:", device_, " and ", list, "[", i, "] on cuda:", d.index);
}

void Checks::tensor(const char* list, size_t i, const TensorImpl* t, const TensorImpl* like) {
  EMBER_CHECK(t != nullptr, TypeError, op_, ": ", list, "[", i, "] is None");
  device_of(list, i, *t);
  EMBER_CHECK(is_float(t->dtype), TypeError, op_, ": ", list, "[", i, "] has dtype ",
              dtype_name(t->dtype), " (expected float32 or float64)");
  EMBER_CHECK(t->is_contiguous(), ValueError, op_, ": ", list, "[", i, "] of shape ",
              shape_str(t->shape), " must be contiguous");
  if (like == nullptr) return;
  EMBER_CHECK(t->dtype == like->dtype, TypeError, op_, ": ", list, "[", i, "] has dtype ",
              dtype_name(t->dtype), " but params[", i, "] has dtype ", dtype_name(like->dtype));
  EMBER_CHECK(t->shape == like->shape, ValueError, op_, ": ", list, "[", i, "] has shape ",
              shape_str(t->shape), " but params[", i, "] has shape ", shape_str(like->shape));
}

void Checks::written(const char* list, const List& xs) const {
  for (size_t i = 0; i < xs.size(); ++i)
    check_writable(*xs[i], op_.c_str(), cat_str(list, "[", i, "]").c_str());
}

void Checks::matching(const char* name, const List& xs, const List& params, bool needed,
                      const char* why) {
  if (!needed) {
    EMBER_CHECK(xs.empty(), ValueError, op_, ": ", name, " must be empty", why, " (got ", xs.size(),
                " tensors)");
    return;
  }
  EMBER_CHECK(xs.size() == params.size(), ValueError, op_, ": ", name, " has ", xs.size(),
              " tensors but params has ", params.size());
  for (size_t i = 0; i < xs.size(); ++i) tensor(name, i, xs[i], params[i]);
  if (std::string(name) != "grads") written(name, xs);
}

void Checks::params(const List& params, const List& grads) {
  for (size_t i = 0; i < params.size(); ++i) tensor("params", i, params[i], nullptr);
  written("params", params);
  matching("grads", grads, params, true);
  // A parameter listed twice (or two overlapping views) would be updated twice.
  std::vector<std::pair<const char*, size_t>> spans;
  spans.reserve(params.size());
  for (size_t i = 0; i < params.size(); ++i)
    if (params[i]->numel() > 0) spans.emplace_back(params[i]->data(), i);
  std::sort(spans.begin(), spans.end());
  for (size_t k = 1; k < spans.size(); ++k) {
    const TensorImpl* prev = params[spans[k - 1].second];
    const char* prev_end = prev->data() + prev->numel() * prev->itemsize();
    EMBER_CHECK(spans[k].first >= prev_end, ValueError, op_, ": params[", spans[k - 1].second,
                "] and params[", spans[k].second, "] overlap in memory");
  }
}

void Checks::scalars(const char* name, const List& xs, const List& params) const {
  EMBER_CHECK(xs.size() == params.size(), ValueError, op_, ": ", name, " has ", xs.size(),
              " tensors but params has ", params.size());
  for (size_t i = 0; i < xs.size(); ++i) {
    const TensorImpl* s = xs[i];
    EMBER_CHECK(s != nullptr, TypeError, op_, ": ", name, "[", i, "] is None");
    EMBER_CHECK(s->device().type == DeviceType::CPU && s->numel() == 1 && is_float(s->dtype),
                ValueError, op_, ": ", name, "[", i,
                "] must be a one-element float32 or float64 CPU tensor (got ", dtype_name(s->dtype),
                " of shape ", shape_str(s->shape), ")");
  }
  written(name, xs);
}

void Checks::nonneg(const char* what, double v) const {
  EMBER_CHECK(v >= 0.0, ValueError, op_, ": invalid ", what, ": ", v, " (must be >= 0)");
}

void Checks::beta(int i, double b) const {
  EMBER_CHECK(b >= 0.0 && b < 1.0, ValueError, op_, ": invalid beta parameter at index ", i, ": ",
              b, " (must be in [0, 1))");
}

void Checks::grads(const List& xs, bool written_too) {
  for (size_t i = 0; i < xs.size(); ++i) tensor("tensors", i, xs[i], nullptr);
  if (written_too) written("tensors", xs);
}

void Checks::norm_type(double p) const {
  EMBER_CHECK(p > 0 && !std::isnan(p), ValueError, op_, ": norm_type must be positive or inf (got ",
              p, ")");
}

}  // namespace ember::cuda::optim
