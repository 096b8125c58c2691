// A minimal TCP endpoint terminated by unat itself on a gateway address (the
// UPnP control port): no kernel socket. It answers SYNs on the ports it
// owns, keeps a small bounded table of connections, delivers the in-order
// byte stream to an application callback, sends the application's answer in
// MSS-sized segments within the peer's window, retransmits (go-back-N from
// the oldest unacknowledged byte, exponential back-off) from Tick(), and
// closes with FIN. Segments for unknown connections get a RST (RFC 9293
// 3.10.7.1), as do SYNs over the per-client limit, and SYNs finding the
// table full when no one holds more than their client (see below).
//
// Bounded: connections in total and per client, received bytes per
// connection, bytes queued to send, idle time, request time, retries, and
// the time the peer has to close after the answer.
//
// Active opens too (Connect(): GENA event delivery): unat sends a SYN from
// one of its ports, sends the given bytes once established, gives the
// answer to the same application callback (TcpConnInfo::active), and reports
// the end of the connection, however it ended, to the closed handler. Only
// ports given to Listen() accept SYNs (all owned ports if none is given).
// Active connections count against the total but not against their peer's
// share, and are never evicted.
//
// Fair when full: a SYN that finds the table full takes the place of a
// connection held by someone with more than its share (that connection is
// reset, counted as kEvicted), unless its own client is on probation.
//  - Probation: a client one of whose connections was evicted, or timed out
//    (request timeout, idle), or was reset for sending too much or not
//    closing, is on probation for `probation_ms` (a bounded table of
//    clients). Its SYNs take no one's place (RST, kProbation) and its
//    connections are the first to go.
//  - Namespaces first: if another namespace holds more connections than the
//    SYN's, the victim is in the namespace holding the most; otherwise it is
//    in the SYN's own namespace and belongs to a client on probation or to
//    one holding more connections than the SYN's client.
//  - Within the chosen namespace: a connection of a client on probation
//    before any other, then of the client holding the most, the one idle
//    the longest.
// When no connection qualifies the SYN is refused (RST, kLimitTotal). So a
// flood of slow requests cannot lock out another tenant at all, and from
// many addresses in one tenant it settles after one eviction per address:
// the flood's addresses are on probation, the table stops churning, and a
// newcomer gets in by displacing the flood's stalest connection.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "engine/emit.h"
#include "engine/helper.h"
#include "engine/types.h"
#include "engine/wire.h"

namespace unat::portmap {

struct TcpEndpointConfig {
  uint32_t max_connections = 64;
  uint32_t max_per_client = 8;
  // In-order bytes buffered for the application (beyond: RST).
  uint32_t max_receive = 72 * 1024;
  // Bytes the application may queue on one connection.
  uint32_t max_send = 256 * 1024;
  uint16_t mss = 1360;
  uint16_t window = 65535;  // advertised receive window
  uint32_t rto_ms = 400;    // first retransmission timeout, doubles
  uint32_t max_rto_ms = 4000;
  uint32_t max_retries = 7;
  // No segment from the peer for this long: RST and forget.
  uint32_t idle_timeout_ms = 30'000;
  // After both FINs, when unat closed first (kept short: nothing but FIN
  // retransmissions is answered).
  uint32_t time_wait_ms = 2'000;
  // The application must have answered within this (it is then asked with
  // timed_out = true and typically answers 408).
  uint32_t request_timeout_ms = 10'000;
  // After the application closed and the peer acknowledged everything
  // including our FIN, the peer has this long to close its side; bytes it
  // sends meanwhile are acknowledged and discarded (a lingering close, RFC
  // 9112 9.6, so that the answer is not lost to a RST). Then: RST. Bounds a
  // client that keeps sending, say, a huge body after its 413.
  uint32_t linger_ms = 5'000;
  // How long a client stays on probation (see the top), and how many
  // clients are remembered (beyond: the one due to leave first is dropped).
  uint32_t probation_ms = 10'000;
  uint32_t max_probation = 1024;
  // Active opens: SYN retransmissions before giving up.
  uint32_t max_syn_retries = 3;
};

struct TcpConnInfo {
  NamespaceId ns = kInvalidNamespace;
  uint32_t local_addr = 0;
  uint16_t local_port = 0;
  uint32_t peer_addr = 0;
  uint16_t peer_port = 0;
  bool active = false;  // opened by unat (Connect)
};

// What the application wants after seeing the received bytes.
struct TcpAppAction {
  std::string send;    // bytes to queue
  bool close = false;  // FIN after `send` (no more data will be read)
  bool abort = false;  // RST now
};

// Called when new in-order bytes arrived (`rx` holds every unconsumed byte:
// the application erases what it used), when the peer closed its side
// (peer_fin), or when the request timeout passed (timed_out). Not called
// again once the application asked to close.
using TcpApp =
    std::function<TcpAppAction(const TcpConnInfo& info, std::string& rx,
                               bool peer_fin, bool timed_out, TimeMs now)>;

enum class TcpEndpointDrop : uint8_t {
  kBadChecksum = 0,
  kNoSink,
  kLimitTotal,    // SYN refused (RST): table full of no bigger holders
  kLimitClient,   // SYN refused (RST): too many for this client
  kReceiveLimit,  // connection reset: the peer sent too much
  kRetries,       // connection reset: the peer stopped acknowledging
  kIdle,          // connection reset: idle
  kOutOfWindow,   // segment outside the window (answered with an ACK)
  kEvicted,       // connection reset: its place given to a smaller holder
  kLinger,        // connection reset: the peer did not close after the answer
  kProbation,     // SYN refused (RST): table full, the client on probation
  kCount
};
const char* TcpEndpointDropName(TcpEndpointDrop d);

struct TcpEndpointStats {
  uint64_t accepted = 0;
  uint64_t closed = 0;  // gracefully (FIN both ways, or FIN acked)
  uint64_t resets_sent = 0;
  uint64_t resets_received = 0;
  uint64_t segments_in = 0;
  uint64_t segments_out = 0;
  uint64_t retransmissions = 0;
  uint64_t opened = 0;       // active opens started
  uint64_t open_failed = 0;  // active opens refused or unanswered
  uint64_t drops[static_cast<int>(TcpEndpointDrop::kCount)] = {};
};

// Builds an IPv4 (TTL 64, DF) + TCP segment from src to dst, with both
// checksums.
std::vector<uint8_t> BuildTcpSegment(uint32_t src, uint32_t dst,
                                     const TcpRepr& tcp,
                                     std::span<const uint8_t> payload = {});

class TcpEndpoint {
 public:
  TcpEndpoint(TcpEndpointConfig config, TcpApp app, uint64_t seed = 0);

  // A TCP segment addressed to ctx.gateway on a port this endpoint owns.
  void OnSegment(const LocalContext& ctx, const Ipv4View& ip, const L4View& l4);
  // Retransmissions and timeouts.
  void Tick(TimeMs now, PacketSink* sink);

  // Accept SYNs on `port` (by default, on every port segments come for).
  void Listen(uint16_t port) { listen_.push_back(port); }
  // Opens a connection info.local_addr:local_port -> peer (info.active is
  // implied) and sends `request` once established. False (nothing sent) if
  // that connection exists or the table is full.
  bool Connect(const TcpConnInfo& info, std::string request, TimeMs now,
               PacketSink* sink);
  // Called once when an active connection is gone (closed, reset, timed
  // out, refused).
  using ClosedFn = std::function<void(const TcpConnInfo& info)>;
  void SetClosedHandler(ClosedFn fn) { closed_ = std::move(fn); }

  // Connections (TIME-WAIT excluded).
  size_t size() const { return conns_.size() - time_wait_; }
  // Clients remembered as on probation (some may have served their time).
  size_t probation_size() const { return probation_.size(); }
  const TcpEndpointStats& stats() const { return stats_; }
  const TcpEndpointConfig& config() const { return config_; }

 private:
  enum class State : uint8_t { kSynSent, kSynReceived, kEstablished };
  using Key = std::tuple<NamespaceId, uint32_t, uint16_t, uint16_t>;
  struct Conn {
    TcpConnInfo info;
    State state = State::kSynReceived;
    SeqNum iss{};
    SeqNum snd_una{};  // oldest unacknowledged
    SeqNum snd_nxt{};  // next to send
    SeqNum snd_max{};  // highest sequence sent so far
    bool fin_ever_sent = false;
    SeqNum rcv_nxt{};
    uint32_t peer_window = 0;
    uint16_t peer_mss = 536;
    // Bytes from snd_una (SYN excluded) not yet acknowledged or not sent.
    std::string tx;
    bool fin_queued = false;  // FIN after tx
    bool fin_sent = false;
    bool peer_fin = false;
    bool app_done = false;  // the application asked to close
    std::string rx;
    TimeMs created = 0;
    TimeMs last_heard = 0;
    TimeMs fin_acked_at = 0;  // our FIN acknowledged (FIN-WAIT-2 from then)
    TimeMs rto_deadline = 0;  // 0: no timer
    uint32_t rto_ms = 0;
    uint32_t retries = 0;
    // TIME-WAIT (we closed first): re-acknowledge a retransmitted FIN until
    // then; does not count against the limits.
    TimeMs time_wait_until = 0;
    bool reported = false;  // active: the closed handler was called
  };

  // A segment of connection c's, from unat's side.
  static TcpRepr Segment(const Conn& c, SeqNum seq, SeqNum ack, uint8_t flags,
                         uint16_t window);
  void Send(PacketSink* sink, const Conn& c, SeqNum seq, uint8_t flags,
            std::span<const uint8_t> payload = {});
  void SendReset(PacketSink* sink, NamespaceId ns, const Ipv4View& ip,
                 const L4View& l4, uint32_t payload_len);
  // Our SYN (active) or SYN-ACK (passive), with the MSS option.
  void SendSyn(PacketSink* sink, Conn& c);
  // An active connection ends: the closed handler, once.
  void Report(Conn& c);
  // Sends what the window allows from snd_nxt (data, then FIN).
  void Output(PacketSink* sink, Conn& c, TimeMs now);
  void RunApp(PacketSink* sink, Conn& c, bool timed_out, TimeMs now);
  void Abort(PacketSink* sink, std::map<Key, Conn>::iterator it);
  size_t CountClient(NamespaceId ns, uint32_t peer) const;
  // The table is full and a SYN from `peer` in `ns` arrived (not on
  // probation): resets the connection the fairness rule picks (see the top
  // of this file) and returns true, or returns false when none qualifies.
  bool EvictFor(PacketSink* sink, NamespaceId ns, uint32_t peer, TimeMs now);
  // Puts a client on probation until now + probation_ms.
  void Probation(const TcpConnInfo& info, TimeMs now);
  bool OnProbation(NamespaceId ns, uint32_t peer, TimeMs now) const;
  // Both FINs done: TIME-WAIT, or forget.
  void Finish(std::map<Key, Conn>::iterator it, TimeMs now);
  SeqNum RandomIss();

  TcpEndpointConfig config_;
  TcpApp app_;
  uint64_t rng_state_;
  std::map<Key, Conn> conns_;
  size_t time_wait_ = 0;  // entries of conns_ in TIME-WAIT
  // Clients on probation: until when.
  std::map<std::pair<NamespaceId, uint32_t>, TimeMs> probation_;
  std::vector<uint16_t> listen_;
  ClosedFn closed_;
  TcpEndpointStats stats_;
};

}  // namespace unat::portmap
