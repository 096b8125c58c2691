// TCP tracking: the connection state machine a flow follows, window-scale
// learning from SYN options, and the sequence window an RST must hit to be
// believed (RFC 5961 in spirit, as netfilter's nf_conntrack_proto_tcp).
//
// Pure functions of the flow record and its TcpTrack: no table, no clock.
#pragma once

#include <cstdint>

#include "engine/flow_table.h"
#include "engine/wire.h"

namespace unat {
namespace internal {

// Whether an RST from `from` falls in the window the other side would
// accept (or, before anything was seen from `from`, acknowledges exactly
// the other side's SYN).
bool RstAcceptable(const Flow& f, const TcpTrack& t, Side from,
                   const L4View& l4);

// One segment from `from` with `payload_len` bytes of data: moves the
// state, learns window scales and sequence ends. False (flow untouched but
// for nothing) when the segment is an RST outside the window: *why is set
// and the segment must be dropped.
bool TrackTcp(Flow& f, TcpTrack& t, Side from, const L4View& l4,
              uint16_t payload_len, DropReason* why);

// Whether a state change took an inbound flow past its handshake with the
// inside host's part in it: it is answered from then on (the engine moves
// it onto its host's budget). A RST from either side ends a handshake
// without completing it (the host's RST refusing a blind ACK whose guess
// fell in the window, say): that flow stays half-open and evictable.
inline bool HandshakeCompleted(const Flow& f, uint8_t state_before) {
  constexpr uint8_t kSynRecv = static_cast<uint8_t>(TcpState::kSynReceived);
  return (f.flags & kFlowInboundOrigin) && (f.flags & kFlowSeenInside) &&
         state_before <= kSynRecv && f.state() > kSynRecv &&
         f.state() != static_cast<uint8_t>(TcpState::kClosed);
}

}  // namespace internal
}  // namespace unat
