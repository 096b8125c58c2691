// Basic vocabulary of the engine: ids, time, sides, verdicts, drop reasons.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace unat {

// A tenant. Every inside key carries one; the outside is shared.
using NamespaceId = uint16_t;
inline constexpr NamespaceId kInvalidNamespace = 0xffff;

// Monotonic time in milliseconds, supplied by the caller. The engine has no
// clock of its own.
using TimeMs = uint64_t;

enum class Side : uint8_t { kInside = 0, kOutside = 1 };

inline constexpr uint8_t kProtoIcmp = 1;
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoGre = 47;

// The IP protocols the engine tracks, in the order of per-protocol tables
// (flow counts, port tables, quotas). Adding one: a line here and its
// L4Proto entry in its own file (engine/l4proto.h), nothing else.
#define UNAT_TRACKED_PROTOCOLS(X) \
  X(kProtoTcp, Tcp)               \
  X(kProtoUdp, Udp)               \
  X(kProtoIcmp, Icmp)             \
  X(kProtoGre, Gre)

#define UNAT_PROTO_NUMBER(number, name) number,
inline constexpr uint8_t kTrackedProtocols[] = {
    UNAT_TRACKED_PROTOCOLS(UNAT_PROTO_NUMBER)};
#undef UNAT_PROTO_NUMBER
inline constexpr int kNumProtos =
    static_cast<int>(sizeof(kTrackedProtocols) / sizeof(kTrackedProtocols[0]));

namespace internal {
struct ProtoSlots {
  uint8_t slot[256];
  constexpr ProtoSlots() : slot{} {
    for (uint8_t& s : slot) s = 0xff;
    for (int i = 0; i < kNumProtos; ++i) {
      slot[kTrackedProtocols[i]] = static_cast<uint8_t>(i);
    }
  }
};
inline constexpr ProtoSlots kProtoSlots{};
}  // namespace internal

// Whether the engine tracks `proto`.
inline constexpr bool IsTrackedProto(uint8_t proto) {
  return internal::kProtoSlots.slot[proto] != 0xff;
}
// Index of a tracked protocol in per-protocol tables (callers pass tracked
// protocols only; any other maps to the last slot, never out of bounds).
inline constexpr int ProtoIndex(uint8_t proto) {
  const uint8_t s = internal::kProtoSlots.slot[proto];
  return s == 0xff ? kNumProtos - 1 : s;
}
static_assert(ProtoIndex(kProtoTcp) == 0 && ProtoIndex(kProtoUdp) == 1 &&
              ProtoIndex(kProtoIcmp) == 2);
const char* ProtoName(uint8_t proto);

// Every packet the engine does not forward has exactly one of these, and a
// counter. Keep DropReasonName() in step.
enum class DropReason : uint8_t {
  kNone = 0,
  kTruncated,            // shorter than the headers it claims
  kBadVersion,           // IP version is not 4
  kBadIhl,               // IHL < 5 or beyond the buffer
  kBadTotalLength,       // total length < header or > buffer
  kBadIpChecksum,        // IPv4 header checksum wrong
  kBadL4Header,          // TCP data offset < 5, UDP length wrong, ...
  kUnsupportedProto,     // not TCP, UDP, ICMP or GRE
  kFragment,             // IPv4 fragment addressed to the NAT itself
  kFragOverlap,          // fragment overlapping another: whole datagram dropped
  kFragDuplicate,        // exact duplicate of a held or of the first fragment
  kFragOversize,         // offset + length beyond 65535
  kFragTinyFirst,        // first fragment too short for the full L4 header
                         // (this, oversize and malformed drop the datagram)
  kFragMalformed,        // non-last fragment not a multiple of 8 bytes, ...
  kFragDatagramLimit,    // too many datagrams in reassembly (per namespace)
  kFragFragmentLimit,    // too many fragments in one datagram
  kFragMemoryLimit,      // reassembly memory cap reached
  kFragTimeout,          // datagram incomplete at the reassembly timeout
  kFragDatagramDropped,  // fragment of a datagram already dropped
  kNeedFragDf,           // longer than the egress MTU with DF set (ICMP sent)
  kMartian,              // source/destination not acceptable on that side
  kTtlExpired,           // TTL reached 0 (ICMP time exceeded sent if allowed)
  kNoFlow,               // inbound, no flow, forward or expectation matches
  kFiltered,             // inbound, mapping exists but filtering refused it
  kForwardDisabled,      // inbound to a forward that is disabled (UPnP)
  kIcmpNoFlow,           // ICMP error quoting a packet that matches no flow
  kIcmpUnsupported,      // ICMP type the NAT does not translate
  kIcmpBadQuote,         // ICMP error with an unparsable quoted datagram
  kTcpNotSyn,            // new outbound TCP flow without SYN
  kTcpInvalidRst,        // RST outside the window: ignored, flow kept
  kNoPorts,              // port pool exhausted
  kFlowLimit,            // total flow limit reached
  kNamespaceFlowLimit,   // per-namespace flow limit reached
  kHostFlowLimit,        // per-inside-host flow limit reached
  kHostPortLimit,        // per-inside-host port (mapping) limit reached
  kUnknownNamespace,     // inside packet for a namespace that does not exist
  kLocalNoHelper,        // addressed to the NAT, nothing answers it
  kHelperDrop,           // an ALG or local helper refused the packet
  kHairpinLoop,          // hairpin that would loop
  kNoExternalAddress,    // no external address configured
  kSpoofedSource,        // inside source outside the namespace's prefixes
  kBadIpOptions,         // IP option with length 0/1 or past the header
  kSourceRoute,          // IP source-route option (LSRR/SSRR): not honoured
  kBadL4Checksum,        // new flow's first packet has a wrong L4 checksum
  kNamespacePortLimit,   // the namespace's share of external ports is used
  kGreNoCall,            // enhanced GRE (PPTP) outside any call a helper set up
  kGrePairBusy,          // plain GRE: another inside host has that remote
  kCount
};
const char* DropReasonName(DropReason reason);
inline constexpr int kNumDropReasons = static_cast<int>(DropReason::kCount);

// What to do with a packet after Process*().
struct Verdict {
  enum Action : uint8_t {
    kDrop,      // drop; `reason` says why
    kForward,   // send the (rewritten) packet out of `out_side` / `out_ns`
    kConsumed,  // a local helper took it (any answer went to the sink)
  };
  Action action = kDrop;
  DropReason reason = DropReason::kNone;
  Side out_side = Side::kOutside;
  NamespaceId out_ns = kInvalidNamespace;  // for out_side == kInside

  static Verdict Drop(DropReason r) { return {kDrop, r}; }
  static Verdict Forward(Side s, NamespaceId ns) {
    return {kForward, DropReason::kNone, s, ns};
  }
};

// Offload metadata that may ride with a packet (TUN with IFF_VNET_HDR, see
// tun/tun_device.h). The engine reads gso_size only: a super-packet (up to
// 64 KB of TCP, or UDP with USO) is translated once, and its MTU and DF
// checks use its segments' size (headers + gso_size), not its length.
// A helper that edits a super-packet sees it as one TCP segment; one it
// grows is cut to the egress MTU in software.
//
// The L4 checksum: needs_csum says the packet came CHECKSUM_PARTIAL and
// leaves so (the adapter writes the pseudo-header sum of the packet as it
// is then into the field at csum_start + csum_offset, and the receiver
// sums the rest). With csum_partial clear the field is complete (an
// adapter completed it) and the engine rewrites it incrementally as any
// other. With csum_partial set the field holds the pseudo-header sum still:
// the fast path leaves it to the adapter (no pass over the payload), and
// whatever goes to the full path (helpers, ICMP errors, fragmentation,
// software segmentation, first packets) is completed first and
// csum_partial cleared. csum_partial without needs_csum is ignored.
struct OffloadInfo {
  bool needs_csum = false;
  bool csum_partial = false;
  uint16_t csum_start = 0;
  uint16_t csum_offset = 0;
  uint16_t gso_size = 0;
  uint8_t gso_type = 0;
};

// One packet, in a buffer owned by the caller. `len` bytes are valid; the
// engine may rewrite them in place and may shrink `len` (e.g. link padding);
// it never writes past `capacity`.
struct Packet {
  uint8_t* data = nullptr;
  uint32_t len = 0;
  uint32_t capacity = 0;
  OffloadInfo offload;
};

}  // namespace unat
