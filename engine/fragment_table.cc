// The fragment table (see engine/fragments.h).
#include "engine/fragments.h"
#include "engine/slots.h"

namespace unat {
namespace internal {

void FragmentTable::Free(uint32_t e, DropReason held_reason) {
  FragEntry& x = items_[e];
  if (!x.live) return;
  stats_.drops[static_cast<int>(held_reason)] += x.held.size();
  stats_.fragments_dropped += x.held.size();
  bytes_held_ -= x.held_bytes;
  auto it = per_ns_.find(x.key.ns);
  if (it != per_ns_.end() && --it->second == 0) {
    per_ns_.erase(it);
    ns_fifo_.erase(x.key.ns);  // nothing live left in it
  }
  index_.erase(x.key);
  x.held.clear();
  x.held.shrink_to_fit();
  x.ranges.clear();
  x.live = false;
  x.generation++;
  free_.push_back(e);
}

void FragmentTable::Poison(uint32_t e, DropReason reason) {
  FragEntry& x = items_[e];
  stats_.drops[static_cast<int>(reason)] += x.held.size();
  stats_.fragments_dropped += x.held.size();
  bytes_held_ -= x.held_bytes;
  x.held_bytes = 0;
  x.held.clear();
  x.held.shrink_to_fit();
  x.ranges.clear();
  x.ranges.shrink_to_fit();
  x.full = false;
  x.state = FragState::kDropped;
}

bool FragmentTable::EvictOldest(NamespaceId ns, uint32_t keep, DropReason why) {
  if (ns != kInvalidNamespace) {
    auto it = ns_fifo_.find(ns);
    if (it == ns_fifo_.end()) return false;
    auto& q = it->second;
    while (!q.empty()) {
      auto [e, gen] = q.front();
      q.pop_front();
      if (items_[e].live && items_[e].generation == gen && e != keep) {
        Free(e, why);
        return true;
      }
    }
    return false;
  }
  for (auto [e, gen] : fifo_) {
    const FragEntry& x = items_[e];
    if (x.live && x.generation == gen && e != keep && x.held_bytes > 0) {
      Free(e, why);
      return true;
    }
  }
  return false;
}

uint32_t FragmentTable::FindOrAdd(const FragKey& key, Side side, NamespaceId ns,
                                  TimeMs now, DropReason* why) {
  if (auto it = index_.find(key); it != index_.end()) {
    const uint32_t e = it->second;
    if (items_[e].expires > now) return e;
    // Past its time but not reaped yet (Advance() not called): it timed out.
    if (items_[e].state != FragState::kDropped) {
      stats_.fragment_datagrams_timed_out++;
    }
    Free(e, DropReason::kFragTimeout);
  }
  if (per_ns_[key.ns] >= config_.max_datagrams_per_namespace &&
      !EvictOldest(key.ns, kNone, DropReason::kFragDatagramLimit)) {
    *why = DropReason::kFragDatagramLimit;
    return kNone;
  }
  uint32_t& count = per_ns_[key.ns];
  const uint32_t e = TakeSlot(items_, free_);
  ++count;
  FragEntry& x = items_[e];
  const uint32_t gen = x.generation + 1;
  x = FragEntry{};
  x.generation = gen;
  x.live = true;
  x.key = key;
  x.side = side;
  x.ns = ns;
  x.full = config_.mode == ReassemblyMode::kFull;
  x.expires = now + config_.timeout_ms;
  index_.emplace(key, e);
  fifo_.emplace_back(e, gen);
  ns_fifo_[key.ns].emplace_back(e, gen);
  return e;
}

void FragmentTable::Hold(uint32_t e, std::span<const uint8_t> fragment,
                         uint16_t offset, uint16_t length) {
  FragEntry& x = items_[e];
  x.held.push_back(
      {std::vector<uint8_t>(fragment.begin(), fragment.end()), offset, length});
  x.held_bytes += static_cast<uint32_t>(fragment.size());
  bytes_held_ += fragment.size();
}

std::vector<HeldFragment> FragmentTable::TakeHeld(uint32_t e) {
  FragEntry& x = items_[e];
  std::vector<HeldFragment> held;
  held.swap(x.held);
  bytes_held_ -= x.held_bytes;
  x.held_bytes = 0;
  return held;
}

uint32_t FragmentTable::fragments_held() const {
  uint32_t n = 0;
  for (const FragEntry& x : items_) {
    if (x.live) n += static_cast<uint32_t>(x.held.size());
  }
  return n;
}

}  // namespace internal
}  // namespace unat
