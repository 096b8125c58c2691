#include "portmap/tcp_endpoint.h"

#include <algorithm>
#include <random>

#include "engine/checksum.h"

namespace unat::portmap {
namespace {

// The peer's MSS option, if any.
uint16_t ParseMss(const TcpOptions& opts) {
  for (const TcpOption& o : opts) {
    if (o.kind == tcp_option::kMss && o.data.size() == 2) {
      return LoadBe16(o.data.data());
    }
  }
  return 536;  // RFC 9293 3.7.1 default
}

}  // namespace

const char* TcpEndpointDropName(TcpEndpointDrop d) {
  switch (d) {
    case TcpEndpointDrop::kBadChecksum:
      return "bad_checksum";
    case TcpEndpointDrop::kNoSink:
      return "no_sink";
    case TcpEndpointDrop::kLimitTotal:
      return "limit_total";
    case TcpEndpointDrop::kLimitClient:
      return "limit_client";
    case TcpEndpointDrop::kReceiveLimit:
      return "receive_limit";
    case TcpEndpointDrop::kRetries:
      return "retries";
    case TcpEndpointDrop::kIdle:
      return "idle";
    case TcpEndpointDrop::kOutOfWindow:
      return "out_of_window";
    case TcpEndpointDrop::kEvicted:
      return "evicted";
    case TcpEndpointDrop::kLinger:
      return "linger";
    case TcpEndpointDrop::kProbation:
      return "probation";
    case TcpEndpointDrop::kCount:
      break;
  }
  return "?";
}

std::vector<uint8_t> BuildTcpSegment(uint32_t src, uint32_t dst,
                                     const TcpRepr& tcp,
                                     std::span<const uint8_t> payload) {
  const Ipv4Repr ip{.src = src,
                    .dst = dst,
                    .protocol = kProtoTcp,
                    .payload_length = static_cast<uint16_t>(
                        tcp.header_length() + payload.size()),
                    .dont_fragment = true};
  std::vector<uint8_t> b(ip.buffer_len());
  Emit(ip, b.data());
  Emit(tcp, ip, payload, b.data() + Ipv4Repr::kHeaderLength);
  return b;
}

TcpEndpoint::TcpEndpoint(TcpEndpointConfig config, TcpApp app, uint64_t seed)
    : config_(config),
      app_(std::move(app)),
      rng_state_(seed != 0 ? seed : std::random_device{}() | 1) {}

SeqNum TcpEndpoint::RandomIss() {
  // splitmix64
  uint64_t z = (rng_state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return SeqNum(static_cast<uint32_t>(z ^ (z >> 31)));
}

size_t TcpEndpoint::CountClient(NamespaceId ns, uint32_t peer) const {
  size_t n = 0;
  for (auto it = conns_.lower_bound({ns, peer, 0, 0});
       it != conns_.end() && std::get<0>(it->first) == ns &&
       std::get<1>(it->first) == peer;
       ++it) {
    if (it->second.time_wait_until == 0 && !it->second.info.active) ++n;
  }
  return n;
}

void TcpEndpoint::Probation(const TcpConnInfo& info, TimeMs now) {
  if (info.active) return;  // our own connection's trouble is not the peer's
  const std::pair<NamespaceId, uint32_t> key{info.ns, info.peer_addr};
  if (config_.max_probation == 0) return;
  if (probation_.size() >= config_.max_probation && !probation_.count(key)) {
    // Full: forget those who served their time, else the one due first.
    std::erase_if(probation_, [now](const auto& e) { return e.second <= now; });
    if (probation_.size() >= config_.max_probation) {
      probation_.erase(std::min_element(
          probation_.begin(), probation_.end(),
          [](const auto& a, const auto& b) { return a.second < b.second; }));
    }
  }
  probation_[key] = now + config_.probation_ms;
}

bool TcpEndpoint::OnProbation(NamespaceId ns, uint32_t peer, TimeMs now) const {
  auto it = probation_.find({ns, peer});
  return it != probation_.end() && now < it->second;
}

bool TcpEndpoint::EvictFor(PacketSink* sink, NamespaceId ns, uint32_t peer,
                           TimeMs now) {
  // Live connections per namespace and per client (the table is small:
  // max_connections live entries plus at most as many in TIME-WAIT).
  std::map<NamespaceId, size_t> per_ns;
  std::map<std::pair<NamespaceId, uint32_t>, size_t> per_client;
  for (const auto& [key, c] : conns_) {
    if (c.time_wait_until != 0) continue;
    per_ns[c.info.ns]++;
    per_client[{c.info.ns, c.info.peer_addr}]++;
  }
  const size_t mine = per_client[{ns, peer}];
  // The namespace to take from: the one holding the most, if it holds more
  // than the SYN's own; else the SYN's own (ties stay at home).
  NamespaceId from = ns;
  size_t most = per_ns[ns];
  for (const auto& [n, count] : per_ns) {
    if (count > most) {
      from = n;
      most = count;
    }
  }
  // Within it: a connection of a client on probation first, then of the
  // client holding the most; the one idle the longest. In the SYN's own
  // namespace the victim's client must be on probation or hold more than
  // the SYN's client.
  auto victim = conns_.end();
  bool victim_probation = false;
  size_t victim_count = 0;
  for (auto it = conns_.begin(); it != conns_.end(); ++it) {
    const Conn& c = it->second;
    if (c.time_wait_until != 0 || c.info.ns != from || c.info.active) {
      continue;
    }
    const size_t count = per_client[{c.info.ns, c.info.peer_addr}];
    const bool probation = OnProbation(c.info.ns, c.info.peer_addr, now);
    if (from == ns && !probation && count <= mine) continue;
    const bool better =
        victim == conns_.end() ||
        std::make_tuple(probation, count, victim->second.last_heard) >
            std::make_tuple(victim_probation, victim_count, c.last_heard);
    if (better) {
      victim = it;
      victim_probation = probation;
      victim_count = count;
    }
  }
  if (victim == conns_.end()) return false;
  stats_.drops[static_cast<int>(TcpEndpointDrop::kEvicted)]++;
  Probation(victim->second.info, now);
  Abort(sink, victim);
  return true;
}

void TcpEndpoint::Report(Conn& c) {
  if (!c.info.active || c.reported) return;
  c.reported = true;
  if (closed_) closed_(c.info);
}

void TcpEndpoint::Finish(std::map<Key, Conn>::iterator it, TimeMs now) {
  stats_.closed++;
  Report(it->second);
  if (config_.time_wait_ms == 0 || time_wait_ >= config_.max_connections) {
    conns_.erase(it);
    return;
  }
  it->second.time_wait_until = now + config_.time_wait_ms;
  it->second.rto_deadline = 0;
  it->second.tx.clear();
  it->second.rx.clear();
  time_wait_++;
}

TcpRepr TcpEndpoint::Segment(const Conn& c, SeqNum seq, SeqNum ack,
                             uint8_t flags, uint16_t window) {
  return TcpRepr{.src_port = c.info.local_port,
                 .dst_port = c.info.peer_port,
                 .seq = seq,
                 .ack = ack,
                 .flags = flags,
                 .window = window};
}

void TcpEndpoint::Send(PacketSink* sink, const Conn& c, SeqNum seq,
                       uint8_t flags, std::span<const uint8_t> payload) {
  if (sink == nullptr) return;
  auto seg = BuildTcpSegment(
      c.info.local_addr, c.info.peer_addr,
      Segment(c, seq, c.rcv_nxt, flags | tcp_flags::kAck, config_.window),
      payload);
  stats_.segments_out++;
  sink->Emit(Side::kInside, c.info.ns, seg);
}

void TcpEndpoint::SendSyn(PacketSink* sink, Conn& c) {
  if (sink == nullptr) return;
  uint8_t opts[4] = {tcp_option::kMss, 4, 0, 0};
  StoreBe16(opts + 2, config_.mss);
  const bool active = c.state == State::kSynSent;
  TcpRepr syn =
      Segment(c, c.iss, active ? SeqNum(0) : c.rcv_nxt,
              active ? tcp_flags::kSyn : tcp_flags::kSyn | tcp_flags::kAck,
              config_.window);
  syn.options = opts;
  auto seg = BuildTcpSegment(c.info.local_addr, c.info.peer_addr, syn);
  stats_.segments_out++;
  sink->Emit(Side::kInside, c.info.ns, seg);
}

bool TcpEndpoint::Connect(const TcpConnInfo& info, std::string request,
                          TimeMs now, PacketSink* sink) {
  if (sink == nullptr) return false;
  const Key key{info.ns, info.peer_addr, info.peer_port, info.local_port};
  if (auto it = conns_.find(key); it != conns_.end()) {
    if (it->second.time_wait_until == 0) return false;
    time_wait_--;  // our own TIME-WAIT on that pair: a new connection
    conns_.erase(it);
  }
  if (conns_.size() - time_wait_ >= config_.max_connections) return false;
  Conn c;
  c.info = info;
  c.info.active = true;
  c.state = State::kSynSent;
  c.iss = RandomIss();
  c.snd_una = c.iss;
  c.snd_nxt = c.iss + 1;
  c.snd_max = c.snd_nxt;
  c.tx = std::move(request);
  c.created = c.last_heard = now;
  c.rto_ms = config_.rto_ms;
  c.rto_deadline = now + c.rto_ms;
  stats_.opened++;
  auto [ins, ok] = conns_.emplace(key, std::move(c));
  SendSyn(sink, ins->second);
  return true;
}

void TcpEndpoint::SendReset(PacketSink* sink, NamespaceId ns,
                            const Ipv4View& ip, const L4View& l4,
                            uint32_t payload_len) {
  if (sink == nullptr) return;
  const uint8_t flags = l4.tcp_flags();
  if (flags & tcp_flags::kRst) return;  // never answer a RST
  auto seg = BuildTcpSegment(ip.dst(), ip.src(), ResetFor(l4, payload_len));
  stats_.resets_sent++;
  stats_.segments_out++;
  sink->Emit(Side::kInside, ns, seg);
}

void TcpEndpoint::Abort(PacketSink* sink, std::map<Key, Conn>::iterator it) {
  Conn& c = it->second;
  Report(c);
  if (c.time_wait_until != 0) time_wait_--;
  if (sink != nullptr) {
    auto seg = BuildTcpSegment(
        c.info.local_addr, c.info.peer_addr,
        Segment(c, c.snd_nxt, c.rcv_nxt, tcp_flags::kRst | tcp_flags::kAck, 0));
    stats_.resets_sent++;
    stats_.segments_out++;
    sink->Emit(Side::kInside, c.info.ns, seg);
  }
  conns_.erase(it);
}

void TcpEndpoint::Output(PacketSink* sink, Conn& c, TimeMs now) {
  if (c.state != State::kEstablished) return;
  const uint16_t mss =
      std::max<uint16_t>(64, std::min<uint16_t>(config_.mss, c.peer_mss));
  const uint32_t window = std::max<uint32_t>(c.peer_window, 1);
  bool sent = false;
  while (true) {
    const uint32_t offset =
        static_cast<uint32_t>(c.snd_nxt - c.snd_una);  // into tx
    const uint32_t in_flight = offset;
    if (offset < c.tx.size()) {
      if (in_flight >= window) break;
      const uint32_t room = window - in_flight;
      const uint32_t len = std::min<uint32_t>(
          {static_cast<uint32_t>(c.tx.size()) - offset, mss, room});
      const bool last = offset + len == c.tx.size();
      uint8_t flags = tcp_flags::kPsh;
      if (last && c.fin_queued) flags |= tcp_flags::kFin;
      Send(sink, c, c.snd_nxt, flags,
           std::span<const uint8_t>(
               reinterpret_cast<const uint8_t*>(c.tx.data()) + offset, len));
      c.snd_nxt += len;
      if (flags & tcp_flags::kFin) {
        c.snd_nxt += 1;
        c.fin_sent = true;
        c.fin_ever_sent = true;
      }
      sent = true;
      if (c.snd_max < c.snd_nxt) c.snd_max = c.snd_nxt;
      continue;
    }
    if (c.fin_queued && offset == c.tx.size() && !c.fin_sent) {
      Send(sink, c, c.snd_nxt, tcp_flags::kFin);
      c.snd_nxt += 1;
      c.fin_sent = true;
      c.fin_ever_sent = true;
      sent = true;
      if (c.snd_max < c.snd_nxt) c.snd_max = c.snd_nxt;
    }
    break;
  }
  if (sent && c.rto_deadline == 0) {
    c.rto_ms = config_.rto_ms;
    c.rto_deadline = now + c.rto_ms;
  }
}

void TcpEndpoint::RunApp(PacketSink* sink, Conn& c, bool timed_out,
                         TimeMs now) {
  if (c.app_done) return;
  TcpAppAction a = app_(c.info, c.rx, c.peer_fin, timed_out, now);
  if (a.abort) {
    c.app_done = true;
    c.fin_queued = false;
    c.tx.clear();
    c.rx.clear();
    return;  // the caller resets
  }
  const size_t room =
      config_.max_send > c.tx.size() ? config_.max_send - c.tx.size() : 0;
  if (a.send.size() > room) a.send.resize(room);
  c.tx += a.send;
  if (a.close || c.peer_fin) {
    c.app_done = true;
    c.fin_queued = true;
    c.rx.clear();
  }
  Output(sink, c, now);
}

void TcpEndpoint::OnSegment(const LocalContext& ctx, const Ipv4View& ip,
                            const L4View& l4) {
  stats_.segments_in++;
  PacketSink* sink = ctx.sink;
  if (sink == nullptr) {
    stats_.drops[static_cast<int>(TcpEndpointDrop::kNoSink)]++;
    return;
  }
  const std::span<const uint8_t> seg = ip.payload();
  if (TransportChecksum(ip.src(), ip.dst(), kProtoTcp, seg) != 0) {
    stats_.drops[static_cast<int>(TcpEndpointDrop::kBadChecksum)]++;
    return;
  }
  const uint16_t hl = l4.tcp_header_length();
  if (hl < l4_field::kTcpMinHeader || hl > seg.size()) return;
  const std::span<const uint8_t> payload = seg.subspan(hl);
  const uint8_t flags = l4.tcp_flags();
  const SeqNum seq(l4.tcp_seq());
  const Key key{ctx.ns, ip.src(), l4.src_port(), l4.dst_port()};
  auto it = conns_.find(key);
  if (it != conns_.end() && it->second.time_wait_until != 0) {
    Conn& c = it->second;
    if ((flags & tcp_flags::kSyn) && !(flags & tcp_flags::kAck)) {
      // A new connection on the same port pair (RFC 9293 3.10.7.4).
      time_wait_--;
      conns_.erase(it);
      it = conns_.end();
    } else {
      if ((flags & tcp_flags::kFin) && !(flags & tcp_flags::kRst)) {
        Send(sink, c, c.snd_nxt, 0);  // our ACK of its FIN was lost
      }
      if (flags & tcp_flags::kRst) {
        time_wait_--;
        conns_.erase(it);
      }
      return;
    }
  }

  if (it == conns_.end()) {
    if (flags & tcp_flags::kRst) return;
    const bool syn =
        (flags & (tcp_flags::kSyn | tcp_flags::kAck)) == tcp_flags::kSyn;
    const bool listening =
        listen_.empty() || std::find(listen_.begin(), listen_.end(),
                                     l4.dst_port()) != listen_.end();
    if (!syn || !listening) {
      SendReset(sink, ctx.ns, ip, l4, static_cast<uint32_t>(payload.size()));
      return;
    }
    if (CountClient(ctx.ns, ip.src()) >= config_.max_per_client) {
      stats_.drops[static_cast<int>(TcpEndpointDrop::kLimitClient)]++;
      SendReset(sink, ctx.ns, ip, l4, static_cast<uint32_t>(payload.size()));
      return;
    }
    if (conns_.size() - time_wait_ >= config_.max_connections) {
      if (OnProbation(ctx.ns, ip.src(), ctx.now)) {
        stats_.drops[static_cast<int>(TcpEndpointDrop::kProbation)]++;
        SendReset(sink, ctx.ns, ip, l4, static_cast<uint32_t>(payload.size()));
        return;
      }
      if (!EvictFor(sink, ctx.ns, ip.src(), ctx.now)) {
        stats_.drops[static_cast<int>(TcpEndpointDrop::kLimitTotal)]++;
        SendReset(sink, ctx.ns, ip, l4, static_cast<uint32_t>(payload.size()));
        return;
      }
    }
    Conn c;
    c.info = {ctx.ns, ctx.gateway, l4.dst_port(), ip.src(), l4.src_port()};
    c.iss = RandomIss();
    c.snd_una = c.iss;
    c.snd_nxt = c.iss + 1;
    c.rcv_nxt = seq + 1;  // data on a SYN is ignored (no TFO)
    c.peer_window = l4.tcp_window();
    c.peer_mss = ParseMss(l4.tcp_options());
    c.created = c.last_heard = ctx.now;
    c.rto_ms = config_.rto_ms;
    c.rto_deadline = ctx.now + c.rto_ms;
    stats_.accepted++;
    auto [ins, ok] = conns_.emplace(key, std::move(c));
    SendSyn(sink, ins->second);
    return;
  }

  Conn& c = it->second;
  if (c.state == State::kSynSent) {
    // Our SYN is out (RFC 9293 3.10.7.3): a RST acknowledging it refuses
    // the connection; a SYN-ACK for it establishes it; the rest is ignored
    // (a wrong ACK gets a RST).
    const bool ack_ok =
        (flags & tcp_flags::kAck) && SeqNum(l4.tcp_ack()) == c.iss + 1;
    if ((flags & tcp_flags::kAck) && !ack_ok) {
      if (!(flags & tcp_flags::kRst)) {
        SendReset(sink, ctx.ns, ip, l4, static_cast<uint32_t>(payload.size()));
      }
      return;
    }
    if (flags & tcp_flags::kRst) {
      if (ack_ok) {
        stats_.resets_received++;
        stats_.open_failed++;
        Report(c);
        conns_.erase(it);
      }
      return;
    }
    if (!(flags & tcp_flags::kSyn) || !ack_ok) return;
    c.state = State::kEstablished;
    c.rcv_nxt = seq + 1;
    c.snd_una = c.snd_nxt = c.snd_max = c.iss + 1;
    c.peer_window = l4.tcp_window();
    c.peer_mss = ParseMss(l4.tcp_options());
    c.last_heard = ctx.now;
    c.rto_deadline = 0;
    c.retries = 0;
    c.rto_ms = config_.rto_ms;
    Send(sink, c, c.snd_nxt, 0);  // the handshake's ACK
    Output(sink, c, ctx.now);     // then the request
    return;
  }
  if (flags & tcp_flags::kRst) {
    // RFC 5961 3.2: only an in-window RST is believed.
    if (seq == c.rcv_nxt ||
        (c.rcv_nxt <= seq && seq < c.rcv_nxt + config_.window)) {
      stats_.resets_received++;
      Report(c);
      conns_.erase(it);
    }
    return;
  }
  c.last_heard = ctx.now;
  if (flags & tcp_flags::kSyn) {
    if (c.state == State::kSynReceived && seq + 1 == c.rcv_nxt) {
      SendSyn(sink, c);  // our SYN-ACK was lost
    } else {
      Send(sink, c, c.snd_nxt, 0);  // challenge ACK (RFC 5961 4)
    }
    return;
  }
  if (!(flags & tcp_flags::kAck)) return;
  const SeqNum ack(l4.tcp_ack());
  if (c.state == State::kSynReceived) {
    if (ack != c.iss + 1) {
      SendReset(sink, ctx.ns, ip, l4, static_cast<uint32_t>(payload.size()));
      return;
    }
    c.state = State::kEstablished;
    c.snd_una = c.iss + 1;
    c.snd_nxt = c.snd_una;
    c.snd_max = c.snd_una;
    c.rto_deadline = 0;
    c.retries = 0;
  }
  // Acknowledgement of our data.
  if (c.snd_una < ack && ack <= c.snd_max) {
    const uint32_t acked = static_cast<uint32_t>(ack - c.snd_una);
    const uint32_t data_acked =
        std::min<uint32_t>(acked, static_cast<uint32_t>(c.tx.size()));
    c.tx.erase(0, data_acked);
    c.snd_una = ack;
    if (c.snd_nxt < ack) c.snd_nxt = ack;  // acked past a go-back-N
    if (c.fin_ever_sent && ack == c.snd_max) {
      c.fin_sent = true;
      if (c.fin_acked_at == 0) c.fin_acked_at = ctx.now;
    }
    c.retries = 0;
    c.rto_ms = config_.rto_ms;
    c.rto_deadline = c.snd_una == c.snd_max ? 0 : ctx.now + c.rto_ms;
  } else if (c.snd_max < ack) {
    Send(sink, c, c.snd_nxt, 0);  // acks what we never sent
    return;
  }
  c.peer_window = l4.tcp_window();

  // Incoming data and FIN, in order only.
  bool new_data = false;
  bool fin = (flags & tcp_flags::kFin) != 0;
  const uint32_t len = static_cast<uint32_t>(payload.size());
  if (len > 0 || fin) {
    if (seq <= c.rcv_nxt && c.rcv_nxt < seq + len + (fin ? 1 : 0)) {
      const uint32_t skip = static_cast<uint32_t>(c.rcv_nxt - seq);
      if (skip < len) {
        if (!c.app_done) {
          if (c.rx.size() + (len - skip) > config_.max_receive) {
            stats_.drops[static_cast<int>(TcpEndpointDrop::kReceiveLimit)]++;
            Probation(c.info, ctx.now);
            Abort(sink, it);
            return;
          }
          c.rx.append(reinterpret_cast<const char*>(payload.data()) + skip,
                      len - skip);
          new_data = true;
        }
        c.rcv_nxt += len - skip;
      }
      if (fin && c.rcv_nxt == seq + len && !c.peer_fin) {
        c.peer_fin = true;
        c.rcv_nxt += 1;
        new_data = true;
      }
    } else {
      stats_.drops[static_cast<int>(TcpEndpointDrop::kOutOfWindow)]++;
    }
    // Every data segment is acknowledged (duplicates and gaps too, so the
    // peer retransmits what is missing).
    if (new_data) RunApp(sink, c, false, ctx.now);
    if (c.app_done && c.tx.empty() && !c.fin_queued) {  // aborted by the app
      Abort(sink, it);
      return;
    }
    Send(sink, c, c.snd_nxt, 0);
  }
  Output(sink, c, ctx.now);
  // Done: both FINs exchanged and ours acknowledged.
  if (c.fin_sent && c.snd_una == c.snd_max && c.peer_fin) Finish(it, ctx.now);
}

void TcpEndpoint::Tick(TimeMs now, PacketSink* sink) {
  std::erase_if(probation_, [now](const auto& e) { return e.second <= now; });
  for (auto it = conns_.begin(); it != conns_.end();) {
    Conn& c = it->second;
    auto cur = it++;
    if (c.time_wait_until != 0) {
      if (now >= c.time_wait_until) {
        time_wait_--;
        conns_.erase(cur);
      }
      continue;
    }
    if (now >= c.last_heard + config_.idle_timeout_ms) {
      stats_.drops[static_cast<int>(TcpEndpointDrop::kIdle)]++;
      Probation(c.info, now);
      Abort(sink, cur);
      continue;
    }
    if (c.fin_sent && c.snd_una == c.snd_max) {
      // Our FIN was acknowledged but the peer keeps its side open
      // (FIN-WAIT-2): nothing to retransmit; wait for its FIN until the
      // linger time, however much it sends meanwhile.
      if (c.fin_acked_at != 0 && now >= c.fin_acked_at + config_.linger_ms) {
        stats_.drops[static_cast<int>(TcpEndpointDrop::kLinger)]++;
        Probation(c.info, now);
        Abort(sink, cur);
      }
      continue;
    }
    if (c.state == State::kEstablished && !c.app_done &&
        now >= c.created + config_.request_timeout_ms) {
      Probation(c.info, now);  // its request never came whole in time
      RunApp(sink, c, true, now);
      if (c.app_done && c.tx.empty() && !c.fin_queued) {
        Abort(sink, cur);
        continue;
      }
    }
    if (c.rto_deadline != 0 && now >= c.rto_deadline) {
      const uint32_t limit = c.state == State::kSynSent
                                 ? config_.max_syn_retries
                                 : config_.max_retries;
      if (++c.retries > limit) {
        stats_.drops[static_cast<int>(TcpEndpointDrop::kRetries)]++;
        if (c.state == State::kSynSent) stats_.open_failed++;
        Abort(sink, cur);
        continue;
      }
      stats_.retransmissions++;
      c.rto_ms = std::min(c.rto_ms * 2, config_.max_rto_ms);
      c.rto_deadline = now + c.rto_ms;
      if (c.state != State::kEstablished) {
        SendSyn(sink, c);
      } else {
        // Go back N: resend from the oldest unacknowledged byte.
        c.snd_nxt = c.snd_una;
        c.fin_sent = false;
        Output(sink, c, now);
      }
    }
  }
}

}  // namespace unat::portmap
