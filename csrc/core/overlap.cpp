// Overlap of strided views as numpy's solve_may_share_memory poses it: view v touches the
// bytes lo_v + sum_i c_i x_i + e, 0 <= x_i <= n_i - 1, 0 <= e < itemsize, with c_i the
// byte strides made positive (lo_v is then the lowest byte). Two views share a byte iff
//   sum_i ca_i x_i + ea + sum_j cb_j y_j + eb = hi_b - 1 - lo_a
// has a solution in those bounds (b's terms counted down from its last byte hi_b - 1).
// A depth-first search over the coefficients, largest first, decides it: each level keeps
// only the values whose remainder the smaller coefficients can still reach (interval and
// gcd tests), so the usual cases (nested views, interleaved rows or columns) take a handful
// of steps.
#include "core/overlap.h"

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <numeric>
#include <vector>

namespace ember {
namespace {

struct Term {
  int64_t c, ub;  // coefficient > 0, 0 <= x <= ub
};

// Lowest byte and one past the highest byte of a non-empty view.
void byte_range(const TensorImpl& t, int64_t* lo, int64_t* hi) {
  const int64_t item = static_cast<int64_t>(t.itemsize());
  int64_t a = reinterpret_cast<intptr_t>(t.data()), b = a;
  for (size_t d = 0; d < t.shape.size(); ++d)
    (t.strides[d] < 0 ? a : b) += t.strides[d] * item * (t.shape[d] - 1);
  *lo = a;
  *hi = b + item;
}

// The view's terms: its dims that step, and its bytes within an element.
void append_terms(const TensorImpl& t, std::vector<Term>* terms) {
  const int64_t item = static_cast<int64_t>(t.itemsize());
  for (size_t d = 0; d < t.shape.size(); ++d) {
    const int64_t c = std::abs(t.strides[d]) * item, ub = t.shape[d] - 1;
    if (c != 0 && ub != 0) terms->push_back({c, ub});
  }
  if (item > 1) terms->push_back({1, item - 1});
}

// Searches sum c_i x_i = rhs within the bounds; kBudget bounds the steps.
class Solver {
 public:
  explicit Solver(std::vector<Term> terms) {
    std::sort(terms.begin(), terms.end(), [](const Term& x, const Term& y) { return x.c > y.c; });
    for (const Term& t : terms) {  // equal coefficients add up: c x + c y = c (x + y)
      if (!terms_.empty() && terms_.back().c == t.c)
        terms_.back().ub += t.ub;
      else
        terms_.push_back(t);
    }
    const size_t n = terms_.size();
    reach_.assign(n + 1, 0);
    gcd_.assign(n + 1, 0);
    for (size_t i = n; i-- > 0;) {
      reach_[i] = reach_[i + 1] + terms_[i].c * terms_[i].ub;
      gcd_[i] = std::gcd(gcd_[i + 1], terms_[i].c);
    }
  }

  // Whether a solution exists; true as well when the budget runs out (unproven).
  bool solvable(int64_t rhs) { return search(0, rhs); }

 private:
  static constexpr int64_t kBudget = int64_t{1} << 16;

  bool search(size_t i, int64_t r) {
    if (r == 0) return true;
    if (i == terms_.size() || r > reach_[i] || r % gcd_[i] != 0) return false;
    const int64_t c = terms_[i].c, rest = reach_[i + 1];
    const int64_t lo = r > rest ? (r - rest + c - 1) / c : 0;
    const int64_t hi = std::min(terms_[i].ub, r / c);
    for (int64_t x = hi; x >= lo; --x) {
      if (++work_ > kBudget || search(i + 1, r - c * x)) return true;
    }
    return false;
  }

  std::vector<Term> terms_;
  std::vector<int64_t> reach_, gcd_;  // suffix sums of c * ub, suffix gcds of c
  int64_t work_ = 0;
};

}  // namespace

bool may_overlap(const TensorImpl& a, const TensorImpl& b) {
  if (a.numel() == 0 || b.numel() == 0) return false;
  int64_t alo, ahi, blo, bhi;
  byte_range(a, &alo, &ahi);
  byte_range(b, &blo, &bhi);
  if (alo >= bhi || blo >= ahi) return false;
  std::vector<Term> terms;
  append_terms(a, &terms);
  append_terms(b, &terms);
  return Solver(std::move(terms)).solvable(bhi - 1 - alo);
}

bool same_view(const TensorImpl& a, const TensorImpl& b) {
  if (a.data() != b.data() || a.dtype != b.dtype || a.numel() != b.numel()) return false;
  size_t i = 0, j = 0;
  for (;; ++i, ++j) {
    while (i < a.shape.size() && a.shape[i] == 1) ++i;
    while (j < b.shape.size() && b.shape[j] == 1) ++j;
    if (i == a.shape.size() || j == b.shape.size())
      return i == a.shape.size() && j == b.shape.size();
    if (a.shape[i] != b.shape[j] || a.strides[i] != b.strides[j]) return false;
  }
}

void check_no_overlap(const TensorImpl& out, const TensorImpl& in, const char* op,
                      const char* oname, const char* iname) {
  EMBER_CHECK(!may_overlap(out, in), ValueError, op, ": ", oname, " of shape ",
              shape_str(out.shape), " overlaps ", iname, " of shape ", shape_str(in.shape));
}

void check_writable(const TensorImpl& t, const char* op, const char* arg) {
  EMBER_CHECK(!t.storage->read_only(), ValueError, op, ": ", arg, " of shape ", shape_str(t.shape),
              " is read-only (its memory came from a read-only numpy array, buffer or DLPack "
              "tensor); write to a copy (.clone()) instead");
  if (t.numel() == 0) return;
  struct Dim {
    int64_t s, n;  // |stride|, size
  };
  std::vector<Dim> dims;  // the dims that step
  for (size_t d = 0; d < t.shape.size(); ++d)
    if (t.shape[d] > 1) dims.push_back({std::abs(t.strides[d]), t.shape[d]});
  std::sort(dims.begin(), dims.end(), [](const Dim& x, const Dim& y) { return x.s < y.s; });
  int64_t extent = 1;  // elements spanned by the dims inside
  for (const Dim& d : dims) {
    EMBER_CHECK(d.s >= extent, ValueError, op, ": ", arg, " of shape ", shape_str(t.shape),
                " and strides ", shape_str(t.strides),
                " is a broadcast or overlapping view; make it contiguous first");
    extent += (d.n - 1) * d.s;
  }
}

void check_output_aliasing(const TensorImpl& out,
                           std::initializer_list<std::pair<const TensorImpl*, const char*>> ins,
                           const char* op) {
  check_writable(out, op, "output");
  for (const auto& [t, arg] : ins)
    if (!same_view(out, *t)) check_no_overlap(out, *t, op, "output", arg);
}

void check_outputs(std::initializer_list<NamedTensor> outs, std::initializer_list<NamedTensor> ins,
                   const char* op) {
  for (auto o = outs.begin(); o != outs.end(); ++o) {
    if (!o->first) continue;
    check_writable(*o->first, op, o->second);
    for (const auto& [t, arg] : ins)
      if (t) check_no_overlap(*o->first, *t, op, o->second, arg);
    for (auto p = std::next(o); p != outs.end(); ++p)
      if (p->first) check_no_overlap(*o->first, *p->first, op, o->second, p->second);
  }
}

}  // namespace ember
