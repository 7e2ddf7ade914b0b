// Host runs of the __host__ __device__ merge steps (combine.cuh), for the CPU tests: values
// are folded the way a row's group folds them (lane t takes values t, t + lanes, ..., in
// order; the lanes then merge pairwise, lane i with lane i + h for h = lanes/2 .. 1).
#pragma once
#include <cstdint>
#include <tuple>
#include <vector>

namespace ember::cuda::rows {

// (max, sum of exp(x - max)) in float32 (f32) or float64.
std::tuple<double, double> softmax_fold(const std::vector<double>& xs, int lanes, bool f32);
// (count, mean, sum of squared deviations).
std::tuple<int64_t, double, double> welford_fold(const std::vector<double>& xs, int lanes,
                                                 bool f32);
// (value, index) of the first max / min; NaN wins.
std::tuple<double, int64_t> arg_fold(const std::vector<double>& xs, int lanes, bool is_max);
// The first-pass tasks of reduce_plan(outer, r, inner), as (o, split, first column, j0, j1).
std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t>> reduce_tasks(int64_t outer,
                                                                                  int64_t r,
                                                                                  int64_t inner);
// One row's cross-entropy loss with label smoothing eps.
double cross_entropy_row(const std::vector<double>& xs, int64_t target, double eps, int lanes,
                         bool f32);

}  // namespace ember::cuda::rows
