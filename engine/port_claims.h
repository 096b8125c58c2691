// Shards: several Nat instances (one per thread, run to completion, no
// lock on the packet path) translating for one set of external addresses.
// PortClaims is what they share: which shard holds each external (address,
// protocol, port), so that no two shards hand out the same port and an
// inbound packet can be steered to the shard that holds its flow.
//
// Lock-free: a shard claims a free port with one compare-and-swap when it
// allocates it (a mapping, live or held, or a forward) and releases it when
// the port is free again; anyone reads the owner. A port's claim is visible
// before the first packet that uses it leaves its shard, so a reply that
// comes back finds it.
//
// Steering (the caller's side): an inside host's packets go to
// OutboundShard(ns, source address): every flow of a host, and so its
// mappings, port quota and endpoint-independent mappings, lives on one
// shard. An outside packet goes to InboundShard(): the owner of the
// external port it is addressed to (for an ICMP error, the port of the
// datagram it quotes). What no shard owns (a port nobody holds, a fragment
// without ports) may go to any shard: it finds no flow there either.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "types.h"

namespace unat {

class PortClaims {
 public:
  static constexpr uint8_t kFree = 0xff;
  static constexpr uint32_t kMaxShards = 254;
  static constexpr int kNoShard = -1;

  // For these external addresses (host order), in the order every shard's
  // NatConfig::external_addresses lists them.
  explicit PortClaims(std::vector<uint32_t> external_addresses);
  PortClaims(const PortClaims&) = delete;
  PortClaims& operator=(const PortClaims&) = delete;

  const std::vector<uint32_t>& external_addresses() const { return addrs_; }

  // Takes the port for `shard` if it is free; true when `shard` holds it
  // now (also when it already did).
  bool Claim(int ext_index, uint8_t proto, uint16_t port, uint8_t shard) {
    std::atomic<uint8_t>& o = Slot(ext_index, proto, port);
    uint8_t expected = kFree;
    return o.compare_exchange_strong(expected, shard,
                                     std::memory_order_acq_rel) ||
           expected == shard;
  }
  // Gives the port back (only its holder can).
  void Release(int ext_index, uint8_t proto, uint16_t port, uint8_t shard) {
    uint8_t expected = shard;
    Slot(ext_index, proto, port)
        .compare_exchange_strong(expected, kFree, std::memory_order_acq_rel);
  }
  // The shard holding the port, or kFree.
  uint8_t Owner(int ext_index, uint8_t proto, uint16_t port) const {
    return owners_[Index(ext_index, proto, port)].load(
        std::memory_order_acquire);
  }
  // -1 when `addr` is not one of the external addresses.
  int ExternalIndex(uint32_t addr) const;

  // The shard of an outside packet (an IPv4 datagram, `len` bytes): the
  // holder of the TCP/UDP destination port or ICMP query identifier it is
  // addressed to, or of the source port / identifier of the datagram an
  // ICMP error quotes; kNoShard when no shard holds it or it has none.
  int InboundShard(const uint8_t* packet, size_t len) const;

  // Ports each shard holds now, for `proto` (a scan: for tests and
  // control).
  std::vector<uint32_t> CountByShard(uint8_t proto, uint32_t shards) const;

 private:
  static constexpr int kProtos = kNumProtos;  // the engine's port tables
  static size_t Index(int ext_index, uint8_t proto, uint16_t port) {
    return (static_cast<size_t>(ext_index) * kProtos + ProtoIndex(proto)) *
               65536 +
           port;
  }
  std::atomic<uint8_t>& Slot(int ext_index, uint8_t proto, uint16_t port) {
    return owners_[Index(ext_index, proto, port)];
  }

  std::vector<uint32_t> addrs_;
  std::unique_ptr<std::atomic<uint8_t>[]> owners_;
};

// The shard of an inside host's packets (every flow of a host on one).
uint32_t OutboundShard(NamespaceId ns, uint32_t inside_source, uint32_t shards);

}  // namespace unat
