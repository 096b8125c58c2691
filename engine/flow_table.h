// The flow table: the flow records (one cache line each), their TCP
// tracking beside them, the hash index over both keys of every flow, and the
// timer wheel that files flows by the second they expire.
//
// It owns storage, lookup and expiry order only. What a flow means (its
// mapping, its host's budget, its helper) is the engine's: the table hands
// out slots, files and unfiles them, and tells which flows are due.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/flow_index.h"
#include "engine/huge_alloc.h"
#include "engine/nat.h"
#include "engine/slots.h"

namespace unat {
namespace internal {

constexpr uint32_t kNone = 0xffffffff;
// The namespace field of every outside key: the outside is one space.
constexpr NamespaceId kOutsideKeyNs = 0xffff;
constexpr uint32_t kWheelSlots = 4096;  // one slot per second

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
  uint8_t helper;  // index + 1 into the engine's helpers, 0: none
  uint8_t wscale;  // low nibble: inside's, high nibble: outside's (15: none)
  uint32_t owner;  // mapping index, or kOwnerForwardBit | forward index
  uint32_t expires_s;
  uint32_t timer_prev;  // kTimerHead | slot for the first of its slot
  uint32_t timer_next;
  uint32_t packets[2];
  uint64_t bytes[2];

  bool live() const { return flags & kFlowLive; }
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

// Protocols whose packets name only the receiver's key (enhanced GRE: the
// Call ID of the peer the packet goes to). An outbound packet carries the
// remote's key, an inbound one our external key, so such a flow is indexed
// on half keys: its inside key without the inside port, its outside key
// without the remote port. An ICMP error quotes a packet the other way,
// carrying the other half, so each side is indexed under that half too
// (inside: the inside port without the remote's; outside: the remote's port
// without the external one). A lookup names one half and leaves the other
// 0; a flow whose ports are all 0 (plain GRE, no key) is filed once a side.
inline constexpr bool HasHalfKeys(uint8_t proto) { return proto == kProtoGre; }

class FlowTable {
 public:
  explicit FlowTable(uint64_t hash_seed) : seed_(hash_seed) {
    wheel_.assign(kWheelSlots, kNone);
  }

  Flow& operator[](uint32_t i) { return flows_[i]; }
  const Flow& operator[](uint32_t i) const { return flows_[i]; }
  TcpTrack& tcp(uint32_t i) { return tcp_[i]; }
  const TcpTrack& tcp(uint32_t i) const { return tcp_[i]; }
  // Slots ever allocated (live or free): the range to walk for a scan.
  uint32_t size() const { return static_cast<uint32_t>(flows_.size()); }

  // Key hashes: the inside key (namespace, proto, inside endpoint, remote
  // endpoint) and the outside key (proto, external endpoint, remote).
  uint32_t InsideKeyHash(NamespaceId ns, uint8_t proto, uint32_t addr,
                         uint16_t port, uint32_t rem, uint16_t rport) const {
    return KeyHash(seed_, ns, proto, addr, port, rem, rport);
  }
  uint32_t OutsideKeyHash(uint8_t proto, uint32_t addr, uint16_t port,
                          uint32_t rem, uint16_t rport) const {
    return KeyHash(seed_, kOutsideKeyNs, proto, addr, port, rem, rport);
  }
  uint32_t InsideHash(const Flow& f) const {
    const bool half = HasHalfKeys(f.proto);
    return InsideKeyHash(f.ns, f.proto, f.in_addr, half ? 0 : f.in_port,
                         f.rem_addr, f.rem_port);
  }
  uint32_t OutsideHash(const Flow& f) const {
    const bool half = HasHalfKeys(f.proto);
    return OutsideKeyHash(f.proto, f.ext_addr, f.ext_port, f.rem_addr,
                          half ? 0 : f.rem_port);
  }
  // A half-key flow's other halves (the ones ICMP errors quote).
  uint32_t InsideQuoteHash(const Flow& f) const {
    return InsideKeyHash(f.ns, f.proto, f.in_addr, f.in_port, f.rem_addr, 0);
  }
  uint32_t OutsideQuoteHash(const Flow& f) const {
    return OutsideKeyHash(f.proto, f.ext_addr, 0, f.rem_addr, f.rem_port);
  }

  // Lookups by a precomputed key hash; kNone when absent.
  uint32_t FindInside(uint32_t h, NamespaceId ns, uint8_t proto, uint32_t addr,
                      uint16_t port, uint32_t rem, uint16_t rport) const {
    const uint32_t v = index_.Find(h, [&](uint32_t value) {
      if (value & 1) return false;
      const Flow& f = flows_[value >> 1];
      return f.in_addr == addr && f.in_port == port && f.rem_addr == rem &&
             f.rem_port == rport && f.ns == ns && f.proto == proto;
    });
    return v == FlowIndex::kNotFound ? kNone : v >> 1;
  }
  uint32_t FindOutside(uint32_t h, uint8_t proto, uint32_t addr, uint16_t port,
                       uint32_t rem, uint16_t rport) const {
    const uint32_t v = index_.Find(h, [&](uint32_t value) {
      if (!(value & 1)) return false;
      const Flow& f = flows_[value >> 1];
      return f.ext_addr == addr && f.ext_port == port && f.rem_addr == rem &&
             f.rem_port == rport && f.proto == proto;
    });
    return v == FlowIndex::kNotFound ? kNone : v >> 1;
  }
  // Lookups by key, for any protocol (half keys: one of port and rport is
  // the key, the other 0).
  uint32_t FindInside(NamespaceId ns, uint8_t proto, uint32_t addr,
                      uint16_t port, uint32_t rem, uint16_t rport) const {
    const uint32_t h = InsideKeyHash(ns, proto, addr, port, rem, rport);
    if (!HasHalfKeys(proto)) {
      return FindInside(h, ns, proto, addr, port, rem, rport);
    }
    const uint32_t v = index_.Find(h, [&](uint32_t value) {
      if (value & 1) return false;
      const Flow& f = flows_[value >> 1];
      return f.in_addr == addr && f.rem_addr == rem && f.ns == ns &&
             f.proto == proto &&
             ((port == 0 && f.rem_port == rport) ||
              (rport == 0 && f.in_port == port));
    });
    return v == FlowIndex::kNotFound ? kNone : v >> 1;
  }
  uint32_t FindOutside(uint8_t proto, uint32_t addr, uint16_t port,
                       uint32_t rem, uint16_t rport) const {
    const uint32_t h = OutsideKeyHash(proto, addr, port, rem, rport);
    if (!HasHalfKeys(proto)) {
      return FindOutside(h, proto, addr, port, rem, rport);
    }
    const uint32_t v = index_.Find(h, [&](uint32_t value) {
      if (!(value & 1)) return false;
      const Flow& f = flows_[value >> 1];
      return f.ext_addr == addr && f.rem_addr == rem && f.proto == proto &&
             ((rport == 0 && f.ext_port == port) ||
              (port == 0 && f.rem_port == rport));
    });
    return v == FlowIndex::kNotFound ? kNone : v >> 1;
  }

  // Batch support: warm the index slot, then the flow the slot names.
  // Always inlined: out of line, GCC finds them free of side effects (a
  // prefetch does not count) and drops the calls.
  __attribute__((always_inline)) void PrefetchIndex(uint32_t hash) const {
    index_.Prefetch(hash);
  }
  __attribute__((always_inline)) void PrefetchFlow(uint32_t hash,
                                                   bool tcp) const {
    const uint32_t v = index_.PeekCandidate(hash);
    if (v != FlowIndex::kNotFound && (v >> 1) < flows_.size()) {
      __builtin_prefetch(&flows_[v >> 1]);
      if (tcp) __builtin_prefetch(&tcp_[v >> 1]);
    }
  }

  // A slot for a new flow, its TCP tracking cleared. The caller fills the
  // flow and then calls Insert().
  uint32_t Allocate() {
    const uint32_t idx = TakeSlot(flows_, free_);
    if (tcp_.size() < flows_.size()) tcp_.emplace_back();  // parallel
    tcp_[idx] = TcpTrack{};
    return idx;
  }
  // Files a filled flow under both keys and in the wheel at its expiry.
  void Insert(uint32_t idx) {
    const Flow& f = flows_[idx];
    index_.Insert(InsideHash(f), idx << 1);
    index_.Insert(OutsideHash(f), (idx << 1) | 1);
    if (__builtin_expect(HasHalfKeys(f.proto), 0)) FileQuoteKeys(idx, true);
    TimerInsert(idx);
  }
  // Unfiles a flow and returns its slot to the pool (its flags cleared).
  void Remove(uint32_t idx) {
    Flow& f = flows_[idx];
    index_.Erase(InsideHash(f), idx << 1);
    index_.Erase(OutsideHash(f), (idx << 1) | 1);
    if (__builtin_expect(HasHalfKeys(f.proto), 0)) FileQuoteKeys(idx, false);
    TimerUnlink(idx);
    f.flags = 0;
    free_.push_back(idx);
  }
  // Moves a flow whose expires_s changed to its new wheel slot (a flow
  // refreshed by traffic need not be refiled: the wheel does it lazily).
  void Refile(uint32_t idx) {
    TimerUnlink(idx);
    TimerInsert(idx);
  }

  // Walks the wheel from the last second processed to now_s. A flow whose
  // time has come is passed to due(idx), which removes it (or refreshes and
  // refiles it); one refreshed since it was filed moves to its slot.
  // Returns how many flows it looked at.
  template <typename Due>
  uint64_t Expire(uint32_t now_s, Due&& due) {
    uint64_t visits = 0;
    uint32_t steps = now_s - wheel_tick_;
    if (steps > kWheelSlots) steps = kWheelSlots;
    uint32_t tick = now_s - steps;
    for (uint32_t n = 0; n <= steps; ++n, ++tick) {
      const uint32_t slot = tick & (kWheelSlots - 1);
      uint32_t idx = wheel_[slot];
      while (idx != kNone) {
        const uint32_t next = flows_[idx].timer_next;
        const Flow& f = flows_[idx];
        visits++;
        if (f.expires_s <= now_s) {
          due(idx);
        } else if ((f.expires_s & (kWheelSlots - 1)) != slot) {
          Refile(idx);
        }
        idx = next;
      }
    }
    wheel_tick_ = now_s;
    return visits;
  }

  size_t MemoryUsage() const {
    return flows_.capacity() * sizeof(Flow) +
           tcp_.capacity() * sizeof(TcpTrack) + index_.MemoryUsage() +
           free_.capacity() * sizeof(uint32_t);
  }

 private:
  // A half-key flow's quote keys, filed (or unfiled) beside its two keys;
  // a key equal to the data key (all ports 0) is not filed twice.
  __attribute__((noinline, cold)) void FileQuoteKeys(uint32_t idx, bool add) {
    const Flow& f = flows_[idx];
    if (f.in_port != 0 || f.rem_port != 0) {
      if (add) {
        index_.Insert(InsideQuoteHash(f), idx << 1);
      } else {
        index_.Erase(InsideQuoteHash(f), idx << 1);
      }
    }
    if (f.ext_port != 0 || f.rem_port != 0) {
      if (add) {
        index_.Insert(OutsideQuoteHash(f), (idx << 1) | 1);
      } else {
        index_.Erase(OutsideQuoteHash(f), (idx << 1) | 1);
      }
    }
  }
  void TimerInsert(uint32_t idx) {
    Flow& f = flows_[idx];
    const uint32_t slot = f.expires_s & (kWheelSlots - 1);
    f.timer_prev = kTimerHead | slot;
    f.timer_next = wheel_[slot];
    if (f.timer_next != kNone) flows_[f.timer_next].timer_prev = idx;
    wheel_[slot] = idx;
  }
  void TimerUnlink(uint32_t idx) {
    Flow& f = flows_[idx];
    if (f.timer_prev == kNone) return;  // not filed
    if (!(f.timer_prev & kTimerHead)) {
      flows_[f.timer_prev].timer_next = f.timer_next;
    } else {
      wheel_[f.timer_prev & ~kTimerHead] = f.timer_next;
    }
    if (f.timer_next != kNone) flows_[f.timer_next].timer_prev = f.timer_prev;
    f.timer_prev = f.timer_next = kNone;
  }

  uint64_t seed_;
  std::vector<Flow, HugePageAllocator<Flow>> flows_;
  std::vector<TcpTrack, HugePageAllocator<TcpTrack>> tcp_;  // parallel
  std::vector<uint32_t> free_;
  FlowIndex index_;
  std::vector<uint32_t> wheel_;
  uint32_t wheel_tick_ = 0;  // last second processed
};

}  // namespace internal
}  // namespace unat
