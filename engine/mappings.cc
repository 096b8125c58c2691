// Mappings and the port allocator (see engine/mappings.h).
#include "engine/mappings.h"

#include "engine/slots.h"

namespace unat {
namespace internal {

MappingTable::MappingTable(const NatConfig& config, uint64_t hash_seed,
                           uint64_t rng_seed)
    : config_(config),
      seed_(hash_seed ^ 0x6d617070696e6773ULL),
      rng_(rng_seed) {
  const size_t n = config_.external_addresses.size();
  ports_.resize(n * kNumProtos);
  for (auto& table : ports_) table.assign(65536, kPortFree);
  ext_filter_.assign(1024, 0);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t a = config_.external_addresses[i];
    ext_index_.emplace(a, static_cast<int>(i));
    ext_filter_[AddrFold(a) >> 6] |= uint64_t{1} << (AddrFold(a) & 63);
  }
}

MappingTable::~MappingTable() {
  if (config_.claims == nullptr) return;
  for (size_t t = 0; t < ports_.size(); ++t) {
    const int xi = static_cast<int>(t / kNumProtos);
    const uint8_t proto = kTrackedProtocols[t % kNumProtos];
    for (uint32_t p = 0; p < 65536; ++p) {
      if (ports_[t][p] != kPortFree) {
        UnclaimPort(xi, proto, static_cast<uint16_t>(p));
      }
    }
  }
}

uint32_t MappingTable::Find(uint32_t hash, NamespaceId ns, uint8_t proto,
                            uint32_t addr, uint16_t port) const {
  const uint32_t v = index_.Find(hash, [&](uint32_t m) {
    const Mapping& mp = mappings_[m];
    return mp.in_addr == addr && mp.in_port == port && mp.ns == ns &&
           mp.proto == proto;
  });
  return v == FlowIndex::kNotFound ? kNone : v;
}

void MappingTable::MaybeDropHost(NamespaceId ns, uint32_t addr) {
  auto it = hosts_.find(HostKey(ns, addr));
  if (it != hosts_.end() && it->second.empty()) hosts_.erase(it);
}

int MappingTable::AllocatePort(int ext_index, uint8_t proto, uint16_t in_port) {
  const std::vector<uint32_t>& table =
      ports_[ext_index * kNumProtos + ProtoIndex(proto)];
  const bool icmp = proto == kProtoIcmp;
  const uint32_t lo = icmp ? config_.icmp_id_min : config_.port_min;
  const uint32_t hi = icmp ? config_.icmp_id_max : config_.port_max;
  // A candidate is free here and, with shards, taken for this one at once.
  auto take = [&](uint32_t p) {
    return table[p] == kPortFree &&
           ClaimPort(ext_index, proto, static_cast<uint16_t>(p));
  };
  if (!icmp && config_.port_preservation && in_port >= lo && in_port <= hi &&
      take(in_port)) {
    return in_port;
  }
  const uint32_t n = hi - lo + 1;
  const uint32_t start = static_cast<uint32_t>(rng_.Next() % n);
  const bool parity = !icmp && config_.port_parity && n > 1;
  if (parity) {
    // Same parity as the inside port first (RFC 4787 REQ-4): the m ports
    // of that parity, p0, p0 + 2, ..., from a random one of them on.
    const uint32_t p0 = lo + (((lo ^ in_port) & 1u) ? 1u : 0u);
    if (p0 <= hi) {
      const uint32_t m = (hi - p0) / 2 + 1;
      for (uint32_t i = 0; i < m; ++i) {
        const uint32_t p = p0 + 2 * ((start + i) % m);
        if (take(p)) return static_cast<int>(p);
      }
    }
  }
  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t p = lo + (start + i) % n;
    if (take(p)) return static_cast<int>(p);
  }
  return -1;
}

uint32_t MappingTable::Revive(uint32_t m) {
  Mapping& mp = mappings_[m];
  if (mp.state == MappingState::kHeld) {
    mp.state = MappingState::kLive;
    mp.generation++;
    held_count_--;
  }
  mp.refs++;
  return m;
}

uint32_t MappingTable::GetOrCreate(NamespaceId ns, uint8_t proto, uint32_t addr,
                                   uint16_t port, uint32_t ns_quota,
                                   DropReason* why) {
  const uint32_t key_hash = Hash(ns, proto, addr, port);
  if (const uint32_t found = Find(key_hash, ns, proto, addr, port);
      found != kNone) {
    return Revive(found);
  }
  if (config_.external_addresses.empty()) {
    *why = DropReason::kNoExternalAddress;
    return kNone;
  }
  HostState& host = Host(ns, addr);
  if (!RoomFor(host, ns, proto, addr, 1, ns_quota, why)) return kNone;
  const int ext_port = AllocatePort(host.ext_index, proto, port);
  if (ext_port < 0) {
    *why = DropReason::kNoPorts;
    MaybeDropHost(ns, addr);
    return kNone;
  }
  return CreateAt(host, key_hash, ns, proto, addr, port,
                  static_cast<uint16_t>(ext_port));
}

bool MappingTable::RoomFor(const HostState& host, NamespaceId ns, uint8_t proto,
                           uint32_t addr, uint32_t count, uint32_t ns_quota,
                           DropReason* why) {
  const int pi = ProtoIndex(proto);
  if (config_.limits.max_ports_per_host != 0 &&
      host.ports[pi] + count > config_.limits.max_ports_per_host) {
    *why = DropReason::kHostPortLimit;
    MaybeDropHost(ns, addr);
    return false;
  }
  // RFC 6888 REQ-4 for a tenant: one namespace cannot take the whole pool.
  if (NamespacePorts(ns, proto) + count > ns_quota) {
    *why = DropReason::kNamespacePortLimit;
    MaybeDropHost(ns, addr);
    return false;
  }
  return true;
}

uint32_t MappingTable::CreateAt(HostState& host, uint32_t key_hash,
                                NamespaceId ns, uint8_t proto, uint32_t addr,
                                uint16_t port, uint16_t ext_port) {
  const uint32_t m = TakeSlot(mappings_, free_);
  Mapping& mp = mappings_[m];
  const uint32_t gen = mp.generation + 1;
  mp = Mapping{addr,
               config_.external_addresses[host.ext_index],
               port,
               ext_port,
               ns,
               proto,
               MappingState::kLive,
               1,
               0,
               gen};
  SetPortOwner(host.ext_index, proto, ext_port, m);
  host.ports[ProtoIndex(proto)]++;
  NsPorts(ns, proto)++;
  index_.Insert(key_hash, m);
  count_++;
  return m;
}

int MappingTable::AllocatePair(int ext_index, uint8_t proto) {
  const std::vector<uint32_t>& table =
      ports_[ext_index * kNumProtos + ProtoIndex(proto)];
  const uint32_t lo = config_.port_min, hi = config_.port_max;
  const uint32_t p0 = lo + (lo & 1u);  // the first even port
  if (p0 + 1 > hi) return -1;
  const uint32_t n = (hi - 1 - p0) / 2 + 1;  // even p with p + 1 <= hi
  const uint32_t start = static_cast<uint32_t>(rng_.Next() % n);
  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t p = p0 + 2 * ((start + i) % n);
    if (table[p] == kPortFree && table[p + 1] == kPortFree) {
      const auto port = static_cast<uint16_t>(p);
      if (!ClaimPort(ext_index, proto, port)) continue;
      if (!ClaimPort(ext_index, proto, static_cast<uint16_t>(port + 1))) {
        UnclaimPort(ext_index, proto, port);
        continue;
      }
      return static_cast<int>(p);
    }
  }
  return -1;
}

bool MappingTable::GetOrCreatePair(NamespaceId ns, uint8_t proto, uint32_t addr,
                                   uint16_t port, uint32_t ns_quota,
                                   uint32_t* first, uint32_t* second,
                                   DropReason* why) {
  if (port == 65535 || config_.external_addresses.empty()) {
    *why = config_.external_addresses.empty() ? DropReason::kNoExternalAddress
                                              : DropReason::kNoPorts;
    return false;
  }
  const uint16_t port2 = static_cast<uint16_t>(port + 1);
  const uint32_t h1 = Hash(ns, proto, addr, port);
  const uint32_t h2 = Hash(ns, proto, addr, port2);
  const uint32_t m1 = Find(h1, ns, proto, addr, port);
  const uint32_t m2 = Find(h2, ns, proto, addr, port2);
  HostState& host = Host(ns, addr);
  const int xi = host.ext_index;
  int p = -1;
  if (m1 == kNone && m2 == kNone) {
    if (!RoomFor(host, ns, proto, addr, 2, ns_quota, why)) return false;
    p = AllocatePair(xi, proto);
  } else {
    // An existing mapping of either port fixes where the pair must be; the
    // other half's port must be free (or be that port's mapping).
    p = m1 != kNone ? mappings_[m1].ext_port : mappings_[m2].ext_port - 1;
    const bool fits =
        !(p & 1) && (m2 == kNone || mappings_[m2].ext_port == p + 1) &&
        (m1 != kNone ||
         PortOwner(xi, proto, static_cast<uint16_t>(p)) == kPortFree) &&
        (m2 != kNone ||
         (p + 1 <= 65535 &&
          PortOwner(xi, proto, static_cast<uint16_t>(p + 1)) == kPortFree));
    if (!fits) p = -1;
    if (fits && !RoomFor(host, ns, proto, addr, (m1 == kNone) + (m2 == kNone),
                         ns_quota, why)) {
      return false;
    }
    // Shards: the missing half must be this shard's to take.
    if (fits && m1 == kNone &&
        !ClaimPort(xi, proto, static_cast<uint16_t>(p))) {
      p = -1;
    }
    if (p >= 0 && m2 == kNone &&
        !ClaimPort(xi, proto, static_cast<uint16_t>(p + 1))) {
      p = -1;  // (m1 is live: nothing of ours to give back)
    }
  }
  if (p < 0) {
    *why = DropReason::kNoPorts;
    MaybeDropHost(ns, addr);
    return false;
  }
  *first = m1 != kNone ? Revive(m1)
                       : CreateAt(host, h1, ns, proto, addr, port,
                                  static_cast<uint16_t>(p));
  *second = m2 != kNone ? Revive(m2)
                        : CreateAt(host, h2, ns, proto, addr, port2,
                                   static_cast<uint16_t>(p + 1));
  return true;
}

void MappingTable::Release(uint32_t m, uint32_t now_s) {
  Mapping& mp = mappings_[m];
  if (mp.refs > 0) mp.refs--;
  if (mp.refs != 0 || mp.state != MappingState::kLive) return;
  if (config_.timeouts.port_hold_s == 0) {
    Free(m);
    return;
  }
  mp.state = MappingState::kHeld;
  mp.generation++;
  mp.hold_until_s = now_s + config_.timeouts.port_hold_s;
  held_.emplace_back(m, mp.generation);
  held_count_++;
}

void MappingTable::Free(uint32_t m) {
  Mapping& mp = mappings_[m];
  if (mp.state == MappingState::kFree) return;
  if (mp.state == MappingState::kHeld) held_count_--;
  SetPortOwner(ExternalIndex(mp.ext_addr), mp.proto, mp.ext_port, kPortFree);
  index_.Erase(Hash(mp.ns, mp.proto, mp.in_addr, mp.in_port), m);
  HostState& host = Host(mp.ns, mp.in_addr);
  const int pi = ProtoIndex(mp.proto);
  if (host.ports[pi]) host.ports[pi]--;
  if (uint32_t& n = NsPorts(mp.ns, mp.proto); n) n--;
  MaybeDropHost(mp.ns, mp.in_addr);
  mp.state = MappingState::kFree;
  mp.generation++;
  mp.refs = 0;
  count_--;
  free_.push_back(m);
}

void MappingTable::ExpireHeld(uint32_t now_s) {
  // Constant hold time, so the queue is in expiry order.
  while (!held_.empty()) {
    auto [m, gen] = held_.front();
    const Mapping& mp = mappings_[m];
    if (mp.state == MappingState::kHeld && mp.generation == gen) {
      if (mp.hold_until_s > now_s) break;
      Free(m);
    }
    held_.pop_front();
  }
}

void MappingTable::RemoveNamespace(NamespaceId ns) {
  for (uint32_t m = 0; m < mappings_.size(); ++m) {
    if (mappings_[m].state != MappingState::kFree && mappings_[m].ns == ns) {
      Free(m);
    }
  }
  if (ns < ns_ports_.size()) ns_ports_[ns] = {};
}

size_t MappingTable::MemoryUsage() const {
  return mappings_.capacity() * sizeof(Mapping) + index_.MemoryUsage() +
         hosts_.capacity() * (sizeof(std::pair<uint64_t, HostState>) + 1) +
         free_.capacity() * 4;
}

}  // namespace internal
}  // namespace unat
