#include "core/storage.h"

#include <sys/mman.h>

#include <cstdlib>
#include <new>

#include "core/error.h"

namespace ember {

namespace {
// Blocks above glibc's largest mmap threshold (32 MiB on 64-bit) always come fresh from
// mmap, so every first write page-faults once per 4 KiB page; asking for transparent huge
// pages (granted on request in THP "madvise" mode) makes that one fault per 2 MiB and
// about halves the cost of writing a fresh large output. Smaller blocks are left alone:
// glibc recycles them from its heap without faults, and a 2 MiB alignment would push
// them over the threshold into fresh mmaps.
constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kHugeFrom = size_t{32} << 20;
}  // namespace

std::shared_ptr<Storage> Storage::allocate_cpu(size_t nbytes) {
  const size_t align = nbytes >= kHugeFrom ? kHugePage : kCpuAlignment;
  // aligned_alloc needs a size that is a multiple of the alignment; never 0.
  size_t rounded = (nbytes + align - 1) / align * align;
  if (rounded == 0) rounded = align;
  void* p = std::aligned_alloc(align, rounded);
  if (!p) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
  if (align == kHugePage) madvise(p, rounded, MADV_HUGEPAGE);  // a hint: failure is harmless
#endif
  return std::make_shared<Storage>(p, nbytes, Device{}, [p] { std::free(p); });
}

Storage::Storage(void* data, size_t nbytes, Device device, std::function<void()> release,
                 bool read_only)
    : data_(data),
      nbytes_(nbytes),
      device_(device),
      release_(std::move(release)),
      read_only_(read_only) {}

Storage::~Storage() {
  if (release_) release_();
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::ostringstream os;
  os << '(';
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) os << ", ";
    os << shape[i];
  }
  if (shape.size() == 1) os << ',';
  os << ')';
  return os.str();
}

}  // namespace ember
