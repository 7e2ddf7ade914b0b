// The table of a multi-tensor launch (table.h).
#include "cuda/optim/table.h"

#include <climits>
#include <cstdint>
#include <cstring>

#include "core/error.h"
#include "cuda/cuda_check.h"
#include "cuda/stream.h"

namespace ember::cuda::optim {

std::vector<Chunk> build_chunks(const std::vector<int64_t>& numels, int64_t chunk, const char* op) {
  EMBER_CHECK(chunk > 0 && chunk % 4 == 0, ValueError, op, ": chunk size ", chunk,
              " must be a positive multiple of 4");
  EMBER_CHECK(numels.size() <= static_cast<size_t>(INT32_MAX), ValueError, op, ": ", numels.size(),
              " tensors are more than one launch can address");
  int64_t total = 0;
  for (size_t t = 0; t < numels.size(); ++t) {
    EMBER_CHECK(numels[t] >= 0, ValueError, op, ": tensor ", t, " has ", numels[t], " elements");
    total += (numels[t] + chunk - 1) / chunk;
    // The grid is one block per chunk: gridDim.x is at most 2^31 - 1.
    EMBER_CHECK(total <= INT32_MAX, ValueError, op, ": more than ", INT32_MAX, " chunks of ", chunk,
                " elements in one call");
  }
  std::vector<Chunk> out;
  out.reserve(static_cast<size_t>(total));
  for (size_t t = 0; t < numels.size(); ++t) {
    const int64_t nc = (numels[t] + chunk - 1) / chunk;
    for (int64_t c = 0; c < nc; ++c)
      out.push_back(Chunk{static_cast<int32_t>(t), static_cast<int32_t>(c)});
  }
  return out;
}

Table make_table(const Arrays& arrays, const std::vector<OptimTensorCoef>& coef, DType dt,
                 const char* op) {
  const List& params = *arrays[0];
  Table t;
  std::vector<int64_t> numels;
  for (size_t i = 0; i < params.size(); ++i) {
    if (params[i]->dtype != dt) continue;
    Slot s{};
    bool aligned = true;
    for (int k = 0; k < kMaxArrays; ++k) {
      const List* list = arrays[k];
      s.ptr[k] = list == nullptr || list->empty() ? nullptr : (*list)[i]->data();
      aligned = aligned && reinterpret_cast<uintptr_t>(s.ptr[k]) % 16 == 0;
    }
    s.n = params[i]->numel();
    if (!coef.empty()) s.coef = coef[i];
    s.vec = aligned;
    t.slots.push_back(s);
    numels.push_back(s.n);
  }
  t.chunks = build_chunks(numels, kChunk, op);
  return t;
}

ScopedBlock::ScopedBlock(size_t nbytes, const char* op) {
  EMBER_CUDA_CHECK(cudaGetDevice(&device_), op);
  block_ = device_alloc(device_, nbytes);
}

namespace {
size_t table_bytes(const Table& t) {
  return t.slots.size() * sizeof(Slot) + t.chunks.size() * sizeof(Chunk);
}
}  // namespace

DeviceTable::DeviceTable(const Table& t, const char* op)
    : nslots_(t.slots.size()), block_(table_bytes(t), op) {
  const size_t slot_bytes = t.slots.size() * sizeof(Slot);
  std::vector<unsigned char> host(table_bytes(t));
  std::memcpy(host.data(), t.slots.data(), slot_bytes);
  std::memcpy(host.data() + slot_bytes, t.chunks.data(), t.chunks.size() * sizeof(Chunk));
  // From pageable memory: staged before the call returns, so `host` may go right after.
  EMBER_CUDA_CHECK(cudaMemcpyAsync(block_.data(), host.data(), host.size(), cudaMemcpyHostToDevice,
                                   current_stream()),
                   op);
}

}  // namespace ember::cuda::optim
