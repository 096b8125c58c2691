// TCP tracking (see engine/tcp_track.h).
#include "engine/tcp_track.h"

#include <algorithm>

#include "engine/l4proto.h"

namespace unat {
namespace internal {

bool RstAcceptable(const Flow& f, const TcpTrack& t, Side from,
                   const L4View& l4) {
  const int s = static_cast<int>(from);
  const int other = 1 - s;
  const uint8_t seen_from =
      from == Side::kInside ? kFlowSeenInside : kFlowSeenOutside;
  if (!(f.flags & seen_from)) {
    // Nothing seen from this side yet: only an answer to the other side's
    // SYN is believable: it must acknowledge exactly what was sent.
    return (l4.tcp_flags() & tcp_flags::kAck) && l4.tcp_ack() == t.end[other];
  }
  const uint32_t win = std::max<uint32_t>(t.win[other], 1);
  const uint32_t seq = l4.tcp_seq();
  const uint32_t expected = t.end[s];
  // Within the receiver's window around what the sender has sent so far.
  const SeqNum at(seq), lo(expected - win), hi(expected + win);
  return !(lo > at) && !(at > hi);
}

bool TrackTcp(Flow& f, TcpTrack& t, Side from, const L4View& l4,
              uint16_t payload_len, DropReason* why) {
  const uint8_t fl = l4.tcp_flags();
  const int s = static_cast<int>(from);
  if (fl & tcp_flags::kRst) {
    if (!RstAcceptable(f, t, from, l4)) {
      *why = DropReason::kTcpInvalidRst;
      return false;
    }
    f.set_state(TcpState::kClosed);
    return true;
  }
  const bool originator_side = (from == Side::kOutside) ==
                               static_cast<bool>(f.flags & kFlowInboundOrigin);
  const uint8_t seen_from =
      from == Side::kInside ? kFlowSeenInside : kFlowSeenOutside;
  const uint8_t seen_other =
      from == Side::kInside ? kFlowSeenOutside : kFlowSeenInside;
  // During the handshake only a segment that acknowledges exactly what the
  // other side has sent (its SYN, and any data after it) is believed, as a
  // TCP endpoint in SYN-RECEIVED accepts only such an ACK (RFC 9293
  // 3.10.7.4). Anything else -- a blind ACK or FIN that guesses at the
  // inside host's ISN, a SYN-ACK that acknowledges no SYN -- is passed to
  // the host to refuse, but neither moves the state (so it cannot complete
  // an inbound handshake and move the flow onto the host's budget) nor
  // teaches the tracker sequence numbers. An originator's SYN without ACK
  // (a retransmission) is the only segment believed without one.
  if (f.state() <= static_cast<uint8_t>(TcpState::kSynReceived) &&
      !((fl & tcp_flags::kSyn) && !(fl & tcp_flags::kAck) && originator_side)) {
    const int other = 1 - s;
    if (!(f.flags & seen_other) || !(fl & tcp_flags::kAck) ||
        l4.tcp_ack() != t.end[other]) {
      return true;
    }
  }
  // Window scale from SYN options (RFC 7323): kind 3, length 3.
  if (fl & tcp_flags::kSyn) {
    uint8_t scale = 15;
    for (const TcpOption& o : l4.tcp_options()) {
      if (o.kind == tcp_option::kWindowScale && o.data.size() == 1) {
        scale = std::min<uint8_t>(o.data[0], 14);
      }
    }
    const uint8_t shift = s == 0 ? 0 : 4;
    f.wscale =
        static_cast<uint8_t>((f.wscale & ~(0xf << shift)) | (scale << shift));
  }
  // Track the highest sequence end and window per side.
  const uint32_t end = l4.tcp_seq() + payload_len +
                       ((fl & tcp_flags::kSyn) ? 1 : 0) +
                       ((fl & tcp_flags::kFin) ? 1 : 0);
  if (!(f.flags & seen_from) || SeqNum(end) > SeqNum(t.end[s])) t.end[s] = end;
  f.flags |= seen_from;
  uint32_t win = l4.tcp_window();
  const uint8_t ws_in = f.wscale & 0xf, ws_out = f.wscale >> 4;
  if (!(fl & tcp_flags::kSyn) && ws_in != 15 && ws_out != 15) {
    win <<= (s == 0 ? ws_in : ws_out);
  }
  if (win > t.win[s]) t.win[s] = win;

  TcpState st = static_cast<TcpState>(f.state());
  switch (st) {
    case TcpState::kSynSent:
      if ((fl & tcp_flags::kSyn) && !originator_side) {
        st = TcpState::kSynReceived;
      }
      break;
    case TcpState::kSynReceived:
      if (originator_side && (fl & tcp_flags::kAck) &&
          !(fl & tcp_flags::kSyn)) {
        st = TcpState::kEstablished;
      }
      break;
    case TcpState::kEstablished:
      break;
    case TcpState::kFinWait:
    case TcpState::kClosing:
    case TcpState::kClosed:
      if ((fl & tcp_flags::kSyn) && !(fl & tcp_flags::kAck) &&
          originator_side) {
        // A new connection on the same 4-tuple (e.g. after TIME_WAIT).
        st = TcpState::kSynSent;
        f.flags &= static_cast<uint8_t>(~(kFlowSeenInside | kFlowSeenOutside));
        f.flags |= seen_from;
        // The new connection's sequence space: its SYN's, whatever the old
        // one had reached (a new ISN may well be below the old end).
        t.end[s] = end;
        t.win[s] = win;
        t.end[1 - s] = 0;
        t.win[1 - s] = 0;
      }
      break;
    default:
      break;
  }
  if (fl & tcp_flags::kFin) {
    const int fin_from = (f.flags & kFlowFinFromOutside) ? 1 : 0;
    if (st == TcpState::kFinWait && fin_from != s) {
      st = TcpState::kClosing;
    } else if (st != TcpState::kClosing && st != TcpState::kFinWait) {
      st = TcpState::kFinWait;
      f.flags = static_cast<uint8_t>(s ? f.flags | kFlowFinFromOutside
                                       : f.flags & ~kFlowFinFromOutside);
    }
  }
  f.set_state(st);
  return true;
}

// The TCP entry of the protocol table.
extern const L4Proto kTcpProto = {
    .number = kProtoTcp,
    .name = "tcp",
    .parse = L4View::Parse,
    .read_key = PortsKey,
    .rewrite = PortsEntryRewrite<kProtoTcp>,
    // A new connection starts with a SYN (nothing else makes state).
    .may_create =
        [](Side, const L4View& l4) {
          return (l4.tcp_flags() & (tcp_flags::kSyn | tcp_flags::kAck |
                                    tcp_flags::kRst)) == tcp_flags::kSyn;
        },
    .track = TrackTcp,
    .timeout = TcpTimeout,
    .not_created = DropReason::kTcpNotSyn,
    .inbound = true,
    .helpers = true,
};

}  // namespace internal
}  // namespace unat
