#include "portmap/server.h"

#include "engine/checksum.h"
#include "engine/wire.h"
#include "portmap/datagram.h"

namespace unat::portmap {

const char* PortMapDropName(PortMapDrop reason) {
  switch (reason) {
    case PortMapDrop::kTruncated:
      return "truncated";
    case PortMapDrop::kResponse:
      return "response";
    case PortMapDrop::kRateLimited:
      return "rate_limited";
    case PortMapDrop::kNoSink:
      return "no_sink";
    case PortMapDrop::kNotUdp:
      return "not_udp";
    case PortMapDrop::kCount:
      break;
  }
  return "?";
}

PortMapServer::PortMapServer(TranslationTable* table, MappingRegistry* registry,
                             PortMapConfig config, TimeMs now)
    : table_(table),
      registry_(registry),
      config_(config),
      limiter_(config.rate),
      epoch_ref_ms_(now),
      last_external_(PrimaryExternal()) {}

absl::Status PortMapServer::Register() {
  return table_->RegisterLocalHelper(kProtoUdp, kServerPort, this);
}

uint32_t PortMapServer::PrimaryExternal() const {
  const auto& ext = table_->external_addresses();
  return ext.empty() ? 0 : ext.front();
}

uint32_t PortMapServer::EpochSeconds(TimeMs now) const {
  const TimeMs since = now > epoch_ref_ms_ ? now - epoch_ref_ms_ : 0;
  return static_cast<uint32_t>(epoch_base_s_ + since / 1000);
}

void PortMapServer::SetEpoch(uint32_t seconds, TimeMs now) {
  epoch_base_s_ = seconds;
  epoch_ref_ms_ = now;
}

void PortMapServer::ResetEpoch(TimeMs now) {
  stats_.epoch_resets++;
  SetEpoch(0, now);
  announce_left_ = config_.announce_count;
  announce_sent_ = 0;
  announce_pcp_ = config_.pcp;
  announce_next_ = now;
}

void PortMapServer::Start(TimeMs now, bool state_restored) {
  if (!state_restored) SetEpoch(0, now);
  announce_left_ =
      config_.natpmp || !state_restored ? config_.announce_count : 0;
  announce_sent_ = 0;
  announce_pcp_ = config_.pcp && !state_restored;
  announce_next_ = now;
}

void PortMapServer::Tick(TimeMs now, PacketSink* sink) {
  registry_->Advance(now);
  for (auto it = peers_.begin(); it != peers_.end();) {
    it = it->second.expires <= now ? peers_.erase(it) : std::next(it);
  }
  const uint32_t ext = PrimaryExternal();
  if (ext != last_external_) {
    // RFC 6886 3.6 / RFC 6887 8.5: a new external address is a new epoch;
    // clients learn it from the announcements and re-map.
    last_external_ = ext;
    ResetEpoch(now);
  }
  if (announce_left_ > 0 && now >= announce_next_) {
    SendAnnouncements(now, sink);
    announce_left_--;
    announce_next_ =
        now + (TimeMs{config_.announce_first_interval_ms} << announce_sent_);
    announce_sent_++;
  }
}

void PortMapServer::SendAnnouncements(TimeMs now, PacketSink* sink) {
  if (sink == nullptr) return;
  const uint32_t epoch = EpochSeconds(now);
  std::vector<uint8_t> natpmp_msg(12, 0);
  natpmp_msg[1] = 128;
  StoreBe16(&natpmp_msg[2],
            PrimaryExternal() ? natpmp::kSuccess : natpmp::kNetworkFailure);
  StoreBe32(&natpmp_msg[4], epoch);
  StoreBe32(&natpmp_msg[8], PrimaryExternal());
  std::vector<uint8_t> pcp_msg(pcp::kHeaderSize, 0);
  pcp_msg[0] = pcp::kVersion;
  pcp_msg[1] = 0x80 | pcp::kOpAnnounce;
  StoreBe32(&pcp_msg[8], epoch);
  for (const Tenant& ns : table_->Tenants()) {
    if (config_.natpmp) {
      auto d = BuildUdpDatagram(ns.gateway, kServerPort, kAllHostsGroup,
                                kClientPort, natpmp_msg, 1);
      sink->Emit(Side::kInside, ns.id, d);
      stats_.announcements++;
    }
    if (announce_pcp_) {
      auto d = BuildUdpDatagram(ns.gateway, kServerPort, kAllHostsGroup,
                                kClientPort, pcp_msg, 1);
      sink->Emit(Side::kInside, ns.id, d);
      stats_.announcements++;
    }
  }
}

std::optional<std::vector<uint8_t>> PortMapServer::Handle(
    NamespaceId ns, uint32_t client, std::span<const uint8_t> p, TimeMs now) {
  if (!limiter_.Allow(ns, client, now)) {
    stats_.drops[static_cast<int>(PortMapDrop::kRateLimited)]++;
    return std::nullopt;
  }
  // RFC 6887 8.3: shorter than two octets, or a response (R bit; NAT-PMP's
  // opcode >= 128 is the same bit): silently dropped.
  if (p.size() < 2) {
    stats_.drops[static_cast<int>(PortMapDrop::kTruncated)]++;
    return std::nullopt;
  }
  if (p[1] & 0x80) {
    stats_.drops[static_cast<int>(PortMapDrop::kResponse)]++;
    return std::nullopt;
  }
  const uint8_t version = p[0];
  if (version == natpmp::kVersion) {
    stats_.natpmp_requests++;
    if (!config_.natpmp) return NatPmpUnsupportedVersion(p[1], now);
    auto out = HandleNatPmp(ns, client, p, now);
    if (out.empty()) return std::nullopt;
    return out;
  }
  stats_.pcp_requests++;
  if (!config_.pcp) return NatPmpUnsupportedVersion(p[1], now);
  if (version != pcp::kVersion) return PcpError(p, pcp::kUnsuppVersion, now);
  // A host outside the tenant's prefixes: NOT_AUTHORIZED for any opcode.
  if (!table_->IsInsideAddress(ns, client)) {
    return PcpError(p, pcp::kNotAuthorized, now);
  }
  return HandlePcp(ns, client, p, now);
}

void PortMapServer::OnPacket(const LocalContext& ctx, const Ipv4View& ip,
                             const L4View& l4) {
  if (ip.protocol() != kProtoUdp || l4.size() < l4_field::kUdpHeader) {
    stats_.drops[static_cast<int>(PortMapDrop::kNotUdp)]++;
    return;
  }
  const std::span<const uint8_t> payload(l4.data() + l4_field::kUdpHeader,
                                         l4.size() - l4_field::kUdpHeader);
  auto answer = Handle(ctx.ns, ip.src(), payload, ctx.now);
  if (!answer) return;
  if (ctx.sink == nullptr) {
    stats_.drops[static_cast<int>(PortMapDrop::kNoSink)]++;
    return;
  }
  auto d = BuildUdpDatagram(ctx.gateway, kServerPort, ip.src(), l4.src_port(),
                            *answer);
  ctx.sink->Emit(Side::kInside, ctx.ns, d);
  stats_.answers++;
}

}  // namespace unat::portmap
