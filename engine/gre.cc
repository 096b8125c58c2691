// GRE as a tracked protocol (see engine/gre.h, engine/l4proto.h).
//
// Enhanced GRE (version 1) flows are PPTP calls: the PPTP helper makes them
// when a call is set up (it knows both Call IDs), and an enhanced GRE packet
// outside any call has no flow and is dropped (kGreNoCall): the packet names
// only its receiver's Call ID, so the sender's cannot be learned from it. A
// flow's inside port is the inside host's Call ID, its external port the
// Call ID the outside sees for it, its remote port the remote's Call ID; an
// outbound packet carries the remote's (left alone), an inbound one ours
// (rewritten to the inside host's).
//
// Plain GRE (version 0) has no key to translate: its flows have ports 0, so
// one inside host per remote address at a time (netfilter's GRE without the
// PPTP helper behaves the same way).
#include "engine/gre.h"

#include "engine/l4proto.h"

namespace unat {

std::optional<GreHeader> ParseGre(std::span<const uint8_t> data,
                                  DropReason* why, bool first_fragment) {
  auto fail = [why](DropReason r) -> std::optional<GreHeader> {
    *why = r;
    return std::nullopt;
  };
  if (data.size() < gre::kMinHeader) return fail(DropReason::kTruncated);
  const uint8_t b0 = data[0], b1 = data[1];
  GreHeader h;
  h.version = b1 & gre::kVersionMask;
  h.has_checksum = b0 & gre::kChecksumPresent;
  h.has_key = b0 & gre::kKeyPresent;
  h.has_seq = b0 & gre::kSeqPresent;
  if (b0 & (gre::kRoutingPresent | gre::kStrictRoute | gre::kRecursion)) {
    return fail(DropReason::kBadL4Header);  // RFC 1701 source routing
  }
  size_t len = gre::kMinHeader;
  if (h.version == 0) {
    if (b1 & ~gre::kVersionMask) return fail(DropReason::kBadL4Header);
    if (h.has_checksum) len += 4;
    if (h.has_key) len += 4;
    if (h.has_seq) len += 4;
  } else if (h.version == 1) {
    h.has_ack = b1 & gre::kAckPresent;
    if (h.has_checksum || !h.has_key ||
        (b1 & ~(gre::kAckPresent | gre::kVersionMask)) ||
        LoadBe16(data.data() + 2) != gre::kPppProtocol) {
      return fail(DropReason::kBadL4Header);
    }
    len += 4;
    if (h.has_seq) len += 4;
    if (h.has_ack) len += 4;
  } else {
    return fail(DropReason::kBadL4Header);
  }
  if (data.size() < len) return fail(DropReason::kTruncated);
  h.header_length = static_cast<uint16_t>(len);
  if (h.version == 1) {
    h.payload_length = LoadBe16(data.data() + 4);
    h.call_id = LoadBe16(data.data() + gre::kCallIdOffset);
    if (!first_fragment && h.payload_length > data.size() - len) {
      return fail(DropReason::kBadL4Header);
    }
  }
  return h;
}

namespace internal {

extern const L4Proto kGreProto = {
    .number = kProtoGre,
    .name = "gre",
    .parse = [](uint8_t, std::span<uint8_t> data, DropReason* why,
                bool first_fragment) -> std::optional<L4View> {
      if (!ParseGre(data, why, first_fragment)) return std::nullopt;
      return L4View::Validated(data.data(), static_cast<uint16_t>(data.size()));
    },
    // Version 1: the packet's key is the receiver's Call ID: the remote's
    // on the way out, our external one on the way in. Version 0: none.
    .read_key =
        [](Side from, const L4View& l4, uint16_t* ours, uint16_t* theirs) {
          const uint16_t key = GreVersion(l4.data()) == 1
                                   ? LoadBe16(l4.data() + gre::kCallIdOffset)
                                   : 0;
          *ours = from == Side::kOutside ? key : 0;
          *theirs = from == Side::kInside ? key : 0;
        },
    // Inbound enhanced GRE carries our external Call ID: it becomes the
    // inside host's. No checksum covers it (version 1 has none; version
    // 0's covers no addresses and its key is not translated).
    .rewrite =
        [](const L4View& l4, Side from, uint32_t, uint32_t, uint16_t port) {
          if (from == Side::kOutside && GreVersion(l4.data()) == 1) {
            StoreBe16(l4.data() + gre::kCallIdOffset, port);
          }
        },
    .may_create =
        [](Side from, const L4View& l4) {
          return from == Side::kInside && GreVersion(l4.data()) == 0;
        },
    .track =
        [](Flow& f, TcpTrack&, Side from, const L4View&, uint16_t,
           DropReason*) {
          f.flags |= from == Side::kInside ? kFlowSeenInside : kFlowSeenOutside;
          return true;
        },
    // Netfilter's GRE timeouts: unreplied until both sides were heard.
    .timeout =
        [](const Flow& f, const Timeouts& t) {
          return (f.flags & kFlowSeenInside) && (f.flags & kFlowSeenOutside)
                     ? t.gre_stream_s
                     : t.gre_unreplied_s;
        },
    .not_created = DropReason::kGreNoCall,
    .inbound = false,
    .helpers = false,
    .related = true,
};

}  // namespace internal
}  // namespace unat
