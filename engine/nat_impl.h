// Internals of the engine shared by its .cc files. Not part of the API:
// embedders include engine/nat.h only.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstring>
#include <deque>
#include <random>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/alg.h"
#include "engine/expectations.h"
#include "engine/filtering.h"
#include "engine/flow_table.h"
#include "engine/forwards.h"
#include "engine/fragments.h"
#include "engine/half_open.h"
#include "engine/icmp.h"
#include "engine/l4proto.h"
#include "engine/mappings.h"
#include "engine/nat.h"
#include "engine/related.h"
#include "engine/tcp_track.h"
#include "engine/wire.h"

namespace unat {

namespace internal {

struct NamespaceEntry {
  bool live = false;
  std::string name;
  uint32_t gateway = 0;
  uint8_t prefix_len = 0;
  uint32_t mask = 0;
  uint16_t mtu = 1500;
  std::vector<Ipv4Prefix> routed;  // behind a router of the tenant's
  uint32_t flows = 0;
  // Whether `a` is one of this tenant's addresses: its link prefix or a
  // routed prefix. Only those are translated (reverse-path check).
  bool Contains(uint32_t a) const {
    return ((a ^ gateway) & mask) == 0 || InRouted(a);
  }
  bool InRouted(uint32_t a) const {
    for (const Ipv4Prefix& p : routed) {
      if (p.Contains(a)) return true;
    }
    return false;
  }
  // A destination that stays inside, untranslated: another host of the
  // link (a /0 "link" is the whole Internet, so not that) or of a routed
  // prefix.
  bool IsLocalDestination(uint32_t a) const {
    return (mask != 0 && ((a ^ gateway) & mask) == 0) || InRouted(a);
  }
  uint64_t packets[2] = {0, 0};
  uint64_t bytes[2] = {0, 0};
};

// Verdicts of the fast path, built as the integer their bytes make: GCC
// assembles a Verdict aggregate from byte stores, and the wide load that
// returns it then waits for the store buffer (a failed store forward) on
// every packet.
static_assert(sizeof(Verdict) == 6 && offsetof(Verdict, action) == 0 &&
              offsetof(Verdict, reason) == 1 &&
              offsetof(Verdict, out_side) == 2 &&
              offsetof(Verdict, out_ns) == 4 &&
              std::endian::native == std::endian::little);
inline uint64_t VerdictBits(Verdict::Action action, DropReason reason,
                            Side side, NamespaceId ns) {
  return uint64_t{action} | (uint64_t{static_cast<uint8_t>(reason)} << 8) |
         (uint64_t{static_cast<uint8_t>(side)} << 16) | (uint64_t{ns} << 32);
}
inline Verdict VerdictFromBits(uint64_t bits) {
  // Kept whole in memory (the empty asm): otherwise GCC splits the verdict
  // into its fields and rebuilds it with byte stores again.
  Verdict v;
  std::memcpy(&v, &bits, sizeof(Verdict));
  asm("" : "+m"(v));
  return v;
}
// What the fast path returns when the packet needs the full path: a drop
// without a reason, which no real verdict is.
constexpr uint64_t kFastPathDeclined = 0;

}  // namespace internal

using namespace internal;  // NOLINT: the engine's own internals

absl::Status ValidateRoutedPrefixes(const std::string& ns,
                                    const std::vector<Ipv4Prefix>& prefixes);

class Nat::Impl {
 public:
  explicit Impl(const NatConfig& config)
      : Impl(config, ResolveSeed(config.random_seed)) {}
  // The first draw of SplitMix(seed) seeds the hashes; the port generator
  // goes on where that draw left off.
  Impl(const NatConfig& config, uint64_t seed)
      : config_(config),
        flows_(SplitMix(seed).Next()),
        mappings_(config_, SplitMix(seed).Next(), seed + 0x9e3779b97f4a7c15ULL),
        filter_(config.filtering) {}
  static uint64_t ResolveSeed(uint64_t seed) {
    if (seed == 0) {
      std::random_device rd;
      seed = (uint64_t{rd()} << 32) | rd();
    }
    return seed;
  }

  // The engine's clock only moves forward.
  void SetNow(TimeMs now) {
    if (now > now_ms_) {
      now_ms_ = now;
      now_s_ = static_cast<uint32_t>(now / 1000);
    }
  }

  // An expectation of the flow `master`'s helper (engine/helper_context.cc).
  absl::StatusOr<ExternalEndpoint> Expect(FlowId master,
                                          const ExpectationSpec& spec);
  absl::StatusOr<ExternalEndpoint> ExpectPair(FlowId master,
                                              const ExpectationSpec& spec);
  // The checks and the room (the helper's policy, the engine's total) for
  // `count` expectations of one spec; the child helper and lifetime.
  absl::Status PrepareExpectations(FlowId master, const ExpectationSpec& spec,
                                   uint32_t count, uint8_t* child_helper,
                                   uint32_t* timeout_s);
  // Files an expectation of the master's on mapping m (its reference taken).
  void AddExpectation(FlowId master, const ExpectationSpec& spec, uint32_t m,
                      uint8_t child_helper, uint32_t timeout_s);
  uint32_t Unexpect(FlowId master, uint8_t proto, uint16_t external_port);
  // HelperContext::ExpectOutbound, and the helper (index + 1; 0: none) a
  // new outbound flow to that destination gets, consuming it.
  absl::Status ExpectOutbound(FlowId master, uint8_t proto,
                              uint32_t remote_addr, uint16_t remote_port,
                              uint32_t timeout_s, PacketHelper* helper);
  uint8_t OutboundHelper(NamespaceId ns, uint8_t proto, uint32_t in_addr,
                         uint32_t rem_addr, uint16_t rem_port);
  absl::Status HoldFlow(FlowId flow, uint32_t seconds);
  // A registered helper's number (index in helpers_ + 1), as a flow keeps
  // it; 0: not registered.
  uint8_t HelperIndex(const PacketHelper* helper) const {
    auto it = std::find(helpers_.begin(), helpers_.end(), helper);
    return it == helpers_.end()
               ? 0
               : static_cast<uint8_t>(it - helpers_.begin() + 1);
  }
  // Related flows of the flow `master`'s helper (HelperContext, same names).
  absl::StatusOr<ExternalEndpoint> ReserveRelated(FlowId master, uint8_t proto,
                                                  uint16_t in_port);
  absl::StatusOr<FlowId> OpenRelated(FlowId master, uint8_t proto,
                                     uint16_t in_port, uint16_t rem_port);
  bool CloseRelated(FlowId master, uint8_t proto, uint16_t in_port);
  // The master's related entry for (proto, in_port), made (its external
  // key reserved) if need be.
  absl::StatusOr<uint32_t> RelatedEntry(FlowId master, uint8_t proto,
                                        uint16_t in_port);
  // Closes entry r's flow and releases its reservation.
  void RemoveRelated(uint32_t r);

  // ---- namespaces ----
  absl::StatusOr<NamespaceId> AddNamespace(const NamespaceConfig& c);
  absl::Status RemoveNamespace(NamespaceId ns);
  absl::Status SetRoutedPrefixes(NamespaceId ns,
                                 std::vector<Ipv4Prefix> prefixes);

  // ---- packet path ----
  // The translation path. `first_fragment`: the packet is the first
  // fragment of a datagram in virtual reassembly (called from HandleFragment).
  Verdict ProcessInside(NamespaceId ns, Packet& pkt, TimeMs now,
                        bool first_fragment = false);
  Verdict ProcessOutside(Packet& pkt, TimeMs now, bool hairpin,
                         bool first_fragment = false);
  // Egress: a forwarded packet longer than its egress MTU is fragmented
  // through the sink (the verdict becomes kConsumed).
  Verdict Finish(Packet& pkt, Verdict v) {
    if (v.action != Verdict::kForward ||
        WireSize(pkt.len) <= EgressMtu(v.out_side, v.out_ns)) {
      return v;
    }
    return FinishOversize(pkt, v);
  }
  Verdict FinishOversize(Packet& pkt, Verdict v);
  // A TCP segment a helper grew past its sender's segment size (RunHelper's
  // `cut`): sent as segments of at most `size` payload bytes that fit the
  // egress MTU, all through the sink (kConsumed); left as it is (v) when it
  // fits, is not forwarded, or has no sink to go to.
  Verdict Resegment(Packet& pkt, Verdict v, uint16_t size);
  // Segment `n` of the TCP or UDP datagram at `ip` (`hl` IP and `l4hl` L4
  // header bytes) into `out`: payload bytes [off, off + chunk), IP ID + n,
  // TCP sequence + off with `tcp_flags` (UDP: its length), both checksums.
  // Its length. What Resegment and SegmentGso send.
  static uint16_t CutSegment(const uint8_t* ip, uint32_t hl, uint32_t l4hl,
                             uint32_t off, uint32_t chunk, uint16_t n,
                             uint8_t tcp_flags, uint8_t* out);
  // A GSO super-packet (Packet::offload.gso_size) leaves as segments of
  // its headers plus gso_size payload bytes: that is its size on the wire
  // for the MTU and DF checks. 0: a plain packet.
  static uint32_t GsoWire(const Packet& pkt) {
    if (pkt.offload.gso_size == 0 || pkt.len < 20) return 0;
    const uint8_t* d = pkt.data;
    const uint32_t hl = uint32_t{d[0] & 0x0fu} * 4;
    uint32_t l4hl = 8;
    if (d[ipv4_field::kProtocol] == kProtoTcp && pkt.len >= hl + 13) {
      l4hl = static_cast<uint32_t>(d[hl + 12] >> 4) * 4;
    }
    return hl + l4hl + pkt.offload.gso_size;
  }
  // The packets on the wire a super-packet stands for (its segments); 1
  // for a plain one. Packet counters count these.
  static uint32_t SegmentsOf(const Packet& pkt, uint32_t wire) {
    if (wire == 0 || wire >= pkt.len) return 1;
    const uint32_t size = pkt.offload.gso_size;
    const uint32_t payload = pkt.len - (wire - size);
    return (payload + size - 1) / size;
  }
  uint32_t WireSize(uint32_t len) const {
    return gso_wire_ != 0 && gso_wire_ < len ? gso_wire_ : len;
  }
  uint16_t EgressMtu(Side side, NamespaceId ns) const {
    if (side == Side::kOutside) return config_.outside_mtu;
    return ns < namespaces_.size() ? namespaces_[ns].mtu : 1500;
  }
  // Sends a packet out of (side, ns), fragmented to the egress MTU if needed.
  void EmitEgress(Side side, NamespaceId ns, uint8_t* data, uint16_t len);
  // DF set and too long for the egress: ICMP fragmentation needed to the
  // sender (from our address on its side). True when the packet must drop.
  bool TooBigWithDf(const Ipv4View& ip, Side from, NamespaceId ns, Side to,
                    NamespaceId to_ns) {
    if (WireSize(ip.size()) <= EgressMtu(to, to_ns) || !ip.dont_fragment()) {
      return false;
    }
    return AnswerTooBig(ip, from, ns, to, to_ns);
  }
  bool AnswerTooBig(const Ipv4View& ip, Side from, NamespaceId ns, Side to,
                    NamespaceId to_ns);
  // Fragments (engine/fragments.cc).
  Verdict HandleFragment(Side side, NamespaceId ns, Packet& pkt, Ipv4View& ip);
  void ExpireFragments();
  template <Side kSide>
  void ProcessBatch(NamespaceId ns, std::span<Packet> pkts, Verdict* out,
                    TimeMs now);
  // The established-flow fast path (engine/nat.cc): an option-less,
  // unfragmented IPv4 TCP or UDP packet of a live flow without a helper that
  // fits its egress MTU. Returns false, having changed nothing, when the
  // packet needs anything else; the full path then handles it from the
  // start. `hash`: the key hash if already computed (batch), else null.
  // Returns the verdict's VerdictBits, or kFastPathDeclined. FullInside and
  // FullOutside are the full paths with Finish().
  template <Side kSide>
  uint64_t FastPath(NamespaceId ns, Packet& pkt, TimeMs now,
                    const uint32_t* hash);
  // The accept-and-rewrite step every translated packet of flow idx takes,
  // on the fast path and the full path alike: the protocol's tracking
  // (false: drop, *why set), the flow's timeout and counters, then the
  // NAT's side of the packet rewritten (from inside: the source becomes the
  // external endpoint; from outside: the destination becomes the inside
  // endpoint) with the TTL decremented unless `keep_ttl` (a hairpin's
  // second leg), in one incremental update per checksum.
  template <Side kFrom>
  // `proto` is the flow's, `old_addr` the address being rewritten (the
  // source from inside, the destination from outside).
  __attribute__((always_inline)) inline bool AcceptAndRewrite(
      uint32_t idx, uint8_t proto, uint32_t old_addr, uint8_t* ip,
      const L4View& l4, uint16_t payload_len, uint16_t len, bool keep_ttl,
      DropReason* why);
  Verdict FullInside(NamespaceId ns, Packet& pkt, TimeMs now);
  Verdict FullOutside(Packet& pkt, TimeMs now);
  // A super-packet the fast path declined (a helper's flow, one too big
  // for its egress, a first packet, ...): cut into the segments the kernel
  // would have made, each through the full path and out through the sink,
  // so helpers, ICMP errors and fragmentation see real segments.
  // kConsumed.
  template <Side kSide>
  Verdict SegmentGso(NamespaceId ns, Packet& pkt, TimeMs now);
  // The flow-key hash a packet will be looked up by, from a quick read of
  // its headers; false if it has none (the full parse decides later).
  template <Side kSide>
  bool PeekHash(NamespaceId ns, const Packet& pkt, uint32_t* hash) const;
  void Advance(TimeMs now);

  // ---- forwards ----
  absl::StatusOr<uint32_t> AddForward(const ForwardSpec& spec, TimeMs now);
  absl::Status RemoveForwardIndex(uint32_t idx);
  // Deletes the flows a forward created (one pass over the flow table).
  void DeleteForwardFlows(uint32_t idx);
  absl::StatusOr<ExternalEndpoint> EnsureFlow(
      NamespaceId ns, uint8_t proto, uint32_t in_addr, uint16_t in_port,
      uint32_t rem_addr, uint16_t rem_port, uint32_t lifetime_s, TimeMs now);

  FlowInfo Info(uint32_t idx) const;
  // After a policy change: address-dependent filtering needs the
  // remote-address set of every mapping; the others need none.
  void SetFilteringMode(FilteringMode mode) {
    if (mode == filter_.mode()) return;
    filter_.SetMode(mode);
    if (mode != FilteringMode::kAddressDependent) return;
    for (uint32_t i = 0; i < flows_.size(); ++i) {
      const Flow& f = flows_[i];
      if (f.live() && f.has_mapping())
        filter_.FlowAdded(f.mapping(), f.rem_addr);
    }
  }
  Stats GetStats() const;
  size_t MemoryUsage() const;

  // The components, in the order a packet meets them (docs/architecture.md).
  NatConfig config_;
  FlowTable flows_;
  MappingTable mappings_;
  Filter filter_;
  ForwardTable forwards_;
  ExpectationTable expects_;
  RelatedTable related_;
  HalfOpenTable half_open_;
  IcmpRateLimiter icmp_limiter_;

  PacketSink* sink_ = nullptr;
  std::vector<NamespaceEntry> namespaces_;
  uint32_t live_namespaces_ = 0;
  // GsoWire() of the packet being processed (0: a plain one), and the
  // segments it stands for (SegmentsOf), set as it enters the fast path,
  // which every packet passes first.
  uint32_t gso_wire_ = 0;
  uint32_t segs_ = 1;
  std::vector<PacketHelper*> helpers_;
  absl::flat_hash_map<uint32_t, uint8_t> helper_ports_;  // proto<<16|port
  absl::flat_hash_map<uint32_t, LocalHelper*> local_helpers_;
  // Outbound expectations (ExpectOutbound): by tenant, protocol, inside
  // host and destination; expired ones go when met or when the table is
  // full.
  struct OutboundKey {
    NamespaceId ns;
    uint8_t proto;
    uint32_t in_addr, rem_addr;
    uint16_t rem_port;
    bool operator==(const OutboundKey&) const = default;
    template <typename H>
    friend H AbslHashValue(H h, const OutboundKey& k) {
      return H::combine(std::move(h), k.ns, k.proto, k.in_addr, k.rem_addr,
                        k.rem_port);
    }
  };
  struct OutboundExpect {
    uint8_t helper;
    TimeMs expires;
  };
  static constexpr size_t kMaxOutboundExpects = 4096;
  absl::flat_hash_map<OutboundKey, OutboundExpect> out_expects_;

 private:
  friend class Nat;

  uint32_t FindInside(NamespaceId ns, uint8_t proto, uint32_t addr,
                      uint16_t port, uint32_t rem, uint16_t rport) const {
    return flows_.FindInside(ns, proto, addr, port, rem, rport);
  }
  uint32_t FindOutside(uint8_t proto, uint32_t addr, uint16_t port,
                       uint32_t rem, uint16_t rport) const {
    return flows_.FindOutside(proto, addr, port, rem, rport);
  }
  // Creates a flow; returns its index or kNone with *why set. A half-open
  // inbound TCP flow (`half_open`) is kept off its host's flow budget and
  // filed with the half-open flows of its forward or mapping instead.
  uint32_t NewFlow(const Flow& proto_flow, DropReason* why,
                   bool half_open = false);
  // A new flow inside endpoint -> remote on the endpoint's (new or shared)
  // mapping, as the first outbound packet creates it.
  uint32_t NewOutboundFlow(NamespaceId ns, uint8_t proto, uint32_t in_addr,
                           uint16_t in_port, uint32_t rem_addr,
                           uint16_t rem_port, DropReason* why);
  void DeleteFlow(uint32_t idx, bool expired);
  uint32_t Timeout(const Flow& f) const;
  // Drops a flow found past its time before it is used.
  bool ExpiredNow(uint32_t idx) {
    if (flows_[idx].expires_s > now_s_) return false;
    if (Repin(idx)) return false;
    DeleteFlow(idx, true);
    return true;
  }
  // A flow pinned (PCP PEER, a helper's HoldFlow) past its idle expiry
  // lives on until the pin;
  // a helper's open related flow (a PPTP call's GRE) as long as it is open.
  // Pins flow `idx` for `seconds` from now; 0 unpins it.
  void Pin(uint32_t idx, uint32_t seconds) {
    if (seconds == 0) {
      pinned_.erase(idx);
    } else {
      pinned_[idx] = now_s_ + seconds;
    }
  }
  bool Repin(uint32_t idx) {
    if (!related_.empty() && related_.OfFlow(idx) != kNone) {
      flows_[idx].expires_s = now_s_ + Timeout(flows_[idx]);
      flows_.Refile(idx);
      return true;
    }
    auto it = pinned_.find(idx);
    if (it == pinned_.end()) return false;
    // A held TCP flow still ends with its connection.
    if (it->second <= now_s_ ||
        (flows_[idx].proto == kProtoTcp &&
         flows_[idx].state() >= static_cast<uint8_t>(TcpState::kFinWait))) {
      pinned_.erase(it);
      return false;
    }
    flows_[idx].expires_s = it->second;
    flows_.Refile(idx);
    return true;
  }

  // Mappings and ports.
  int ExternalIndex(uint32_t addr) const {
    return mappings_.ExternalIndex(addr);
  }
  uint32_t GetOrCreateMapping(NamespaceId ns, uint8_t proto, uint32_t addr,
                              uint16_t port, DropReason* why) {
    return mappings_.GetOrCreate(ns, proto, addr, port,
                                 NamespacePortQuota(proto), why);
  }
  void ReleaseMapping(uint32_t m) { mappings_.Release(m, now_s_); }
  HostState& Host(NamespaceId ns, uint32_t addr) {
    return mappings_.Host(ns, addr);
  }
  // External ports a namespace may hold per protocol (Limits).
  uint32_t NamespacePortQuota(uint8_t proto) const;
  // Makes room before a half-open inbound flow joins `group` (evicting the
  // oldest of the group or of the fullest group at their limits).
  void MakeRoomHalfOpen(uint32_t group);

  // Expectations: unfiled, with the mapping reference they held released.
  void RemoveExpectation(uint32_t e) {
    const uint32_t m = expects_.Remove(e);
    if (m != kNone) ReleaseMapping(m);
  }

  // The protocol's state machine for a packet of flow idx; an inbound
  // flow whose handshake completes moves onto its host's budget.
  using TrackFn = bool (*)(Flow&, TcpTrack&, Side, const L4View&, uint16_t,
                           DropReason*);
  __attribute__((always_inline)) bool Track(uint32_t idx, TrackFn track,
                                            Side from, const L4View& l4,
                                            uint16_t payload_len,
                                            DropReason* why) {
    Flow& f = flows_[idx];
    const uint8_t before = f.state();
    if (!track(f, flows_.tcp(idx), from, l4, payload_len, why)) return false;
    if (HandshakeCompleted(f, before) && half_open_.Remove(idx)) {
      Host(f.ns, f.in_addr).flows++;
    }
    return true;
  }
  // The data bytes of a TCP segment (0 for other protocols).
  static uint16_t TcpPayload(const L4View& l4, uint8_t proto) {
    return proto == kProtoTcp
               ? static_cast<uint16_t>(l4.size() - l4.tcp_header_length())
               : 0;
  }
  Verdict HandleIcmpError(Side from, NamespaceId ns, Ipv4View& ip, L4View& l4);
  Verdict LocalInside(NamespaceId ns, Packet& pkt, Ipv4View& ip,
                      bool source_inside = true);
  // Rewrites `pkt` into the RST the gateway answers a TCP segment with.
  Verdict ResetFromGateway(Packet& pkt, const Ipv4View& ip, const L4View& l4,
                           NamespaceId ns);
  Verdict EchoReply(Packet& pkt, Ipv4View& ip, Side side, NamespaceId ns);
  void SendIcmpError(Side side, NamespaceId ns, uint32_t from_addr,
                     const Ipv4View& ip, uint8_t type, uint8_t code,
                     uint32_t rest);
  // Runs the flow's helper on the packet; false: drop it. `*cut`: the
  // payload size a TCP segment the helper grew must be cut to (AlgEditor::
  // End), else 0.
  bool RunHelper(uint32_t idx, Side from, Packet& pkt, Ipv4View& ip, L4View& l4,
                 uint16_t* cut);
  uint8_t HelperFor(uint8_t proto, uint16_t port) const {
    auto it = helper_ports_.find((uint32_t{proto} << 16) | port);
    return it == helper_ports_.end() ? 0 : it->second;
  }
  void Count(Side side, NamespaceId ns, uint32_t len) {
    const int s = static_cast<int>(side);
    stats_.packets[s] += segs_;
    stats_.bytes[s] += len;
    if (ns < namespaces_.size()) {
      namespaces_[ns].packets[s] += segs_;
      namespaces_[ns].bytes[s] += len;
    }
  }
  Verdict Drop(DropReason r) {
    stats_.drops[static_cast<int>(r)]++;
    return Verdict::Drop(r);
  }

  absl::flat_hash_map<uint32_t, uint32_t> pinned_;  // flow -> until (s)
  TimeMs now_ms_ = 0;
  uint32_t now_s_ = 0;

  // Fragments (engine/fragments.h): the datagrams in reassembly.
  FragmentTable frags_{config_.fragments, stats_};
  // A drop of the fragment being handled (counted as a fragment drop too).
  Verdict FragDrop(DropReason r) {
    stats_.fragments_dropped++;
    return Drop(r);
  }
  void ReleaseHeld(uint32_t e);
  std::vector<uint8_t> scratch_;   // a reassembled datagram
  std::vector<uint8_t> scratch2_;  // one egress fragment
  std::vector<uint8_t> gso_seg_;   // one segment of a super-packet

  // ALG support (engine/alg.h): the payload editor helpers work through.
  AlgEditor alg_;

  Stats stats_;
};

}  // namespace unat
