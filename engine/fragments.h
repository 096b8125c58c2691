// The fragment table: IPv4 datagrams in reassembly, by (source,
// destination, id, namespace, protocol), with the fragments each holds, the
// byte ranges it has seen, its fate once its first fragment was translated
// (virtual reassembly), and the limits that keep a flood from taking it
// over: datagrams per namespace (the oldest gives way), bytes held in all
// (older datagrams give way), a timeout.
//
// The fragment handler (engine/fragments.cc) is the packet path's use of
// it: checks, virtual and full reassembly, egress fragmentation.
#pragma once

#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "engine/flow_table.h"
#include "engine/nat.h"

namespace unat {
namespace internal {

struct FragKey {
  uint32_t src;
  uint32_t dst;
  uint16_t id;
  NamespaceId ns;  // kOutsideKeyNs for the outside
  uint8_t proto;
  bool operator==(const FragKey&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const FragKey& k) {
    return H::combine(std::move(h), k.src, k.dst, k.id, k.ns, k.proto);
  }
};

struct HeldFragment {
  std::vector<uint8_t> bytes;  // the whole fragment as it arrived
  uint16_t offset;             // payload offset in the datagram
  uint16_t length;             // payload length
};

enum class FragState : uint8_t { kWaiting, kTranslated, kDropped };

struct FragEntry {
  bool live = false;
  bool full = false;  // full reassembly (else virtual)
  FragState state = FragState::kWaiting;
  uint32_t generation = 0;
  FragKey key{};
  Side side = Side::kInside;
  NamespaceId ns = kInvalidNamespace;  // arrival namespace (inside)
  TimeMs expires = 0;
  Verdict verdict;                    // kTranslated: where fragments go
  uint32_t new_src = 0, new_dst = 0;  // kTranslated: rewritten addresses
  uint32_t total = 0;                 // payload length, once the last is seen
  uint32_t covered = 0;               // payload bytes seen (no overlaps)
  uint32_t held_bytes = 0;
  std::vector<std::pair<uint16_t, uint16_t>> ranges;  // [begin, end)
  std::vector<HeldFragment> held;
};

class FragmentTable {
 public:
  // Held fragments that are dropped are counted into `stats` (drops by
  // reason and fragments_dropped). Both must outlive the table.
  FragmentTable(const FragmentConfig& config, Stats& stats)
      : config_(config), stats_(stats) {}

  FragEntry& operator[](uint32_t e) { return items_[e]; }
  const FragEntry& operator[](uint32_t e) const { return items_[e]; }

  // The live entry of `key`, or a new one (evicting the namespace's oldest
  // at its datagram limit; one found past its time is freed as timed out
  // first); kNone with *why set when there is no room.
  uint32_t FindOrAdd(const FragKey& key, Side side, NamespaceId ns, TimeMs now,
                     DropReason* why);
  // Frees an entry, counting what it held as drops under `held_reason`.
  void Free(uint32_t e, DropReason held_reason);
  // Drops what the datagram holds (under `reason`) and marks it dropped:
  // its later fragments are refused until the entry times out.
  void Poison(uint32_t e, DropReason reason);
  // Frees the oldest datagram of namespace `ns` (kInvalidNamespace: the
  // oldest of any namespace that holds bytes), other than `keep`. False if
  // there is none.
  bool EvictOldest(NamespaceId ns, uint32_t keep, DropReason why);
  // Keeps a copy of a fragment in entry e.
  void Hold(uint32_t e, std::span<const uint8_t> fragment, uint16_t offset,
            uint16_t length);
  // Takes the held fragments out of e (its bytes no longer count as held).
  std::vector<HeldFragment> TakeHeld(uint32_t e);
  // Calls timed_out(e) for each live entry whose time is up, oldest first,
  // and then frees it (kFragTimeout).
  template <typename Fn>
  void Expire(TimeMs now, Fn&& timed_out) {
    while (!fifo_.empty()) {
      auto [e, gen] = fifo_.front();
      FragEntry& x = items_[e];
      if (x.live && x.generation == gen) {
        if (x.expires > now) break;
        timed_out(e);
        if (x.state != FragState::kDropped)
          stats_.fragment_datagrams_timed_out++;
        Free(e, DropReason::kFragTimeout);
      }
      fifo_.pop_front();
    }
  }

  uint64_t bytes_held() const { return bytes_held_; }
  uint32_t datagrams() const { return static_cast<uint32_t>(index_.size()); }
  uint32_t fragments_held() const;

 private:
  const FragmentConfig& config_;
  Stats& stats_;
  absl::flat_hash_map<FragKey, uint32_t> index_;
  std::vector<FragEntry> items_;
  std::vector<uint32_t> free_;
  std::deque<std::pair<uint32_t, uint32_t>> fifo_;  // (entry, gen)
  absl::flat_hash_map<NamespaceId, uint32_t> per_ns_;
  // Per namespace, entries in creation order: the oldest is evicted when a
  // namespace is at its datagram limit (a flood cannot lock out new
  // datagrams for a whole timeout).
  absl::flat_hash_map<NamespaceId, std::deque<std::pair<uint32_t, uint32_t>>>
      ns_fifo_;
  uint64_t bytes_held_ = 0;
};

}  // namespace internal
}  // namespace unat
