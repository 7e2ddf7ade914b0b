// Index arithmetic of the CUDA gather / scatter_add kernels, host and device alike (the CPU
// tests check it without a GPU through ember._C_cuda._gather_offsets).
#pragma once
#include <cstdint>

#include "core/tensor_impl.h"

#ifdef __CUDACC__
#define EMBER_INDEX_HD __host__ __device__
#else
#define EMBER_INDEX_HD
#endif

namespace ember::cuda {

constexpr int kMaxIndexDims = 16;

// Positions p of an index-shaped tensor (row-major over ishape) and where each lands in a
// contiguous target tensor: coordinates outside `dim` keep theirs, `dim` takes the index value.
struct IndexWalk {
  int nd = 1;
  int dim = 0;
  int64_t ishape[kMaxIndexDims] = {1};
  int64_t tstride[kMaxIndexDims] = {1};

  // Offset in the target of position p whose index value is v.
  EMBER_INDEX_HD int64_t target(int64_t p, int64_t v) const {
    int64_t off = 0;
    for (int d = nd - 1; d >= 0; --d) {
      const int64_t c = p % ishape[d];
      p /= ishape[d];
      off += (d == dim ? v : c) * tstride[d];
    }
    return off;
  }
};

// The walk of index shape `ishape` into a contiguous target of shape `tshape` (0-d shapes are
// one element). ValueError naming op beyond kMaxIndexDims dimensions.
IndexWalk make_index_walk(const Shape& ishape, const Shape& tshape, int64_t dim, const char* op);

}  // namespace ember::cuda
