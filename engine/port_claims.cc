#include "engine/port_claims.h"

#include "engine/checksum.h"

namespace unat {
namespace {

bool IsIcmpError(uint8_t type) {
  return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}
bool IsIcmpQueryReply(uint8_t type) {
  return type == 0 || type == 14 || type == 16 || type == 18;
}
bool IsIcmpQueryRequest(uint8_t type) {
  return type == 8 || type == 13 || type == 15 || type == 17;
}

}  // namespace

PortClaims::PortClaims(std::vector<uint32_t> external_addresses)
    : addrs_(std::move(external_addresses)),
      owners_(new std::atomic<uint8_t>[addrs_.size() * kProtos * 65536]) {
  const size_t n = addrs_.size() * kProtos * 65536;
  for (size_t i = 0; i < n; ++i) {
    owners_[i].store(kFree, std::memory_order_relaxed);
  }
}

int PortClaims::ExternalIndex(uint32_t addr) const {
  for (size_t i = 0; i < addrs_.size(); ++i) {
    if (addrs_[i] == addr) return static_cast<int>(i);
  }
  return -1;
}

int PortClaims::InboundShard(const uint8_t* p, size_t len) const {
  if (len < 20 || (p[0] >> 4) != 4) return kNoShard;
  const size_t hl = static_cast<size_t>(p[0] & 0x0f) * 4;
  if (hl < 20 || len < hl + 8) return kNoShard;
  if ((LoadBe16(p + 6) & 0x1fff) != 0) return kNoShard;  // no ports here
  const int xi = ExternalIndex(LoadBe32(p + 16));
  if (xi < 0) return kNoShard;
  const uint8_t proto = p[9];
  const uint8_t* l4 = p + hl;
  uint8_t owner = kFree;
  if (proto == kProtoTcp || proto == kProtoUdp) {
    owner = Owner(xi, proto, LoadBe16(l4 + 2));
  } else if (proto == kProtoIcmp) {
    const uint8_t type = l4[0];
    if (IsIcmpQueryReply(type) || IsIcmpQueryRequest(type)) {
      // A reply to one of ours, or a request to an identifier a forward
      // holds: the identifier.
      owner = Owner(xi, kProtoIcmp, LoadBe16(l4 + 4));
    } else if (IsIcmpError(type)) {
      // The quoted datagram is one a shard sent: its source.
      const uint8_t* q = l4 + 8;
      const size_t qlen = len - hl - 8;
      if (qlen < 20 || (q[0] >> 4) != 4) return kNoShard;
      const size_t qhl = static_cast<size_t>(q[0] & 0x0f) * 4;
      if (qhl < 20 || qlen < qhl + 8) return kNoShard;
      const int qxi = ExternalIndex(LoadBe32(q + 12));
      if (qxi < 0) return kNoShard;
      const uint8_t qp = q[9];
      const uint8_t* ql4 = q + qhl;
      if (qp == kProtoTcp || qp == kProtoUdp) {
        owner = Owner(qxi, qp, LoadBe16(ql4));
      } else if (qp == kProtoIcmp && IsIcmpQueryRequest(ql4[0])) {
        owner = Owner(qxi, kProtoIcmp, LoadBe16(ql4 + 4));
      }
    }
  }
  return owner == kFree ? kNoShard : owner;
}

std::vector<uint32_t> PortClaims::CountByShard(uint8_t proto,
                                               uint32_t shards) const {
  std::vector<uint32_t> n(shards, 0);
  for (size_t xi = 0; xi < addrs_.size(); ++xi) {
    for (uint32_t port = 0; port < 65536; ++port) {
      const uint8_t o =
          Owner(static_cast<int>(xi), proto, static_cast<uint16_t>(port));
      if (o != kFree && o < shards) ++n[o];
    }
  }
  return n;
}

uint32_t OutboundShard(NamespaceId ns, uint32_t inside_source,
                       uint32_t shards) {
  if (shards <= 1) return 0;
  // splitmix64's finalizer over (namespace, address).
  uint64_t x = (uint64_t{ns} << 32) | inside_source;
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return static_cast<uint32_t>(x % shards);
}

}  // namespace unat
