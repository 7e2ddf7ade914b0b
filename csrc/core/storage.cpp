#include "core/storage.h"

#include <cstdlib>
#include <new>

#include "core/error.h"

namespace ember {

std::shared_ptr<Storage> Storage::allocate_cpu(size_t nbytes) {
  // aligned_alloc needs a size that is a multiple of the alignment; never 0.
  size_t rounded = (nbytes + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment;
  if (rounded == 0) rounded = kCpuAlignment;
  void* p = std::aligned_alloc(kCpuAlignment, rounded);
  if (!p) throw std::bad_alloc();
  return std::make_shared<Storage>(p, nbytes, Device{}, [p] { std::free(p); });
}

Storage::Storage(void* data, size_t nbytes, Device device, std::function<void()> release)
    : data_(data), nbytes_(nbytes), device_(device), release_(std::move(release)) {}

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
