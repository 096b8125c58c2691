// Half-open inbound flows (see engine/half_open.h).
#include "engine/half_open.h"

#include <algorithm>

namespace unat {
namespace internal {

void HalfOpenTable::Add(uint32_t flow, uint32_t group) {
  Remove(flow);  // filed once, in its latest group
  const uint64_t serial = ++serial_;
  flows_[flow] = Entry{group, serial};
  Group& g = groups_[group];
  g.count++;
  Resized(group, g.count - 1, g.count);
  g.fifo.emplace_back(flow, serial);
  while (!g.fifo.empty() && Stale(g.fifo.front())) g.fifo.pop_front();
  // Flows that were answered leave stale entries behind: keep them to at
  // most as many as there are live ones.
  if (g.fifo.size() > 2 * size_t{g.count} + 16) {
    std::erase_if(g.fifo, [this](const auto& e) { return Stale(e); });
  }
}

bool HalfOpenTable::Remove(uint32_t flow) {
  auto it = flows_.find(flow);
  if (it == flows_.end()) return false;
  const uint32_t group = it->second.group;
  auto g = groups_.find(group);
  flows_.erase(it);
  if (g != groups_.end()) {
    const uint32_t count = --g->second.count;
    Resized(group, count + 1, count);
    if (count == 0) groups_.erase(g);
  }
  return true;
}

void HalfOpenTable::Resized(uint32_t group, uint32_t from, uint32_t to) {
  if (from != 0) {
    auto b = by_count_.find(from);
    if (b != by_count_.end()) {
      b->second.erase(group);
      if (b->second.empty()) {
        by_count_.erase(b);
        // Counts move by one: the old largest is now the group's own.
        if (from == max_count_ && to < from) max_count_ = to;
      }
    }
  }
  if (to != 0) {
    by_count_[to].insert(group);
    max_count_ = std::max(max_count_, to);
  }
}

uint32_t HalfOpenTable::Oldest(uint32_t group) {
  auto g = groups_.find(group);
  if (g == groups_.end()) return kNone;
  auto& fifo = g->second.fifo;
  while (!fifo.empty() && Stale(fifo.front())) fifo.pop_front();
  return fifo.empty() ? kNone : fifo.front().first;
}

uint32_t HalfOpenTable::Victim(uint32_t group, uint32_t per_group,
                               uint32_t total) {
  if (per_group != 0 && GroupSize(group) >= per_group) return Oldest(group);
  if (total != 0 && flows_.size() >= total) {
    // The fullest group pays: a flood at one forward does not push out the
    // handshakes of the others.
    auto b = by_count_.find(max_count_);
    if (max_count_ != 0 && b != by_count_.end() && !b->second.empty()) {
      return Oldest(*b->second.begin());
    }
  }
  return kNone;
}

}  // namespace internal
}  // namespace unat
