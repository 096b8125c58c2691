// A TCP stream of framed messages (SIP by Content-Length, RFC 3261 18.3;
// H.323 by TPKT, RFC 1006) that a helper rewrites message by message: the
// stream tracking both helpers share.
//
// Each direction is followed by sequence number. The start of a message a
// segment's end cuts is held (taken out of that segment, kept after the
// helper's flow record in FlowState) and put back before the next
// segment's bytes, so the message is parsed and rewritten whole; the
// engine's sequence adjustment accounts for both moves. A segment all of
// whose bytes are held goes on empty: the adjustment counts them as sent
// and places it before the receiver's next byte, so the receiver answers
// it with an ACK that comes back to the sender covering them (a receiver
// may rate-limit such answers: Linux sends one per 500 ms). A message too
// long to hold passes unedited with the stream kept in step by its length.
// The state at the start of each direction's last kStreamSnapshots
// segments is kept: a retransmission of one goes out exactly as it did
// first. A segment ahead of the stream, or mixing old and new bytes, is
// dropped (the sender sends it again); older data passes, unless it
// covers bytes that were held: those reach the receiver elsewhere in its
// sequence space, so the copy goes on empty (still prompting the
// receiver's ACK, which covers them for the sender).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/helper.h"

namespace unat {
class Ipv4View;
class L4View;
}  // namespace unat

namespace unat::helpers {

// Bytes [offset, offset + length) of a text replaced by `text`.
struct StreamEdit {
  size_t offset = 0;
  size_t length = 0;
  std::string text;
};
// `text` with `edits` made (sorted here, none overlapping); false when two
// overlap or one runs past the end.
bool ApplyEdits(std::string_view text, std::vector<StreamEdit>& edits,
                std::string* out);

struct MessageStreamStats {
  uint64_t held = 0;            // a message's start held for its rest
  uint64_t reassembled = 0;     // messages completed from held parts
  uint64_t split_unedited = 0;  // cut, too long to hold: passed
  uint64_t hold_overflows = 0;  // held part and segment too big: dropped
  uint64_t retransmits = 0;     // a recent segment again: re-edited
  uint64_t old_passed = 0;      // older data again: passed
  uint64_t resent_held = 0;     // held bytes sent again: went on empty
  uint64_t unsafe_drops = 0;    // old and new data mixed: dropped
  uint64_t gap_drops = 0;       // ahead of the stream: dropped
  uint64_t corrupt = 0;         // bad checksum: passed, not parsed
  uint64_t parse_failures = 0;  // not a message: the rest passes
  uint64_t edit_errors = 0;     // edits or ReplacePayload refused
};

// One direction's state (a helper keeps one per Side in its flow record).
struct MessageStreamState {
  uint32_t skip;  // bytes of a message passing unedited still to come
  uint16_t held;  // bytes held, in slot held_slot
  uint8_t held_slot;
  uint8_t desync;  // not at a known message boundary
};
inline constexpr size_t kStreamSnapshots = 4;
struct MessageStreamSnapshot {
  uint32_t seq;
  uint32_t len;              // the segment's bytes
  MessageStreamState state;  // as the segment starting at seq found it
  uint8_t gen;               // of its slot, when it held bytes
  uint8_t valid;
  uint8_t emptied;  // all its bytes were held: it went on empty
};
struct MessageStreamDir {
  uint32_t next;  // the next sequence number expected
  uint8_t init;
  uint8_t snap_next;
  uint8_t slot_gen[2];  // bumped when a slot is given to a new message
  MessageStreamState state;
  MessageStreamSnapshot snap[kStreamSnapshots];
  // The sender's bytes that were ever held (so went out later, at other
  // sequence numbers): an old segment over them is never passed as it is.
  uint8_t moved;
  uint32_t moved_lo, moved_hi;
};

// What the bytes at a message's start hold.
struct Frame {
  enum Kind : uint8_t { kMessage, kIncomplete, kBad };
  Kind kind = kBad;
  // kMessage: the message's length; kIncomplete: its whole length when
  // known (0: not yet).
  size_t length = 0;
};

// The helper's side: framing and what a whole message becomes.
class MessageStreamParser {
 public:
  virtual ~MessageStreamParser() = default;
  // Octets at `rest`'s start that belong to no message (SIP's CRLF
  // keep-alives, RFC 5626 4.4.1).
  virtual size_t Filler(std::string_view rest) { return 0; }
  virtual Frame Next(std::string_view rest) = 0;
  // The message Next() just framed, at `base` of the text the segment
  // carries (held bytes first); its edits appended, offsets in that text.
  virtual void OnMessage(std::string_view message, size_t base,
                         std::vector<StreamEdit>* edits) = 0;
};

struct MessageStreamLimits {
  size_t max_held = 4096;  // the longest message reassembled
  // Where the held bytes live in FlowState: after the helper's record, 2
  // slots of max_held per direction.
  size_t slots_at = 0;
};

struct SegmentResult {
  bool forward = true;  // false: drop the segment
  size_t edits = 0;     // edits made in its payload
};

// Handles one TCP segment from `from`; `d` is that direction's state in
// the helper's record, which the caller stores afterwards.
SegmentResult FeedSegment(HelperContext& ctx, Ipv4View& ip, L4View& l4,
                          Side from, MessageStreamDir& d,
                          const MessageStreamLimits& limits,
                          MessageStreamStats& stats,
                          MessageStreamParser& parser);

}  // namespace unat::helpers
