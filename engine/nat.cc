#include "engine/nat.h"

#include "engine/emit.h"
#include "engine/nat_impl.h"

namespace unat {

namespace {

// SSDP (UPnP discovery): the only multicast group a local helper may take.
constexpr uint32_t kSsdpGroup = 0xeffffffa;  // 239.255.255.250
constexpr uint16_t kSsdpPort = 1900;
}  // namespace

// ------------------------------------------------------------------------
// Flow table

uint32_t Nat::Impl::Timeout(const Flow& f) const {
  // TCP and UDP inline (the fast path's), any other through its entry.
  switch (f.proto) {
    case kProtoTcp:
      return TcpTimeout(f, config_.timeouts);
    case kProtoUdp:
      return UdpTimeout(f, config_.timeouts);
    default:
      return L4ProtoFor(f.proto)->timeout(f, config_.timeouts);
  }
}

uint32_t Nat::Impl::NewFlow(const Flow& proto_flow, DropReason* why,
                            bool half_open) {
  const Limits& lim = config_.limits;
  if (stats_.flows_total >= lim.max_flows) {
    *why = DropReason::kFlowLimit;
    return kNone;
  }
  NamespaceEntry& nse = namespaces_[proto_flow.ns];
  if (lim.max_flows_per_namespace != 0 &&
      nse.flows >= lim.max_flows_per_namespace) {
    *why = DropReason::kNamespaceFlowLimit;
    return kNone;
  }
  HostState& host = Host(proto_flow.ns, proto_flow.in_addr);
  if (!half_open && lim.max_flows_per_host != 0 &&
      host.flows >= lim.max_flows_per_host) {
    *why = DropReason::kHostFlowLimit;
    mappings_.MaybeDropHost(proto_flow.ns, proto_flow.in_addr);
    return kNone;
  }
  const uint32_t idx = flows_.Allocate();
  Flow& f = flows_[idx];
  f = proto_flow;
  f.flags |= kFlowLive;
  f.wscale = 0xff;
  f.expires_s = now_s_ + Timeout(f);
  if (half_open) {
    half_open_.Add(idx, f.owner);
  } else {
    host.flows++;
  }
  nse.flows++;
  stats_.flows_total++;
  stats_.flows_created++;
  flows_.Insert(idx);
  if (f.has_mapping()) filter_.FlowAdded(f.mapping(), f.rem_addr);
  return idx;
}
uint32_t Nat::Impl::NewOutboundFlow(NamespaceId ns, uint8_t proto,
                                    uint32_t in_addr, uint16_t in_port,
                                    uint32_t rem_addr, uint16_t rem_port,
                                    DropReason* why) {
  if (HasHalfKeys(proto) && in_port == 0 && rem_port == 0) {
    // No key to translate (plain GRE): no mapping, external key 0, so one
    // inside host per remote address at a time.
    if (config_.external_addresses.empty()) {
      *why = DropReason::kNoExternalAddress;
      return kNone;
    }
    Flow nf{};
    nf.in_addr = in_addr;
    nf.ext_addr = mappings_.PairedAddress(ns, in_addr);
    nf.rem_addr = rem_addr;
    nf.ns = ns;
    nf.proto = proto;
    nf.owner = kNone;
    const uint32_t other = FindOutside(proto, nf.ext_addr, 0, rem_addr, 0);
    if (other != kNone && !ExpiredNow(other)) {
      *why = DropReason::kGrePairBusy;
      mappings_.MaybeDropHost(ns, in_addr);
      return kNone;
    }
    return NewFlow(nf, why);
  }
  const uint32_t m = GetOrCreateMapping(ns, proto, in_addr, in_port, why);
  if (m == kNone) return kNone;
  Flow nf{};
  nf.in_addr = in_addr;
  nf.in_port = in_port;
  nf.ext_addr = mappings_[m].ext_addr;
  nf.ext_port = mappings_[m].ext_port;
  nf.rem_addr = rem_addr;
  nf.rem_port = rem_port;
  nf.ns = ns;
  nf.proto = proto;
  nf.set_state(TcpState::kSynSent);
  nf.owner = m;
  nf.helper = L4ProtoFor(proto)->helpers ? HelperFor(proto, rem_port) : 0;
  if (nf.helper == 0 && !out_expects_.empty()) {
    nf.helper = OutboundHelper(ns, proto, in_addr, rem_addr, rem_port);
  }
  const uint32_t idx = NewFlow(nf, why);
  if (idx == kNone) ReleaseMapping(m);
  return idx;
}

void Nat::Impl::DeleteFlow(uint32_t idx, bool expired) {
  Flow& f = flows_[idx];
  if (!f.live()) return;
  pinned_.erase(idx);
  if (f.helper) alg_.Forget(idx);
  for (uint32_t e : expects_.OfMaster(idx)) RemoveExpectation(e);
  if (!related_.empty()) {
    // A related flow closes in its entry; a master closes its entries.
    if (const uint32_t r = related_.OfFlow(idx); r != kNone) {
      related_.SetFlow(r, kNone);
    }
    for (uint32_t r : related_.OfMaster(idx)) RemoveRelated(r);
  }
  if (f.has_mapping()) {
    filter_.FlowRemoved(f.mapping(), f.rem_addr);
    ReleaseMapping(f.mapping());
  }
  // A half-open inbound flow never took a place in its host's budget.
  const bool was_half_open =
      (f.flags & kFlowInboundOrigin) && half_open_.Remove(idx);
  if (!was_half_open) {
    HostState& host = Host(f.ns, f.in_addr);
    if (host.flows) host.flows--;
  }
  mappings_.MaybeDropHost(f.ns, f.in_addr);
  namespaces_[f.ns].flows--;
  stats_.flows_total--;
  if (expired) stats_.flows_expired++;
  flows_.Remove(idx);
}

// ------------------------------------------------------------------------
// Mappings

uint32_t Nat::Impl::NamespacePortQuota(uint8_t proto) const {
  if (config_.limits.max_ports_per_namespace != 0) {
    return config_.limits.max_ports_per_namespace;
  }
  const uint32_t range =
      proto == kProtoIcmp
          ? uint32_t{config_.icmp_id_max} - config_.icmp_id_min + 1
          : uint32_t{config_.port_max} - config_.port_min + 1;
  const uint32_t pool =
      range * static_cast<uint32_t>(config_.external_addresses.size());
  return pool / std::max<uint32_t>(1, live_namespaces_);
}

void Nat::Impl::MakeRoomHalfOpen(uint32_t group) {
  const Limits& lim = config_.limits;
  for (;;) {
    const uint32_t victim = half_open_.Victim(
        group, lim.max_half_open_per_forward, lim.max_half_open);
    if (victim == kNone) break;
    stats_.half_open_evicted++;
    DeleteFlow(victim, false);
    half_open_.Remove(victim);  // (DeleteFlow did, for a live flow)
  }
}

// ------------------------------------------------------------------------
// Helpers

Verdict Nat::Impl::ResetFromGateway(Packet& pkt, const Ipv4View& ip,
                                    const L4View& l4, NamespaceId ns) {
  // RFC 9293 3.10.7.1: answer with the peer's ACK as our SEQ, or
  // acknowledge what it sent when it had no ACK.
  const TcpRepr rst =
      ResetFor(l4, static_cast<uint32_t>(ip.size() - ip.header_length() -
                                         l4.tcp_header_length()));
  const Ipv4Repr out{.src = namespaces_[ns].gateway,
                     .dst = ip.src(),
                     .protocol = kProtoTcp,
                     .payload_length = rst.header_length()};
  Emit(out, pkt.data);
  Emit(rst, out, {}, pkt.data + Ipv4Repr::kHeaderLength);
  pkt.len = static_cast<uint32_t>(out.buffer_len());
  return Verdict::Forward(Side::kInside, ns);
}

Verdict Nat::Impl::LocalInside(NamespaceId ns, Packet& pkt, Ipv4View& ip,
                               bool source_inside) {
  DropReason why = DropReason::kNone;
  auto l4 = L4View::Parse(ip.protocol(), ip.payload(), &why);
  if (!l4) return Drop(why);
  const auto helper =
      local_helpers_.find((uint32_t{ip.protocol()} << 16) | l4->dst_port());
  if (!source_inside &&
      (ip.protocol() == kProtoIcmp || helper == local_helpers_.end())) {
    // Only a helper answers a stranger, and only with a refusal.
    return Drop(DropReason::kSpoofedSource);
  }
  if (ip.protocol() == kProtoIcmp) {
    if (l4->icmp_type() == icmp_type::kEchoRequest) {
      Count(Side::kInside, ns, pkt.len);
      return EchoReply(pkt, ip, Side::kInside, ns);
    }
    return Drop(DropReason::kLocalNoHelper);
  }
  if (helper == local_helpers_.end()) {
    // Nothing listens there: say so, as a host would (never about a RST).
    if (ip.protocol() == kProtoTcp && !(l4->tcp_flags() & tcp_flags::kRst)) {
      Count(Side::kInside, ns, pkt.len);
      return ResetFromGateway(pkt, ip, *l4, ns);
    }
    if (ip.protocol() == kProtoUdp) {
      SendIcmpError(Side::kInside, ns, namespaces_[ns].gateway, ip,
                    icmp_type::kDestUnreachable, 3, 0);
    }
    return Drop(DropReason::kLocalNoHelper);
  }
  Count(Side::kInside, ns, pkt.len);
  LocalContext ctx{now_ms_, ns, namespaces_[ns].gateway, sink_, source_inside};
  helper->second->OnPacket(ctx, ip, *l4);
  return Verdict{Verdict::kConsumed};
}

// ------------------------------------------------------------------------
// Packet path

Verdict Nat::Impl::ProcessInside(NamespaceId ns, Packet& pkt, TimeMs now,
                                 bool first_fragment) {
  SetNow(now);
  if (ns >= namespaces_.size() || !namespaces_[ns].live) {
    return Drop(DropReason::kUnknownNamespace);
  }
  DropReason why = DropReason::kNone;
  auto ip = Ipv4View::Parse({pkt.data, pkt.len}, &why);
  if (!ip) return Drop(why);
  pkt.len = ip->size();  // drop link padding
  const NamespaceEntry& nse = namespaces_[ns];
  const uint32_t src = ip->src(), dst = ip->dst();
  if (IsUnusableSource(src) || ExternalIndex(src) >= 0 || src == nse.gateway) {
    return Drop(DropReason::kMartian);
  }
  // Reverse-path check: only the tenant's own addresses are translated. A
  // stranger may still ask the gateway's helpers, which refuse it.
  const bool source_inside = nse.Contains(src);
  if (dst == nse.gateway) {
    if (ip->is_fragment()) return Drop(DropReason::kFragment);
    return LocalInside(ns, pkt, *ip, source_inside);
  }
  if (!source_inside) return Drop(DropReason::kSpoofedSource);
  // SSDP M-SEARCH to 239.255.255.250:1900 goes to the UPnP helper when one
  // is registered for UDP 1900; it is never forwarded (else: martian).
  if (dst == kSsdpGroup && ip->protocol() == kProtoUdp && !ip->is_fragment() &&
      ip->payload().size() >= l4_field::kUdpHeader &&
      LoadBe16(ip->payload().data() + l4_field::kDstPort) == kSsdpPort &&
      local_helpers_.count((uint32_t{kProtoUdp} << 16) | kSsdpPort)) {
    return LocalInside(ns, pkt, *ip);
  }
  if (IsMulticastOrBroadcast(dst) || dst == 0 ||
      (nse.mask != 0xffffffff && (dst | nse.mask) == 0xffffffff &&
       (dst & nse.mask) == (nse.gateway & nse.mask))) {
    return Drop(DropReason::kMartian);
  }
  if (ip->ttl() <= 1) {
    SendIcmpError(Side::kInside, ns, nse.gateway, *ip, icmp_type::kTimeExceeded,
                  0, 0);
    return Drop(DropReason::kTtlExpired);
  }
  if (nse.IsLocalDestination(dst)) {
    // Another host of the same inside network (or of a routed prefix):
    // routed back in, untranslated (a NAT never sends a tenant's private
    // destinations to the outside).
    ip->DecrementTtl();
    Count(Side::kInside, ns, pkt.len);
    return Verdict::Forward(Side::kInside, ns);
  }
  if (ip->is_fragment() && !first_fragment) {
    return HandleFragment(Side::kInside, ns, pkt, *ip);
  }
  const uint8_t proto = ip->protocol();
  const L4Proto* ops = L4ProtoFor(proto);
  if (ops == nullptr) return Drop(DropReason::kUnsupportedProto);
  auto l4 = ops->parse(proto, ip->payload(), &why, first_fragment);
  if (!l4) return Drop(why);

  if (proto == kProtoIcmp) {
    const uint8_t type = l4->icmp_type();
    if (IsIcmpError(type)) {
      Verdict v = HandleIcmpError(Side::kInside, ns, *ip, *l4);
      if (v.action == Verdict::kForward) Count(Side::kInside, ns, pkt.len);
      return v;
    }
    if (!IsIcmpQueryRequest(type)) return Drop(DropReason::kIcmpUnsupported);
    if (type == icmp_type::kEchoRequest && ExternalIndex(dst) >= 0) {
      // A ping to the NAT's external address from inside: answer it here.
      Count(Side::kInside, ns, pkt.len);
      return EchoReply(pkt, *ip, Side::kInside, ns);
    }
  }
  uint16_t sport, dport;
  ops->read_key(Side::kInside, *l4, &sport, &dport);

  uint32_t idx = FindInside(ns, proto, src, sport, dst, dport);
  if (idx != kNone && ExpiredNow(idx)) idx = kNone;
  if (idx == kNone) {
    if (!ops->may_create(Side::kInside, *l4)) return Drop(ops->not_created);
    // A corrupt packet makes no state (conntrack's INVALID). The first
    // fragment alone cannot be checked; the datagram's end host will.
    if (!first_fragment && !L4ChecksumOk(*ip, *l4, proto)) {
      return Drop(DropReason::kBadL4Checksum);
    }
    idx = NewOutboundFlow(ns, proto, src, sport, dst, dport, &why);
    if (idx == kNone) return Drop(why);
  } else if (ops->track == nullptr &&
             (flows_[idx].flags & (kFlowInboundOrigin | kFlowSeenInside)) ==
                 kFlowInboundOrigin) {
    // The inside host answers an inbound flow of a stateless protocol: from
    // now on a flow of its own, on its budget, with the normal timeout.
    // (A tracked protocol's state machine says when: TCP's handshake.)
    flows_[idx].flags |= kFlowSeenInside;
    if (half_open_.Remove(idx)) Host(ns, src).flows++;
  }
  const bool to_hairpin = ExternalIndex(dst) >= 0;
  if (TooBigWithDf(*ip, Side::kInside, ns,
                   to_hairpin ? Side::kInside : Side::kOutside, ns)) {
    return Drop(DropReason::kNeedFragDf);
  }
  if (!AcceptAndRewrite<Side::kInside>(idx, proto, src, pkt.data, *l4,
                                       TcpPayload(*l4, proto), ip->size(),
                                       /*keep_ttl=*/false, &why)) {
    return Drop(why);
  }
  uint16_t cut = 0;
  if (!RunHelper(idx, Side::kInside, pkt, *ip, *l4, &cut)) {
    return Drop(DropReason::kHelperDrop);
  }
  Count(Side::kInside, ns, pkt.len);
  // Hairpin (RFC 4787 REQ-9, RFC 5382 REQ-8): back in from the outside,
  // with our external endpoint as the source.
  const Verdict v =
      to_hairpin ? ProcessOutside(pkt, now, /*hairpin=*/true, first_fragment)
                 : Verdict::Forward(Side::kOutside, kInvalidNamespace);
  // A first fragment holds only part of its segment: never cut.
  return cut != 0 && !first_fragment ? Resegment(pkt, v, cut) : v;
}
Verdict Nat::Impl::ProcessOutside(Packet& pkt, TimeMs now, bool hairpin,
                                  bool first_fragment) {
  SetNow(now);
  DropReason why = DropReason::kNone;
  auto ip = Ipv4View::Parse({pkt.data, pkt.len}, &why);
  if (!ip) return Drop(why);
  pkt.len = ip->size();
  const uint32_t src = ip->src(), dst = ip->dst();
  const int ext_index = ExternalIndex(dst);
  if (ext_index < 0) return Drop(DropReason::kMartian);
  if (!hairpin && (IsUnusableSource(src) || ExternalIndex(src) >= 0)) {
    return Drop(DropReason::kMartian);
  }
  if (!hairpin && ip->ttl() <= 1) {
    SendIcmpError(Side::kOutside, kInvalidNamespace, dst, *ip,
                  icmp_type::kTimeExceeded, 0, 0);
    return Drop(DropReason::kTtlExpired);
  }
  if (ip->is_fragment() && !first_fragment) {
    return HandleFragment(Side::kOutside, kInvalidNamespace, pkt, *ip);
  }
  const uint8_t proto = ip->protocol();
  const L4Proto* ops = L4ProtoFor(proto);
  if (ops == nullptr) return Drop(DropReason::kUnsupportedProto);
  auto l4 = ops->parse(proto, ip->payload(), &why, first_fragment);
  if (!l4) return Drop(why);

  if (proto == kProtoIcmp) {
    const uint8_t type = l4->icmp_type();
    if (IsIcmpError(type)) {
      Verdict v = HandleIcmpError(Side::kOutside, kInvalidNamespace, *ip, *l4);
      if (v.action == Verdict::kForward)
        Count(Side::kOutside, v.out_ns, pkt.len);
      return v;
    }
    if (type == icmp_type::kEchoRequest) {
      // Pings to the external address are answered by the NAT itself.
      Count(Side::kOutside, kInvalidNamespace, pkt.len);
      return EchoReply(pkt, *ip, Side::kOutside, kInvalidNamespace);
    }
    if (type != icmp_type::kEchoReply && type != icmp_type::kTimestampReply) {
      return Drop(DropReason::kIcmpUnsupported);
    }
  }
  // dport: the external port (or id) the packet is for; sport: the
  // remote's.
  uint16_t dport, sport;
  ops->read_key(Side::kOutside, *l4, &dport, &sport);

  uint32_t idx = FindOutside(proto, dst, dport, src, sport);
  if (idx != kNone && ExpiredNow(idx)) idx = kNone;
  if (idx == kNone) {
    // Only replies come in for a protocol without inbound flows (ICMP).
    if (!ops->inbound) return Drop(DropReason::kNoFlow);
    const uint32_t owner = mappings_.PortOwner(ext_index, proto, dport);
    if (owner == kPortFree) return Drop(DropReason::kNoFlow);
    Flow nf{};
    nf.ext_addr = dst;
    nf.ext_port = dport;
    nf.rem_addr = src;
    nf.rem_port = sport;
    nf.proto = proto;
    nf.set_state(TcpState::kSynSent);
    nf.flags = kFlowInboundOrigin;
    nf.owner = kNone;
    if (!ops->may_create(Side::kOutside, *l4)) {
      return Drop(owner & kPortForwardBit ? DropReason::kTcpNotSyn
                                          : DropReason::kNoFlow);
    }
    if (!first_fragment && !L4ChecksumOk(*ip, *l4, proto)) {
      return Drop(DropReason::kBadL4Checksum);
    }
    if (owner & kPortForwardBit) {
      const uint32_t fi = owner & ~kPortForwardBit;
      const ForwardSpec& fs = forwards_.spec(fi);
      if (fs.expires != 0 && fs.expires <= now_ms_) {
        return Drop(DropReason::kNoFlow);
      }
      if (!fs.enabled) return Drop(DropReason::kForwardDisabled);
      if (!ForwardTable::RemoteAllowed(fs, src, sport)) {
        return Drop(DropReason::kFiltered);
      }
      nf.ns = fs.ns;
      nf.in_addr = fs.inside_addr;
      nf.in_port = fs.inside_port;
      nf.owner = kOwnerForwardBit | fi;
      nf.helper = ops->helpers ? HelperFor(proto, fs.inside_port) : 0;
    } else {
      const Mapping& mp = mappings_[owner];
      const bool allowed =
          mp.state == MappingState::kLive && filter_.Allows(owner, src);
      uint32_t e = kNone;
      if (!allowed) {
        e = expects_.Match(proto, dst, dport, src, sport, now_ms_);
        if (e == kNone) {
          return Drop(mp.state == MappingState::kLive ? DropReason::kFiltered
                                                      : DropReason::kNoFlow);
        }
      }
      nf.ns = mp.ns;
      nf.in_addr = mp.in_addr;
      nf.in_port = mp.in_port;
      nf.owner = owner;
      mappings_.Retain(owner);  // the flow's reference
      if (e != kNone) {
        nf.helper = expects_[e].helper;
        RemoveExpectation(e);
      }
    }
    // An inside key clash (the host already talks to that remote from that
    // port) would corrupt the table: refuse instead.
    if (FindInside(nf.ns, proto, nf.in_addr, nf.in_port, src, sport) != kNone) {
      if (nf.has_mapping()) ReleaseMapping(nf.mapping());
      return Drop(DropReason::kFiltered);
    }
    // An inbound flow stays off its host's flow budget until it is answered
    // (TCP: the handshake completes; UDP: the host replies); the oldest
    // unanswered one makes way under a flood.
    MakeRoomHalfOpen(nf.owner);
    idx = NewFlow(nf, &why, /*half_open=*/true);
    if (idx == kNone) {
      if (nf.has_mapping()) ReleaseMapping(nf.mapping());
      return Drop(why);
    }
  }
  const NamespaceId to_ns = flows_[idx].ns;
  if (!hairpin && TooBigWithDf(*ip, Side::kOutside, kInvalidNamespace,
                               Side::kInside, to_ns)) {
    return Drop(DropReason::kNeedFragDf);
  }
  if (!AcceptAndRewrite<Side::kOutside>(idx, proto, dst, pkt.data, *l4,
                                        TcpPayload(*l4, proto), ip->size(),
                                        /*keep_ttl=*/hairpin, &why)) {
    return Drop(why);
  }
  uint16_t cut = 0;
  if (!RunHelper(idx, Side::kOutside, pkt, *ip, *l4, &cut)) {
    return Drop(DropReason::kHelperDrop);
  }
  Count(Side::kOutside, to_ns, pkt.len);
  const Verdict v = Verdict::Forward(Side::kInside, to_ns);
  return cut != 0 && !first_fragment ? Resegment(pkt, v, cut) : v;
}

template <Side kFrom>
__attribute__((always_inline)) inline bool Nat::Impl::AcceptAndRewrite(
    uint32_t idx, uint8_t proto, uint32_t old_addr, uint8_t* ip,
    const L4View& l4, uint16_t payload_len, uint16_t len, bool keep_ttl,
    DropReason* why) {
  Flow& f = flows_[idx];
  const L4Proto* ops = nullptr;  // TCP and UDP: inline
  if (proto == kProtoTcp) {
    if (!Track(idx, TrackTcp, kFrom, l4, payload_len, why)) return false;
  } else if (proto != kProtoUdp) {
    ops = L4ProtoFor(proto);
    if (ops->track && !Track(idx, ops->track, kFrom, l4, payload_len, why)) {
      return false;
    }
  }
  // The wheel refiles a flow lazily when its expiry moves later; one that
  // moves earlier (a connection closing: established -> transitory) must
  // be refiled now, or it waits for its old slot.
  const uint32_t expires = now_s_ + Timeout(f);
  const bool sooner = expires < f.expires_s;
  f.expires_s = expires;
  if (__builtin_expect(sooner, 0)) flows_.Refile(idx);
  constexpr int s = static_cast<int>(kFrom);
  f.packets[s] += segs_;
  f.bytes[s] += len;
  constexpr bool kSource = kFrom == Side::kInside;
  constexpr uint16_t addr_off = kSource ? ipv4_field::kSrc : ipv4_field::kDst;
  const uint32_t new_addr = kSource ? f.ext_addr : f.in_addr;
  const uint16_t new_port = kSource ? f.ext_port : f.in_port;
  // IPv4: the address and the TTL, one incremental checksum update.
  ChecksumDelta ipd;
  StoreBe32(ip + addr_off, new_addr);
  ipd.Replace32(old_addr, new_addr);
  if (!keep_ttl) {
    const uint16_t old_ttl = LoadBe16(ip + ipv4_field::kTtl);
    const uint16_t new_ttl = static_cast<uint16_t>(old_ttl - 0x100);
    StoreBe16(ip + ipv4_field::kTtl, new_ttl);
    ipd.Replace16(old_ttl, new_ttl);
  }
  StoreBe16(ip + ipv4_field::kChecksum,
            ipd.Apply(LoadBe16(ip + ipv4_field::kChecksum)));
  // L4: the port (or id) and the checksum.
  if (proto == kProtoTcp) {
    PortsRewrite(l4.data(), kSource, l4_field::kTcpChecksum, false, old_addr,
                 new_addr, new_port);
  } else if (proto == kProtoUdp) {
    PortsRewrite(l4.data(), kSource, l4_field::kUdpChecksum, true, old_addr,
                 new_addr, new_port);
  } else {
    ops->rewrite(l4, kFrom, old_addr, new_addr, new_port);
  }
  return true;
}

template <Side kSide>
__attribute__((always_inline)) inline uint64_t Nat::Impl::FastPath(
    NamespaceId ns, Packet& pkt, TimeMs now, const uint32_t* hash) {
  constexpr uint64_t kNotHere = kFastPathDeclined;
  SetNow(now);  // the full path starts the same way
  // Every packet enters here first: the full paths use these too.
  gso_wire_ = pkt.offload.gso_size == 0 ? 0 : GsoWire(pkt);
  segs_ = gso_wire_ == 0 ? 1 : SegmentsOf(pkt, gso_wire_);
  if constexpr (kSide == Side::kInside) {
    if (ns >= namespaces_.size() || !namespaces_[ns].live) return kNotHere;
  }
  uint8_t* d = pkt.data;
  // IPv4, no options, the whole datagram in the buffer, right checksum, not
  // a fragment, TTL left: everything Ipv4View::Parse checks, and no case
  // the full path treats specially.
  if (pkt.len < ipv4_field::kMinHeader + l4_field::kUdpHeader ||
      d[ipv4_field::kVerIhl] != 0x45) {
    return kNotHere;
  }
  const uint16_t total = LoadBe16(d + ipv4_field::kTotalLength);
  if (total > pkt.len ||
      total < ipv4_field::kMinHeader + l4_field::kUdpHeader) {
    return kNotHere;
  }
  {
    // Five 32-bit words summed in native order, folded in fixed steps.
    uint32_t w[5];
    std::memcpy(w, d, sizeof(w));
    uint64_t sum = uint64_t{w[0]} + w[1] + w[2] + w[3] + w[4];  // < 2^35
    sum = (sum & 0xffffffff) + (sum >> 32);                     // < 2^32 + 8
    sum = (sum & 0xffff) + (sum >> 16);                         // < 2^17 + 8
    sum = (sum & 0xffff) + (sum >> 16);                         // <= 0x10001
    sum = (sum & 0xffff) + (sum >> 16);
    if (sum != 0xffff) return kNotHere;
  }
  if ((LoadBe16(d + ipv4_field::kFragOff) & 0x3fff) != 0 ||
      d[ipv4_field::kTtl] <= 1) {
    return kNotHere;
  }
  const uint8_t proto = d[ipv4_field::kProtocol];
  const uint32_t src = LoadBe32(d + ipv4_field::kSrc);
  const uint32_t dst = LoadBe32(d + ipv4_field::kDst);
  if (IsUnusableSource(src) || ExternalIndex(src) >= 0) return kNotHere;
  if constexpr (kSide == Side::kInside) {
    const NamespaceEntry& nse = namespaces_[ns];
    // Martians, the gateway itself, SSDP, same-subnet and directed
    // broadcasts, hairpinning: all for the full path.
    if (src == nse.gateway || dst == nse.gateway ||
        IsMulticastOrBroadcast(dst) || dst == 0 ||
        (nse.mask != 0 && (dst & nse.mask) == (nse.gateway & nse.mask)) ||
        ExternalIndex(dst) >= 0) {
      return kNotHere;
    }
  }
  // L4 header, as L4View::Parse checks it.
  uint8_t* l4 = d + ipv4_field::kMinHeader;
  const uint16_t l4_len = static_cast<uint16_t>(total - ipv4_field::kMinHeader);
  uint16_t l4_size, payload;
  if (proto == kProtoUdp) {
    const uint16_t ulen = LoadBe16(l4 + l4_field::kUdpLength);
    if (ulen < l4_field::kUdpHeader || ulen > l4_len) return kNotHere;
    l4_size = ulen;
    payload = 0;
  } else if (proto == kProtoTcp) {
    if (l4_len < l4_field::kTcpMinHeader) return kNotHere;
    const uint16_t hl =
        static_cast<uint16_t>((l4[l4_field::kTcpDataOff] >> 4) * 4);
    if (hl < l4_field::kTcpMinHeader || hl > l4_len) return kNotHere;
    l4_size = l4_len;
    payload = static_cast<uint16_t>(l4_len - hl);
  } else {
    return kNotHere;
  }
  const uint16_t sport = LoadBe16(l4 + l4_field::kSrcPort);
  const uint16_t dport = LoadBe16(l4 + l4_field::kDstPort);
  uint32_t idx;
  if constexpr (kSide == Side::kInside) {
    const uint32_t h =
        hash ? *hash : flows_.InsideKeyHash(ns, proto, src, sport, dst, dport);
    idx = flows_.FindInside(h, ns, proto, src, sport, dst, dport);
    if (idx == kNone) return kNotHere;
  } else {
    // A flow's external address is always one of ours (the set cannot
    // change), so finding the flow settles the full path's martian check.
    const uint32_t h =
        hash ? *hash : flows_.OutsideKeyHash(proto, dst, dport, src, sport);
    idx = flows_.FindOutside(h, proto, dst, dport, src, sport);
    if (idx == kNone) return kNotHere;
  }
  Flow& f = flows_[idx];
  if (f.expires_s <= now_s_ || f.helper != 0) return kNotHere;
  if constexpr (kSide == Side::kInside) {
    // The first answer to an inbound UDP flow moves it onto its host's
    // budget: the full path's.
    if ((f.flags & (kFlowInboundOrigin | kFlowSeenInside)) ==
            kFlowInboundOrigin &&
        proto == kProtoUdp) {
      return kNotHere;
    }
  }
  const NamespaceId out_ns = kSide == Side::kInside ? kInvalidNamespace : f.ns;
  // Longer than the egress MTU: DF answers and fragmentation are the full
  // path's; when it fits, Finish() has nothing to do either.
  const uint32_t wire = WireSize(total);
  if (wire > EgressMtu(kSide == Side::kInside ? Side::kOutside : Side::kInside,
                       out_ns)) {
    return kNotHere;
  }
  pkt.len = total;  // drop link padding
  DropReason why = DropReason::kNone;
  if (!AcceptAndRewrite<kSide>(idx, proto, kSide == Side::kInside ? src : dst,
                               d, L4View::Validated(l4, l4_size), payload,
                               total, /*keep_ttl=*/false, &why)) {
    stats_.drops[static_cast<int>(why)]++;
    return VerdictBits(Verdict::kDrop, why, Side::kOutside, kInvalidNamespace);
  }
  if constexpr (kSide == Side::kInside) {
    Count(Side::kInside, ns, total);
    return VerdictBits(Verdict::kForward, DropReason::kNone, Side::kOutside,
                       kInvalidNamespace);
  } else {
    Count(Side::kOutside, f.ns, total);
    return VerdictBits(Verdict::kForward, DropReason::kNone, Side::kInside,
                       f.ns);
  }
}

template <Side kSide>
bool Nat::Impl::PeekHash(NamespaceId ns, const Packet& pkt,
                         uint32_t* hash) const {
  const uint8_t* d = pkt.data;
  if (pkt.len < 20) return false;
  const uint32_t hl = (d[0] & 0x0f) * 4u;
  const uint8_t proto = d[ipv4_field::kProtocol];
  const uint32_t src = LoadBe32(d + ipv4_field::kSrc);
  const uint32_t dst = LoadBe32(d + ipv4_field::kDst);
  if (pkt.len < hl + 8) return false;
  const uint8_t* l4 = d + hl;
  uint16_t sport, dport;
  if (proto == kProtoTcp || proto == kProtoUdp) {
    sport = LoadBe16(l4);
    dport = LoadBe16(l4 + 2);
  } else if (proto == kProtoIcmp) {
    const uint16_t id = LoadBe16(l4 + l4_field::kIcmpId);
    sport = kSide == Side::kInside ? id : 0;
    dport = kSide == Side::kInside ? 0 : id;
  } else {
    return false;
  }
  *hash = kSide == Side::kInside
              ? flows_.InsideKeyHash(ns, proto, src, sport, dst, dport)
              : flows_.OutsideKeyHash(proto, dst, dport, src, sport);
  return true;
}

template <Side kSide>
void Nat::Impl::ProcessBatch(NamespaceId ns, std::span<Packet> pkts,
                             Verdict* out, TimeMs now) {
  constexpr size_t kChunk = 16;
  for (size_t base = 0; base < pkts.size(); base += kChunk) {
    const size_t n = std::min(kChunk, pkts.size() - base);
    uint32_t hashes[kChunk];
    bool have[kChunk];
    for (size_t i = 0; i < n; ++i) {
      have[i] = PeekHash<kSide>(ns, pkts[base + i], &hashes[i]);
      if (have[i]) flows_.PrefetchIndex(hashes[i]);
    }
    for (size_t i = 0; i < n; ++i) {
      if (!have[i]) continue;
      // TCP sequence tracking lives apart from the flow.
      flows_.PrefetchFlow(
          hashes[i], pkts[base + i].data[ipv4_field::kProtocol] == kProtoTcp);
    }
    for (size_t i = 0; i < n; ++i) {
      Packet& p = pkts[base + i];
      const uint64_t v =
          FastPath<kSide>(ns, p, now, have[i] ? &hashes[i] : nullptr);
      if (v != kFastPathDeclined) {
        out[base + i] = VerdictFromBits(v);
        continue;
      }
      out[base + i] =
          kSide == Side::kInside ? FullInside(ns, p, now) : FullOutside(p, now);
    }
  }
}

// The full paths, out of line so that the fast path's return stays a
// register move.
// A CHECKSUM_PARTIAL packet (OffloadInfo::csum_partial) is made whole
// before the full path reads or edits it.
static void CompletePartialChecksum(Packet& p) {
  OffloadInfo& o = p.offload;
  o.csum_partial = false;
  const size_t start = o.csum_start;
  const size_t field = start + o.csum_offset;
  if (field + 2 > p.len || start >= p.len) return;  // nonsense: as it is
  uint16_t c = InternetChecksum({p.data + start, p.len - start});
  if (c == 0 && o.csum_offset == 6) c = 0xffff;  // UDP: 0 is "none"
  StoreBe16(p.data + field, c);
}

__attribute__((noinline)) Verdict Nat::Impl::FullInside(NamespaceId ns,
                                                        Packet& packet,
                                                        TimeMs now) {
  if (packet.offload.csum_partial && packet.offload.needs_csum) {
    CompletePartialChecksum(packet);
  }
  if (gso_wire_ != 0 && gso_wire_ < packet.len && sink_ != nullptr) {
    return SegmentGso<Side::kInside>(ns, packet, now);
  }
  return Finish(packet, ProcessInside(ns, packet, now));
}
__attribute__((noinline)) Verdict Nat::Impl::FullOutside(Packet& packet,
                                                         TimeMs now) {
  if (packet.offload.csum_partial && packet.offload.needs_csum) {
    CompletePartialChecksum(packet);
  }
  if (gso_wire_ != 0 && gso_wire_ < packet.len && sink_ != nullptr) {
    return SegmentGso<Side::kOutside>(kInvalidNamespace, packet, now);
  }
  return Finish(packet, ProcessOutside(packet, now, /*hairpin=*/false));
}

template <Side kSide>
Verdict Nat::Impl::SegmentGso(NamespaceId ns, Packet& pkt, TimeMs now) {
  gso_wire_ = 0;  // each segment is a plain packet
  segs_ = 1;
  const uint8_t* const ip = pkt.data;
  const uint32_t hl = uint32_t{ip[0] & 0x0fu} * 4;
  const uint8_t proto = ip[ipv4_field::kProtocol];
  const uint16_t total = LoadBe16(ip + ipv4_field::kTotalLength);
  const bool tcp = proto == kProtoTcp;
  const uint32_t l4hl =
      tcp ? static_cast<uint32_t>(ip[hl + l4_field::kTcpDataOff] >> 4) * 4
          : l4_field::kUdpHeader;
  const uint32_t headers = hl + l4hl;
  const uint32_t size = pkt.offload.gso_size;
  if ((ip[0] >> 4) != 4 || hl < 20 ||
      (proto != kProtoTcp && proto != kProtoUdp) || total > pkt.len ||
      total <= headers || l4hl < 8 || size == 0) {
    // Not a super-packet the kernel makes: the full path judges it whole.
    pkt.offload = OffloadInfo{};
    return Finish(pkt, kSide == Side::kInside
                           ? ProcessInside(ns, pkt, now)
                           : ProcessOutside(pkt, now, /*hairpin=*/false));
  }
  stats_.super_packets_segmented++;
  if (gso_seg_.size() < 65536) gso_seg_.resize(65536);
  uint8_t* const out = gso_seg_.data();
  const uint32_t payload = total - headers;
  const uint8_t flags = tcp ? ip[hl + l4_field::kTcpFlags] : 0;
  uint16_t n = 0;
  for (uint32_t off = 0; off < payload; off += size, ++n) {
    const uint32_t chunk = std::min(size, payload - off);
    const bool last = off + chunk == payload;
    // As the kernel cuts: CWR on the first only, FIN and PSH on the last.
    uint8_t f = flags;
    if (n != 0) f &= static_cast<uint8_t>(~0x80);  // CWR
    if (!last) f &= static_cast<uint8_t>(~(tcp_flags::kFin | tcp_flags::kPsh));
    const uint16_t len = CutSegment(ip, hl, l4hl, off, chunk, n, f, out);
    Packet seg;
    seg.data = out;
    seg.len = len;
    seg.capacity = static_cast<uint32_t>(gso_seg_.size());
    const Verdict v =
        Finish(seg, kSide == Side::kInside ? ProcessInside(ns, seg, now)
                                           : ProcessOutside(seg, now, false));
    if (v.action == Verdict::kForward) {
      sink_->Emit(v.out_side, v.out_ns, {seg.data, seg.len});
    }
  }
  return Verdict{Verdict::kConsumed};
}

Verdict Nat::ProcessInside(NamespaceId ns, Packet& packet, TimeMs now) {
  const uint64_t v = impl_->FastPath<Side::kInside>(ns, packet, now, nullptr);
  if (__builtin_expect(v != kFastPathDeclined, 1)) return VerdictFromBits(v);
  return impl_->FullInside(ns, packet, now);
}
Verdict Nat::ProcessOutside(Packet& packet, TimeMs now) {
  const uint64_t v =
      impl_->FastPath<Side::kOutside>(kInvalidNamespace, packet, now, nullptr);
  if (__builtin_expect(v != kFastPathDeclined, 1)) return VerdictFromBits(v);
  return impl_->FullOutside(packet, now);
}
void Nat::ProcessInsideBatch(NamespaceId ns, std::span<Packet> packets,
                             Verdict* verdicts, TimeMs now) {
  impl_->ProcessBatch<Side::kInside>(ns, packets, verdicts, now);
}
void Nat::ProcessOutsideBatch(std::span<Packet> packets, Verdict* verdicts,
                              TimeMs now) {
  impl_->ProcessBatch<Side::kOutside>(kInvalidNamespace, packets, verdicts,
                                      now);
}
}  // namespace unat
