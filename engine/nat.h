// The NAT engine: connection tracking and IPv4 translation, with no I/O.
//
// Packets and time go in; rewritten packets and verdicts come out. The
// caller owns buffers, devices, threads and clocks. One Nat is one shard:
// it is not thread-safe, and needs no locks when each thread owns its own.
//
// The public headers (this one, nat_config.h, types.h, helper.h, wire.h,
// checksum.h) are installed as <unat/nat.h>, <unat/types.h>, ...: they
// include each other by file name only, so that the same text works here in
// engine/ and installed under include/unat/ (see docs/embedding.md).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "helper.h"
#include "nat_config.h"
#include "types.h"

namespace unat {

enum class TcpState : uint8_t {
  kSynSent = 0,  // SYN seen from the originator only
  kSynReceived,  // SYN seen from both sides
  kEstablished,  // handshake completed
  kFinWait,      // FIN seen in one direction
  kClosing,      // FIN seen in both directions
  kClosed,       // valid RST seen
  kCount
};
const char* TcpStateName(TcpState state);

enum class ForwardOwner : uint8_t { kStatic = 0, kNatPmp, kPcp, kUpnp };
const char* ForwardOwnerName(ForwardOwner owner);

// A remote peer allowed through a forward (PCP FILTER): addr/prefix_len,
// and port (0: any port).
struct RemoteFilter {
  uint32_t addr = 0;
  uint8_t prefix_len = 32;
  uint16_t port = 0;
};

// (proto, external port[, external address]) -> (namespace, inside
// address, inside port).
struct ForwardSpec {
  uint8_t proto = kProtoTcp;
  uint32_t external_addr = 0;  // 0: every external address
  uint16_t external_port = 0;
  NamespaceId ns = kInvalidNamespace;
  uint32_t inside_addr = 0;
  uint16_t inside_port = 0;
  ForwardOwner owner = ForwardOwner::kStatic;
  uint32_t owner_client = 0;  // the inside host that asked (leases)
  TimeMs expires = 0;         // 0: never (static)
  std::string description;
  // Empty: any remote may connect. Otherwise only these (at most
  // kMaxRemoteFilters); others are dropped as `filtered`.
  std::vector<RemoteFilter> allowed_remotes;
  static constexpr size_t kMaxRemoteFilters = 16;
  // A disabled forward keeps its external port but lets nothing in
  // (dropped as `forward_disabled`); UPnP NewEnabled = 0.
  bool enabled = true;
};

struct ForwardInfo {
  uint32_t id = 0;
  ForwardSpec spec;
};

struct NamespaceInfo {
  NamespaceId id = kInvalidNamespace;
  std::string name;
  uint32_t gateway = 0;
  uint8_t prefix_len = 0;
  uint32_t flows = 0;
  uint64_t packets[2] = {0, 0};  // indexed by arrival Side
  uint64_t bytes[2] = {0, 0};
  std::vector<Ipv4Prefix> routed_prefixes;
  // External ports (mappings) held, by protocol index, and the quota.
  uint32_t ports[kNumProtos] = {};
  uint32_t port_quota[kNumProtos] = {};
};

struct Stats {
  std::array<uint64_t, kNumDropReasons> drops{};
  // [proto index][TcpState or 0 for UDP/ICMP]
  std::array<std::array<uint32_t, static_cast<int>(TcpState::kCount)>,
             kNumProtos>
      flows{};
  uint32_t flows_total = 0;
  uint32_t mappings = 0;       // live and held
  uint32_t mappings_held = 0;  // in their post-expiry hold time
  uint32_t forwards = 0;
  uint32_t expectations = 0;
  uint32_t related_flows = 0;   // helpers' related flows held (reserved
                                // or open: PPTP calls)
  uint64_t related_opened = 0;  // related flows opened
  uint64_t flows_created = 0;
  uint64_t flows_expired = 0;
  uint64_t expiry_visits = 0;  // flows the reaper looked at
  uint64_t icmp_errors_sent = 0;
  uint64_t icmp_errors_rate_limited = 0;
  uint32_t half_open_inbound = 0;  // inbound flows not answered yet
  uint64_t half_open_evicted = 0;  // evicted for a newer one
  uint64_t packets[2] = {0, 0};    // forwarded, by arrival Side
  uint64_t bytes[2] = {0, 0};
  // Fragments. Every fragment that reaches reassembly is accounted for:
  //   fragments_in == fragments_forwarded + fragments_reassembled +
  //                   fragments_dropped + fragments_held
  // and each of fragments_dropped is also in drops[] under its reason.
  // (Fragments refused before reassembly, by the header checks, as martians,
  // for their TTL or as addressed to the NAT, are plain drops only.)
  uint64_t fragments_in = 0;                  // reached reassembly
  uint64_t fragments_forwarded = 0;           // translated one by one (virtual)
  uint64_t fragments_reassembled = 0;         // merged into a rebuilt datagram
  uint64_t fragments_dropped = 0;             // dropped, each under a reason
  uint64_t datagrams_reassembled = 0;         // rebuilt whole (full)
  uint64_t fragment_datagrams_timed_out = 0;  // incomplete at the timeout
  uint64_t fragments_created = 0;             // made by egress fragmentation
  // TCP segments sent for ones a helper grew past their sender's segment
  // size (Nat::Impl::Resegment): each such segment counts the pieces.
  uint64_t segments_created = 0;
  // GSO super-packets (Packet::offload) the full path took: cut into their
  // segments in software first (a helper's flow, too big for the egress,
  // ...). The fast path translates the rest whole.
  uint64_t super_packets_segmented = 0;
  uint32_t fragment_datagrams = 0;   // in reassembly now
  uint32_t fragment_bytes_held = 0;  // held now
  uint32_t fragments_held = 0;       // held now
};

class Nat {
 public:
  static absl::StatusOr<std::unique_ptr<Nat>> Create(const NatConfig& config);
  ~Nat();
  Nat(const Nat&) = delete;
  Nat& operator=(const Nat&) = delete;

  const NatConfig& config() const;

  // Applies a new policy to a running engine without dropping anything:
  // timeouts, limits, filtering, port ranges and preferences (for new
  // mappings), ICMP error rate, fragment settings, outside MTU. The external
  // addresses cannot change this way (FailedPrecondition). Same validation
  // as Create().
  absl::Status UpdatePolicy(const NatConfig& config);

  // Tenants. Removing one removes all its flows, mappings, forwards and
  // expectations. A removed tenant's id is not given to a new one until
  // every id has been used once.
  absl::StatusOr<NamespaceId> AddNamespace(const NamespaceConfig& config);
  absl::Status RemoveNamespace(NamespaceId ns);
  // Replaces a namespace's routed prefixes (NamespaceConfig); flows from
  // sources no longer inside the tenant end.
  absl::Status SetRoutedPrefixes(NamespaceId ns,
                                 std::vector<Ipv4Prefix> prefixes);
  // Whether `addr` is one of the namespace's own addresses (its link prefix
  // or a routed prefix): the hosts it translates and serves.
  bool IsInsideAddress(NamespaceId ns, uint32_t addr) const;
  std::vector<NamespaceInfo> Namespaces() const;
  absl::StatusOr<NamespaceId> FindNamespace(std::string_view name) const;

  // Where engine-made packets go (ICMP errors, local helper answers).
  void SetSink(PacketSink* sink);

  // Helpers. PacketHelpers are matched when a flow is created: the flow's
  // server port (the remote port of an outbound flow, the inside port of a
  // forwarded one). LocalHelpers answer (proto, port) on gateway addresses.
  // A PacketHelper registered on port 0 is on no port: only the related
  // flows of expectations that name it get it (H.245 under H.323).
  absl::Status RegisterPacketHelper(uint8_t proto, uint16_t server_port,
                                    PacketHelper* helper);
  absl::Status RegisterLocalHelper(uint8_t proto, uint16_t port,
                                   LocalHelper* helper);
  // Takes a PacketHelper off every port it has (a helper turned off in a
  // running daemon): new flows no longer get it, its expectations and those
  // of the flows it is on are gone, and so are the holds it placed. The
  // flows it is on stay up and keep the TCP sequence adjustment of what it
  // rewrote, without reaching it again: the caller may destroy it once this
  // returns. NotFound: it is not registered.
  absl::Status UnregisterPacketHelper(PacketHelper* helper);
  // Takes a LocalHelper off every (proto, port) it has; returns how many.
  size_t UnregisterLocalHelper(const LocalHelper* helper);

  // The packet path. `ns` is the tenant whose inside device the packet came
  // from. The packet is rewritten in place.
  Verdict ProcessInside(NamespaceId ns, Packet& packet, TimeMs now);
  Verdict ProcessOutside(Packet& packet, TimeMs now);

  // The same as calling Process*() on each packet in order, with the table
  // lookups of the batch prefetched first so their memory latency overlaps.
  // `verdicts` must be at least as long as `packets`.
  void ProcessInsideBatch(NamespaceId ns, std::span<Packet> packets,
                          Verdict* verdicts, TimeMs now);
  void ProcessOutsideBatch(std::span<Packet> packets, Verdict* verdicts,
                           TimeMs now);

  // Expires flows, mappings, forwards and expectations due by `now`. Cost is
  // proportional to what is due, not to the table size. Call it often (e.g.
  // every 100 ms); Process*() never expires anything by itself, but never
  // uses an entry that is past its time either.
  void Advance(TimeMs now);

  // Port forwards. Add fails with AlreadyExists on a clash with another
  // forward or a live (or held) mapping, InvalidArgument on a bad spec.
  absl::StatusOr<uint32_t> AddForward(const ForwardSpec& spec, TimeMs now);
  // Removes the forward and the flows it created.
  absl::Status RemoveForward(uint8_t proto, uint32_t external_addr,
                             uint16_t external_port);
  absl::Status RemoveForwardById(uint32_t id);
  // Extends or shortens a lease.
  absl::Status RenewForward(uint32_t id, TimeMs expires);
  // Replaces a forward's remote filter (InvalidArgument past the maximum).
  absl::Status SetForwardFilter(uint32_t id,
                                std::vector<RemoteFilter> allowed_remotes);
  // Enables or disables a forward; disabling ends the flows it created.
  absl::Status SetForwardEnabled(uint32_t id, bool enabled);
  std::vector<ForwardInfo> Forwards() const;
  // One forward by id (nullopt: no live forward has that id). O(1).
  std::optional<ForwardSpec> Forward(uint32_t id) const;

  // Creates (or finds) the outbound flow inside endpoint -> remote endpoint,
  // as its first packet would, and keeps it alive for at least `lifetime_s`
  // from `now` even when idle (0: unpin, normal idle timeouts apply).
  // PCP PEER uses this. Returns the flow's external endpoint.
  absl::StatusOr<ExternalEndpoint> EnsureFlow(NamespaceId ns, uint8_t proto,
                                              uint32_t inside_addr,
                                              uint16_t inside_port,
                                              uint32_t remote_addr,
                                              uint16_t remote_port,
                                              uint32_t lifetime_s, TimeMs now);

  // Whether (proto, external addr, port) is taken by a mapping, a held
  // mapping or a forward. For port-mapping protocols choosing a port.
  bool ExternalPortInUse(uint8_t proto, uint32_t external_addr,
                         uint16_t port) const;
  const std::vector<uint32_t>& external_addresses() const;

  // Dumps, for the control plane (not for the packet path).
  void ForEachFlow(const std::function<void(const FlowInfo&)>& fn) const;
  Stats GetStats() const;

  // Approximate bytes the tables hold (for the benchmarks' bytes per flow).
  size_t MemoryUsage() const;

  class Impl;

 private:
  explicit Nat(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Dotted-quad helpers (host byte order).
std::string Ipv4ToString(uint32_t addr);
std::optional<uint32_t> ParseIpv4(std::string_view text);

}  // namespace unat
