// Variable-length (packed) attention on CUDA: the dense kernels over per-sequence segments.
// The offsets and the (sequence, tile) work items of each pass go to the device in one
// scratch block; block b of a launch takes item b / heads, head b % heads.
#include <cuda_runtime.h>

#include <limits>
#include <vector>

#include "core/error.h"
#include "cuda/attention/attention.h"
#include "cuda/cuda_check.h"

namespace ember::cuda::attn {
namespace {

// [cu_q (S + 1), cu_k (S + 1), query items, key items] on the host, and where each starts.
struct Tables {
  std::vector<int64_t> data;
  size_t items_q = 0, items_k = 0;  // offsets into data
  int64_t nq = 0, nk = 0;           // item counts
};

Tables build(const int64_t* cu_q, const int64_t* cu_k, int64_t S) {
  Tables t;
  t.data.assign(cu_q, cu_q + S + 1);
  t.data.insert(t.data.end(), cu_k, cu_k + S + 1);
  const std::vector<int64_t> iq = varlen_items(cu_q, S), ik = varlen_items(cu_k, S);
  t.items_q = t.data.size();
  t.data.insert(t.data.end(), iq.begin(), iq.end());
  t.items_k = t.data.size();
  t.data.insert(t.data.end(), ik.begin(), ik.end());
  t.nq = static_cast<int64_t>(iq.size() / 2);
  t.nk = static_cast<int64_t>(ik.size() / 2);
  return t;
}

// Copies the tables into `scratch` and points p at them.
void upload(const Tables& t, const Scratch& scratch, int64_t S, Params& p, const char* op) {
  EMBER_CUDA_CHECK(cudaMemcpy(scratch.as<void>(), t.data.data(), t.data.size() * sizeof(int64_t),
                              cudaMemcpyHostToDevice),
                   op);
  const int64_t* d = scratch.as<const int64_t>();
  p.cu_q = d;
  p.cu_k = d + S + 1;
  p.items_q = d + t.items_q;
  p.items_k = d + t.items_k;
}

void check_grid(int64_t blocks, const char* op) {
  EMBER_CHECK(blocks <= std::numeric_limits<int32_t>::max(), ValueError, op, ": ", blocks,
              " thread blocks, more than one launch takes");
}

}  // namespace

void varlen_forward(DType dtype, int device, Params p, const int64_t* cu_q, const int64_t* cu_k,
                    int64_t S, const char* op) {
  const Tables t = build(cu_q, cu_k, S);
  check_grid(t.nq * p.Hq, op);
  Scratch scratch(device, t.data.size() * sizeof(int64_t));
  upload(t, scratch, S, p, op);
  forward(dtype, p, t.nq * p.Hq, op);
}

void varlen_backward(DType dtype, int device, Params p, const int64_t* cu_q, const int64_t* cu_k,
                     int64_t S, const char* op) {
  const Tables t = build(cu_q, cu_k, S);
  check_grid(t.nq * p.Hq, op);
  check_grid(t.nk * p.Hkv, op);
  Scratch scratch(device, t.data.size() * sizeof(int64_t));
  upload(t, scratch, S, p, op);
  backward(dtype, device, p, t.nq * p.Hq, t.nk * p.Hkv, op);
}

}  // namespace ember::cuda::attn
