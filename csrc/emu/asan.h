// AddressSanitizer marks for ember's caching allocator under the host emulator, where
// device memory is host memory: the rounded-up tail of a block handed out and every block
// back in the cache are unaddressable, so a kernel (or a copy) that touches bytes past its
// tensor, or a freed tensor, is reported with its stack. No-ops in a build without ASan.
#pragma once
#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

namespace ember_emu {

inline void block_in_use([[maybe_unused]] void* p, [[maybe_unused]] size_t size,
                         [[maybe_unused]] size_t used) {
#if defined(__SANITIZE_ADDRESS__)
  ASAN_UNPOISON_MEMORY_REGION(p, used);
  ASAN_POISON_MEMORY_REGION(static_cast<char*>(p) + used, size - used);
#endif
}

inline void block_freed([[maybe_unused]] void* p, [[maybe_unused]] size_t size) {
#if defined(__SANITIZE_ADDRESS__)
  ASAN_POISON_MEMORY_REGION(p, size);
#endif
}

// A fiber stack about to be reused: frames of fibers abandoned mid-run left their marks.
inline void stack_reused([[maybe_unused]] void* p, [[maybe_unused]] size_t size) {
#if defined(__SANITIZE_ADDRESS__)
  ASAN_UNPOISON_MEMORY_REGION(p, size);
#endif
}

}  // namespace ember_emu
