// Engine configuration: plain values, checked by Nat::Create().
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "types.h"

namespace unat {
class PortClaims;  // port_claims.h
}

namespace unat {

// RFC 4787 section 5 filtering behaviours for inbound packets that match a
// mapping but no flow.
enum class FilteringMode : uint8_t {
  kEndpointIndependent = 0,
  kAddressDependent = 1,
  kAddressAndPortDependent = 2,
};

struct Timeouts {
  uint32_t tcp_established_s = 7440;  // RFC 5382 REQ-5: >= 2 h 4 min
  uint32_t tcp_transitory_s = 240;    // RFC 5382 REQ-5: >= 4 min
  uint32_t udp_s = 300;               // RFC 4787 REQ-5: >= 2 min
  uint32_t icmp_s = 60;               // RFC 5508 REQ-1: >= 60 s
  // A freed external port stays reserved for this long (RFC 6888 REQ-8): the
  // same inside endpoint gets it back, nobody else does.
  uint32_t port_hold_s = 120;
  // An inbound TCP flow (through a forward, a mapping's filter or an
  // expectation) whose handshake has not completed: how long it may sit
  // unanswered. Linux conntrack's SYN_RECV timeout; at least RFC 5382
  // REQ-4's 6 s for an unsolicited SYN.
  uint32_t tcp_inbound_syn_s = 60;
  // An inbound UDP flow (through a forward, a mapping's filter or an
  // expectation) the inside host has not answered yet: conntrack's
  // unreplied UDP timeout. Once answered it has udp_s.
  uint32_t udp_inbound_unanswered_s = 30;
  // GRE flows (netfilter's GRE timeouts): until both sides have sent, and
  // after. A PPTP call's GRE flow lives as long as its call.
  uint32_t gre_unreplied_s = 30;
  uint32_t gre_stream_s = 180;
};

struct Limits {
  uint32_t max_flows = 1u << 20;         // whole engine
  uint32_t max_flows_per_namespace = 0;  // 0: no limit of its own
  uint32_t max_flows_per_host = 8192;    // per (namespace, inside address)
  uint32_t max_ports_per_host = 4096;    // mappings per inside host, per proto
  // External ports (mappings, live and held) per namespace, per protocol
  // (RFC 6888 REQ-4 for a tenant). 0: a fair share, the pool of that
  // protocol (port or ICMP id range times external addresses) divided by
  // the namespaces there are.
  uint32_t max_ports_per_namespace = 0;
  // Inbound flows not yet answered (half-open): TCP whose handshake has
  // not completed, UDP the inside host has not replied to; per forward or
  // mapping they arrive through, and in all. They do not count against
  // max_flows_per_host until answered; past either limit the oldest
  // half-open flow of the fullest forward is evicted for the new one.
  // Answered flows are never evicted.
  uint32_t max_half_open_per_forward = 1024;
  uint32_t max_half_open = 16384;
  // Expectations (related flows helpers announced) waiting in all; past it
  // a helper's Expect() fails. Per master flow, the helper's own
  // ExpectationPolicy limits them. 0: no limit.
  uint32_t max_expectations = 4096;
};

// IPv4 fragments. Virtual reassembly translates each fragment as it passes
// (held only until the first fragment, which carries the ports, arrives);
// full reassembly rebuilds the datagram, translates it once and fragments it
// again for the egress MTU. Datagrams of flows with an ALG helper are always
// fully reassembled.
enum class ReassemblyMode : uint8_t { kVirtual = 0, kFull = 1 };

struct FragmentConfig {
  ReassemblyMode mode = ReassemblyMode::kVirtual;
  uint32_t max_bytes = 4u << 20;                // fragment bytes held, in all
  uint32_t max_datagrams_per_namespace = 1024;  // the outside counts as one
  uint32_t max_fragments_per_datagram = 64;
  uint32_t timeout_ms = 30000;
};

struct NatConfig {
  // External (outside) IPv4 addresses, host byte order. At least one.
  std::vector<uint32_t> external_addresses;
  // Port range handed out to dynamic TCP/UDP mappings (inclusive).
  uint16_t port_min = 1024;
  uint16_t port_max = 65535;
  // ICMP query identifiers handed out (inclusive).
  uint16_t icmp_id_min = 1;
  uint16_t icmp_id_max = 65535;
  // Try the inside port first (RFC 4787 REQ-3 "port preservation"), and keep
  // the port's parity when a new one is chosen (REQ-4).
  bool port_preservation = false;
  bool port_parity = true;
  FilteringMode filtering = FilteringMode::kAddressAndPortDependent;
  Timeouts timeouts;
  Limits limits;
  FragmentConfig fragments;
  // MTU of the outside device: longer packets are fragmented (DF clear) or
  // answered with ICMP fragmentation needed (DF set).
  uint16_t outside_mtu = 1500;
  // ICMP errors the NAT itself sends (time exceeded, ...): token bucket.
  uint32_t icmp_errors_per_second = 100;
  uint32_t icmp_error_burst = 50;
  // Seed for port randomisation; 0 draws one from std::random_device.
  uint64_t random_seed = 0;
  // One shard of several (port_claims.h): every shard's Nat gets the same
  // `claims`, made for the same external_addresses in the same order, and
  // an index of its own (below PortClaims::kMaxShards). A port one shard
  // holds (a mapping, live or held, or a forward) is never handed out by
  // another. Null: this Nat alone owns its external ports. Fixed at
  // Create (UpdatePolicy refuses a change).
  std::shared_ptr<PortClaims> claims;
  uint8_t shard = 0;
};

// The netmask of an IPv4 prefix length (0..32), host byte order.
inline uint32_t PrefixMask(uint8_t len) {
  return len == 0 ? 0 : ~uint32_t{0} << (32 - len);
}

struct Ipv4Prefix {
  uint32_t addr = 0;  // host byte order; bits past len are ignored
  uint8_t len = 32;
  uint32_t mask() const { return PrefixMask(len); }
  bool Contains(uint32_t a) const { return ((a ^ addr) & mask()) == 0; }
  bool operator==(const Ipv4Prefix&) const = default;
};

struct NamespaceConfig {
  std::string name;
  uint32_t gateway = 0;     // unat's own address on this inside network
  uint8_t prefix_len = 24;  // the inside network is gateway/prefix_len
  uint16_t mtu = 1500;      // of this namespace's inside device
  // Networks behind a router of the tenant's own (a VPN server's client
  // range, a second subnet), reached through the same device. Only
  // sources in gateway/prefix_len or in one of these are translated; the
  // rest are dropped as spoofed_source.
  std::vector<Ipv4Prefix> routed_prefixes = {};
  static constexpr size_t kMaxRoutedPrefixes = 64;
};

}  // namespace unat
