// Mappings and the port allocator: endpoint-independent mappings (RFC 4787
// REQ-1) from an inside endpoint to an external one, the owner of every
// external port (a mapping or a forward), port parity and preservation,
// the hold time of a released port, paired pooling (one external address
// per inside host), and the per-host and per-namespace port quotas.
//
// A mapping is counted: flows and expectations hold references; the last
// release parks it for the hold time (so a port is not handed to another
// host at once) and then frees its port.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "engine/flow_index.h"
#include "engine/flow_table.h"
#include "engine/nat.h"
#include "engine/port_claims.h"

namespace unat {
namespace internal {

// Port table entries: kPortFree, a mapping index, or kPortForwardBit |
// forward index.
constexpr uint32_t kPortFree = 0xffffffff;
constexpr uint32_t kPortForwardBit = 0x80000000;

enum class MappingState : uint8_t { kFree, kLive, kHeld };

struct Mapping {  // 28 bytes
  uint32_t in_addr;
  uint32_t ext_addr;
  uint16_t in_port;
  uint16_t ext_port;
  NamespaceId ns;
  uint8_t proto;
  MappingState state;  // (its external address index: ExternalIndex)
  uint32_t refs;       // flows + expectations
  uint32_t hold_until_s;
  uint32_t generation;
};

// What an inside host holds: its flows (for max_flows_per_host), its ports
// per protocol and the external address paired pooling gave it.
struct HostState {
  uint32_t flows = 0;
  uint32_t ports[kNumProtos] = {};
  uint8_t ext_index = 0;
  bool empty() const {
    if (flows != 0) return false;
    for (uint32_t p : ports) {
      if (p != 0) return false;
    }
    return true;
  }
};

class SplitMix {
 public:
  explicit SplitMix(uint64_t seed) : s_(seed) {}
  uint64_t Next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  uint64_t s_;
};

class MappingTable {
 public:
  // `config` must outlive the table (the engine's, updated in place by
  // UpdatePolicy; the external addresses never change).
  MappingTable(const NatConfig& config, uint64_t hash_seed, uint64_t rng_seed);
  // A shard that goes gives its ports back to the others.
  ~MappingTable();
  MappingTable(const MappingTable&) = delete;
  MappingTable& operator=(const MappingTable&) = delete;

  // ---- external addresses ----
  // The index of `addr` among the external addresses, or -1. A bitmap over
  // a 16-bit fold answers "not ours" (nearly every lookup on the packet
  // path) without touching the hash map.
  int ExternalIndex(uint32_t addr) const {
    const uint32_t h = AddrFold(addr);
    if (!(ext_filter_[h >> 6] & (uint64_t{1} << (h & 63)))) return -1;
    auto it = ext_index_.find(addr);
    return it == ext_index_.end() ? -1 : it->second;
  }

  // ---- port owners ----
  uint32_t PortOwner(int ext_index, uint8_t proto, uint16_t port) const {
    return ports_[ext_index * kNumProtos + ProtoIndex(proto)][port];
  }
  // Freeing a port (owner kPortFree) also gives up its shard claim.
  void SetPortOwner(int ext_index, uint8_t proto, uint16_t port,
                    uint32_t owner) {
    ports_[ext_index * kNumProtos + ProtoIndex(proto)][port] = owner;
    if (owner == kPortFree) UnclaimPort(ext_index, proto, port);
  }
  // Shards (NatConfig::claims): takes the port for this shard; false when
  // another shard holds it. Always true for a Nat alone.
  bool ClaimPort(int ext_index, uint8_t proto, uint16_t port) {
    PortClaims* c = config_.claims.get();
    return c == nullptr || c->Claim(ext_index, proto, port, config_.shard);
  }
  void UnclaimPort(int ext_index, uint8_t proto, uint16_t port) {
    if (PortClaims* c = config_.claims.get()) {
      c->Release(ext_index, proto, port, config_.shard);
    }
  }

  // ---- mappings ----
  const Mapping& operator[](uint32_t m) const { return mappings_[m]; }
  uint32_t size() const { return static_cast<uint32_t>(mappings_.size()); }
  // The inside endpoint's mapping, reused (and revived from its hold) or
  // made with a fresh external port, with one reference taken; kNone with
  // *why set when a quota or the pool says no. `ns_quota`: the external
  // ports the namespace may hold for `proto`.
  uint32_t GetOrCreate(NamespaceId ns, uint8_t proto, uint32_t addr,
                       uint16_t port, uint32_t ns_quota, DropReason* why);
  // The mappings of an inside port and the next one on an even external
  // port and the next one (RTP and RTCP, RFC 3550), each with a reference
  // taken. An existing mapping of either fixes the pair; false (nothing
  // taken, *why set) when that pair cannot be made, the pool has no two
  // adjacent free ports, or a quota says no.
  bool GetOrCreatePair(NamespaceId ns, uint8_t proto, uint32_t addr,
                       uint16_t port, uint32_t ns_quota, uint32_t* first,
                       uint32_t* second, DropReason* why);
  void Retain(uint32_t m) { mappings_[m].refs++; }
  // Drops a reference; the last one parks the mapping for the hold time.
  void Release(uint32_t m, uint32_t now_s);
  // Frees a mapping and its port now, whatever holds it.
  void Free(uint32_t m);
  // Frees the held mappings whose hold ended.
  void ExpireHeld(uint32_t now_s);
  // Frees every mapping of a namespace (being removed).
  void RemoveNamespace(NamespaceId ns);

  // ---- hosts and quotas ----
  // A host's state, made on first use with the external address paired
  // pooling gives it (RFC 4787 REQ-2: one external address per host, the
  // same one whenever it comes back).
  HostState& Host(NamespaceId ns, uint32_t addr) {
    auto [it, added] = hosts_.try_emplace(HostKey(ns, addr));
    if (added && !config_.external_addresses.empty()) {
      it->second.ext_index = static_cast<uint8_t>(
          Mix64(HostKey(ns, addr)) % config_.external_addresses.size());
    }
    return it->second;
  }
  // The external address paired pooling gives a host.
  uint32_t PairedAddress(NamespaceId ns, uint32_t addr) {
    return config_.external_addresses[Host(ns, addr).ext_index];
  }
  // Forgets a host that holds nothing any more.
  void MaybeDropHost(NamespaceId ns, uint32_t addr);
  // External ports (live and held mappings) a namespace holds per protocol.
  uint32_t NamespacePorts(NamespaceId ns, uint8_t proto) const {
    return ns < ns_ports_.size() ? ns_ports_[ns][ProtoIndex(proto)] : 0;
  }

  uint32_t live_and_held() const { return count_; }
  uint32_t held() const { return held_count_; }
  size_t MemoryUsage() const;

 private:
  static uint32_t AddrFold(uint32_t a) { return (a ^ (a >> 16)) & 0xffff; }
  static uint64_t HostKey(NamespaceId ns, uint32_t addr) {
    return (uint64_t{ns} << 32) | addr;
  }
  uint32_t Hash(NamespaceId ns, uint8_t proto, uint32_t addr,
                uint16_t port) const {
    return KeyHash(seed_, ns, proto, addr, port, 0, 0);
  }
  uint32_t Find(uint32_t hash, NamespaceId ns, uint8_t proto, uint32_t addr,
                uint16_t port) const;
  int AllocatePort(int ext_index, uint8_t proto, uint16_t in_port);
  // An even free port whose successor is free too, or -1.
  int AllocatePair(int ext_index, uint8_t proto);
  // Whether `count` more mappings fit the host's and namespace's quotas.
  bool RoomFor(const HostState& host, NamespaceId ns, uint8_t proto,
               uint32_t addr, uint32_t count, uint32_t ns_quota,
               DropReason* why);
  // A new live mapping (one reference) of the inside endpoint on ext_port.
  uint32_t CreateAt(HostState& host, uint32_t key_hash, NamespaceId ns,
                    uint8_t proto, uint32_t addr, uint16_t port,
                    uint16_t ext_port);
  // A found mapping taken again (revived from its hold if need be).
  uint32_t Revive(uint32_t m);
  uint32_t& NsPorts(NamespaceId ns, uint8_t proto) {
    if (ns >= ns_ports_.size()) ns_ports_.resize(size_t{ns} + 1);
    return ns_ports_[ns][ProtoIndex(proto)];
  }

  const NatConfig& config_;
  uint64_t seed_;
  SplitMix rng_;
  std::vector<uint64_t> ext_filter_;
  absl::flat_hash_map<uint32_t, int> ext_index_;
  std::vector<Mapping> mappings_;
  std::vector<uint32_t> free_;
  // (namespace, proto, inside addr, inside port) -> mapping: 8-byte slots
  // compared against the mapping records, as the flow index does.
  FlowIndex index_;
  std::deque<std::pair<uint32_t, uint32_t>> held_;  // (mapping, generation)
  std::vector<std::vector<uint32_t>> ports_;        // [ext][proto] -> owner
  absl::flat_hash_map<uint64_t, HostState> hosts_;
  std::vector<std::array<uint32_t, kNumProtos>> ns_ports_;
  uint32_t count_ = 0;
  uint32_t held_count_ = 0;
};

}  // namespace internal
}  // namespace unat
