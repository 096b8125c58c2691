// Forwards: static and leased port forwards (the portmap helpers' and the
// configuration's), by id, with their lease expiry and their remote
// filters. The external ports they own are marked in the mapping table's
// port owners by the engine.
#pragma once

#include <cstdint>
#include <functional>
#include <queue>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "engine/nat.h"

namespace unat {
namespace internal {

// allowed_remotes: at most ForwardSpec::kMaxRemoteFilters, prefixes <= 32.
absl::Status ValidateRemoteFilters(const std::vector<RemoteFilter>& filters);

class ForwardTable {
 public:
  bool Live(uint32_t id) const { return id < items_.size() && items_[id].live; }
  // The spec of a live forward (check Live() first).
  ForwardSpec& spec(uint32_t id) { return items_[id].spec; }
  const ForwardSpec& spec(uint32_t id) const { return items_[id].spec; }
  uint32_t size() const { return static_cast<uint32_t>(items_.size()); }
  uint32_t live() const { return live_; }
  // The live forward for exactly (proto, external_addr, port), or -1.
  int Find(uint8_t proto, uint32_t ext_addr, uint16_t port) const;
  uint32_t Add(const ForwardSpec& spec);
  void Remove(uint32_t id);
  // A new lease end: filed for expiry (0: never).
  void Renew(uint32_t id, TimeMs expires);
  // Calls expired(id) for each lease that ended by `now` (the callee
  // removes it).
  template <typename Fn>
  void Expire(TimeMs now, Fn&& expired) {
    while (!expiry_.empty() && expiry_.top().first <= now) {
      const uint32_t id = expiry_.top().second;
      expiry_.pop();
      if (Live(id) && items_[id].spec.expires != 0 &&
          items_[id].spec.expires <= now) {
        expired(id);
      }
    }
  }

  // Whether a packet from src:sport may use the forward (its remote
  // filters; none: anyone).
  static bool RemoteAllowed(const ForwardSpec& spec, uint32_t src,
                            uint16_t sport);

 private:
  struct Entry {
    bool live = false;
    ForwardSpec spec;
  };
  std::vector<Entry> items_;
  std::vector<uint32_t> free_;
  std::priority_queue<std::pair<TimeMs, uint32_t>,
                      std::vector<std::pair<TimeMs, uint32_t>>, std::greater<>>
      expiry_;
  uint32_t live_ = 0;
};

}  // namespace internal
}  // namespace unat
