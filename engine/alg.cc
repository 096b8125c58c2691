// The ALG payload editor (see engine/alg.h).
#include "engine/alg.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/emit.h"

namespace unat {
namespace internal {

namespace {

uint32_t Src(const uint8_t* ip) { return LoadBe32(ip + ipv4_field::kSrc); }
uint32_t Dst(const uint8_t* ip) { return LoadBe32(ip + ipv4_field::kDst); }

}  // namespace

// Delta for a sequence number in the sender's space: that of the newest
// point before it (a segment starting at a point's position is the one
// edited there, and so moves by the offset before it).
int32_t AlgEditor::Points::SeqOffset(uint32_t seq) const {
  for (int i = count - 1; i >= 0; --i) {
    if (SeqNum(seq) > SeqNum(pos[i])) return after[i];
  }
  return base;
}

// Delta for an acknowledgement (or SACK edge) of data the other side sent,
// given in the adjusted space: a point's position is compared in that space
// (with the offset before it).
int32_t AlgEditor::Points::AckOffset(uint32_t ack) const {
  for (int i = count - 1; i >= 0; --i) {
    const int32_t before = i > 0 ? after[i - 1] : base;
    if (SeqNum(ack) - before > SeqNum(pos[i])) return after[i];
  }
  return base;
}

void AlgEditor::Points::Add(uint32_t seq, int32_t delta) {
  const int32_t last = count > 0 ? after[count - 1] : base;
  if (count == kHistory) {
    base = after[0];
    for (int i = 1; i < kHistory; ++i) {
      pos[i - 1] = pos[i];
      after[i - 1] = after[i];
    }
    --count;
  }
  pos[count] = seq;
  after[count] = last + delta;
  ++count;
}

AlgEditor::SeqAdjDir AlgEditor::Points::Newest() const {
  if (count == 0) return {};
  return {pos[count - 1], count > 1 ? after[count - 2] : base, after[count - 1],
          true};
}

uint16_t AlgEditor::End(bool keep) {
  Packet* pkt = cur_.pkt;
  uint16_t segment = 0;
  if (cur_.seq_recorded && pkt != nullptr &&
      pkt->len == size_t{cur_.hl} + cur_.l4_hl) {
    // Every byte taken out (a helper holds them for later): an ACK of the
    // position it leaves covers them, so the point sits just before it.
    Points& d = seqadj_[cur_.flow].dir[static_cast<int>(cur_.from)];
    d.pos[d.count - 1] = cur_.seq - 1;
  }
  if (keep && pkt != nullptr) {
    uint8_t* l4 = pkt->data + cur_.hl;
    const uint16_t l4_len = static_cast<uint16_t>(pkt->len - cur_.hl);
    if (cur_.proto == kProtoTcp) {
      SeqAdj& adj = seqadj_[cur_.flow];
      ApplySeqAdj(adj, cur_.from, l4, l4_len);
      if (cur_.edited) {
        StoreTransportChecksum(Src(pkt->data), Dst(pkt->data), kProtoTcp,
                               {l4, l4_len});
      }
      Points& mine = adj.dir[static_cast<int>(cur_.from)];
      if (cur_.payload_in > mine.max_payload) {
        mine.max_payload = static_cast<uint16_t>(cur_.payload_in);
      }
      const uint32_t limit = std::max(mine.max_payload, kMinSegment);
      const uint32_t payload = l4_len - cur_.l4_hl;
      if (payload > cur_.payload_in && payload > limit + kGrowthSlack) {
        segment = static_cast<uint16_t>(limit);
      }
    } else if (cur_.edited && cur_.proto == kProtoUdp &&
               LoadBe16(l4 + l4_field::kUdpChecksum) != 0) {
      StoreTransportChecksum(Src(pkt->data), Dst(pkt->data), kProtoUdp,
                             {l4, l4_len});
    }
  }
  cur_ = Current{};
  return segment;
}

std::span<uint8_t> AlgEditor::Payload() const {
  if (cur_.pkt == nullptr) return {};
  const size_t start = size_t{cur_.hl} + cur_.l4_hl;
  if (start > cur_.pkt->len) return {};
  return {cur_.pkt->data + start, cur_.pkt->len - start};
}

size_t AlgEditor::PayloadCapacity() const {
  if (cur_.pkt == nullptr) return 0;
  const size_t start = size_t{cur_.hl} + cur_.l4_hl;
  const size_t cap = std::min<size_t>(cur_.pkt->capacity, 65535);
  return cap > start ? cap - start : 0;
}

std::string& AlgEditor::FlowState() {
  static std::string none;
  if (cur_.pkt == nullptr) {
    none.clear();
    return none;
  }
  return state_[cur_.flow];
}

absl::Status AlgEditor::Replace(size_t offset, size_t length,
                                std::string_view bytes) {
  if (cur_.pkt == nullptr) {
    return absl::FailedPreconditionError("ReplacePayload outside a helper");
  }
  Packet& pkt = *cur_.pkt;
  uint8_t* ip = pkt.data;
  uint8_t* l4 = pkt.data + cur_.hl;
  const uint16_t l4_len = static_cast<uint16_t>(pkt.len - cur_.hl);
  if (!cur_.checksum_checked) {
    // Never vouch for a segment that arrived corrupt: its checksum is
    // recomputed after the edit.
    const bool has_csum =
        cur_.proto == kProtoTcp || LoadBe16(l4 + l4_field::kUdpChecksum) != 0;
    if (has_csum &&
        TransportChecksum(Src(ip), Dst(ip), cur_.proto, {l4, l4_len}) != 0) {
      return absl::DataLossError("L4 checksum wrong: payload left alone");
    }
    cur_.checksum_checked = true;
  }
  const size_t payload_start = size_t{cur_.hl} + cur_.l4_hl;
  const size_t payload_len = pkt.len - payload_start;
  if (offset > payload_len || length > payload_len - offset) {
    return absl::OutOfRangeError(absl::StrCat("replace [", offset, ", +",
                                              length, ") beyond payload of ",
                                              payload_len));
  }
  const size_t new_len = pkt.len - length + bytes.size();
  if (new_len > 65535 || new_len > pkt.capacity) {
    return absl::ResourceExhaustedError(
        absl::StrCat("packet would grow to ", new_len, " bytes"));
  }
  uint8_t* at = pkt.data + payload_start + offset;
  const size_t tail = pkt.len - (payload_start + offset + length);
  std::memmove(at + bytes.size(), at + length, tail);
  if (!bytes.empty()) std::memcpy(at, bytes.data(), bytes.size());
  const int32_t delta =
      static_cast<int32_t>(bytes.size()) - static_cast<int32_t>(length);
  pkt.len = static_cast<uint32_t>(new_len);
  const uint16_t old_total = LoadBe16(ip + ipv4_field::kTotalLength);
  StoreBe16(ip + ipv4_field::kTotalLength, static_cast<uint16_t>(new_len));
  StoreBe16(ip + ipv4_field::kChecksum,
            ChecksumUpdate16(LoadBe16(ip + ipv4_field::kChecksum), old_total,
                             static_cast<uint16_t>(new_len)));
  if (cur_.proto == kProtoUdp) {
    StoreBe16(l4 + l4_field::kUdpLength,
              static_cast<uint16_t>(new_len - cur_.hl));
  }
  cur_.edited = true;
  if (cur_.proto == kProtoTcp && delta != 0) {
    Points& d = seqadj_[cur_.flow].dir[static_cast<int>(cur_.from)];
    const uint32_t seq = LoadBe32(l4 + l4_field::kTcpSeq);
    if (cur_.seq_recorded) {
      d.after[d.count - 1] += delta;  // a second edit in the same segment
    } else if (d.count == 0 || SeqNum(seq) > SeqNum(d.newest_seq)) {
      d.Add(seq, delta);
      d.newest_seq = seq;
      cur_.seq_recorded = true;
      cur_.seq = seq;
    }
    // Otherwise this is a retransmission of a segment already edited (or of
    // older data): its shift is already recorded and must not grow.
  }
  return absl::OkStatus();
}

void AlgEditor::ApplySeqAdj(const SeqAdj& adj, Side from, uint8_t* tcp,
                            uint16_t tcp_len) {
  const Points& mine = adj.dir[static_cast<int>(from)];
  const Points& other = adj.dir[1 - static_cast<int>(from)];
  if (mine.count == 0 && other.count == 0) return;  // nothing edited yet
  ChecksumDelta d;
  if (mine.count != 0) {
    const uint32_t seq = LoadBe32(tcp + l4_field::kTcpSeq);
    const uint32_t nseq = seq + static_cast<uint32_t>(mine.SeqOffset(seq));
    d.Replace32(seq, nseq);
    StoreBe32(tcp + l4_field::kTcpSeq, nseq);
  }
  if (other.count != 0) {
    if (tcp[l4_field::kTcpFlags] & tcp_flags::kAck) {
      const uint32_t ack = LoadBe32(tcp + l4_field::kTcpAck);
      const uint32_t nack = ack - static_cast<uint32_t>(other.AckOffset(ack));
      d.Replace32(ack, nack);
      StoreBe32(tcp + l4_field::kTcpAck, nack);
    }
    // SACK blocks (RFC 2018): edges in acknowledgement space.
    const TcpOptions options = TcpOptions::OfHeader({tcp, tcp_len});
    uint8_t* const option_bytes = tcp + l4_field::kTcpMinHeader;
    for (const TcpOption& o : options) {
      if (o.kind != tcp_option::kSack) continue;
      uint8_t* edge = option_bytes + o.offset + 2;
      for (size_t e = 0; e + 4 <= o.data.size(); e += 4, edge += 4) {
        const uint32_t v = LoadBe32(edge);
        const uint32_t nv = v - static_cast<uint32_t>(other.AckOffset(v));
        d.Replace32(v, nv);
        StoreBe32(edge, nv);
      }
    }
  }
  StoreBe16(tcp + l4_field::kTcpChecksum,
            d.Apply(LoadBe16(tcp + l4_field::kTcpChecksum)));
}

}  // namespace internal
}  // namespace unat
