// NAT-PMP (RFC 6886) on the shared registry.
//
//  request  0: | 0 | 0 |                         (2 bytes)
//  answer 128: | 0 |128| result | epoch | external address |   (12 bytes)
//  request 1/2:| 0 |op | reserved | internal port | suggested external port |
//              | requested lifetime |                          (12 bytes)
//  answer op+128: | 0 |op+128| result | epoch | internal port |
//              | mapped external port | lifetime |              (16 bytes)
#include "engine/checksum.h"
#include "portmap/server.h"

namespace unat::portmap {
namespace {

uint16_t NatPmpResult(MapStatus s) {
  switch (s) {
    case MapStatus::kOk:
      return natpmp::kSuccess;
    case MapStatus::kNotAuthorized:
    case MapStatus::kNonceMismatch:
    case MapStatus::kInvalid:
    case MapStatus::kTooManyFilters:
      return natpmp::kNotAuthorized;
    case MapStatus::kNetworkFailure:
      return natpmp::kNetworkFailure;
    case MapStatus::kUserQuota:
    case MapStatus::kNamespaceQuota:
    case MapStatus::kNoResources:
    case MapStatus::kCannotProvideExternal:
      return natpmp::kOutOfResources;
  }
  return natpmp::kOutOfResources;
}

}  // namespace

std::vector<uint8_t> PortMapServer::NatPmpUnsupportedVersion(uint8_t opcode,
                                                             TimeMs now) {
  // RFC 6886 3.5 / RFC 6887 Appendix A: version 0 format, result 1.
  std::vector<uint8_t> out(8, 0);
  out[0] = natpmp::kVersion;
  out[1] = static_cast<uint8_t>(0x80 | opcode);
  StoreBe16(&out[2], natpmp::kUnsupportedVersion);
  StoreBe32(&out[4], EpochSeconds(now));
  stats_.natpmp_results[natpmp::kUnsupportedVersion]++;
  return out;
}

std::vector<uint8_t> PortMapServer::HandleNatPmp(NamespaceId ns,
                                                 uint32_t client,
                                                 std::span<const uint8_t> p,
                                                 TimeMs now) {
  const uint8_t op = p[1];
  const uint32_t epoch = EpochSeconds(now);
  auto header = [&](size_t size, uint16_t result) {
    std::vector<uint8_t> out(size, 0);
    out[0] = natpmp::kVersion;
    out[1] = static_cast<uint8_t>(0x80 | op);
    StoreBe16(&out[2], result);
    StoreBe32(&out[4], epoch);
    stats_.natpmp_results[result]++;
    return out;
  };

  // A host outside the tenant's prefixes is refused whatever it asks
  // (result 2), before anything is looked up for it.
  const bool stranger = !table_->IsInsideAddress(ns, client);
  if (op == 0) {
    if (stranger) return header(12, natpmp::kNotAuthorized);
    const uint32_t ext = PrimaryExternal();
    auto out = header(12, ext ? natpmp::kSuccess : natpmp::kNetworkFailure);
    StoreBe32(&out[8], ext);
    return out;
  }
  if (op != 1 && op != 2) return header(8, natpmp::kUnsupportedOpcode);
  if (p.size() < 12) {
    stats_.drops[static_cast<int>(PortMapDrop::kTruncated)]++;
    return {};
  }

  const uint8_t proto = op == 1 ? kProtoUdp : kProtoTcp;
  const uint16_t internal_port = LoadBe16(&p[4]);
  const uint16_t suggested = LoadBe16(&p[6]);
  const uint32_t lifetime = LoadBe32(&p[8]);
  auto map_answer = [&](uint16_t result, uint16_t iport, uint16_t eport,
                        uint32_t life) {
    auto out = header(16, result);
    StoreBe16(&out[8], iport);
    StoreBe16(&out[10], eport);
    StoreBe32(&out[12], life);
    return out;
  };
  if (stranger) return map_answer(natpmp::kNotAuthorized, internal_port, 0, 0);

  if (lifetime == 0) {
    // RFC 6886 3.4: delete one mapping, or (internal port 0) all of this
    // client's mappings of this protocol. Deleting what is not there is a
    // success; deleting what someone else (or the configuration) made is
    // not authorized.
    if (internal_port == 0) {
      registry_->RemoveClient(ns, client, ForwardOwner::kNatPmp, proto);
      return map_answer(natpmp::kSuccess, 0, 0, 0);
    }
    auto lease = registry_->Find({ns, proto, client, internal_port});
    if (lease) {
      if (lease->owner != ForwardOwner::kNatPmp || lease->client != client) {
        return map_answer(natpmp::kNotAuthorized, internal_port, 0, 0);
      }
      (void)registry_->Remove(lease->id);
    } else {
      // A static forward to this endpoint is the configuration's: refuse.
      for (const ForwardInfo& f : table_->Forwards()) {
        if (f.spec.owner == ForwardOwner::kStatic && f.spec.ns == ns &&
            f.spec.proto == proto && f.spec.inside_addr == client &&
            f.spec.inside_port == internal_port) {
          return map_answer(natpmp::kNotAuthorized, internal_port, 0, 0);
        }
      }
    }
    return map_answer(natpmp::kSuccess, internal_port, 0, 0);
  }
  if (internal_port == 0) {
    return map_answer(natpmp::kNotAuthorized, 0, 0, 0);
  }

  MapRequest req;
  req.owner = ForwardOwner::kNatPmp;
  req.ns = ns;
  req.client = client;
  req.proto = proto;
  req.inside_addr = client;
  req.inside_port = internal_port;
  req.suggested_port = suggested;
  req.suggested_addr = PrimaryExternal();
  req.lifetime_s = lifetime;
  req.description = "NAT-PMP";
  const MapResult r = registry_->Map(req, now);
  if (r.status != MapStatus::kOk) {
    return map_answer(NatPmpResult(r.status), internal_port, 0, 0);
  }
  return map_answer(natpmp::kSuccess, internal_port, r.lease.external_port,
                    registry_->ClampLifetime(lifetime));
}

}  // namespace unat::portmap
