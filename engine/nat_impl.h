// Internals of the engine shared by its .cc files. Not part of the API:
// embedders include engine/nat.h only.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstring>
#include <deque>
#include <queue>
#include <random>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/flow_index.h"
#include "engine/huge_alloc.h"
#include "engine/nat.h"
#include "engine/wire.h"

namespace unat {

namespace internal {

constexpr uint32_t kNone = 0xffffffff;
constexpr uint32_t kPortFree = 0xffffffff;
constexpr uint32_t kPortForwardBit = 0x80000000;
constexpr NamespaceId kOutsideKeyNs = 0xffff;
constexpr uint32_t kWheelSlots = 4096;  // one slot per second
constexpr uint32_t kMaxExpectationsPerMaster = 4;
constexpr uint32_t kMaxExpectations = 4096;
constexpr uint16_t kIcmpQuoteMax = 548;  // RFC 1812 4.3.2.3: up to 576 total

enum FlowFlags : uint8_t {
  kFlowLive = 1,
  kFlowInboundOrigin = 2,
  kFlowSeenInside = 4,
  kFlowSeenOutside = 8,
  kFlowFinFromOutside = 16,  // the first FIN came from the outside
};
// The TCP state lives in the top three bits of Flow::flags.
constexpr int kFlowStateShift = 5;
constexpr uint8_t kFlowStateMask = 0xe0;
static_assert(static_cast<int>(TcpState::kCount) <= 8);
// Flow::owner for a forwarded flow: the forward index with this bit set
// (as in the port tables). kNone has it set too: no mapping either way.
constexpr uint32_t kOwnerForwardBit = 0x80000000;
// Flow::timer_prev of the first flow of a wheel slot: the slot, with this
// bit set.
constexpr uint32_t kTimerHead = 0x80000000;

// One cache line: everything a packet of an established flow touches,
// except the TCP tracking (TcpTrack, kept apart so UDP and ICMP never load
// it).
struct alignas(64) Flow {
  uint32_t in_addr;
  uint32_t ext_addr;
  uint32_t rem_addr;
  uint16_t in_port;
  uint16_t ext_port;
  uint16_t rem_port;
  NamespaceId ns;
  uint8_t proto;
  uint8_t flags;   // FlowFlags | TcpState << kFlowStateShift
  uint8_t helper;  // index + 1 into helpers_, 0: none
  uint8_t wscale;  // low nibble: inside's, high nibble: outside's (15: none)
  uint32_t owner;  // mapping index, or kOwnerForwardBit | forward index
  uint32_t expires_s;
  uint32_t timer_prev;  // kTimerHead | slot for the first of its slot
  uint32_t timer_next;
  uint32_t packets[2];
  uint64_t bytes[2];

  uint8_t state() const { return flags >> kFlowStateShift; }
  void set_state(TcpState st) {
    flags = static_cast<uint8_t>((flags & ~kFlowStateMask) |
                                 (static_cast<uint8_t>(st) << kFlowStateShift));
  }
  bool has_mapping() const { return !(owner & kOwnerForwardBit); }
  uint32_t mapping() const { return owner; }  // when has_mapping()
  bool forwarded_by(uint32_t forward) const {
    return owner == (kOwnerForwardBit | forward);
  }
};

static_assert(sizeof(Flow) == 64, "Flow grew: update docs/architecture.md");

// TCP sequence tracking (for RST validation), parallel to the flows.
struct TcpTrack {
  uint32_t end[2];  // next sequence number expected from each side
  uint32_t win[2];  // largest window each side advertised (scaled)
};

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

struct HostState {
  uint32_t flows = 0;
  uint32_t ports[kNumProtos] = {0, 0, 0};
  uint8_t ext_index = 0;
};

struct NamespaceEntry {
  bool live = false;
  std::string name;
  uint32_t gateway = 0;
  uint8_t prefix_len = 0;
  uint32_t mask = 0;
  uint16_t mtu = 1500;
  std::vector<Ipv4Prefix> routed;  // behind a router of the tenant's
  uint32_t flows = 0;
  uint32_t ports[kNumProtos] = {0, 0, 0};  // mappings (live and held)
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

struct ForwardEntry {
  bool live = false;
  ForwardSpec spec;
};

struct Expectation {
  bool live = false;
  uint8_t proto = 0;
  NamespaceId ns = kInvalidNamespace;
  uint32_t rem_addr = 0;
  uint16_t rem_port = 0;
  uint32_t mapping = kNone;
  FlowId master = kInvalidFlow;
  TimeMs expires = 0;
  uint64_t seq = 0;  // creation order, for evicting the oldest
};

inline uint64_t Mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

// Flow-key hash: one 64x64->128 multiply of the two key words, each mixed
// with a per-engine secret, folded high into low ("mum", as in wyhash), so
// every key bit reaches the low bits the index uses and remote peers cannot
// aim for collisions.
inline uint32_t KeyHash(uint64_t seed, NamespaceId ns, uint8_t proto,
                        uint32_t addr, uint16_t port, uint32_t rem_addr,
                        uint16_t rem_port) {
  const uint64_t a = ((uint64_t{addr} << 32) | rem_addr) ^ seed;
  const uint64_t b = ((uint64_t{port} << 48) | (uint64_t{rem_port} << 32) |
                      (uint64_t{ns} << 8) | proto) ^
                     (seed * 0x9e3779b97f4a7c15ULL) ^ 0xa0761d6478bd642fULL;
  const unsigned __int128 m = static_cast<unsigned __int128>(a) * b;
  const uint64_t h = static_cast<uint64_t>(m) ^ static_cast<uint64_t>(m >> 64);
  return static_cast<uint32_t>(h ^ (h >> 32));
}

inline bool IsMulticastOrBroadcast(uint32_t a) {
  return (a >> 28) == 0xe || a == 0xffffffff;
}
inline bool IsUnusableSource(uint32_t a) {
  return a == 0 || (a >> 24) == 127 || IsMulticastOrBroadcast(a) ||
         (a >> 28) == 0xf;
}

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

// Rewrites the source (or destination) address and port of a full packet,
// with one incremental update for the L4 checksum (address in the pseudo
// header + port). For ICMP queries the "port" is the identifier.
inline void RewriteEndpoint(Ipv4View& ip, L4View& l4, uint8_t proto,
                            bool source, uint32_t addr, uint16_t port) {
  const uint32_t old_addr = source ? ip.src() : ip.dst();
  if (proto == kProtoIcmp) {
    if (source) {
      ip.set_src(addr);
    } else {
      ip.set_dst(addr);
    }
    l4.SetPort(l4_field::kIcmpId, port, l4_field::kIcmpChecksum, false);
    return;
  }
  const uint16_t port_off = source ? l4_field::kSrcPort : l4_field::kDstPort;
  const uint16_t old_port = LoadBe16(l4.data() + port_off);
  const uint16_t csum_off = l4.ChecksumOffset(proto);
  if (source) {
    ip.set_src(addr);
  } else {
    ip.set_dst(addr);
  }
  StoreBe16(l4.data() + port_off, port);
  if (csum_off != 0) {
    ChecksumDelta d;
    d.Replace32(old_addr, addr);
    d.Replace16(old_port, port);
    uint16_t c = d.Apply(LoadBe16(l4.data() + csum_off));
    if (proto == kProtoUdp && c == 0) c = 0xffff;
    StoreBe16(l4.data() + csum_off, c);
  }
}

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

// Sequence-space comparison (RFC 1982 style).
inline bool SeqAfter(uint32_t a, uint32_t b) {
  return static_cast<int32_t>(a - b) > 0;
}

}  // namespace internal

using namespace internal;  // NOLINT: the engine's own internals

absl::Status ValidateRoutedPrefixes(const std::string& ns,
                                    const std::vector<Ipv4Prefix>& prefixes);

class Nat::Impl : public HelperContext {
 public:
  explicit Impl(const NatConfig& config) : config_(config), rng_(0) {
    uint64_t seed = config.random_seed;
    if (seed == 0) {
      std::random_device rd;
      seed = (uint64_t{rd()} << 32) | rd();
    }
    rng_ = SplitMix(seed);
    hash_seed_ = rng_.Next();
    const size_t n = config_.external_addresses.size();
    ports_.resize(n * kNumProtos);
    for (auto& table : ports_) table.assign(65536, kPortFree);
    wheel_.assign(kWheelSlots, kNone);
    ext_filter_.assign(1024, 0);
    for (size_t i = 0; i < n; ++i) {
      const uint32_t a = config_.external_addresses[i];
      ext_index_.emplace(a, static_cast<int>(i));
      ext_filter_[AddrFold(a) >> 6] |= uint64_t{1} << (AddrFold(a) & 63);
    }
  }

  // The engine's clock only moves forward.
  void SetNow(TimeMs now) {
    if (now > now_ms_) {
      now_ms_ = now;
      now_s_ = static_cast<uint32_t>(now / 1000);
    }
  }

  // ---- HelperContext ----
  TimeMs now() const override { return now_ms_; }
  absl::StatusOr<ExternalEndpoint> Expect(const ExpectationSpec& spec) override;
  std::span<uint8_t> Payload() override;
  absl::Status ReplacePayload(size_t offset, size_t length,
                              std::string_view bytes) override;
  std::string& FlowState() override;

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
        pkt.len <= EgressMtu(v.out_side, v.out_ns)) {
      return v;
    }
    return FinishOversize(pkt, v);
  }
  Verdict FinishOversize(Packet& pkt, Verdict v);
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
    if (ip.size() <= EgressMtu(to, to_ns) || !ip.dont_fragment()) return false;
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
  Verdict FullInside(NamespaceId ns, Packet& pkt, TimeMs now);
  Verdict FullOutside(Packet& pkt, TimeMs now);
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
  int FindForward(uint8_t proto, uint32_t ext_addr, uint16_t port) const;

  FlowInfo Info(uint32_t idx) const;
  // After a filtering change: address-dependent filtering needs the
  // remote-address set of every mapping; the others need none.
  void RebuildFilterState(bool to_adf) {
    if (!to_adf) {
      if (config_.filtering != FilteringMode::kAddressDependent) adf_.clear();
      return;
    }
    adf_.clear();
    for (uint32_t i = 0; i < flows_.size(); ++i) {
      const Flow& f = flows_[i];
      if ((f.flags & kFlowLive) && f.has_mapping()) {
        AdfAdd(f.mapping(), f.rem_addr);
      }
    }
  }
  Stats GetStats() const;
  size_t MemoryUsage() const;

  NatConfig config_;
  PacketSink* sink_ = nullptr;
  std::vector<NamespaceEntry> namespaces_;
  uint32_t live_namespaces_ = 0;
  std::vector<PacketHelper*> helpers_;
  absl::flat_hash_map<uint32_t, uint8_t> helper_ports_;  // proto<<16|port
  absl::flat_hash_map<uint32_t, LocalHelper*> local_helpers_;
  std::vector<Flow, HugePageAllocator<Flow>> flows_;
  std::vector<TcpTrack, HugePageAllocator<TcpTrack>> tcp_;  // parallel
  std::vector<uint32_t> free_flows_;
  std::vector<ForwardEntry> forwards_;
  std::vector<uint32_t> free_forwards_;

 private:
  friend class Nat;

  // Flow table.
  uint32_t InsideHash(const Flow& f) const {
    return KeyHash(hash_seed_, f.ns, f.proto, f.in_addr, f.in_port, f.rem_addr,
                   f.rem_port);
  }
  uint32_t OutsideHash(const Flow& f) const {
    return KeyHash(hash_seed_, kOutsideKeyNs, f.proto, f.ext_addr, f.ext_port,
                   f.rem_addr, f.rem_port);
  }
  uint32_t FindInside(NamespaceId ns, uint8_t proto, uint32_t addr,
                      uint16_t port, uint32_t rem, uint16_t rport) const;
  uint32_t FindOutside(uint8_t proto, uint32_t addr, uint16_t port,
                       uint32_t rem, uint16_t rport) const;
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
  void TimerInsert(uint32_t idx);
  void TimerUnlink(uint32_t idx);
  uint32_t Timeout(const Flow& f) const;
  // Drops a flow found past its time before it is used.
  bool ExpiredNow(uint32_t idx) {
    if (flows_[idx].expires_s > now_s_) return false;
    if (Repin(idx)) return false;
    DeleteFlow(idx, true);
    return true;
  }
  // A flow pinned (PCP PEER) past its idle expiry lives on until the pin.
  bool Repin(uint32_t idx) {
    auto it = pinned_.find(idx);
    if (it == pinned_.end()) return false;
    if (it->second <= now_s_) {
      pinned_.erase(it);
      return false;
    }
    TimerUnlink(idx);
    flows_[idx].expires_s = it->second;
    TimerInsert(idx);
    return true;
  }

  // Mappings and ports.
  // A bitmap over a 16-bit fold of the address answers "not ours" (nearly
  // every lookup on the packet path) without touching the hash map.
  static uint32_t AddrFold(uint32_t a) { return (a ^ (a >> 16)) & 0xffff; }
  int ExternalIndex(uint32_t addr) const {
    const uint32_t h = AddrFold(addr);
    if (!(ext_filter_[h >> 6] & (uint64_t{1} << (h & 63)))) return -1;
    auto it = ext_index_.find(addr);
    return it == ext_index_.end() ? -1 : it->second;
  }
  std::vector<uint32_t>& PortTable(int ext_index, uint8_t proto) {
    return ports_[ext_index * kNumProtos + ProtoIndex(proto)];
  }
  const std::vector<uint32_t>& PortTable(int ext_index, uint8_t proto) const {
    return ports_[ext_index * kNumProtos + ProtoIndex(proto)];
  }
  uint32_t MappingHash(NamespaceId ns, uint8_t proto, uint32_t addr,
                       uint16_t port) const {
    return KeyHash(hash_seed_ ^ 0x6d617070696e6773ULL, ns, proto, addr, port, 0,
                   0);
  }
  uint32_t FindMapping(uint32_t hash, NamespaceId ns, uint8_t proto,
                       uint32_t addr, uint16_t port) const {
    const uint32_t v = mapping_index_.Find(hash, [&](uint32_t m) {
      const Mapping& mp = mappings_[m];
      return mp.in_addr == addr && mp.in_port == port && mp.ns == ns &&
             mp.proto == proto;
    });
    return v == FlowIndex::kNotFound ? kNone : v;
  }
  uint32_t GetOrCreateMapping(NamespaceId ns, uint8_t proto, uint32_t addr,
                              uint16_t port, DropReason* why);
  void ReleaseMapping(uint32_t m);
  void FreeMapping(uint32_t m);
  int AllocatePort(int ext_index, uint8_t proto, uint16_t in_port);
  HostState& Host(NamespaceId ns, uint32_t addr) {
    return hosts_[(uint64_t{ns} << 32) | addr];
  }
  void MaybeDropHost(NamespaceId ns, uint32_t addr);
  // External ports a namespace may hold per protocol (Limits).
  uint32_t NamespacePortQuota(uint8_t proto) const;

  // Half-open inbound TCP flows, grouped by what let them in (the flow's
  // owner: a forward or a mapping). Each group keeps its flows oldest
  // first, with lazy deletion: an entry whose serial no longer matches is
  // stale and skipped.
  struct HalfOpenEntry {
    uint32_t group;
    uint64_t serial;
  };
  struct HalfOpenGroup {
    uint32_t count = 0;
    std::deque<std::pair<uint32_t, uint64_t>> fifo;  // (flow, serial)
  };
  // Evicts what must go before a new half-open flow joins `group`.
  void MakeRoomHalfOpen(uint32_t group);
  void EvictOldestHalfOpen(uint32_t group);
  void AddHalfOpen(uint32_t idx, uint32_t group);
  // Forgets the flow as half-open; false if it was not.
  bool RemoveHalfOpen(uint32_t idx);
  absl::flat_hash_map<uint32_t, HalfOpenEntry> half_open_;
  absl::flat_hash_map<uint32_t, HalfOpenGroup> half_open_groups_;
  uint64_t half_open_serial_ = 0;

  // ADF filtering: remote addresses each mapping has talked to.
  void AdfAdd(uint32_t m, uint32_t rem) {
    if (config_.filtering == FilteringMode::kAddressDependent) {
      ++adf_[(uint64_t{m} << 32) | rem];
    }
  }
  void AdfRemove(uint32_t m, uint32_t rem) {
    if (config_.filtering != FilteringMode::kAddressDependent) return;
    auto it = adf_.find((uint64_t{m} << 32) | rem);
    if (it != adf_.end() && --it->second == 0) adf_.erase(it);
  }

  // Expectations.
  uint64_t ExpectKey(uint8_t proto, uint32_t ext_addr, uint16_t port) const {
    return (uint64_t{proto} << 48) | (uint64_t{ext_addr} << 16) | port;
  }
  void RemoveExpectation(uint32_t e);
  uint32_t MatchExpectation(uint8_t proto, uint32_t ext_addr, uint16_t port,
                            uint32_t src, uint16_t sport);

  // Packet helpers.
  bool UpdateTcp(Flow& f, TcpTrack& t, Side from, const L4View& l4,
                 uint16_t payload_len, DropReason* why);
  bool RstAcceptable(const Flow& f, const TcpTrack& t, Side from,
                     const L4View& l4) const;
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
  bool RunHelper(uint32_t idx, Side from, Packet& pkt, Ipv4View& ip,
                 L4View& l4);
  // Shifts SEQ/ACK/SACK of a TCP segment of a flow whose payload an ALG
  // resized (engine/alg.cc).
  void ApplySeqAdj(uint32_t idx, Side from, uint8_t* tcp, uint16_t tcp_len);
  uint8_t HelperFor(uint8_t proto, uint16_t port) const {
    auto it = helper_ports_.find((uint32_t{proto} << 16) | port);
    return it == helper_ports_.end() ? 0 : it->second;
  }
  void Count(Side side, NamespaceId ns, uint32_t len) {
    const int s = static_cast<int>(side);
    stats_.packets[s]++;
    stats_.bytes[s] += len;
    if (ns < namespaces_.size()) {
      namespaces_[ns].packets[s]++;
      namespaces_[ns].bytes[s] += len;
    }
  }
  Verdict Drop(DropReason r) {
    stats_.drops[static_cast<int>(r)]++;
    return Verdict::Drop(r);
  }

  SplitMix rng_;
  uint64_t hash_seed_ = 0;
  absl::flat_hash_map<uint32_t, uint32_t> pinned_;  // flow -> until (s)
  std::vector<uint64_t> ext_filter_;
  absl::flat_hash_map<uint32_t, int> ext_index_;
  TimeMs now_ms_ = 0;
  uint32_t now_s_ = 0;
  uint32_t current_flow_ = kNone;  // the flow a helper is running for

  FlowIndex index_;
  std::vector<uint32_t> wheel_;
  uint32_t wheel_tick_ = 0;  // last second processed

  std::vector<Mapping> mappings_;
  std::vector<uint32_t> free_mappings_;
  // (namespace, proto, inside addr, inside port) -> mapping: 8-byte slots
  // compared against the mapping records, as the flow index does.
  FlowIndex mapping_index_;
  std::deque<std::pair<uint32_t, uint32_t>> held_;  // (mapping, generation)
  std::vector<std::vector<uint32_t>> ports_;        // [ext][proto] -> owner
  absl::flat_hash_map<uint64_t, HostState> hosts_;
  absl::flat_hash_map<uint64_t, uint32_t> adf_;

  std::priority_queue<std::pair<TimeMs, uint32_t>,
                      std::vector<std::pair<TimeMs, uint32_t>>, std::greater<>>
      forward_expiry_;

  std::vector<Expectation> expectations_;
  std::vector<uint32_t> free_expectations_;
  absl::flat_hash_map<uint64_t, std::vector<uint32_t>> expect_index_;
  absl::flat_hash_map<uint32_t, std::vector<uint32_t>> expect_by_master_;
  std::priority_queue<std::pair<TimeMs, uint32_t>,
                      std::vector<std::pair<TimeMs, uint32_t>>, std::greater<>>
      expect_expiry_;
  uint64_t expect_seq_ = 0;
  uint32_t live_expectations_ = 0;

  // ICMP error token bucket (tokens scaled by 1000).
  uint64_t icmp_tokens_ = 0;
  TimeMs icmp_last_ = 0;
  bool icmp_bucket_started_ = false;

  // Fragment reassembly state.
  struct FragKey {
    uint32_t src;
    uint32_t dst;
    uint16_t id;
    NamespaceId ns;  // kOutsideKeyNs for the outside
    uint8_t proto;
    bool operator==(const FragKey&) const = default;
    template <typename H>
    friend H AbslHashValue(H h, const FragKey& k) {
      return H::combine(std::move(h), k.src, k.dst, k.id, k.ns, k.proto);
    }
  };
  struct HeldFragment {
    std::vector<uint8_t> bytes;  // the whole fragment as it arrived
    uint16_t offset;             // payload offset in the datagram
    uint16_t length;             // payload length
  };
  enum class FragState : uint8_t { kWaiting, kTranslated, kDropped };
  struct FragEntry {
    bool live = false;
    bool full = false;
    FragState state = FragState::kWaiting;
    uint32_t generation = 0;
    FragKey key{};
    Side side = Side::kInside;
    NamespaceId ns = kInvalidNamespace;  // arrival namespace (inside)
    TimeMs expires = 0;
    Verdict verdict;                    // kTranslated: where fragments go
    uint32_t new_src = 0, new_dst = 0;  // kTranslated: rewritten addresses
    uint32_t total = 0;                 // payload length, once the last is seen
    uint32_t covered = 0;               // payload bytes seen (no overlaps)
    uint32_t held_bytes = 0;
    std::vector<std::pair<uint16_t, uint16_t>> ranges;  // [begin, end)
    std::vector<HeldFragment> held;
  };
  // The live entry of `key`, or a new one (evicting the namespace's oldest
  // at its datagram limit); kNone with *why set when there is no room.
  uint32_t FindOrAddFragEntry(const FragKey& key, Side side, NamespaceId ns,
                              DropReason* why);
  // A drop of the fragment being handled (counted as a fragment drop too).
  Verdict FragDrop(DropReason r) {
    stats_.fragments_dropped++;
    return Drop(r);
  }
  void FreeFragEntry(uint32_t e, DropReason held_reason);
  void PoisonFragEntry(uint32_t e, DropReason reason);
  void ReleaseHeld(uint32_t e);

  absl::flat_hash_map<FragKey, uint32_t> frag_index_;
  std::vector<FragEntry> frags_;
  std::vector<uint32_t> free_frags_;
  std::deque<std::pair<uint32_t, uint32_t>> frag_fifo_;  // (entry, gen)
  absl::flat_hash_map<NamespaceId, uint32_t> frag_per_ns_;
  // Per namespace, entries in creation order: the oldest is evicted when a
  // namespace is at its datagram limit (a flood cannot lock out new
  // datagrams for a whole timeout).
  absl::flat_hash_map<NamespaceId, std::deque<std::pair<uint32_t, uint32_t>>>
      frag_ns_fifo_;
  bool EvictOldestFragEntry(NamespaceId ns, uint32_t keep, DropReason why);
  uint64_t frag_bytes_held_ = 0;
  std::vector<uint8_t> scratch_;   // a reassembled datagram
  std::vector<uint8_t> scratch2_;  // one egress fragment

  // ALG support (engine/alg.cc).
 public:
  struct SeqAdjDir {
    uint32_t correction_pos = 0;
    int32_t offset_before = 0;
    int32_t offset_after = 0;
    bool set = false;
  };
  struct SeqAdj {
    SeqAdjDir dir[2];  // by the side the data comes from
  };
  absl::flat_hash_map<uint32_t, SeqAdj> seqadj_;
  absl::flat_hash_map<uint32_t, std::string> helper_state_;
  // The packet a helper is working on.
  struct HelperPacket {
    Packet* pkt = nullptr;
    Side from = Side::kInside;
    uint8_t proto = 0;
    uint16_t hl = 0;     // IP header length
    uint16_t l4_hl = 0;  // TCP/UDP header length
    bool checksum_checked = false;
    bool edited = false;
    bool seq_recorded = false;
  } hp_;

  Stats stats_;
};

}  // namespace unat
