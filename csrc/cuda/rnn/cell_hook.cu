// Host entry to the recurrent cells' per-unit math (rnn_cell.h, compiled by nvcc as the
// kernels' own __host__ __device__ code), for the CPU tests; see rnn.h.
#include "core/error.h"
#include "cuda/rnn/rnn.h"
#include "cuda/rnn/rnn_cell.h"

namespace ember::cuda::rnn {
namespace {

using cpu::RnnMode;

// One unit: `in` (cell_inputs values) -> the outputs, in precision T.
template <typename T>
std::vector<double> cell_row(RnnMode mode, bool backward, const std::vector<double>& v) {
  auto in = [&](int k) { return static_cast<T>(v[k]); };
  std::vector<T> out;
  const bool relu = mode == RnnMode::Relu;
  if (mode == RnnMode::Lstm && !backward) {
    T g[4] = {in(0), in(1), in(2), in(3)};
    T c, h;
    lstm_cell_fwd(g, in(4), c, h);
    out = {g[0], g[1], g[2], g[3], c, h};
  } else if (mode == RnnMode::Lstm) {
    const T a[4] = {in(0), in(1), in(2), in(3)};
    T dg[4];
    T dc = in(7);
    lstm_cell_bwd(a, in(4), in(5), in(6), dc, dg);
    out = {dg[0], dg[1], dg[2], dg[3], dc};
  } else if (mode == RnnMode::Gru && !backward) {
    T g[3] = {in(0), in(1), in(2)};
    const T hh[3] = {in(3), in(4), in(5)};
    T hl, h;
    gru_cell_fwd(g, hh, in(6), hl, h);
    out = {g[0], g[1], g[2], hl, h};
  } else if (mode == RnnMode::Gru) {
    const T a[3] = {in(0), in(1), in(2)};
    T dgx[3], dgh[3];
    T dh = in(5);
    gru_cell_bwd(a, in(3), in(4), dh, dgx, dgh);
    out = {dgx[0], dgx[1], dgx[2], dgh[0], dgh[1], dgh[2], dh};
  } else if (!backward) {
    out = {rnn_cell_fwd(in(0), relu)};
  } else {
    out = {rnn_cell_bwd(in(0), relu, in(1))};
  }
  return std::vector<double>(out.begin(), out.end());
}

}  // namespace

int cell_inputs(RnnMode mode, bool backward) {
  if (mode == RnnMode::Lstm) return backward ? 8 : 5;
  if (mode == RnnMode::Gru) return backward ? 6 : 7;
  return backward ? 2 : 1;
}

std::vector<std::vector<double>> cell_host(RnnMode mode, bool backward, bool f64,
                                           const std::vector<std::vector<double>>& in) {
  const size_t want = static_cast<size_t>(cell_inputs(mode, backward));
  std::vector<std::vector<double>> out;
  for (const auto& row : in) {
    EMBER_CHECK(row.size() == want, ValueError, "ember._C_cuda._rnn_cell: a row has ", row.size(),
                " values, expected ", want);
    out.push_back(f64 ? cell_row<double>(mode, backward, row)
                      : cell_row<float>(mode, backward, row));
  }
  return out;
}

}  // namespace ember::cuda::rnn
