#include "cuda/reduce/host_math.h"

#include "core/error.h"
#include "cuda/reduce/combine.cuh"
#include "cuda/reduce/plan.h"
#include "cuda/reduce/tasks.cuh"

namespace ember::cuda::rows {
namespace {

// fold(state, x, index) -> state per lane, then the pairwise lane tree.
template <class Op, typename Fold>
typename Op::State fold_lanes(const std::vector<double>& xs, int lanes, Fold fold) {
  EMBER_CHECK(lanes >= 1 && (lanes & (lanes - 1)) == 0, ValueError,
              "fold: lanes must be a power of two, got ", lanes);
  std::vector<typename Op::State> st(lanes, Op::ident());
  for (size_t j = 0; j < xs.size(); ++j) st[j % lanes] = fold(st[j % lanes], xs[j], j);
  for (int h = lanes / 2; h > 0; h /= 2)
    for (int i = 0; i < h; ++i) st[i] = Op::combine(st[i], st[i + h]);
  return st[0];
}

template <typename A>
std::tuple<double, double> softmax_fold_t(const std::vector<double>& xs, int lanes) {
  using Op = SoftmaxOp<A>;
  const auto st = fold_lanes<Op>(
      xs, lanes, [](auto s, double x, size_t) { return Op::step(s, static_cast<A>(x)); });
  return {st.m, st.s};
}

template <typename A>
std::tuple<int64_t, double, double> welford_fold_t(const std::vector<double>& xs, int lanes) {
  using Op = WelfordOp<A>;
  const auto st = fold_lanes<Op>(
      xs, lanes, [](auto s, double x, size_t) { return Op::step(s, static_cast<A>(x)); });
  return {st.n, st.mean, st.m2};
}

template <bool kMax>
std::tuple<double, int64_t> arg_fold_t(const std::vector<double>& xs, int lanes) {
  using Op = ArgOp<double, kMax>;
  const auto st = fold_lanes<Op>(xs, lanes, [](auto s, double x, size_t j) {
    return Op::combine(s, Op::lift(x, static_cast<int64_t>(j)));
  });
  return {st.v, st.i};
}

template <typename A>
double cross_entropy_row_t(const std::vector<double>& xs, int64_t target, double eps, int lanes) {
  using Op = CeOp<A>;
  const auto st = fold_lanes<Op>(
      xs, lanes, [](auto s, double x, size_t) { return Op::step(s, static_cast<A>(x)); });
  return ce_loss(st, static_cast<A>(xs[target]), static_cast<A>(eps),
                 static_cast<int64_t>(xs.size()));
}

}  // namespace

std::tuple<double, double> softmax_fold(const std::vector<double>& xs, int lanes, bool f32) {
  return f32 ? softmax_fold_t<float>(xs, lanes) : softmax_fold_t<double>(xs, lanes);
}

std::tuple<int64_t, double, double> welford_fold(const std::vector<double>& xs, int lanes,
                                                 bool f32) {
  return f32 ? welford_fold_t<float>(xs, lanes) : welford_fold_t<double>(xs, lanes);
}

std::tuple<double, int64_t> arg_fold(const std::vector<double>& xs, int lanes, bool is_max) {
  return is_max ? arg_fold_t<true>(xs, lanes) : arg_fold_t<false>(xs, lanes);
}

std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t>> reduce_tasks(int64_t outer,
                                                                                  int64_t r,
                                                                                  int64_t inner) {
  const ReducePlan p = reduce_plan(outer, r, inner);
  const int64_t tasks = outer * p.splits * (p.rows ? 1 : p.tiles);
  EMBER_CHECK(tasks <= (int64_t{1} << 20), ValueError, "reduce_tasks: ", tasks,
              " tasks is too many to list");
  std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t>> out;
  for (int64_t t = 0; t < tasks; ++t) {
    const ReduceTask k =
        p.rows ? row_task(t, p.splits, p.chunk, r) : col_task(t, p.tiles, p.splits, p.chunk, r);
    out.emplace_back(k.o, k.s, k.k0, k.j0, k.j1);
  }
  return out;
}

double cross_entropy_row(const std::vector<double>& xs, int64_t target, double eps, int lanes,
                         bool f32) {
  EMBER_CHECK(target >= 0 && target < static_cast<int64_t>(xs.size()), ValueError,
              "cross_entropy_row: target ", target, " out of range");
  return f32 ? cross_entropy_row_t<float>(xs, target, eps, lanes)
             : cross_entropy_row_t<double>(xs, target, eps, lanes);
}

}  // namespace ember::cuda::rows
