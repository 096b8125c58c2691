// Inbound filtering of packets that reach a mapping without a flow (RFC 4787
// REQ-8): endpoint-independent lets anyone in, address-dependent lets in the
// remote addresses the mapping has talked to (kept here, counted per
// mapping and remote), address-and-port-dependent lets no one in (only a
// flow's own remote endpoint, which has a flow).
#pragma once

#include <cstdint>

#include "absl/container/flat_hash_map.h"
#include "engine/nat_config.h"

namespace unat {
namespace internal {

class Filter {
 public:
  explicit Filter(FilteringMode mode) : mode_(mode) {}
  FilteringMode mode() const { return mode_; }

  // A flow of mapping m with remote `rem` was made / deleted.
  void FlowAdded(uint32_t m, uint32_t rem) {
    if (mode_ == FilteringMode::kAddressDependent) ++adf_[Key(m, rem)];
  }
  void FlowRemoved(uint32_t m, uint32_t rem) {
    if (mode_ != FilteringMode::kAddressDependent) return;
    auto it = adf_.find(Key(m, rem));
    if (it != adf_.end() && --it->second == 0) adf_.erase(it);
  }
  // Whether an unsolicited packet from `src` may open a flow on the live
  // mapping m.
  bool Allows(uint32_t m, uint32_t src) const {
    switch (mode_) {
      case FilteringMode::kEndpointIndependent:
        return true;
      case FilteringMode::kAddressDependent:
        return adf_.contains(Key(m, src));
      case FilteringMode::kAddressAndPortDependent:
        return false;
    }
    return false;
  }
  // A new mode. Switching to address-dependent needs the remotes of every
  // live flow again: the caller then calls FlowAdded for each.
  void SetMode(FilteringMode mode) {
    mode_ = mode;
    adf_.clear();
  }
  size_t remotes() const { return adf_.size(); }

 private:
  static uint64_t Key(uint32_t m, uint32_t rem) {
    return (uint64_t{m} << 32) | rem;
  }
  FilteringMode mode_;
  absl::flat_hash_map<uint64_t, uint32_t> adf_;
};

}  // namespace internal
}  // namespace unat
