// The ALG payload editor: a helper's view of the packet it handles (its L4
// payload), replacement of payload bytes with length changes (IP total
// length, UDP length, L4 checksum), and TCP sequence adjustment afterwards:
// per flow and direction the correction points {position, offset after} of
// its last kHistory edited segments (netfilter's nf_nat_helper +
// nf_conntrack_seqadj keep one), so every later segment of the flow has SEQ
// shifted by its direction's offset and ACK/SACK edges by the other
// direction's, and a retransmission of any of those segments, or an ACK
// of data before them, by the offset its position had. It also keeps each
// helper flow's scratch state, and each direction's largest TCP payload,
// the size a grown segment is cut back to (Nat::Impl::Resegment).
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
  // The newest correction point of a direction.
  struct SeqAdjDir {
    uint32_t correction_pos = 0;
    int32_t offset_before = 0;
    int32_t offset_after = 0;
    bool set = false;
  };
  // Correction points kept a direction: a retransmission of a segment older
  // than the last kHistory edited ones gets the oldest's offset before.
  static constexpr int kHistory = 8;
  // The smallest size a grown segment is cut to (RFC 9293's default MSS).
  static constexpr uint16_t kMinSegment = 536;
  // Growth past the sender's size a segment may keep without being cut
  // (an address or two longer): what netfilter's helpers let through.
  static constexpr uint16_t kGrowthSlack = 64;

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
    const uint32_t start = uint32_t{hl} + l4_hl;
    cur_.payload_in = pkt.len > start ? pkt.len - start : 0;
  }
  // The helper is done with the packet (`keep`: it goes on): a TCP segment
  // gets the flow's sequence adjustment, an edited one its L4 checksum.
  // Returns, for a TCP segment an edit made longer than the largest payload
  // its sender has sent on the flow (or kMinSegment) by more than
  // kGrowthSlack, that size: the segment goes out cut into segments of at
  // most that many payload bytes. 0 otherwise.
  uint16_t End(bool keep);

  std::span<uint8_t> Payload() const;
  // See HelperContext::PayloadCapacity.
  size_t PayloadCapacity() const;
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
    return it == seqadj_.end()
               ? SeqAdjDir{}
               : it->second.dir[static_cast<int>(from)].Newest();
  }

 private:
  struct Points {
    // Oldest first: offset_after of point i holds past pos[i]; before the
    // first, base.
    uint32_t pos[kHistory] = {};
    int32_t after[kHistory] = {};
    int32_t base = 0;
    uint8_t count = 0;
    uint16_t max_payload = 0;  // the sender's largest TCP payload seen
    // The newest edited segment's SEQ (its point sits a byte before it
    // when all its bytes were taken out): a segment starting there again
    // is a retransmission, whatever it carries.
    uint32_t newest_seq = 0;
    int32_t SeqOffset(uint32_t seq) const;
    int32_t AckOffset(uint32_t ack) const;
    void Add(uint32_t seq, int32_t delta);
    SeqAdjDir Newest() const;
  };
  struct SeqAdj {
    Points dir[2];  // by the side the data comes from
  };
  // Shifts SEQ/ACK/SACK of a TCP segment from `from` by its flow's `adj`.
  void ApplySeqAdj(const SeqAdj& adj, Side from, uint8_t* tcp,
                   uint16_t tcp_len);

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
    uint32_t payload_in = 0;  // the payload length the packet came with
    uint32_t seq = 0;         // the segment's SEQ, when seq_recorded
  } cur_;
};

}  // namespace internal
}  // namespace unat
