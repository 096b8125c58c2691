// The protocol table: what the engine knows of each IP protocol it tracks,
// in the spirit of netfilter's nf_conntrack_l4proto. The packet path reads
// a protocol's key, decides whether a packet may make a flow, rewrites the
// packet and times the flow through its entry; nothing outside an entry's
// file knows a protocol's header.
//
// Adding a protocol: one line in UNAT_TRACKED_PROTOCOLS (engine/types.h)
// and one file defining its entry `const L4Proto k<Name>Proto`.
//
// The established-flow fast path (engine/nat.cc) handles TCP and UDP with
// the same inline functions their entries use (PortsRewrite, TcpTimeout,
// UdpTimeout), so the two never differ; every other protocol takes the
// full path through its entry.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "engine/flow_table.h"
#include "engine/nat_config.h"
#include "engine/wire.h"

namespace unat {
namespace internal {

struct L4Proto {
  uint8_t number;
  const char* name;
  // Checks the L4 header of a packet (its bytes after the IP header) of
  // protocol `number` (passed as `protocol`), as L4View::Parse does for the
  // protocols wire.h knows; `first_fragment`: the datagram goes on in later
  // fragments.
  std::optional<L4View> (*parse)(uint8_t protocol, std::span<uint8_t> data,
                                 DropReason* why, bool first_fragment);
  // The flow key of a packet arriving from `from`: `ours` is the port (or
  // query id, or key) on the NAT's side of the flow, the inside endpoint's
  // for a packet from inside, the external endpoint's for one from
  // outside; `theirs` the remote's (0 where the protocol has none). An ICMP
  // error quotes a packet going the other way: its key is read with the
  // other side.
  void (*read_key)(Side from, const L4View& l4, uint16_t* ours,
                   uint16_t* theirs);
  // Rewrites the port on the NAT's side of a packet from `from` (source
  // from inside, destination from outside) to `port`, and its checksum for
  // that and for the address change old_addr -> new_addr of the same
  // endpoint when the checksum covers the IP addresses. Works on quoted
  // (truncated) headers too: a checksum that is not there is left alone.
  void (*rewrite)(const L4View& l4, Side from, uint32_t old_addr,
                  uint32_t new_addr, uint16_t port);
  // Whether a packet without a flow may make one (TCP: a SYN only).
  bool (*may_create)(Side from, const L4View& l4);
  // A packet of flow f from `from` with `payload_len` bytes of data: the
  // protocol's state machine. False: drop it (*why set), flow untouched.
  // Null: stateless.
  bool (*track)(Flow& f, TcpTrack& t, Side from, const L4View& l4,
                uint16_t payload_len, DropReason* why);
  // The idle timeout of a flow in its current state.
  uint32_t (*timeout)(const Flow& f, const Timeouts& t);
  // Why an outbound packet may_create refuses is dropped.
  DropReason not_created;
  // Outside packets may open flows through forwards and mappings (the
  // external "port" comes from the port pool), and those stay half-open
  // until the inside host answers.
  bool inbound;
  // ALG helpers may attach to its flows.
  bool helpers;
  // Helpers may open related flows of it (HelperContext::OpenRelated).
  bool related = false;
};

// The table, in the order of UNAT_TRACKED_PROTOCOLS (engine/l4proto.cc).
extern const L4Proto* const kL4ProtoTable[kNumProtos];

// The entry of a tracked protocol, or null.
inline const L4Proto* L4ProtoFor(uint8_t proto) {
  return IsTrackedProto(proto) ? kL4ProtoTable[ProtoIndex(proto)] : nullptr;
}

// ---- shared by the port-based protocols (TCP, UDP) ----

// The key of a TCP or UDP packet from `from`.
inline void PortsKey(Side from, const L4View& l4, uint16_t* ours,
                     uint16_t* theirs) {
  if (from == Side::kInside) {
    *ours = l4.src_port();
    *theirs = l4.dst_port();
  } else {
    *ours = l4.dst_port();
    *theirs = l4.src_port();
  }
}

// Source (from inside) or destination (from outside) port of a TCP or UDP
// header, with one incremental update of its checksum for the port and the
// pseudo-header address; UDP's checksum 0 ("none") stays 0 and a result of
// 0 becomes 0xffff. `csum_off`: the checksum's offset, 0 when absent.
__attribute__((always_inline)) inline void PortsRewrite(
    uint8_t* l4, bool source, uint16_t csum_off, bool udp, uint32_t old_addr,
    uint32_t new_addr, uint16_t new_port) {
  const uint16_t port_off = source ? l4_field::kSrcPort : l4_field::kDstPort;
  const uint16_t old_port = LoadBe16(l4 + port_off);
  StoreBe16(l4 + port_off, new_port);
  if (csum_off == 0) return;
  const uint16_t old_csum = LoadBe16(l4 + csum_off);
  if (udp && old_csum == 0) return;  // no checksum (RFC 768)
  ChecksumDelta d;
  d.Replace32(old_addr, new_addr);
  d.Replace16(old_port, new_port);
  uint16_t c = d.Apply(old_csum);
  if (udp && c == 0) c = 0xffff;
  StoreBe16(l4 + csum_off, c);
}

// The rewrite entry of a port-based protocol (TCP, UDP): its ports and
// checksum, wherever the checksum is present.
template <uint8_t kProto>
void PortsEntryRewrite(const L4View& l4, Side from, uint32_t old_addr,
                       uint32_t new_addr, uint16_t port) {
  PortsRewrite(l4.data(), from == Side::kInside, l4.ChecksumOffset(kProto),
               kProto == kProtoUdp, old_addr, new_addr, port);
}

inline uint32_t TcpTimeout(const Flow& f, const Timeouts& t) {
  if (f.state() == static_cast<uint8_t>(TcpState::kEstablished)) {
    return t.tcp_established_s;
  }
  if ((f.flags & kFlowInboundOrigin) &&
      f.state() <= static_cast<uint8_t>(TcpState::kSynReceived)) {
    return t.tcp_inbound_syn_s;  // unanswered inbound SYN
  }
  return t.tcp_transitory_s;
}

inline uint32_t UdpTimeout(const Flow& f, const Timeouts& t) {
  if ((f.flags & (kFlowInboundOrigin | kFlowSeenInside)) ==
      kFlowInboundOrigin) {
    return t.udp_inbound_unanswered_s;  // no reply yet
  }
  return t.udp_s;
}

}  // namespace internal
}  // namespace unat
