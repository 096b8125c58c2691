// Related flows a helper opens (see engine/related.h).
#include "engine/related.h"

#include <algorithm>

#include "engine/slots.h"

namespace unat {
namespace internal {

uint32_t RelatedTable::Find(FlowId master, uint8_t proto,
                            uint16_t in_port) const {
  auto it = by_master_.find(master);
  if (it == by_master_.end()) return kNone;
  for (uint32_t r : it->second) {
    if (items_[r].proto == proto && items_[r].in_port == in_port) return r;
  }
  return kNone;
}

uint32_t RelatedTable::Add(FlowId master, uint8_t proto, uint16_t in_port,
                           uint32_t mapping) {
  const uint32_t r = TakeSlot(items_, free_);
  items_[r] = RelatedFlow{true, master, proto, in_port, mapping, kNone};
  by_master_[master].push_back(r);
  live_++;
  return r;
}

void RelatedTable::SetFlow(uint32_t r, uint32_t flow) {
  RelatedFlow& x = items_[r];
  if (x.flow != kNone) by_flow_.erase(x.flow);
  x.flow = flow;
  if (flow != kNone) by_flow_[flow] = r;
}

uint32_t RelatedTable::Remove(uint32_t r) {
  RelatedFlow& x = items_[r];
  if (!x.live) return kNone;
  SetFlow(r, kNone);
  auto it = by_master_.find(x.master);
  if (it != by_master_.end()) {
    auto& v = it->second;
    v.erase(std::remove(v.begin(), v.end(), r), v.end());
    if (v.empty()) by_master_.erase(it);
  }
  const uint32_t m = x.mapping;
  x = RelatedFlow{};
  free_.push_back(r);
  live_--;
  return m;
}

}  // namespace internal
}  // namespace unat
