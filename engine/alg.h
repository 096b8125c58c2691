// The ALG payload editor: a helper's view of the packet it handles (its L4
// payload), replacement of payload bytes with length changes (IP total
// length, UDP length, L4 checksum), and TCP sequence adjustment afterwards:
// per flow and direction one correction point {position, offset before,
// offset after}, as netfilter's nf_nat_helper + nf_conntrack_seqadj, so
// every later segment of the flow has SEQ shifted by its direction's offset
// and ACK/SACK edges by the other direction's. It also keeps each helper
// flow's scratch state.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "engine/types.h"

namespace unat {
namespace internal {

class AlgEditor {
 public:
  struct SeqAdjDir {
    uint32_t correction_pos = 0;
    int32_t offset_before = 0;
    int32_t offset_after = 0;
    bool set = false;
  };

  // Work on one packet of `flow`: `hl` its IP header length, `l4_hl` its
  // TCP or UDP header length. Until End(), Payload() and Replace() act on
  // it.
  void Begin(uint32_t flow, Packet& pkt, Side from, uint8_t proto, uint16_t hl,
             uint16_t l4_hl) {
    cur_ = Current{};
    cur_.flow = flow;
    cur_.pkt = &pkt;
    cur_.from = from;
    cur_.proto = proto;
    cur_.hl = hl;
    cur_.l4_hl = l4_hl;
  }
  // The helper is done with the packet (`keep`: it goes on): a TCP segment
  // gets the flow's sequence adjustment, an edited one its L4 checksum.
  void End(bool keep);

  std::span<uint8_t> Payload() const;
  // See HelperContext::ReplacePayload.
  absl::Status Replace(size_t offset, size_t length, std::string_view bytes);
  // The current flow's scratch state (an empty dummy outside a packet).
  std::string& FlowState();
  // The flow is gone: its adjustment and state with it.
  void Forget(uint32_t flow) {
    seqadj_.erase(flow);
    state_.erase(flow);
  }
  // For tests and stats: the adjustment recorded for data from `from`.
  SeqAdjDir Adjustment(uint32_t flow, Side from) const {
    auto it = seqadj_.find(flow);
    return it == seqadj_.end() ? SeqAdjDir{}
                               : it->second.dir[static_cast<int>(from)];
  }

 private:
  struct SeqAdj {
    SeqAdjDir dir[2];  // by the side the data comes from
  };
  // Shifts SEQ/ACK/SACK of a TCP segment of `flow` from `from`.
  void ApplySeqAdj(uint32_t flow, Side from, uint8_t* tcp, uint16_t tcp_len);

  absl::flat_hash_map<uint32_t, SeqAdj> seqadj_;
  absl::flat_hash_map<uint32_t, std::string> state_;
  // The packet being worked on.
  struct Current {
    uint32_t flow = 0xffffffff;
    Packet* pkt = nullptr;
    Side from = Side::kInside;
    uint8_t proto = 0;
    uint16_t hl = 0;     // IP header length
    uint16_t l4_hl = 0;  // TCP/UDP header length
    bool checksum_checked = false;
    bool edited = false;
    bool seq_recorded = false;
  } cur_;
};

}  // namespace internal
}  // namespace unat
