// An open-addressing hash index from flow keys to (flow, side).
//
// Each slot is 8 bytes: the key's 32-bit hash (which also fixes the home
// slot) and the value (flow index << 1 | side). Keys are not stored: the
// caller's predicate compares against the flow itself, so a flow costs two
// slots (its inside and outside keys) and nothing else. Linear probing with
// backward-shift deletion keeps probe chains short without tombstones.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/huge_alloc.h"

namespace unat {

class FlowIndex {
 public:
  static constexpr uint64_t kEmpty = ~uint64_t{0};

  explicit FlowIndex(uint32_t initial_capacity = 1024) {
    uint32_t cap = 16;
    while (cap < initial_capacity) cap <<= 1;
    slots_.assign(cap, kEmpty);
    mask_ = cap - 1;
  }

  // Returns the value whose hash is `hash` and for which pred(value) holds,
  // or kNotFound.
  static constexpr uint32_t kNotFound = 0xffffffff;
  template <typename Pred>
  uint32_t Find(uint32_t hash, Pred&& pred) const {
    uint32_t i = hash & mask_;
    for (;;) {
      const uint64_t s = slots_[i];
      if (s == kEmpty) return kNotFound;
      if (static_cast<uint32_t>(s >> 32) == hash &&
          pred(static_cast<uint32_t>(s))) {
        return static_cast<uint32_t>(s);
      }
      i = (i + 1) & mask_;
    }
  }

  // The first value filed under `hash`, without checking the key: used only
  // to prefetch the flow it names.
  uint32_t PeekCandidate(uint32_t hash) const {
    uint32_t i = hash & mask_;
    for (int n = 0; n < 4; ++n) {
      const uint64_t s = slots_[i];
      if (s == kEmpty) return kNotFound;
      if (static_cast<uint32_t>(s >> 32) == hash)
        return static_cast<uint32_t>(s);
      i = (i + 1) & mask_;
    }
    return kNotFound;
  }

  void Prefetch(uint32_t hash) const {
    __builtin_prefetch(&slots_[hash & mask_]);
  }

  void Insert(uint32_t hash, uint32_t value) {
    if ((size_ + 1) * 4 > (mask_ + 1) * 3) Grow();
    Place(hash, value);
    ++size_;
  }

  // Removes the slot holding exactly (hash, value). Returns false if absent.
  bool Erase(uint32_t hash, uint32_t value) {
    const uint64_t want = (uint64_t{hash} << 32) | value;
    uint32_t i = hash & mask_;
    for (;;) {
      const uint64_t s = slots_[i];
      if (s == kEmpty) return false;
      if (s == want) break;
      i = (i + 1) & mask_;
    }
    // Backward-shift: pull later entries of the cluster into the hole when
    // their home slot allows it.
    uint32_t hole = i;
    uint32_t j = i;
    for (;;) {
      j = (j + 1) & mask_;
      const uint64_t s = slots_[j];
      if (s == kEmpty) break;
      const uint32_t home = static_cast<uint32_t>(s >> 32) & mask_;
      // Move s into the hole unless its home lies cyclically in (hole, j].
      const bool home_between =
          (hole <= j) ? (home > hole && home <= j) : (home > hole || home <= j);
      if (!home_between) {
        slots_[hole] = s;
        hole = j;
      }
    }
    slots_[hole] = kEmpty;
    --size_;
    return true;
  }

  uint32_t size() const { return size_; }
  size_t capacity() const { return slots_.size(); }
  size_t MemoryUsage() const { return slots_.capacity() * sizeof(uint64_t); }

 private:
  void Place(uint32_t hash, uint32_t value) {
    uint32_t i = hash & mask_;
    while (slots_[i] != kEmpty) i = (i + 1) & mask_;
    slots_[i] = (uint64_t{hash} << 32) | value;
  }
  void Grow() {
    std::vector<uint64_t, HugePageAllocator<uint64_t>> old;
    old.swap(slots_);
    slots_.assign(old.size() * 2, kEmpty);
    mask_ = static_cast<uint32_t>(slots_.size() - 1);
    for (uint64_t s : old) {
      if (s != kEmpty)
        Place(static_cast<uint32_t>(s >> 32), static_cast<uint32_t>(s));
    }
  }

  std::vector<uint64_t, HugePageAllocator<uint64_t>> slots_;
  uint32_t mask_ = 0;
  uint32_t size_ = 0;
};

}  // namespace unat
