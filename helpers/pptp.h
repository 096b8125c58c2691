// PPTP ALG (RFC 2637) on a control connection (TCP 1723) between an inside
// host and an outside one, either side being the client (PNS) or the server
// (PAC).
//
// PPTP's data is enhanced GRE (engine/gre.h) whose key is the receiving
// peer's Call ID, which the control connection assigns. The helper
// translates the inside host's Call ID in every control message that names
// it -- the sender's own Call ID in messages from inside, the Peer's Call ID
// in messages from outside -- to one the engine reserves for it
// (HelperContext::ReserveRelated), so two inside hosts (two tenants with the
// same address, or two hosts of one) using the same Call ID towards one
// server never collide. When a call is set up (an Outgoing- or
// Incoming-Call-Reply with success names both Call IDs) it opens the call's
// GRE flow (OpenRelated); Call-Disconnect-Notify, a failed reply,
// Stop-Control-Connection and the end of the control connection close it.
//
// The stream is followed by sequence number in each direction; a message may
// be split across segments anywhere (its first bytes are remembered). Only
// a Call ID field cut in two by a segment boundary cannot be translated in
// place: that segment is dropped so the sender retransmits (as netfilter's
// FTP helper does) and, after kMaxSplitTries, passed untranslated (counted).
// Rewrites are remembered and re-applied to retransmissions. A message with
// a bad length, magic cookie or type stops the parsing of that direction
// (counted): everything after it passes untouched, never corrupted.
#pragma once

#include <cstdint>
#include <string_view>

#include "engine/helper.h"
#include "helpers/registry.h"

namespace unat::helpers {

namespace pptp {
inline constexpr uint16_t kPort = 1723;
inline constexpr uint32_t kMagicCookie = 0x1A2B3C4D;
inline constexpr uint16_t kControlMessage = 1;
enum MessageType : uint16_t {
  kStartControlConnectionRequest = 1,
  kStartControlConnectionReply = 2,
  kStopControlConnectionRequest = 3,
  kStopControlConnectionReply = 4,
  kEchoRequest = 5,
  kEchoReply = 6,
  kOutgoingCallRequest = 7,
  kOutgoingCallReply = 8,
  kIncomingCallRequest = 9,
  kIncomingCallReply = 10,
  kIncomingCallConnected = 11,
  kCallClearRequest = 12,
  kCallDisconnectNotify = 13,
  kWanErrorNotify = 14,
  kSetLinkInfo = 15,
};
inline constexpr uint16_t kHeaderLength = 12;  // through Reserved0
inline constexpr uint16_t kMaxMessageLength = 1024;
// The fixed length RFC 2637 gives each control message (index: type).
uint16_t MessageLength(uint16_t type);
// Call-Reply result codes meaning the call is up.
inline constexpr uint8_t kOutgoingConnected = 1;
inline constexpr uint8_t kIncomingConnect = 1;
}  // namespace pptp

struct PptpStats {
  uint64_t messages = 0;          // whole control messages parsed
  uint64_t call_id_rewrites = 0;  // Call ID fields translated
  uint64_t calls_opened = 0;      // GRE flows opened
  uint64_t calls_closed = 0;      // ... closed by the control connection
  uint64_t calls_refused = 0;     // a reply without success
  uint64_t malformed = 0;         // bad length, cookie or type: parsing stops
  uint64_t unknown_call = 0;      // a Peer's Call ID we never gave out
  uint64_t reserve_failed = 0;    // no external Call ID: passed untranslated
  uint64_t open_failed = 0;       // the GRE flow could not be opened
  uint64_t split_drops = 0;       // a Call ID cut by a segment boundary
  uint64_t split_passed = 0;      // ... given up: passed untranslated
  uint64_t gap_drops = 0;         // a segment ahead of the stream
  uint64_t retransmits_reedited = 0;
  uint64_t corrupt = 0;      // bad TCP checksum: passed, not parsed
  uint64_t edit_errors = 0;  // ReplacePayload refused
};

class PptpHelper : public PacketHelper {
 public:
  std::string_view name() const override { return "pptp"; }
  bool OnPacket(HelperContext& ctx, const FlowInfo& flow, Side from,
                Ipv4View& ip, L4View& l4) override;
  ExpectationPolicy expectation_policy() const override;
  const PptpStats& stats() const { return stats_; }
  void ForEachCounter(const CounterFn& fn) const;

  static constexpr int kMaxSplitTries = 3;
  static constexpr size_t kMaxCalls = 16;  // per control connection
  static constexpr size_t kMaxEdits = 8;   // remembered per direction

 private:
  PptpStats stats_;
};

// The registry's entry: "pptp", TCP 1723.
const HelperEntry& PptpEntry();

}  // namespace unat::helpers
