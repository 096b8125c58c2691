// Related flows a helper opens itself (PPTP: a call's GRE flow), rather
// than expecting them: the control connection names both keys, so the flow
// is made at once, before either side sends. Each belongs to its master
// flow (the control connection) and an inside key of the master's host:
// the helper reserves the key's external one first (the Call ID it
// rewrites in the call request), then opens the flow when the reply names
// the remote's key, and closes it when the call is cleared. Everything a
// master holds goes with it. The engine takes and releases the mapping
// references; this table only files them.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "engine/flow_table.h"
#include "engine/helper.h"

namespace unat {
namespace internal {

struct RelatedFlow {
  bool live = false;
  FlowId master = kInvalidFlow;
  uint8_t proto = 0;
  uint16_t in_port = 0;      // the inside host's key
  uint32_t mapping = kNone;  // held while reserved: the external key
  uint32_t flow = kNone;     // the open flow, kNone until opened
};

class RelatedTable {
 public:
  const RelatedFlow& operator[](uint32_t r) const { return items_[r]; }
  RelatedFlow& operator[](uint32_t r) { return items_[r]; }
  bool empty() const { return live_ == 0; }
  uint32_t live() const { return live_; }

  // The master's entry for (proto, in_port), or kNone.
  uint32_t Find(FlowId master, uint8_t proto, uint16_t in_port) const;
  uint32_t CountOf(FlowId master) const {
    auto it = by_master_.find(master);
    return it == by_master_.end() ? 0
                                  : static_cast<uint32_t>(it->second.size());
  }
  // A copy of the master's entries (the caller removes while walking).
  std::vector<uint32_t> OfMaster(FlowId master) const {
    auto it = by_master_.find(master);
    return it == by_master_.end() ? std::vector<uint32_t>{} : it->second;
  }
  // The entry whose open flow is `flow`, or kNone.
  uint32_t OfFlow(uint32_t flow) const {
    auto it = by_flow_.find(flow);
    return it == by_flow_.end() ? kNone : it->second;
  }

  uint32_t Add(FlowId master, uint8_t proto, uint16_t in_port,
               uint32_t mapping);
  // Files (or, with kNone, unfiles) the entry's open flow.
  void SetFlow(uint32_t r, uint32_t flow);
  // Unfiles an entry; the caller has closed its flow and releases the
  // mapping it returns.
  uint32_t Remove(uint32_t r);

 private:
  std::vector<RelatedFlow> items_;
  std::vector<uint32_t> free_;
  absl::flat_hash_map<FlowId, std::vector<uint32_t>> by_master_;
  absl::flat_hash_map<uint32_t, uint32_t> by_flow_;
  uint32_t live_ = 0;
};

}  // namespace internal
}  // namespace unat
