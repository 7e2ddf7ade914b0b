// Test hooks of the CUDA attention (no GPU needed): the tiling plan, the tiles each pass
// visits and the blocks of each launch, all from the same attention_plan.h functions the
// kernels call, the online-softmax step run over one row tile by tile and the backward's
// per-element math.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "core/error.h"
#include "cuda/attention/attention.h"

namespace py = pybind11;

namespace ember::cuda {
namespace {

using namespace attn;

constexpr const char* kHook = "ember._C_cuda._attention";

DType attn_dtype(int code) {
  EMBER_CHECK(
      code == static_cast<int>(DType::Float32) || code == static_cast<int>(DType::Float64) ||
          code == static_cast<int>(DType::Float16) || code == static_cast<int>(DType::BFloat16),
      ValueError, kHook, ": dtype code ", code, " is not a floating dtype");
  return static_cast<DType>(code);
}

int elem_bytes(DType d) { return d == DType::Float64 ? 8 : d == DType::Float32 ? 4 : 2; }
int acc_bytes(DType d) { return d == DType::Float64 ? 8 : 4; }

Pass parse_pass(const std::string& s) {
  if (s == "forward") return Pass::Forward;
  if (s == "grad_q") return Pass::GradQ;
  EMBER_CHECK(s == "grad_kv", ValueError, kHook, ": unknown pass '", s,
              "' (expected forward, grad_q or grad_kv)");
  return Pass::GradKV;
}

void check_sizes(std::initializer_list<int64_t> sizes) {
  for (int64_t n : sizes)
    EMBER_CHECK(n >= 0 && n <= (int64_t{1} << 20), ValueError, kHook, ": size ", n,
                " out of the hook's range [0, 2^20]");
}

py::dict plan(int64_t D, int dtype_code) {
  const DType dt = attn_dtype(dtype_code);
  const int kd = padded_head_dim(D), eb = elem_bytes(dt), ab = acc_bytes(dt);
  py::dict r;
  r["supported"] = supported(dt, D);
  r["head_dim"] = kd;
  r["threads"] = kThreads;
  r["lanes"] = kLanes;
  r["rows"] = kRows;
  r["pitch"] = kd > 0 ? row_pitch(kd, eb) : 0;
  r["smem_budget"] = kSmemBudget;
  const std::pair<Pass, const char*> passes[] = {
      {Pass::Forward, "forward"}, {Pass::GradQ, "grad_q"}, {Pass::GradKV, "grad_kv"}};
  for (const auto& [pass, name] : passes) {
    const int tile = kd > 0 ? stream_tile(pass, kd, eb, ab) : 0;
    r[py::str(std::string(name) + "_tile")] = tile;
    r[py::str(std::string(name) + "_smem")] = tile > 0 ? smem_bytes(pass, kd, eb, ab, tile) : 0;
  }
  // The forward of 16-bit operands at head dims up to 128 runs on the tensor cores instead.
  const bool mma = kd > 0 && mma_forward(eb, kd);
  r["forward_mma"] = mma;
  if (mma) {
    r["forward_tile"] = kMmaKeys;
    r["forward_smem"] = mma_smem_bytes(kd);
    r["forward_threads"] = kMmaThreads;
    r["forward_pitch"] = mma_pitch(kd);
  }
  // So does their backward: dQ and dK / dV at the same pitch, a tile per head dim.
  const bool mma_bwd = kd > 0 && mma_backward(eb, kd);
  r["backward_mma"] = mma_bwd;
  if (mma_bwd) {
    r["grad_q_tile"] = mma_bwd_tile(kd);
    r["grad_kv_tile"] = mma_bwd_tile(kd);
    r["grad_q_smem"] = mma_bwd_smem_bytes(Pass::GradQ, kd);
    r["grad_kv_smem"] = mma_bwd_smem_bytes(Pass::GradKV, kd);
    r["backward_threads"] = kMmaThreads;
  }
  return r;
}

// Shared-memory bytes of a pass at any streamed tile (the formula the plan picks from).
int64_t smem(const std::string& pass, int kd, int dtype_code, int tile) {
  const DType dt = attn_dtype(dtype_code);
  EMBER_CHECK(padded_head_dim(kd) == kd && tile >= kLanes && tile % kLanes == 0, ValueError, kHook,
              ": bad head dim ", kd, " or tile ", tile);
  return smem_bytes(parse_pass(pass), kd, elem_bytes(dt), acc_bytes(dt), tile);
}

// (q0, q1, k0, k1) row ranges (clipped to Tq, Tk) of every tile pair a pass visits, in the
// kernels' loop order: the forward and dQ blocks own kRows query rows and stream key tiles,
// the dK/dV blocks own kRows keys and stream query tiles.
std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t>> visits(const std::string& pass_name,
                                                                   int64_t Tq, int64_t Tk,
                                                                   int64_t D, int dtype_code,
                                                                   bool causal) {
  check_sizes({Tq, Tk});
  const DType dt = attn_dtype(dtype_code);
  EMBER_CHECK(supported(dt, D), ValueError, kHook, ": no kernels for D = ", D);
  const Pass pass = parse_pass(pass_name);
  const int kd = padded_head_dim(D);
  const bool mma =
      pass == Pass::Forward ? mma_forward(elem_bytes(dt), kd) : mma_backward(elem_bytes(dt), kd);
  const int tile = !mma                    ? stream_tile(pass, kd, elem_bytes(dt), acc_bytes(dt))
                   : pass == Pass::Forward ? kMmaKeys
                                           : mma_bwd_tile(kd);
  std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t>> out;
  if (pass == Pass::GradKV) {
    for (int64_t kt = 0; kt < cdiv(Tk, kRows); ++kt) {
      const int64_t k0 = kt * kRows;
      for (int64_t qt = first_query_tile(k0, Tq, tile, causal); qt < cdiv(Tq, tile); ++qt)
        out.emplace_back(qt * tile, std::min(Tq, (qt + 1) * tile), k0, std::min(Tk, k0 + kRows));
    }
  } else {
    for (int64_t qt = 0; qt < cdiv(Tq, kRows); ++qt) {
      const int64_t q0 = qt * kRows;
      for (int64_t t = 0; t < key_tiles(q0, Tq, Tk, tile, causal); ++t)
        out.emplace_back(q0, std::min(Tq, q0 + kRows), t * tile, std::min(Tk, (t + 1) * tile));
    }
  }
  return out;
}

// Per block of a pass's 1-D grid: (batch, head, first row of its tile, the kv head it reads)
// for the forward / dQ; (batch, kv head, first key of its tile, the q heads it sums over) for
// dK / dV.
py::list blocks(const std::string& pass_name, int64_t B, int64_t Hq, int64_t Hkv, int64_t Tq,
                int64_t Tk) {
  check_sizes({B, Hq, Hkv, Tq, Tk});
  EMBER_CHECK(Hkv >= 1 && Hq % Hkv == 0, ValueError, kHook, ": Hq ", Hq,
              " must be a multiple of Hkv ", Hkv);
  const Pass pass = parse_pass(pass_name);
  const bool kv = pass == Pass::GradKV;
  const int64_t ntiles = cdiv(kv ? Tk : Tq, kRows), heads = kv ? Hkv : Hq;
  EMBER_CHECK(B * heads * ntiles <= (int64_t{1} << 20), ValueError, kHook, ": too many blocks");
  py::list out;
  for (int64_t blk = 0; blk < B * heads * ntiles; ++blk) {
    const TileCoord tc = tile_coord(blk, ntiles);
    const int64_t b = tc.head / heads, h = tc.head % heads;
    if (kv) {
      std::vector<int64_t> qh;
      const int64_t group = Hq / Hkv;
      for (int64_t g = 0; g < group; ++g) qh.push_back(h * group + g);
      out.append(py::make_tuple(b, h, tc.tile * kRows, qh));
    } else {
      out.append(py::make_tuple(b, h, tc.tile * kRows, kv_head(h, Hq, Hkv)));
    }
  }
  return out;
}

// One row's attention output and lse, the kernels' way: tiles of `tile` scores go through
// softmax_rescale / softmax_prob, the accumulator over `values` (T x Dv) is rescaled and
// summed, then divided by the final sum. Scores may hold -inf (masked keys).
template <typename A>
py::tuple online_softmax(const std::vector<double>& scores,
                         const std::vector<std::vector<double>>& values, int64_t tile) {
  const size_t T = scores.size();
  EMBER_CHECK(values.size() == T && tile >= 1, ValueError, kHook,
              ": need one value row per score and tile >= 1");
  const size_t dv = T > 0 ? values[0].size() : 0;
  A m = neg_inf<A>(), l = A(0);
  std::vector<A> o(dv, A(0));
  for (size_t t0 = 0; t0 < T; t0 += tile) {
    const size_t t1 = std::min(T, t0 + static_cast<size_t>(tile));
    A tmax = neg_inf<A>();
    for (size_t j = t0; j < t1; ++j) tmax = std::max(tmax, static_cast<A>(scores[j]));
    const A alpha = softmax_rescale(m, l, tmax);
    for (auto& x : o) x *= alpha;
    for (size_t j = t0; j < t1; ++j) {
      EMBER_CHECK(values[j].size() == dv, ValueError, kHook, ": ragged values");
      const A p = softmax_prob(static_cast<A>(scores[j]), m);
      l += p;
      for (size_t c = 0; c < dv; ++c) o[c] += p * static_cast<A>(values[j][c]);
    }
  }
  std::vector<double> out(dv);
  const A inv = l > A(0) ? A(1) / l : A(0);
  for (size_t c = 0; c < dv; ++c) out[c] = static_cast<double>(o[c] * inv);
  return py::make_tuple(out, static_cast<double>(row_lse(m, l)));
}

// One row's backward the kernels' way: P = softmax_prob(s, lse) and dS = grad_score(P, dP,
// delta) per key, in float32 (the tensor-core and float32 kernels) or float64.
template <typename A>
py::tuple grad_row(const std::vector<double>& scores, double lse, const std::vector<double>& dp,
                   double delta) {
  EMBER_CHECK(dp.size() == scores.size(), ValueError, kHook, ": need one dP per score");
  std::vector<double> pr(scores.size()), ds(scores.size());
  for (size_t j = 0; j < scores.size(); ++j) {
    const A p = softmax_prob(static_cast<A>(scores[j]), static_cast<A>(lse));
    pr[j] = static_cast<double>(p);
    ds[j] = static_cast<double>(grad_score(p, static_cast<A>(dp[j]), static_cast<A>(delta)));
  }
  return py::make_tuple(pr, ds);
}

// Per lane, the (row, col) of every element of the mma.m16n8k16 A, B and C fragments the
// tensor-core forward addresses, and where its P operand elements come from.
py::dict mma_layout() {
  py::list a, b, c, p;
  for (int lane = 0; lane < 32; ++lane) {
    py::list la, lb, lc, lp;
    for (int e = 0; e < 8; ++e) la.append(py::make_tuple(mma_a(lane, e).r, mma_a(lane, e).c));
    for (int e = 0; e < 4; ++e) {
      lb.append(py::make_tuple(mma_b(lane, e).r, mma_b(lane, e).c));
      lc.append(py::make_tuple(mma_c(lane, e).r, mma_c(lane, e).c));
    }
    for (int kb = 0; kb < kMmaKeys / 16; ++kb)
      for (int e = 0; e < 8; ++e)
        lp.append(py::make_tuple(kb, e, mma_p_block(kb, e), mma_p_elem(e)));
    a.append(la);
    b.append(lb);
    c.append(lc);
    p.append(lp);
  }
  py::dict r;
  r["a"] = a;
  r["b"] = b;
  r["c"] = c;
  r["p"] = p;
  return r;
}

}  // namespace

void bind_attention_test_hooks(py::module_& m) {
  m.def("_attention_plan", &plan, py::arg("head_dim"), py::arg("dtype"),
        "Tiling plan of the attention kernels for a head dim and dtype code: padded head dim, "
        "threads, rows per block, streamed tile and shared-memory bytes of each pass.");
  m.def("_attention_mma_layout", &mma_layout,
        "Fragment coordinates of mma.m16n8k16 per lane (a: 8, b: 4, c: 4 elements) and the "
        "(k block, element) -> (S block, element) map of the P operand.");
  m.def("_attention_smem", &smem, py::arg("pass_name"), py::arg("head_dim"), py::arg("dtype"),
        py::arg("tile"), "Shared-memory bytes of a pass at a given streamed tile.");
  m.def("_attention_visits", &visits, py::arg("pass_name"), py::arg("tq"), py::arg("tk"),
        py::arg("head_dim"), py::arg("dtype"), py::arg("causal"),
        "(q0, q1, k0, k1) of every tile pair a pass visits, in the kernels' order.");
  m.def("_attention_blocks", &blocks, py::arg("pass_name"), py::arg("batch"), py::arg("hq"),
        py::arg("hkv"), py::arg("tq"), py::arg("tk"), "What each block of a pass's grid owns.");
  m.def(
      "_attention_varlen_items",
      [](const std::vector<int64_t>& cu) {
        EMBER_CHECK(!cu.empty(), ValueError, kHook, ": need S + 1 offsets");
        for (size_t s = 0; s + 1 < cu.size(); ++s)
          EMBER_CHECK(cu[s + 1] >= cu[s] && cu[s + 1] - cu[s] <= (1 << 20), ValueError, kHook,
                      ": offsets must be non-decreasing (steps up to 2^20)");
        const std::vector<int64_t> flat =
            varlen_items(cu.data(), static_cast<int64_t>(cu.size()) - 1);
        std::vector<std::pair<int64_t, int64_t>> out;
        for (size_t i = 0; i < flat.size(); i += 2) out.emplace_back(flat[i], flat[i + 1]);
        return out;
      },
      py::arg("cu_seqlens"), "The (sequence, tile) work items of a varlen pass, in launch order.");
  m.def(
      "_attention_online_softmax",
      [](const std::vector<double>& s, const std::vector<std::vector<double>>& v, int64_t tile,
         bool f64) {
        return f64 ? online_softmax<double>(s, v, tile) : online_softmax<float>(s, v, tile);
      },
      py::arg("scores"), py::arg("values"), py::arg("tile"), py::arg("float64"),
      "(output row, lse) of one row by the kernels' online softmax over tiles of `tile`.");
  m.def(
      "_attention_grad_row",
      [](const std::vector<double>& s, double lse, const std::vector<double>& dp, double delta,
         bool f64) {
        return f64 ? grad_row<double>(s, lse, dp, delta) : grad_row<float>(s, lse, dp, delta);
      },
      py::arg("scores"), py::arg("lse"), py::arg("dp"), py::arg("delta"), py::arg("float64"),
      "(P, dS) of one row by the backward kernels' per-element math.");
}

}  // namespace ember::cuda
