// Expectations: related flows a helper announced (FTP data, TFTP replies,
// DCC), waiting for their first inbound packet. Indexed by the external
// endpoint they hold (proto, address, port) and by their master flow; each
// holds a reference on the mapping of its inside endpoint, which the
// engine takes and releases.
#pragma once

#include <cstdint>
#include <functional>
#include <queue>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "engine/flow_table.h"
#include "engine/helper.h"

namespace unat {
namespace internal {

struct Expectation {
  bool live = false;
  uint8_t proto = 0;
  NamespaceId ns = kInvalidNamespace;
  uint32_t rem_addr = 0;  // 0: any remote (allow_any_remote)
  uint16_t rem_port = 0;  // 0: any port
  uint32_t ext_addr = 0;
  uint16_t ext_port = 0;
  uint32_t mapping = kNone;
  FlowId master = kInvalidFlow;
  uint8_t helper = 0;  // the helper the created flow gets (index + 1)
  TimeMs expires = 0;
  uint64_t seq = 0;  // creation order, for evicting the oldest
};

class ExpectationTable {
 public:
  const Expectation& operator[](uint32_t e) const { return items_[e]; }
  uint32_t size() const { return static_cast<uint32_t>(items_.size()); }
  uint32_t live() const { return live_; }
  // Expectations of a master flow.
  uint32_t CountOf(FlowId master) const {
    auto it = by_master_.find(master);
    return it == by_master_.end() ? 0
                                  : static_cast<uint32_t>(it->second.size());
  }
  // The master's oldest expectation, or kNone.
  uint32_t OldestOf(FlowId master) const;
  // Files an expectation (x.live, x.seq are set here); returns its index.
  uint32_t Add(Expectation x);
  // Unfiles an expectation; returns the mapping it held (kNone if none),
  // for the caller to release.
  uint32_t Remove(uint32_t e);
  // The first live, unexpired expectation for a packet from src:sport to
  // the external endpoint, or kNone.
  uint32_t Match(uint8_t proto, uint32_t ext_addr, uint16_t port, uint32_t src,
                 uint16_t sport, TimeMs now) const;
  // Calls expired(e) for each expectation whose time is up (the callee
  // removes it).
  template <typename Fn>
  void Expire(TimeMs now, Fn&& expired) {
    while (!expiry_.empty() && expiry_.top().first <= now) {
      const uint32_t e = expiry_.top().second;
      expiry_.pop();
      if (items_[e].live && items_[e].expires <= now) expired(e);
    }
  }
  // A copy of the master's list (the caller removes while walking it).
  std::vector<uint32_t> OfMaster(FlowId master) const {
    auto it = by_master_.find(master);
    return it == by_master_.end() ? std::vector<uint32_t>{} : it->second;
  }

 private:
  static uint64_t Key(uint8_t proto, uint32_t ext_addr, uint16_t port) {
    return (uint64_t{proto} << 48) | (uint64_t{ext_addr} << 16) | port;
  }

  std::vector<Expectation> items_;
  std::vector<uint32_t> free_;
  absl::flat_hash_map<uint64_t, std::vector<uint32_t>> index_;
  absl::flat_hash_map<uint32_t, std::vector<uint32_t>> by_master_;
  std::priority_queue<std::pair<TimeMs, uint32_t>,
                      std::vector<std::pair<TimeMs, uint32_t>>, std::greater<>>
      expiry_;
  uint64_t seq_ = 0;
  uint32_t live_ = 0;
};

}  // namespace internal
}  // namespace unat
