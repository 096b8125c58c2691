// ICMP: the NAT's own errors and echo replies, and the translation of ICMP
// errors passing through, quoted headers included (RFC 5508).
#include "engine/icmp.h"

#include "engine/emit.h"
#include "engine/l4proto.h"
#include "engine/nat_impl.h"

namespace unat {

namespace internal {

bool MayAnswerWithIcmpError(const Ipv4View& ip) {
  if (ip.fragment_offset_bytes() != 0 || IsUnusableSource(ip.src()) ||
      IsMulticastOrBroadcast(ip.dst())) {
    return false;
  }
  if (ip.protocol() == kProtoIcmp) {
    const auto pl = ip.payload();
    if (pl.empty() || !IsIcmpQuery(pl[0])) return false;
  }
  return true;
}

uint16_t BuildIcmpError(uint32_t from_addr, const Ipv4View& ip, uint8_t type,
                        uint8_t code, uint32_t rest, uint8_t* buf) {
  const uint16_t quote = std::min<uint16_t>(ip.size(), kIcmpQuoteMax);
  const Ipv4Repr out{
      .src = from_addr,
      .dst = ip.src(),
      .protocol = kProtoIcmp,
      .payload_length = static_cast<uint16_t>(IcmpRepr::kHeaderLength + quote)};
  Emit(out, buf);
  Emit(IcmpRepr{type, code, rest}, {ip.data(), quote},
       buf + Ipv4Repr::kHeaderLength);
  return static_cast<uint16_t>(out.buffer_len());
}

// The ICMP entry of the protocol table: query messages (echo, timestamp),
// keyed by their identifier on both sides; only an inside request makes a
// flow. Errors are not flows: the packet path translates them on their own.
extern const L4Proto kIcmpProto = {
    .number = kProtoIcmp,
    .name = "icmp",
    .parse = L4View::Parse,
    .read_key =
        [](Side, const L4View& l4, uint16_t* ours, uint16_t* theirs) {
          *ours = l4.icmp_id();
          *theirs = 0;
        },
    .rewrite =
        [](const L4View& l4, Side, uint32_t, uint32_t, uint16_t port) {
          // The ICMP checksum has no pseudo header: only the id changes it.
          L4View v = l4;
          v.SetPort(l4_field::kIcmpId, port, l4_field::kIcmpChecksum, false);
        },
    .may_create =
        [](Side from, const L4View& l4) {
          return from == Side::kInside && IsIcmpQueryRequest(l4.icmp_type());
        },
    .track = nullptr,
    .timeout = [](const Flow&, const Timeouts& t) { return t.icmp_s; },
    .not_created = DropReason::kIcmpUnsupported,
    .inbound = false,
    .helpers = false,
};

}  // namespace internal

void Nat::Impl::SendIcmpError(Side side, NamespaceId ns, uint32_t from_addr,
                              const Ipv4View& ip, uint8_t type, uint8_t code,
                              uint32_t rest) {
  if (!MayAnswerWithIcmpError(ip) || sink_ == nullptr) return;
  if (!icmp_limiter_.Take(now_ms_, config_.icmp_errors_per_second,
                          config_.icmp_error_burst)) {
    stats_.icmp_errors_rate_limited++;
    return;
  }
  uint8_t buf[kIcmpErrorMax];
  const uint16_t total = BuildIcmpError(from_addr, ip, type, code, rest, buf);
  stats_.icmp_errors_sent++;
  sink_->Emit(side, ns, {buf, total});
}

Verdict Nat::Impl::EchoReply(Packet& pkt, Ipv4View& ip, Side side,
                             NamespaceId ns) {
  uint8_t* icmp = ip.data() + ip.header_length();
  const uint32_t src = ip.src(), dst = ip.dst();
  ip.set_src(dst);
  ip.set_dst(src);
  // Type 8 -> 0: the type/code word changes by 0x0800.
  const uint16_t old_word = LoadBe16(icmp);
  icmp[0] = icmp_type::kEchoReply;
  StoreBe16(icmp + 2,
            ChecksumUpdate16(LoadBe16(icmp + 2), old_word, LoadBe16(icmp)));
  // Fresh TTL for our own answer.
  const uint16_t old_ttl = LoadBe16(ip.data() + ipv4_field::kTtl);
  ip.data()[ipv4_field::kTtl] = 64;
  StoreBe16(ip.data() + ipv4_field::kChecksum,
            ChecksumUpdate16(ip.checksum(), old_ttl,
                             LoadBe16(ip.data() + ipv4_field::kTtl)));
  (void)pkt;
  return Verdict::Forward(side, ns);
}

Verdict Nat::Impl::HandleIcmpError(Side from, NamespaceId ns, Ipv4View& ip,
                                   L4View& l4) {
  // The whole ICMP message must check out before we vouch for it again.
  auto icmp = ip.payload();
  if (InternetChecksum(icmp) != 0) return Drop(DropReason::kBadL4Header);
  DropReason why = DropReason::kIcmpBadQuote;
  auto quoted_span = icmp.subspan(l4_field::kIcmpHeader);
  auto q = Ipv4View::ParseQuoted(quoted_span, &why);
  if (!q) return Drop(why);
  if (q->fragment_offset_bytes() != 0) return Drop(DropReason::kIcmpBadQuote);
  const uint8_t qproto = q->protocol();
  const L4Proto* ops = L4ProtoFor(qproto);
  if (ops == nullptr) return Drop(DropReason::kIcmpBadQuote);
  auto ql4 = L4View::ParseQuoted(q->payload());
  if (!ql4) return Drop(DropReason::kIcmpBadQuote);
  if (qproto == kProtoIcmp && !IsIcmpQuery(ql4->icmp_type())) {
    return Drop(DropReason::kIcmpBadQuote);  // an error about an error
  }
  // The quoted packet went the other way: an error from outside quotes one
  // we sent out (its source is our external endpoint), one from inside
  // quotes one we delivered in (its destination is the inside endpoint).
  const Side quoted_from =
      from == Side::kOutside ? Side::kInside : Side::kOutside;
  uint16_t ours, theirs;
  ops->read_key(quoted_from, *ql4, &ours, &theirs);
  uint32_t idx;
  if (from == Side::kOutside) {
    if (q->src() != ip.dst()) return Drop(DropReason::kIcmpNoFlow);
    idx = FindOutside(qproto, q->src(), ours, q->dst(), theirs);
  } else {
    idx = FindInside(ns, qproto, q->dst(), ours, q->src(), theirs);
  }
  if (idx == kNone || flows_[idx].expires_s <= now_s_) {
    return Drop(DropReason::kIcmpNoFlow);
  }
  const Flow& f = flows_[idx];
  // Rewrite the quoted header (its address, its port or id with the L4
  // checksum where quoted), then the outer header; recompute the ICMP
  // checksum over the message.
  NamespaceId out_ns = ns;
  Side out_side;
  if (from == Side::kOutside) {
    const uint32_t old_addr = q->src();
    q->set_src(f.in_addr);
    ops->rewrite(*ql4, quoted_from, old_addr, f.in_addr, f.in_port);
    ip.set_dst(f.in_addr);
    out_side = Side::kInside;
    out_ns = f.ns;
  } else {
    const uint32_t old_addr = q->dst();
    q->set_dst(f.ext_addr);
    ops->rewrite(*ql4, quoted_from, old_addr, f.ext_addr, f.ext_port);
    ip.set_src(f.ext_addr);
    out_side = Side::kOutside;
  }
  StoreBe16(icmp.data() + l4_field::kIcmpChecksum, 0);
  StoreBe16(icmp.data() + l4_field::kIcmpChecksum, InternetChecksum(icmp));
  (void)l4;
  ip.DecrementTtl();
  return Verdict::Forward(out_side, out_ns);
}

}  // namespace unat
