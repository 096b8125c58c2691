// Half-open inbound flows: flows an outside packet created (at a forward or
// through a mapping) that the inside host has not answered yet (TCP: the
// handshake is not complete; UDP: no reply). They stay off their host's
// flow budget, grouped by what let them in (the flow's owner), each group
// oldest first; under a flood the oldest of the fullest group makes way.
#pragma once

#include <cstdint>
#include <deque>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "engine/flow_table.h"

namespace unat {
namespace internal {

class HalfOpenTable {
 public:
  void Add(uint32_t flow, uint32_t group);
  // Forgets the flow as half-open; false if it was not.
  bool Remove(uint32_t flow);
  // The flow to evict before one more joins `group`: the oldest of `group`
  // at `per_group`, else the oldest of the fullest group at `total`
  // (0: no limit); kNone when there is room. The caller deletes the flow
  // (which calls Remove) and asks again.
  uint32_t Victim(uint32_t group, uint32_t per_group, uint32_t total);
  uint32_t size() const { return static_cast<uint32_t>(flows_.size()); }
  uint32_t GroupSize(uint32_t group) const {
    auto it = groups_.find(group);
    return it == groups_.end() ? 0 : it->second.count;
  }

 private:
  struct Entry {
    uint32_t group;
    uint64_t serial;
  };
  // Each group keeps its flows oldest first with lazy deletion: an entry
  // whose serial no longer matches is stale and skipped.
  struct Group {
    uint32_t count = 0;
    std::deque<std::pair<uint32_t, uint64_t>> fifo;  // (flow, serial)
  };
  bool Stale(const std::pair<uint32_t, uint64_t>& e) const {
    auto it = flows_.find(e.first);
    return it == flows_.end() || it->second.serial != e.second;
  }
  uint32_t Oldest(uint32_t group);
  // A group's count moved from `from` to `to` (by one): refile it among
  // the groups of each size.
  void Resized(uint32_t group, uint32_t from, uint32_t to);

  absl::flat_hash_map<uint32_t, Entry> flows_;
  absl::flat_hash_map<uint32_t, Group> groups_;
  // The groups by their count, and the largest count: the fullest group in
  // O(1) at the total limit, however many groups a flood spreads over.
  absl::flat_hash_map<uint32_t, absl::flat_hash_set<uint32_t>> by_count_;
  uint32_t max_count_ = 0;
  uint64_t serial_ = 0;
};

}  // namespace internal
}  // namespace unat
