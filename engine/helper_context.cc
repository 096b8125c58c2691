// Helpers on the packet path: running a flow's PacketHelper through its
// HelperContext, and the expectations it registers.
#include "engine/helper_context.h"

#include <algorithm>

#include "engine/emit.h"
#include "engine/nat_impl.h"

namespace unat {
namespace internal {

absl::StatusOr<ExternalEndpoint> EngineHelperContext::Expect(
    const ExpectationSpec& spec) {
  return engine_.Expect(flow_, spec);
}
absl::StatusOr<ExternalEndpoint> EngineHelperContext::ExpectPair(
    const ExpectationSpec& spec) {
  return engine_.ExpectPair(flow_, spec);
}
uint32_t EngineHelperContext::Unexpect(uint8_t proto, uint16_t external_port) {
  return engine_.Unexpect(flow_, proto, external_port);
}
absl::Status EngineHelperContext::ExpectOutbound(uint8_t proto,
                                                 uint32_t remote_addr,
                                                 uint16_t remote_port,
                                                 uint32_t timeout_s,
                                                 PacketHelper* helper) {
  return engine_.ExpectOutbound(flow_, proto, remote_addr, remote_port,
                                timeout_s, helper);
}
absl::Status EngineHelperContext::HoldFlow(uint32_t seconds) {
  return engine_.HoldFlow(flow_, seconds);
}
absl::StatusOr<ExternalEndpoint> EngineHelperContext::ReserveRelated(
    uint8_t proto, uint16_t inside_port) {
  return engine_.ReserveRelated(flow_, proto, inside_port);
}
absl::StatusOr<FlowId> EngineHelperContext::OpenRelated(uint8_t proto,
                                                        uint16_t inside_port,
                                                        uint16_t remote_port) {
  return engine_.OpenRelated(flow_, proto, inside_port, remote_port);
}
bool EngineHelperContext::CloseRelated(uint8_t proto, uint16_t inside_port) {
  return engine_.CloseRelated(flow_, proto, inside_port);
}

}  // namespace internal

bool Nat::Impl::RunHelper(uint32_t idx, Side from, Packet& pkt, Ipv4View& ip,
                          L4View& l4, uint16_t* cut) {
  *cut = 0;
  const Flow& f = flows_[idx];
  if (f.helper == 0) return true;
  PacketHelper* h = helpers_[f.helper - 1];
  const FlowInfo info = Info(idx);
  alg_.Begin(
      idx, pkt, from, f.proto, ip.header_length(),
      f.proto == kProtoTcp ? l4.tcp_header_length() : l4_field::kUdpHeader);
  EngineHelperContext ctx(*this, alg_, idx, now_ms_);
  const bool ok = h->OnPacket(ctx, info, from, ip, l4);
  *cut = alg_.End(ok);
  return ok;
}

Verdict Nat::Impl::Resegment(Packet& pkt, Verdict v, uint16_t size) {
  uint8_t* const ip = pkt.data;
  const uint16_t hl = static_cast<uint16_t>((ip[0] & 0x0f) * 4);
  const uint16_t thl =
      static_cast<uint16_t>((ip[hl + l4_field::kTcpDataOff] >> 4) * 4);
  const uint32_t headers = uint32_t{hl} + thl;
  const uint16_t mtu = EgressMtu(v.out_side, v.out_ns);
  if (mtu > headers + 8) {
    size = static_cast<uint16_t>(std::min<uint32_t>(size, mtu - headers));
  }
  if (v.action != Verdict::kForward || pkt.len <= headers + size ||
      sink_ == nullptr) {
    return v;
  }
  if (scratch2_.size() < 65536) scratch2_.resize(65536);
  uint8_t* const out = scratch2_.data();
  const uint32_t payload = pkt.len - headers;
  const uint8_t flags = ip[hl + l4_field::kTcpFlags];
  // FIN and PSH go with the last byte (as TSO does).
  const uint8_t later_only = tcp_flags::kFin | tcp_flags::kPsh;
  uint16_t n = 0;
  for (uint32_t off = 0; off < payload; off += size, ++n) {
    const uint32_t chunk = std::min<uint32_t>(size, payload - off);
    const bool last = off + chunk == payload;
    const uint16_t total = CutSegment(
        ip, hl, thl, off, chunk, n,
        last ? flags : static_cast<uint8_t>(flags & ~later_only), out);
    sink_->Emit(v.out_side, v.out_ns, {out, total});
    stats_.segments_created++;
  }
  return Verdict{Verdict::kConsumed};
}

uint16_t Nat::Impl::CutSegment(const uint8_t* ip, uint32_t hl, uint32_t l4hl,
                               uint32_t off, uint32_t chunk, uint16_t n,
                               uint8_t tcp_flags, uint8_t* out) {
  const uint32_t headers = hl + l4hl;
  const uint8_t proto = ip[ipv4_field::kProtocol];
  std::copy(ip, ip + headers, out);
  std::copy(ip + headers + off, ip + headers + off + chunk, out + headers);
  const uint16_t total = static_cast<uint16_t>(headers + chunk);
  StoreBe16(out + ipv4_field::kTotalLength, total);
  StoreBe16(out + ipv4_field::kId,
            static_cast<uint16_t>(LoadBe16(ip + ipv4_field::kId) + n));
  StoreIpv4Checksum(out, static_cast<uint16_t>(hl));
  if (proto == kProtoTcp) {
    StoreBe32(out + hl + l4_field::kTcpSeq,
              LoadBe32(ip + hl + l4_field::kTcpSeq) + off);
    out[hl + l4_field::kTcpFlags] = tcp_flags;
  } else {
    StoreBe16(out + hl + 4, static_cast<uint16_t>(l4hl + chunk));  // UDP
  }
  StoreTransportChecksum(LoadBe32(ip + ipv4_field::kSrc),
                         LoadBe32(ip + ipv4_field::kDst), proto,
                         {out + hl, static_cast<size_t>(l4hl + chunk)});
  return total;
}

absl::Status Nat::Impl::PrepareExpectations(FlowId master,
                                            const ExpectationSpec& spec,
                                            uint32_t count,
                                            uint8_t* child_helper,
                                            uint32_t* timeout_s) {
  if (spec.proto != kProtoTcp && spec.proto != kProtoUdp) {
    return absl::InvalidArgumentError(
        absl::StrCat("expectation protocol ", spec.proto, " not TCP/UDP"));
  }
  const Flow& master_flow = flows_[master];
  const ExpectationPolicy policy =
      helpers_[master_flow.helper - 1]->expectation_policy();
  if (spec.remote_addr == 0 &&
      !(spec.allow_any_remote && policy.allow_any_remote)) {
    return absl::InvalidArgumentError(
        "expectation needs the remote address (no opening to any remote)");
  }
  if (policy.max_per_master != 0 && count > policy.max_per_master) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the helper allows ", policy.max_per_master, " expectations a flow"));
  }
  *child_helper = 0;
  if (spec.helper != nullptr) {
    *child_helper = HelperIndex(spec.helper);
    if (*child_helper == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("expectation helper ", std::string(spec.helper->name()),
                       " is not registered with this engine"));
    }
  }
  *timeout_s = std::min(spec.timeout_s, policy.max_timeout_s);
  if (spec.remote_addr == 0) {
    *timeout_s = std::min(*timeout_s, ExpectationSpec::kMaxAnyRemoteTimeoutS);
  }
  // Past the helper's limit the master's oldest go, as netfilter does past
  // max_expected.
  while (policy.max_per_master != 0 &&
         expects_.CountOf(master) + count > policy.max_per_master) {
    RemoveExpectation(expects_.OldestOf(master));
  }
  if (config_.limits.max_expectations != 0 &&
      expects_.live() + count > config_.limits.max_expectations) {
    return absl::ResourceExhaustedError("too many expectations");
  }
  return absl::OkStatus();
}

void Nat::Impl::AddExpectation(FlowId master, const ExpectationSpec& spec,
                               uint32_t m, uint8_t child_helper,
                               uint32_t timeout_s) {
  const Mapping& mp = mappings_[m];
  Expectation x;
  x.proto = spec.proto;
  x.ns = flows_[master].ns;
  x.rem_addr = spec.remote_addr;
  x.rem_port = spec.remote_port;
  x.ext_addr = mp.ext_addr;
  x.ext_port = mp.ext_port;
  x.mapping = m;
  x.master = master;
  x.helper = child_helper;
  x.expires = now_ms_ + uint64_t{timeout_s} * 1000;
  expects_.Add(x);
}

absl::Status Nat::Impl::ExpectOutbound(FlowId master, uint8_t proto,
                                       uint32_t remote_addr,
                                       uint16_t remote_port, uint32_t timeout_s,
                                       PacketHelper* helper) {
  const Flow& mf = flows_[master];
  if (mf.helper == 0) {
    return absl::FailedPreconditionError("the flow has no helper");
  }
  const uint8_t child_helper = helper != nullptr ? HelperIndex(helper) : 0;
  if (child_helper == 0) {
    return absl::InvalidArgumentError(
        "outbound expectation helper is not registered with this engine");
  }
  if (remote_addr == 0 || remote_port == 0) {
    return absl::InvalidArgumentError("outbound expectation needs the remote");
  }
  const ExpectationPolicy policy =
      helpers_[mf.helper - 1]->expectation_policy();
  timeout_s = std::min(timeout_s, policy.max_timeout_s);
  const OutboundKey key{mf.ns, proto, mf.in_addr, remote_addr, remote_port};
  if (out_expects_.size() >= kMaxOutboundExpects &&
      !out_expects_.contains(key)) {
    absl::erase_if(out_expects_, [this](const auto& e) {
      return e.second.expires <= now_ms_;
    });
    if (out_expects_.size() >= kMaxOutboundExpects) {
      return absl::ResourceExhaustedError("too many outbound expectations");
    }
  }
  out_expects_[key] = {child_helper, now_ms_ + uint64_t{timeout_s} * 1000};
  return absl::OkStatus();
}

uint8_t Nat::Impl::OutboundHelper(NamespaceId ns, uint8_t proto,
                                  uint32_t in_addr, uint32_t rem_addr,
                                  uint16_t rem_port) {
  auto it =
      out_expects_.find(OutboundKey{ns, proto, in_addr, rem_addr, rem_port});
  if (it == out_expects_.end()) return 0;
  const uint8_t helper = it->second.expires > now_ms_ ? it->second.helper : 0;
  out_expects_.erase(it);  // consumed by the first connection, or expired
  return helper;
}

absl::StatusOr<ExternalEndpoint> Nat::Impl::Expect(
    FlowId master, const ExpectationSpec& spec) {
  uint8_t child_helper;
  uint32_t timeout_s;
  if (absl::Status st =
          PrepareExpectations(master, spec, 1, &child_helper, &timeout_s);
      !st.ok()) {
    return st;
  }
  DropReason why = DropReason::kNone;
  const uint32_t m = GetOrCreateMapping(
      flows_[master].ns, spec.proto, spec.inside_addr, spec.inside_port, &why);
  if (m == kNone) {
    return absl::ResourceExhaustedError(
        absl::StrCat("no mapping for expectation: ", DropReasonName(why)));
  }
  AddExpectation(master, spec, m, child_helper, timeout_s);
  return ExternalEndpoint{mappings_[m].ext_addr, mappings_[m].ext_port};
}

absl::StatusOr<ExternalEndpoint> Nat::Impl::ExpectPair(
    FlowId master, const ExpectationSpec& spec) {
  uint8_t child_helper;
  uint32_t timeout_s;
  if (absl::Status st =
          PrepareExpectations(master, spec, 2, &child_helper, &timeout_s);
      !st.ok()) {
    return st;
  }
  const NamespaceId ns = flows_[master].ns;
  DropReason why = DropReason::kNone;
  uint32_t first = kNone, second = kNone;
  if (!mappings_.GetOrCreatePair(
          ns, spec.proto, spec.inside_addr, spec.inside_port,
          NamespacePortQuota(spec.proto), &first, &second, &why)) {
    return absl::ResourceExhaustedError(
        absl::StrCat("no even/odd external port pair: ", DropReasonName(why)));
  }
  AddExpectation(master, spec, first, child_helper, timeout_s);
  ExpectationSpec next = spec;
  if (next.remote_port != 0) next.remote_port++;
  AddExpectation(master, next, second, child_helper, timeout_s);
  return ExternalEndpoint{mappings_[first].ext_addr, mappings_[first].ext_port};
}

uint32_t Nat::Impl::Unexpect(FlowId master, uint8_t proto,
                             uint16_t external_port) {
  uint32_t n = 0;
  for (uint32_t e : expects_.OfMaster(master)) {
    const Expectation& x = expects_[e];
    if (x.live && x.proto == proto && x.ext_port == external_port) {
      RemoveExpectation(e);
      n++;
    }
  }
  return n;
}

absl::Status Nat::Impl::HoldFlow(FlowId flow, uint32_t seconds) {
  const Flow& f = flows_[flow];
  const uint32_t cap = helpers_[f.helper - 1]->expectation_policy().max_hold_s;
  if (cap == 0 && seconds != 0) {
    return absl::FailedPreconditionError("the helper may not hold its flows");
  }
  Pin(flow, std::min(seconds, cap));
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> Nat::Impl::RelatedEntry(FlowId master, uint8_t proto,
                                                 uint16_t in_port) {
  const L4Proto* ops = L4ProtoFor(proto);
  if (ops == nullptr || !ops->related) {
    return absl::InvalidArgumentError(absl::StrCat(
        "related flows of protocol ", proto, " are not supported"));
  }
  const Flow& mf = flows_[master];
  uint32_t r = related_.Find(master, proto, in_port);
  if (r == kNone) {
    const uint32_t cap =
        helpers_[mf.helper - 1]->expectation_policy().max_related_per_master;
    if (related_.CountOf(master) >= cap) {
      return absl::ResourceExhaustedError(
          absl::StrCat("the flow holds ", cap, " related flows already"));
    }
    DropReason why = DropReason::kNone;
    const uint32_t m =
        GetOrCreateMapping(mf.ns, proto, mf.in_addr, in_port, &why);
    if (m == kNone) {
      return absl::ResourceExhaustedError(
          absl::StrCat("no external key: ", DropReasonName(why)));
    }
    r = related_.Add(master, proto, in_port, m);
  }
  return r;
}

absl::StatusOr<ExternalEndpoint> Nat::Impl::ReserveRelated(FlowId master,
                                                           uint8_t proto,
                                                           uint16_t in_port) {
  auto r = RelatedEntry(master, proto, in_port);
  if (!r.ok()) return r.status();
  const Mapping& mp = mappings_[related_[*r].mapping];
  return ExternalEndpoint{mp.ext_addr, mp.ext_port};
}

absl::StatusOr<FlowId> Nat::Impl::OpenRelated(FlowId master, uint8_t proto,
                                              uint16_t in_port,
                                              uint16_t rem_port) {
  auto entry = RelatedEntry(master, proto, in_port);
  if (!entry.ok()) return entry.status();
  const uint32_t r = *entry;
  const uint32_t m = related_[r].mapping;  // the reserved external key
  const Mapping ext = mappings_[m];
  const Flow mf = flows_[master];
  if (const uint32_t open = related_[r].flow; open != kNone) {
    if (flows_[open].rem_port == rem_port) return open;
    DeleteFlow(open, false);
  }
  // Either key in another flow's use would corrupt the table.
  const bool half = HasHalfKeys(proto);
  auto taken = [this](uint32_t idx) {
    return idx != kNone && !ExpiredNow(idx);
  };
  if (taken(FindInside(mf.ns, proto, mf.in_addr, half ? 0 : in_port,
                       mf.rem_addr, rem_port)) ||
      taken(FindOutside(proto, ext.ext_addr, ext.ext_port, mf.rem_addr,
                        half ? 0 : rem_port))) {
    return absl::AlreadyExistsError(
        "another flow has that key between these hosts");
  }
  mappings_.Retain(m);  // the flow's own reference
  DropReason why = DropReason::kNone;
  Flow nf{};
  nf.in_addr = mf.in_addr;
  nf.in_port = in_port;
  nf.ext_addr = ext.ext_addr;
  nf.ext_port = ext.ext_port;
  nf.rem_addr = mf.rem_addr;
  nf.rem_port = rem_port;
  nf.ns = mf.ns;
  nf.proto = proto;
  nf.owner = m;
  const uint32_t idx = NewFlow(nf, &why);
  if (idx == kNone) {
    ReleaseMapping(m);
    return absl::ResourceExhaustedError(
        absl::StrCat("no flow: ", DropReasonName(why)));
  }
  related_.SetFlow(r, idx);
  stats_.related_opened++;
  return idx;
}

bool Nat::Impl::CloseRelated(FlowId master, uint8_t proto, uint16_t in_port) {
  const uint32_t r = related_.Find(master, proto, in_port);
  if (r == kNone) return false;
  RemoveRelated(r);
  return true;
}

void Nat::Impl::RemoveRelated(uint32_t r) {
  if (const uint32_t open = related_[r].flow; open != kNone) {
    DeleteFlow(open, false);
  }
  ReleaseMapping(related_.Remove(r));
}

}  // namespace unat
