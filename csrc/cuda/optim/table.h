// Building the table of a multi-tensor launch (optim.h) on the host, and copying it into a
// device buffer.
#pragma once
#include <array>
#include <cstddef>
#include <vector>

#include "cuda/allocator.h"
#include "cuda/optim/optim.h"

namespace ember::cuda::optim {

// The chunks of tensors with these element counts, tensor by tensor in order (an empty
// tensor has none). ValueError naming `op` for a chunk size that is not a positive multiple
// of 4 or a table past the limits of a launch (2^31 - 1 chunks).
std::vector<Chunk> build_chunks(const std::vector<int64_t>& numels, int64_t chunk, const char* op);

// The table of one launch: tensors of one dtype.
struct Table {
  std::vector<Slot> slots;
  std::vector<Chunk> chunks;
};

// The table of the tensors i whose arrays[0][i] has dtype dt (arrays: p, g, s0, s1, s2,
// each a list matching arrays[0] or empty; coef: per tensor, or empty for none).
using Arrays = std::array<const List*, kMaxArrays>;
Table make_table(const Arrays& arrays, const std::vector<OptimTensorCoef>& coef, DType dt,
                 const char* op);

// A block of the current device's caching allocator, returned when the scope ends. Dropping
// it right after the launches that use it is safe: the block is reused only on the stream
// they ran on, which orders every later user after them.
class ScopedBlock {
 public:
  ScopedBlock(size_t nbytes, const char* op);
  ~ScopedBlock() { device_free(device_, block_); }
  ScopedBlock(const ScopedBlock&) = delete;
  ScopedBlock& operator=(const ScopedBlock&) = delete;
  void* data() const { return block_.ptr; }

 private:
  int device_ = 0;
  Block block_;
};

// A table copied into a device block.
class DeviceTable {
 public:
  DeviceTable(const Table& t, const char* op);
  const Slot* slots() const { return static_cast<const Slot*>(block_.data()); }
  const Chunk* chunks() const { return reinterpret_cast<const Chunk*>(slots() + nslots_); }

 private:
  size_t nslots_;
  ScopedBlock block_;
};

}  // namespace ember::cuda::optim
