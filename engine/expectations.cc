// Expectations (see engine/expectations.h).
#include "engine/expectations.h"

#include <algorithm>

#include "engine/slots.h"

namespace unat {
namespace internal {

namespace {
void EraseValue(std::vector<uint32_t>& v, uint32_t x) {
  v.erase(std::remove(v.begin(), v.end(), x), v.end());
}
}  // namespace

uint32_t ExpectationTable::OldestOf(FlowId master) const {
  auto it = by_master_.find(master);
  if (it == by_master_.end() || it->second.empty()) return kNone;
  uint32_t oldest = it->second.front();
  for (uint32_t e : it->second) {
    if (items_[e].seq < items_[oldest].seq) oldest = e;
  }
  return oldest;
}

uint32_t ExpectationTable::Add(Expectation x) {
  const uint32_t e = TakeSlot(items_, free_);
  x.live = true;
  x.seq = ++seq_;
  items_[e] = x;
  index_[Key(x.proto, x.ext_addr, x.ext_port)].push_back(e);
  by_master_[x.master].push_back(e);
  expiry_.emplace(x.expires, e);
  live_++;
  return e;
}

uint32_t ExpectationTable::Remove(uint32_t e) {
  Expectation& x = items_[e];
  if (!x.live) return kNone;
  x.live = false;
  if (auto it = index_.find(Key(x.proto, x.ext_addr, x.ext_port));
      it != index_.end()) {
    EraseValue(it->second, e);
    if (it->second.empty()) index_.erase(it);
  }
  if (auto it = by_master_.find(x.master); it != by_master_.end()) {
    EraseValue(it->second, e);
    if (it->second.empty()) by_master_.erase(it);
  }
  const uint32_t m = x.mapping;
  x.mapping = kNone;
  live_--;
  free_.push_back(e);
  return m;
}

uint32_t ExpectationTable::Match(uint8_t proto, uint32_t ext_addr,
                                 uint16_t port, uint32_t src, uint16_t sport,
                                 TimeMs now) const {
  auto it = index_.find(Key(proto, ext_addr, port));
  if (it == index_.end()) return kNone;
  for (uint32_t e : it->second) {
    const Expectation& x = items_[e];
    if (x.live && x.expires > now && (x.rem_addr == src || x.rem_addr == 0) &&
        (x.rem_port == 0 || x.rem_port == sport)) {
      return e;
    }
  }
  return kNone;
}

}  // namespace internal
}  // namespace unat
