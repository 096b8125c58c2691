// GRE headers: plain GRE (version 0, RFC 2784 with RFC 2890's key and
// sequence number) and PPTP's enhanced GRE (version 1, RFC 2637 4.1), whose
// key field is the Call ID of the peer the packet is sent to.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "engine/wire.h"

namespace unat {

namespace gre {
inline constexpr uint8_t kChecksumPresent = 0x80;  // C
inline constexpr uint8_t kRoutingPresent = 0x40;   // R (RFC 1701)
inline constexpr uint8_t kKeyPresent = 0x20;       // K
inline constexpr uint8_t kSeqPresent = 0x10;       // S
inline constexpr uint8_t kStrictRoute = 0x08;      // s (RFC 1701)
inline constexpr uint8_t kRecursion = 0x07;        // (RFC 1701)
inline constexpr uint8_t kAckPresent = 0x80;       // A, second byte (v1)
inline constexpr uint8_t kVersionMask = 0x07;
inline constexpr uint16_t kPppProtocol = 0x880B;  // enhanced GRE's payload
inline constexpr uint16_t kCallIdOffset = 6;      // v1: the key's low half
inline constexpr size_t kMinHeader = 4;
}  // namespace gre

// A checked GRE header: its version, length and, for version 1, the Call
// ID it carries.
struct GreHeader {
  uint8_t version = 0;
  uint16_t header_length = 0;
  uint16_t call_id = 0;         // version 1 only
  uint16_t payload_length = 0;  // version 1 only
  bool has_seq = false;
  bool has_ack = false;
  bool has_key = false;
  bool has_checksum = false;
};

// Parses the GRE header at the start of `data`. Version 0 may carry a
// checksum, a key and a sequence number, but no RFC 1701 routing; version 1
// must have the key and PPP's protocol type, no checksum or routing
// (RFC 2637 4.1), and its payload length must fit in `data` unless the
// datagram goes on in later fragments (`first_fragment`). Anything else, or
// a header longer than `data`, is nullopt with *why set (kTruncated or
// kBadL4Header).
std::optional<GreHeader> ParseGre(std::span<const uint8_t> data,
                                  DropReason* why, bool first_fragment = false);

// The version of a GRE header of at least two bytes (quoted ones too).
inline uint8_t GreVersion(const uint8_t* data) {
  return data[1] & gre::kVersionMask;
}

}  // namespace unat
