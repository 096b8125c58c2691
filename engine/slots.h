// Slot reuse for the engine's tables of records with stable indices: a free
// list of indices, and the vector grows only when it is empty.
#pragma once

#include <cstdint>
#include <vector>

namespace unat {
namespace internal {

// An index into `items` for a new record: the last freed one, or a new
// default-constructed element at the end.
template <typename Vec>
uint32_t TakeSlot(Vec& items, std::vector<uint32_t>& free) {
  if (!free.empty()) {
    const uint32_t i = free.back();
    free.pop_back();
    return i;
  }
  items.emplace_back();
  return static_cast<uint32_t>(items.size() - 1);
}

}  // namespace internal
}  // namespace unat
