// IPv4 fragments: virtual and full reassembly, egress MTU and fragmentation.
#include "engine/emit.h"
#include "engine/nat_impl.h"

namespace unat {

namespace {

// Minimum bytes of L4 header a first fragment must carry (RFC 1858: the
// whole header, so no later fragment can rewrite ports or flags).
uint16_t MinFirstFragment(uint8_t proto, const uint8_t* l4, uint16_t n) {
  switch (proto) {
    case kProtoTcp: {
      if (n < l4_field::kTcpMinHeader) return l4_field::kTcpMinHeader;
      const uint16_t hl =
          static_cast<uint16_t>((l4[l4_field::kTcpDataOff] >> 4) * 4);
      return std::max<uint16_t>(hl, l4_field::kTcpMinHeader);
    }
    case kProtoUdp:
      return l4_field::kUdpHeader;
    default:
      return l4_field::kIcmpHeader;
  }
}

// Length of the options a non-first fragment carries: only those with the
// "copied" bit (RFC 791), padded to a multiple of 4. Writes them to `out`.
uint16_t CopiedOptions(const uint8_t* opts, uint16_t n, uint8_t* out) {
  uint16_t w = 0;
  for (uint16_t i = 0; i < n;) {
    const uint8_t type = opts[i];
    if (type == 0) break;  // end of options
    if (type == 1) {       // no-op
      ++i;
      continue;
    }
    if (i + 1 >= n || opts[i + 1] < 2 || i + opts[i + 1] > n) break;
    const uint8_t len = opts[i + 1];
    if (type & 0x80) {
      std::copy(opts + i, opts + i + len, out + w);
      w = static_cast<uint16_t>(w + len);
    }
    i = static_cast<uint16_t>(i + len);
  }
  while (w % 4) out[w++] = 0;
  return w;
}

}  // namespace

bool Nat::Impl::AnswerTooBig(const Ipv4View& ip, Side from, NamespaceId ns,
                             Side to, NamespaceId to_ns) {
  const uint16_t mtu = EgressMtu(to, to_ns);
  const uint32_t own =
      from == Side::kInside ? namespaces_[ns].gateway : ip.dst();
  SendIcmpError(from, ns, own, ip, icmp_type::kDestUnreachable, 4, mtu);
  return true;
}

Verdict Nat::Impl::FinishOversize(Packet& pkt, Verdict v) {
  // DF packets were stopped before translation; what remains may be split.
  EmitEgress(v.out_side, v.out_ns, pkt.data, static_cast<uint16_t>(pkt.len));
  return Verdict{Verdict::kConsumed};
}

void Nat::Impl::EmitEgress(Side side, NamespaceId ns, uint8_t* data,
                           uint16_t len) {
  if (sink_ == nullptr) return;
  const uint16_t mtu = std::max<uint16_t>(EgressMtu(side, ns), 68);
  if (len <= mtu) {
    sink_->Emit(side, ns, {data, len});
    return;
  }
  const uint16_t hl = static_cast<uint16_t>((data[0] & 0x0f) * 4);
  const uint16_t frag = LoadBe16(data + ipv4_field::kFragOff);
  const uint32_t base = (frag & 0x1fff) * 8u;
  const bool last_mf = frag & 0x2000;
  const uint16_t payload = static_cast<uint16_t>(len - hl);
  if (scratch2_.size() < 65536) scratch2_.resize(65536);
  uint8_t* out = scratch2_.data();
  uint8_t later_opts[40];
  const uint16_t later_opt_len = CopiedOptions(
      data + ipv4_field::kMinHeader,
      static_cast<uint16_t>(hl - ipv4_field::kMinHeader), later_opts);
  uint16_t off = 0;
  bool first = true;
  while (off < payload) {
    const uint16_t this_hl =
        first ? hl
              : static_cast<uint16_t>(ipv4_field::kMinHeader + later_opt_len);
    uint16_t chunk = static_cast<uint16_t>(((mtu - this_hl) / 8) * 8);
    const bool last = off + chunk >= payload;
    if (last) chunk = static_cast<uint16_t>(payload - off);
    std::copy(data, data + ipv4_field::kMinHeader, out);
    if (first) {
      std::copy(data + ipv4_field::kMinHeader, data + hl,
                out + ipv4_field::kMinHeader);
    } else {
      std::copy(later_opts, later_opts + later_opt_len,
                out + ipv4_field::kMinHeader);
    }
    out[0] = static_cast<uint8_t>(0x40 | (this_hl / 4));
    const uint16_t total = static_cast<uint16_t>(this_hl + chunk);
    StoreBe16(out + ipv4_field::kTotalLength, total);
    const bool mf = last ? last_mf : true;
    StoreBe16(out + ipv4_field::kFragOff,
              static_cast<uint16_t>((mf ? 0x2000 : 0) | ((base + off) / 8)));
    StoreIpv4Checksum(out, this_hl);
    std::copy(data + hl + off, data + hl + off + chunk, out + this_hl);
    sink_->Emit(side, ns, {out, total});
    stats_.fragments_created++;
    off = static_cast<uint16_t>(off + chunk);
    first = false;
  }
}

// Virtual mode: the first fragment was translated; send what waited for it.
void Nat::Impl::ReleaseHeld(uint32_t e) {
  std::vector<HeldFragment> held = frags_.TakeHeld(e);
  const FragEntry& x = frags_[e];
  for (HeldFragment& h : held) {
    auto ip = Ipv4View::Parse(h.bytes, nullptr);
    if (!ip) {  // checked on arrival; still, never lose count of one
      stats_.drops[static_cast<int>(DropReason::kFragMalformed)]++;
      stats_.fragments_dropped++;
      continue;
    }
    ip->set_src(x.new_src);
    ip->set_dst(x.new_dst);
    ip->DecrementTtl();
    Count(x.side, x.verdict.out_side == Side::kInside ? x.verdict.out_ns : x.ns,
          ip->size());
    stats_.fragments_forwarded++;
    EmitEgress(x.verdict.out_side, x.verdict.out_ns, h.bytes.data(),
               ip->size());
  }
}

void Nat::Impl::ExpireFragments() {
  frags_.Expire(now_ms_, [this](uint32_t e) {
    const FragEntry& x = frags_[e];
    if (!x.full) return;
    // RFC 792: time exceeded (reassembly) when the first fragment is held.
    for (const HeldFragment& h : x.held) {
      if (h.offset != 0) continue;
      std::vector<uint8_t> copy = h.bytes;
      auto ip = Ipv4View::Parse(copy, nullptr);
      if (!ip) break;
      const uint32_t own =
          x.side == Side::kInside ? namespaces_[x.ns].gateway : ip->dst();
      SendIcmpError(x.side, x.ns, own, *ip, icmp_type::kTimeExceeded, 1, 0);
      break;
    }
  });
}

Verdict Nat::Impl::HandleFragment(Side side, NamespaceId ns, Packet& pkt,
                                  Ipv4View& ip) {
  // Accounting (docs/architecture.md): every fragment that enters here is,
  // in the end, exactly one of forwarded (fragments_forwarded), merged into
  // a rebuilt datagram (fragments_reassembled), dropped with a reason
  // (fragments_dropped, and drops[reason]) or still held.
  stats_.fragments_in++;
  const FragmentConfig& fc = config_.fragments;
  const uint16_t hl = ip.header_length();
  const uint16_t len = static_cast<uint16_t>(ip.size() - hl);
  const uint16_t offset = ip.fragment_offset_bytes();
  const bool mf = ip.more_fragments();
  const FragKey key{ip.src(), ip.dst(), ip.id(),
                    side == Side::kInside ? ns : kOutsideKeyNs, ip.protocol()};
  // A fragment no datagram can be made of drops its whole datagram: what is
  // held goes now (not at the timeout), and what follows is refused.
  DropReason bad = DropReason::kNone;
  if (uint32_t{hl} + offset + len > 65535) {
    bad = DropReason::kFragOversize;
  } else if (len == 0 || (mf && len % 8 != 0)) {
    bad = DropReason::kFragMalformed;
  } else if (offset == 0 &&
             len < MinFirstFragment(ip.protocol(), ip.data() + hl, len)) {
    bad = DropReason::kFragTinyFirst;
  }
  DropReason why = DropReason::kNone;
  if (bad != DropReason::kNone) {
    const uint32_t e = frags_.FindOrAdd(key, side, ns, now_ms_, &why);
    if (e != kNone && frags_[e].state != FragState::kDropped) {
      frags_.Poison(e, bad);
    }
    return FragDrop(bad);
  }
  const uint32_t e = frags_.FindOrAdd(key, side, ns, now_ms_, &why);
  if (e == kNone) return FragDrop(why);
  FragEntry& x = frags_[e];
  if (x.state == FragState::kDropped) {
    return FragDrop(DropReason::kFragDatagramDropped);
  }
  // Overlaps drop the whole datagram; exact duplicates are retransmissions.
  const uint16_t end = static_cast<uint16_t>(offset + len);
  bool duplicate = false;
  for (auto [b, en] : x.ranges) {
    if (b == offset && en == end) {
      duplicate = true;
      break;
    }
    if (offset < en && b < end) {
      frags_.Poison(e, DropReason::kFragOverlap);
      return FragDrop(DropReason::kFragOverlap);
    }
  }
  // Data past the end, or two different ends: inconsistent lengths.
  bool inconsistent = x.total != 0 && end > x.total;
  if (!mf && !duplicate) {
    if (x.total != 0) inconsistent = true;
    for (auto [b, en] : x.ranges) inconsistent |= en > end;
  }
  if (inconsistent) {
    frags_.Poison(e, DropReason::kFragOverlap);
    return FragDrop(DropReason::kFragOverlap);
  }
  if (duplicate) {
    // A later copy of a fragment already sent on passes as that one did
    // (the receiver keeps one); the first fragment is the exception: it
    // was translated through the flow once, and a copy of it is counted
    // and dropped rather than sent on past the flow's checks.
    if (x.state == FragState::kTranslated && !x.full && offset != 0) {
      ip.set_src(x.new_src);
      ip.set_dst(x.new_dst);
      ip.DecrementTtl();
      Count(side, x.verdict.out_side == Side::kInside ? x.verdict.out_ns : ns,
            pkt.len);
      stats_.fragments_forwarded++;
      return x.verdict;
    }
    return FragDrop(DropReason::kFragDuplicate);
  }
  if (x.ranges.size() >= fc.max_fragments_per_datagram) {
    frags_.Poison(e, DropReason::kFragFragmentLimit);
    return FragDrop(DropReason::kFragFragmentLimit);
  }
  x.ranges.emplace_back(offset, end);
  x.covered += len;
  if (!mf) x.total = end;

  if (!x.full && x.state == FragState::kWaiting && offset == 0) {
    // The first fragment carries the ports: does the flow want payload?
    const uint8_t* l4 = ip.data() + hl;
    const L4Proto* ops = L4ProtoFor(ip.protocol());
    if (ops != nullptr && ops->helpers &&
        (HelperFor(ip.protocol(), LoadBe16(l4 + 2)) ||
         HelperFor(ip.protocol(), LoadBe16(l4)))) {
      x.full = true;
    }
  }

  if (!x.full) {
    if (x.state == FragState::kTranslated) {
      ip.set_src(x.new_src);
      ip.set_dst(x.new_dst);
      ip.DecrementTtl();
      Count(side, x.verdict.out_side == Side::kInside ? x.verdict.out_ns : ns,
            pkt.len);
      stats_.fragments_forwarded++;
      const Verdict v = x.verdict;
      if (x.total != 0 && x.covered == x.total) {
        frags_.Free(e, DropReason::kFragDatagramDropped);
      }
      return v;
    }
    if (offset == 0) {
      const Verdict v =
          side == Side::kInside
              ? ProcessInside(ns, pkt, now_ms_, /*first_fragment=*/true)
              : ProcessOutside(pkt, now_ms_, false, /*first_fragment=*/true);
      FragEntry& y = frags_[e];  // ProcessInside may grow frags_? (no)
      if (v.action != Verdict::kForward) {
        // Dropped: counted under its own reason by the translation path.
        if (v.action == Verdict::kDrop) stats_.fragments_dropped++;
        if (v.action == Verdict::kConsumed) stats_.fragments_forwarded++;
        frags_.Poison(e, DropReason::kFragDatagramDropped);
        return v;
      }
      y.state = FragState::kTranslated;
      y.verdict = v;
      y.new_src = LoadBe32(pkt.data + ipv4_field::kSrc);
      y.new_dst = LoadBe32(pkt.data + ipv4_field::kDst);
      stats_.fragments_forwarded++;
      ReleaseHeld(e);
      if (y.total != 0 && y.covered == y.total) {
        frags_.Free(e, DropReason::kFragDatagramDropped);
      }
      return v;
    }
  }

  // Hold it (virtual mode before the first fragment; full mode always).
  // Over the memory cap, older datagrams give way first.
  while (
      frags_.bytes_held() + ip.size() > fc.max_bytes &&
      frags_.EvictOldest(kInvalidNamespace, e, DropReason::kFragMemoryLimit)) {
  }
  if (frags_.bytes_held() + ip.size() > fc.max_bytes) {
    frags_.Poison(e, DropReason::kFragMemoryLimit);
    return FragDrop(DropReason::kFragMemoryLimit);
  }
  frags_.Hold(e, {ip.data(), ip.size()}, offset, len);
  if (!x.full || x.total == 0 || x.covered != x.total) {
    return Verdict{Verdict::kConsumed};
  }

  // Full reassembly: every byte is here. Rebuild, translate once, send.
  const HeldFragment* first = nullptr;
  for (const HeldFragment& h : x.held) {
    if (h.offset == 0) first = &h;
  }
  if (first == nullptr) {  // cannot happen: covered == total
    // This fragment is held too: Free counts it with the others.
    frags_.Free(e, DropReason::kFragMalformed);
    return Verdict::Drop(DropReason::kFragMalformed);
  }
  const uint32_t datagram_total = x.total;
  const std::vector<HeldFragment> held = frags_.TakeHeld(e);
  first = nullptr;
  for (const HeldFragment& h : held) {
    if (h.offset == 0) first = &h;
  }
  const uint16_t fhl = static_cast<uint16_t>((first->bytes[0] & 0x0f) * 4);
  const uint32_t total_len = fhl + datagram_total;
  if (scratch_.size() < 65536) scratch_.resize(65536);
  uint8_t* d = scratch_.data();
  std::copy(first->bytes.begin(), first->bytes.begin() + fhl, d);
  for (const HeldFragment& h : held) {
    const uint16_t hhl = static_cast<uint16_t>((h.bytes[0] & 0x0f) * 4);
    std::copy(h.bytes.begin() + hhl, h.bytes.begin() + hhl + h.length,
              d + fhl + h.offset);
  }
  StoreBe16(d + ipv4_field::kTotalLength, static_cast<uint16_t>(total_len));
  StoreBe16(d + ipv4_field::kFragOff, 0);
  StoreIpv4Checksum(d, fhl);
  // Held fragments become one datagram: not drops. (The datagram's own fate
  // is counted as a packet's: forwarded, or a drop with its reason.)
  stats_.fragments_reassembled += held.size();
  frags_.Free(e, DropReason::kFragDatagramDropped);
  stats_.datagrams_reassembled++;
  Packet whole{d, total_len, static_cast<uint32_t>(scratch_.size()), {}};
  const Verdict v = side == Side::kInside
                        ? ProcessInside(ns, whole, now_ms_)
                        : ProcessOutside(whole, now_ms_, false);
  if (v.action == Verdict::kForward) {
    EmitEgress(v.out_side, v.out_ns, whole.data,
               static_cast<uint16_t>(whole.len));
    return Verdict{Verdict::kConsumed};
  }
  return v;
}

}  // namespace unat
