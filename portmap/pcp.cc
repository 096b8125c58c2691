// PCP (RFC 6887) on the shared registry: ANNOUNCE, MAP, PEER; options
// THIRD_PARTY, PREFER_FAILURE, FILTER.
//
// Request header (24):  ver | R,op | reserved(16) | lifetime(32) |
//                       client address (128, IPv4-mapped)
// Response header (24): ver | R,op | reserved | result | lifetime |
//                       epoch | reserved (96)
// MAP data (36): nonce(96) | protocol | reserved(24) | internal port |
//                external port | external address (128)
// PEER data (56): MAP data | remote port | reserved(16) | remote address
// Option: code | reserved | length(16) | data, padded to 4
#include <algorithm>
#include <cstring>

#include "engine/checksum.h"
#include "portmap/server.h"

namespace unat::portmap {
namespace pcp {

const char* ResultName(uint8_t r) {
  switch (r) {
    case kSuccess:
      return "SUCCESS";
    case kUnsuppVersion:
      return "UNSUPP_VERSION";
    case kNotAuthorized:
      return "NOT_AUTHORIZED";
    case kMalformedRequest:
      return "MALFORMED_REQUEST";
    case kUnsuppOpcode:
      return "UNSUPP_OPCODE";
    case kUnsuppOption:
      return "UNSUPP_OPTION";
    case kMalformedOption:
      return "MALFORMED_OPTION";
    case kNetworkFailure:
      return "NETWORK_FAILURE";
    case kNoResources:
      return "NO_RESOURCES";
    case kUnsuppProtocol:
      return "UNSUPP_PROTOCOL";
    case kUserExQuota:
      return "USER_EX_QUOTA";
    case kCannotProvideExternal:
      return "CANNOT_PROVIDE_EXTERNAL";
    case kAddressMismatch:
      return "ADDRESS_MISMATCH";
    case kExcessiveRemotePeers:
      return "EXCESSIVE_REMOTE_PEERS";
    default:
      return "?";
  }
}

bool IsShortLifetimeError(uint8_t r) {
  return r == kNetworkFailure || r == kNoResources || r == kUserExQuota ||
         r == kCannotProvideExternal;
}

}  // namespace pcp

namespace {

constexpr size_t kAddrSize = 16;

// An IPv4-mapped IPv6 address (::ffff:a.b.c.d): all 96 leading bits checked
// (RFC 6887 5).
bool IsV4Mapped(const uint8_t* a) {
  for (int i = 0; i < 10; ++i) {
    if (a[i] != 0) return false;
  }
  return a[10] == 0xff && a[11] == 0xff;
}
bool IsAllZero(const uint8_t* a) {
  return std::all_of(a, a + kAddrSize, [](uint8_t b) { return b == 0; });
}
void StoreV4Mapped(uint8_t* a, uint32_t v4) {
  std::memset(a, 0, 10);
  a[10] = 0xff;
  a[11] = 0xff;
  StoreBe32(a + 12, v4);
}

uint8_t PcpResult(MapStatus s) {
  switch (s) {
    case MapStatus::kOk:
      return pcp::kSuccess;
    case MapStatus::kNotAuthorized:
    case MapStatus::kNonceMismatch:
      return pcp::kNotAuthorized;
    case MapStatus::kUserQuota:
    case MapStatus::kNamespaceQuota:
      // The tenant is the subscriber whose quota this is (RFC 6887 7.4:
      // USER_EX_QUOTA, a short lifetime error like NO_RESOURCES).
      return pcp::kUserExQuota;
    case MapStatus::kNoResources:
      return pcp::kNoResources;
    case MapStatus::kCannotProvideExternal:
      return pcp::kCannotProvideExternal;
    case MapStatus::kNetworkFailure:
      return pcp::kNetworkFailure;
    case MapStatus::kTooManyFilters:
      return pcp::kExcessiveRemotePeers;
    case MapStatus::kInvalid:
      return pcp::kMalformedRequest;
  }
  return pcp::kNoResources;
}

// What the options said, after validation.
struct Options {
  bool third_party = false;
  const uint8_t* third_party_addr = nullptr;
  bool prefer_failure = false;
  bool filter_seen = false;
  std::vector<RemoteFilter> filters;
  size_t filter_options = 0;
  // Byte ranges of the options the server processed (echoed on success).
  std::vector<std::span<const uint8_t>> processed;
};

// RFC 6887 7.3, 13. Returns kSuccess or the error result.
uint8_t ParseOptions(uint8_t opcode, std::span<const uint8_t> p, size_t offset,
                     Options* o) {
  while (offset < p.size()) {
    if (p.size() - offset < 4) return pcp::kMalformedOption;
    const uint8_t code = p[offset];
    const uint16_t len = LoadBe16(&p[offset + 2]);
    const size_t padded = (size_t{len} + 3) & ~size_t{3};
    if (p.size() - offset - 4 < padded) return pcp::kMalformedOption;
    const uint8_t* data = &p[offset + 4];
    const std::span<const uint8_t> whole = p.subspan(offset, 4 + padded);
    offset += 4 + padded;
    switch (code) {
      case pcp::kOptThirdParty:
        if (opcode != pcp::kOpMap && opcode != pcp::kOpPeer) {
          return pcp::kMalformedOption;
        }
        if (len != kAddrSize || o->third_party) return pcp::kMalformedOption;
        o->third_party = true;
        o->third_party_addr = data;
        o->processed.push_back(whole);
        break;
      case pcp::kOptPreferFailure:
        if (opcode != pcp::kOpMap) return pcp::kMalformedOption;
        if (len != 0 || o->prefer_failure) return pcp::kMalformedOption;
        o->prefer_failure = true;
        o->processed.push_back(whole);
        break;
      case pcp::kOptFilter: {
        if (opcode != pcp::kOpMap) return pcp::kMalformedOption;
        if (len != 20) return pcp::kMalformedOption;
        const uint8_t prefix = data[1];
        const uint16_t port = LoadBe16(data + 2);
        const uint8_t* addr = data + 4;
        o->filter_seen = true;
        o->filter_options++;
        o->processed.push_back(whole);
        if (prefix == 0) {
          // RFC 6887 13.3: prefix length 0 removes all filters.
          o->filters.clear();
          break;
        }
        // RFC 6887 counts the prefix over the IPv4-mapped IPv6 address
        // (96 + the IPv4 length); libpcp, the reference client, sends the
        // IPv4 length itself (1..32). Both are taken; 33..95 and anything
        // but an IPv4-mapped address are malformed.
        if (prefix > 128 || !IsV4Mapped(addr) || (prefix > 32 && prefix < 96)) {
          return pcp::kMalformedOption;
        }
        RemoteFilter f;
        f.prefix_len =
            static_cast<uint8_t>(prefix >= 96 ? prefix - 96 : prefix);
        f.addr = LoadBe32(addr + 12) & PrefixMask(f.prefix_len);
        f.port = port;
        o->filters.push_back(f);
        break;
      }
      default:
        // 0-127 mandatory to process, 128-255 optional (ignored).
        if (code < 128) return pcp::kUnsuppOption;
        break;
    }
  }
  return pcp::kSuccess;
}

}  // namespace

std::vector<uint8_t> PortMapServer::PcpError(std::span<const uint8_t> p,
                                             uint8_t result, TimeMs now) {
  // RFC 6887 7.2: the error response carries the request (so the client can
  // match it and see the offending option), at most 1100 octets, padded to
  // a multiple of 4, with the response header over the request header.
  size_t n = std::min(p.size(), pcp::kMaxSize);
  std::vector<uint8_t> out(std::max(pcp::kHeaderSize, (n + 3) & ~size_t{3}), 0);
  std::copy(p.begin(), p.begin() + n, out.begin());
  out[0] = pcp::kVersion;
  out[1] = static_cast<uint8_t>(0x80 | (p.size() > 1 ? p[1] & 0x7f : 0));
  out[2] = 0;
  out[3] = result;
  StoreBe32(&out[4], pcp::IsShortLifetimeError(result)
                         ? config_.short_error_lifetime_s
                         : config_.long_error_lifetime_s);
  StoreBe32(&out[8], EpochSeconds(now));
  std::fill(out.begin() + 12, out.begin() + 24, 0);
  CountPcp(result);
  return out;
}

std::vector<uint8_t> PortMapServer::HandlePcp(NamespaceId ns, uint32_t client,
                                              std::span<const uint8_t> p,
                                              TimeMs now) {
  // Common header (RFC 6887 7.1, 8.3).
  if (p.size() < pcp::kHeaderSize || p.size() > pcp::kMaxSize ||
      p.size() % 4 != 0) {
    return PcpError(p, pcp::kMalformedRequest, now);
  }
  const uint8_t opcode = p[1] & 0x7f;
  size_t data_size;
  switch (opcode) {
    case pcp::kOpAnnounce:
      data_size = 0;
      break;
    case pcp::kOpMap:
      data_size = pcp::kMapSize;
      break;
    case pcp::kOpPeer:
      data_size = pcp::kPeerSize;
      break;
    default:
      return PcpError(p, pcp::kUnsuppOpcode, now);
  }
  if (p.size() < pcp::kHeaderSize + data_size) {
    return PcpError(p, pcp::kMalformedRequest, now);
  }
  // The client address must be the packet's source: anything else means a
  // NAT between client and server, or a lie (RFC 6887 8.3).
  const uint8_t* client_addr = &p[8];
  if (!IsV4Mapped(client_addr) || LoadBe32(client_addr + 12) != client) {
    return PcpError(p, pcp::kAddressMismatch, now);
  }
  Options opt;
  const uint8_t opt_result =
      ParseOptions(opcode, p, pcp::kHeaderSize + data_size, &opt);
  if (opt_result != pcp::kSuccess) return PcpError(p, opt_result, now);

  const uint32_t requested = LoadBe32(&p[4]);
  const uint32_t epoch = EpochSeconds(now);

  if (opcode == pcp::kOpAnnounce) {
    // RFC 6887 14.1: success, lifetime 0; the epoch is what matters.
    std::vector<uint8_t> out(pcp::kHeaderSize, 0);
    out[0] = pcp::kVersion;
    out[1] = 0x80 | pcp::kOpAnnounce;
    StoreBe32(&out[8], epoch);
    CountPcp(pcp::kSuccess);
    return out;
  }

  // MAP and PEER.
  const uint8_t* d = &p[pcp::kHeaderSize];
  Nonce nonce;
  std::copy(d, d + 12, nonce.begin());
  const uint8_t protocol = d[12];
  const uint16_t internal_port = LoadBe16(d + 16);
  const uint16_t suggested_port = LoadBe16(d + 18);
  const uint8_t* suggested_addr = d + 20;

  // THIRD_PARTY (RFC 6887 13.1): the inside address is someone else's.
  uint32_t inside = client;
  if (opt.third_party) {
    if (!IsV4Mapped(opt.third_party_addr)) {
      return PcpError(p, pcp::kMalformedOption, now);
    }
    const uint32_t third = LoadBe32(opt.third_party_addr + 12);
    if (third == client) return PcpError(p, pcp::kMalformedRequest, now);
    if (!registry_->policy().allow_third_party) {
      return PcpError(p, pcp::kNotAuthorized, now);
    }
    inside = third;
  }

  // Protocol 0 means "all protocols" and then the port must be 0 too.
  if (protocol == 0 && internal_port != 0) {
    return PcpError(p, pcp::kMalformedRequest, now);
  }

  // The success response: header, opcode data with the assigned external
  // endpoint, and the options the server processed.
  auto success = [&](uint32_t lifetime, uint32_t ext_addr, uint16_t ext_port) {
    size_t size = pcp::kHeaderSize + data_size;
    for (const auto& o : opt.processed) size += o.size();
    std::vector<uint8_t> out(size, 0);
    out[0] = pcp::kVersion;
    out[1] = static_cast<uint8_t>(0x80 | opcode);
    StoreBe32(&out[4], lifetime);
    StoreBe32(&out[8], epoch);
    uint8_t* od = &out[pcp::kHeaderSize];
    std::copy(d, d + data_size, od);  // nonce, protocol, ports, remote peer
    std::fill(od + 13, od + 16, 0);   // reserved
    StoreBe16(od + 18, ext_port);
    if (ext_addr != 0) {
      StoreV4Mapped(od + 20, ext_addr);
    } else {
      std::fill(od + 20, od + 36, 0);
    }
    if (opcode == pcp::kOpPeer) std::fill(od + 38, od + 40, 0);  // reserved
    size_t at = pcp::kHeaderSize + data_size;
    for (const auto& o : opt.processed) {
      std::copy(o.begin(), o.end(), out.begin() + at);
      out[at + 1] = 0;  // option reserved field
      at += o.size();
    }
    CountPcp(pcp::kSuccess);
    return out;
  };

  if (opcode == pcp::kOpPeer) {
    const uint16_t remote_port = LoadBe16(d + 36);
    const uint8_t* remote_addr = d + 40;
    if (protocol != kProtoTcp && protocol != kProtoUdp) {
      return PcpError(p, pcp::kUnsuppProtocol, now);
    }
    if (internal_port == 0 || remote_port == 0 || !IsV4Mapped(remote_addr) ||
        LoadBe32(remote_addr + 12) == 0) {
      return PcpError(p, pcp::kMalformedRequest, now);
    }
    const uint32_t remote = LoadBe32(remote_addr + 12);
    const PeerKey key{ns, protocol, inside, internal_port, remote, remote_port};
    auto it = peers_.find(key);
    if (it != peers_.end() && it->second.expires <= now) {
      peers_.erase(it);
      it = peers_.end();
    }
    if (it != peers_.end() && it->second.nonce != nonce) {
      return PcpError(p, pcp::kNotAuthorized, now);
    }
    if (requested == 0) {
      // Delete: unpin; the flow then lives by its idle timeout.
      uint32_t ext_addr = 0;
      uint16_t ext_port = 0;
      if (it != peers_.end()) {
        auto ep = table_->EnsureFlow(ns, protocol, inside, internal_port,
                                     remote, remote_port, 0, now);
        if (ep.ok()) {
          ext_addr = ep->addr;
          ext_port = ep->port;
        }
        peers_.erase(it);
      }
      return success(0, ext_addr, ext_port);
    }
    if (it == peers_.end()) {
      size_t mine = 0;
      size_t tenant = 0;
      for (const auto& [k, v] : peers_) {
        mine += v.ns == ns && v.client == client;
        tenant += v.ns == ns;
      }
      if (mine >= registry_->policy().max_per_client ||
          tenant >= registry_->NamespaceCap()) {
        return PcpError(p, pcp::kUserExQuota, now);
      }
      if (peers_.size() >= registry_->policy().max_total) {
        return PcpError(p, pcp::kNoResources, now);
      }
    }
    if (table_->external_addresses().empty()) {
      return PcpError(p, pcp::kNetworkFailure, now);
    }
    const uint32_t lifetime = registry_->ClampLifetime(requested);
    auto ep = table_->EnsureFlow(ns, protocol, inside, internal_port, remote,
                                 remote_port, lifetime, now);
    if (!ep.ok()) {
      return PcpError(p,
                      ep.status().code() == absl::StatusCode::kInvalidArgument
                          ? pcp::kMalformedRequest
                          : pcp::kNoResources,
                      now);
    }
    PeerLease& pl = peers_[key];
    pl = PeerLease{ns,          client,        protocol,
                   inside,      internal_port, remote,
                   remote_port, nonce,         now + uint64_t{lifetime} * 1000};
    return success(lifetime, ep->addr, ep->port);
  }

  // MAP (RFC 6887 11).
  if (protocol != 0 && protocol != kProtoTcp && protocol != kProtoUdp) {
    return PcpError(p, pcp::kUnsuppProtocol, now);
  }
  if (requested == 0) {
    // Delete one mapping, or all of this client's (this nonce's) mappings
    // for the protocol (internal port 0) or for every protocol (protocol 0).
    if (internal_port == 0) {
      registry_->RemoveClient(ns, client, ForwardOwner::kPcp, protocol, &nonce);
      return success(0, 0, 0);
    }
    auto lease = registry_->Find({ns, protocol, inside, internal_port});
    if (!lease) return success(0, 0, 0);
    if (lease->owner != ForwardOwner::kPcp || lease->client != client ||
        lease->nonce != nonce) {
      return PcpError(p, pcp::kNotAuthorized, now);
    }
    (void)registry_->Remove(lease->id);
    return success(0, lease->external_addr, lease->external_port);
  }
  if (protocol == 0) {
    // "All protocols" needs a protocol-less forward; the engine forwards
    // TCP and UDP ports only.
    return PcpError(p, pcp::kUnsuppProtocol, now);
  }
  if (internal_port == 0) {
    // "All ports" of a protocol (a DMZ host): not offered.
    return PcpError(p, pcp::kNotAuthorized, now);
  }
  uint32_t want_addr = 0;
  bool want_unusable = false;  // IPv6 suggestion for an IPv4 NAT
  if (IsV4Mapped(suggested_addr)) {
    want_addr = LoadBe32(suggested_addr + 12);
  } else if (!IsAllZero(suggested_addr)) {
    want_unusable = true;
  }
  if (opt.prefer_failure) {
    if (want_addr == 0 && suggested_port == 0 && !want_unusable) {
      return PcpError(p, pcp::kMalformedOption, now);
    }
    if (want_unusable) return PcpError(p, pcp::kCannotProvideExternal, now);
  }
  if (opt.filter_options > registry_->policy().max_filters ||
      opt.filters.size() > ForwardSpec::kMaxRemoteFilters) {
    return PcpError(p, pcp::kExcessiveRemotePeers, now);
  }

  MapRequest req;
  req.owner = ForwardOwner::kPcp;
  req.ns = ns;
  req.client = client;
  req.proto = protocol;
  req.inside_addr = inside;
  req.inside_port = internal_port;
  req.suggested_addr = want_addr;
  req.suggested_port = suggested_port;
  req.require_suggested = opt.prefer_failure;
  req.lifetime_s = requested;
  req.nonce = nonce;
  if (opt.filter_seen) req.filters = opt.filters;
  req.description = "PCP";
  const MapResult r = registry_->Map(req, now);
  if (r.status != MapStatus::kOk) {
    return PcpError(p, PcpResult(r.status), now);
  }
  return success(registry_->ClampLifetime(requested), r.lease.external_addr,
                 r.lease.external_port);
}

}  // namespace unat::portmap
