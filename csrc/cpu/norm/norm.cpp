// Layer norm / RMS norm driver: dtype dispatch, row chunking and threading around the
// per-ISA float32 row kernels (norm_kernels.cpp); float64 rows are plain C++ here, bfloat16
// rows are widened into float32 scratch rows.
#include "cpu/norm/norm.h"

#include <cmath>
#include <vector>

#include "core/half.h"
#include "core/isa.h"
#include "core/parallel.h"
#include "cpu/driver_util.h"

namespace ember::cpu {

const NormTable& norm_table() { return EMBER_ISA_TABLE(norm_table); }

namespace {

constexpr int64_t kGrain = 16384;  // values of work per forward piece, roughly
// The backward sums dweight / dbias over at most kMaxChunks fixed row chunks of at least
// kMinChunkRows rows (partials of n values each), then adds the partials in chunk order.
constexpr int64_t kMaxChunks = 32;
constexpr int64_t kMinChunkRows = 16;
constexpr int64_t kColPiece = 1024;  // columns per piece of the final partial sum
// float32 outputs in this size range are written with non-temporal stores: larger than the
// caches, and small enough that glibc serves them from already-mapped heap memory (above
// its mmap threshold, at most 32 MiB, they are fresh pages the kernel has just zeroed into
// the cache, where plain stores are faster). Measured on 8192 x 768: 15 -> 13 ms.
constexpr int64_t kStreamMin = int64_t{4} << 20;
constexpr int64_t kStreamMax = int64_t{32} << 20;

int64_t rows_per_piece(int64_t n) { return kGrain / n > 0 ? kGrain / n : 1; }

void widen(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_float(src[i]);
}
void narrow(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = float_to_bf16(src[i]);
}

// weight / bias as float32 (bf16 ones widened into buf; null stays null).
const float* as_f32(const TensorImpl* t, std::vector<float>* buf, int64_t n) {
  if (!t) return nullptr;
  if (t->dtype == DType::Float32) return t->data_as<float>();
  buf->resize(n);
  widen(t->data_as<uint16_t>(), buf->data(), n);
  return buf->data();
}

// ---- float64 reference-quality rows
void forward_row_f64(bool rms, const double* x, const double* w, const double* b, double* y,
                     int64_t n, double eps, double* mean_out, double* rstd_out) {
  double mean = 0.0;
  if (!rms) {
    const double pivot = x[0];
    double dev = 0.0;
    for (int64_t i = 0; i < n; ++i) dev += x[i] - pivot;
    mean = pivot + dev / static_cast<double>(n);
  }
  double ss = 0.0;
  for (int64_t i = 0; i < n; ++i) ss += (x[i] - mean) * (x[i] - mean);
  const double rstd = 1.0 / std::sqrt(ss / static_cast<double>(n) + eps);
  if (!rms) *mean_out = mean;
  *rstd_out = rstd;
  for (int64_t i = 0; i < n; ++i) {
    double v = (x[i] - mean) * rstd;
    if (w) v *= w[i];
    if (b) v += b[i];
    y[i] = v;
  }
}

void backward_row_f64(bool rms, const double* x, const double* g, const double* w, double mean,
                      double rstd, double* dx, double* dw_acc, double* db_acc, int64_t n) {
  double a = 0.0, c = 0.0;
  if (dx) {
    double sg = 0.0, sgx = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      const double gv = w ? g[i] * w[i] : g[i];
      sg += gv;
      sgx += gv * (x[i] - mean) * rstd;
    }
    a = rms ? 0.0 : sg / static_cast<double>(n);
    c = sgx / static_cast<double>(n);
  }
  for (int64_t i = 0; i < n; ++i) {
    const double xh = (x[i] - mean) * rstd;
    if (dx) dx[i] = rstd * ((w ? g[i] * w[i] : g[i]) - a - xh * c);
    if (dw_acc) dw_acc[i] += g[i] * xh;
    if (db_acc) db_acc[i] += g[i];
  }
}

void forward(bool rms, const TensorImpl& x, const TensorImpl* weight, const TensorImpl* bias,
             const TensorImpl& y, const TensorImpl* mean, const TensorImpl& rstd, int64_t rows,
             int64_t n, double eps) {
  if (rows == 0 || n == 0) return;
  if (x.dtype == DType::Float64) {
    const double* xp = x.data_as<double>();
    double* yp = y.data_as<double>();
    const double* w = weight ? weight->data_as<double>() : nullptr;
    const double* b = bias ? bias->data_as<double>() : nullptr;
    double* mp = mean ? mean->data_as<double>() : nullptr;
    double* rp = rstd.data_as<double>();
    parallel_chunks(rows, rows_per_piece(n), n, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        forward_row_f64(rms, xp + r * n, w, b, yp + r * n, n, eps, mp ? mp + r : nullptr, rp + r);
    });
    return;
  }
  const NormForwardRowF row = norm_table().forward[rms ? 1 : 0];
  std::vector<float> wbuf, bbuf;
  const float* w = as_f32(weight, &wbuf, n);
  const float* b = as_f32(bias, &bbuf, n);
  float* mp = mean ? mean->data_as<float>() : nullptr;
  float* rp = rstd.data_as<float>();
  const float fe = static_cast<float>(eps);
  const int64_t ybytes = rows * n * 4;
  const bool stream = ybytes > kStreamMin && ybytes <= kStreamMax;
  if (x.dtype == DType::Float32) {
    const float* xp = x.data_as<float>();
    float* yp = y.data_as<float>();
    parallel_chunks(rows, rows_per_piece(n), n, [&](int64_t r0, int64_t r1) {
      float unused_mean;  // RMS norm writes no mean
      for (int64_t r = r0; r < r1; ++r)
        row(xp + r * n, w, b, yp + r * n, n, fe, mp ? mp + r : &unused_mean, rp + r, stream);
    });
    return;
  }
  const uint16_t* xp = x.data_as<uint16_t>();
  uint16_t* yp = y.data_as<uint16_t>();
  parallel_chunks(rows, rows_per_piece(n), n, [&](int64_t r0, int64_t r1) {
    std::vector<float> xs(n), ys(n);
    float unused_mean;
    for (int64_t r = r0; r < r1; ++r) {
      widen(xp + r * n, xs.data(), n);
      row(xs.data(), w, b, ys.data(), n, fe, mp ? mp + r : &unused_mean, rp + r, false);
      narrow(ys.data(), yp + r * n, n);
    }
  });
}

// Fixed row chunks for the weight / bias partials: depends on rows only.
int64_t backward_chunk_rows(int64_t rows) {
  const int64_t r = (rows + kMaxChunks - 1) / kMaxChunks;
  return r > kMinChunkRows ? r : kMinChunkRows;
}

// out[j] = sum over c of part[c * n + j], c in order; T out (float, double or bf16 bits).
template <typename Acc, typename Out>
void sum_partials(const Acc* part, int64_t chunks, int64_t n, Out* out) {
  parallel_chunks(n, kColPiece, chunks, [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      Acc s = part[j];
      for (int64_t c = 1; c < chunks; ++c) s += part[c * n + j];
      if constexpr (sizeof(Out) == 2)
        out[j] = float_to_bf16(s);
      else
        out[j] = static_cast<Out>(s);
    }
  });
}

template <typename T>
T* ptr(const TensorImpl* t) {
  return t ? t->data_as<T>() : nullptr;
}

}  // namespace

void layer_norm_forward(const TensorImpl& x, const TensorImpl* weight, const TensorImpl* bias,
                        const TensorImpl& y, const TensorImpl& mean, const TensorImpl& rstd,
                        int64_t rows, int64_t n, double eps) {
  forward(false, x, weight, bias, y, &mean, rstd, rows, n, eps);
}

void rms_norm_forward(const TensorImpl& x, const TensorImpl* weight, const TensorImpl& y,
                      const TensorImpl& rstd, int64_t rows, int64_t n, double eps) {
  forward(true, x, weight, nullptr, y, nullptr, rstd, rows, n, eps);
}

void norm_backward(const TensorImpl& grad_out, const TensorImpl& x, const TensorImpl* weight,
                   const TensorImpl* mean, const TensorImpl& rstd, const TensorImpl* grad_in,
                   const TensorImpl* grad_weight, const TensorImpl* grad_bias, int64_t rows,
                   int64_t n) {
  if (n == 0) return;
  const bool rms = mean == nullptr;
  const bool need_w = grad_weight != nullptr, need_b = grad_bias != nullptr;
  const int64_t crows = rows > 0 ? backward_chunk_rows(rows) : 1;
  const int64_t chunks = rows > 0 ? cdiv(rows, crows) : 0;
  if (x.dtype == DType::Float64) {
    std::vector<double> pw(need_w ? chunks * n : 0, 0.0), pb(need_b ? chunks * n : 0, 0.0);
    const double* xp = x.data_as<double>();
    const double* gp = grad_out.data_as<double>();
    const double* w = ptr<double>(weight);
    const double* mp = ptr<double>(mean);
    const double* rp = rstd.data_as<double>();
    double* dxp = ptr<double>(grad_in);
    parallel_chunks(chunks, 1, crows * n, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        const int64_t r1 = (c + 1) * crows < rows ? (c + 1) * crows : rows;
        for (int64_t r = c * crows; r < r1; ++r)
          backward_row_f64(rms, xp + r * n, gp + r * n, w, mp ? mp[r] : 0.0, rp[r],
                           dxp ? dxp + r * n : nullptr, need_w ? pw.data() + c * n : nullptr,
                           need_b ? pb.data() + c * n : nullptr, n);
      }
    });
    if (need_w) {
      if (chunks == 0) pw.assign(n, 0.0);
      sum_partials(pw.data(), chunks > 0 ? chunks : 1, n, grad_weight->data_as<double>());
    }
    if (need_b) {
      if (chunks == 0) pb.assign(n, 0.0);
      sum_partials(pb.data(), chunks > 0 ? chunks : 1, n, grad_bias->data_as<double>());
    }
    return;
  }
  const NormBackwardRowF row = norm_table().backward[rms ? 1 : 0];
  std::vector<float> pw(need_w ? (chunks > 0 ? chunks : 1) * n : 0, 0.0f);
  std::vector<float> pb(need_b ? (chunks > 0 ? chunks : 1) * n : 0, 0.0f);
  std::vector<float> wbuf;
  const float* w = as_f32(weight, &wbuf, n);
  const float* mp = ptr<float>(mean);
  const float* rp = rstd.data_as<float>();
  const bool bf16 = x.dtype == DType::BFloat16;
  parallel_chunks(chunks, 1, crows * n, [&](int64_t c0, int64_t c1) {
    std::vector<float> xs(bf16 ? n : 0), gs(bf16 ? n : 0), ds(bf16 && grad_in ? n : 0);
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t r1 = (c + 1) * crows < rows ? (c + 1) * crows : rows;
      float* dw = need_w ? pw.data() + c * n : nullptr;
      float* db = need_b ? pb.data() + c * n : nullptr;
      for (int64_t r = c * crows; r < r1; ++r) {
        const float m = mp ? mp[r] : 0.0f;
        if (!bf16) {
          float* dx = grad_in ? grad_in->data_as<float>() + r * n : nullptr;
          row(x.data_as<float>() + r * n, grad_out.data_as<float>() + r * n, w, m, rp[r], dx, dw,
              db, n);
        } else {
          widen(x.data_as<uint16_t>() + r * n, xs.data(), n);
          widen(grad_out.data_as<uint16_t>() + r * n, gs.data(), n);
          row(xs.data(), gs.data(), w, m, rp[r], grad_in ? ds.data() : nullptr, dw, db, n);
          if (grad_in) narrow(ds.data(), grad_in->data_as<uint16_t>() + r * n, n);
        }
      }
    }
  });
  const int64_t nparts = chunks > 0 ? chunks : 1;
  for (int k = 0; k < 2; ++k) {
    const TensorImpl* out = k == 0 ? grad_weight : grad_bias;
    if (!out) continue;
    const float* part = (k == 0 ? pw : pb).data();
    if (out->dtype == DType::BFloat16)
      sum_partials(part, nparts, n, out->data_as<uint16_t>());
    else
      sum_partials(part, nparts, n, out->data_as<float>());
  }
}

}  // namespace ember::cpu
