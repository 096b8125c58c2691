// An allocator for the engine's big per-flow arrays (flows, index slots):
// allocations of 2 MiB and more are 2 MiB-aligned and advised as
// transparent huge pages, so random accesses over millions of flows stop
// paying a page walk each (THP in "madvise" mode, Debian's default, only
// backs advised ranges). Smaller ones are plain aligned allocations.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdlib>
#include <new>

namespace unat {

template <typename T>
struct HugePageAllocator {
  using value_type = T;
  static constexpr size_t kHugePage = size_t{2} << 20;

  HugePageAllocator() = default;
  template <typename U>
  HugePageAllocator(const HugePageAllocator<U>&) {}  // NOLINT

  T* allocate(size_t n) {
    const size_t bytes = n * sizeof(T);
    const size_t align = Alignment(bytes);
    const size_t rounded = (bytes + align - 1) & ~(align - 1);
    void* p = std::aligned_alloc(align, rounded);
    if (p == nullptr) throw std::bad_alloc();
    if (align == kHugePage) madvise(p, rounded, MADV_HUGEPAGE);
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t) { std::free(p); }

  template <typename U>
  bool operator==(const HugePageAllocator<U>&) const {
    return true;
  }

 private:
  static size_t Alignment(size_t bytes) {
    if (bytes >= kHugePage) return kHugePage;
    return alignof(T) > alignof(std::max_align_t) ? alignof(T)
                                                  : alignof(std::max_align_t);
  }
};

}  // namespace unat
