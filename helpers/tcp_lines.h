// A line-oriented TCP helper base (FTP control, IRC): follows each direction
// of the stream by sequence number, hands complete lines to the protocol
// parser, applies the rewrites it asks for, and re-applies the same rewrites
// to retransmissions. The engine does the sequence adjustment.
//
// Policy (see docs/helpers.md):
// - In a direction where rewrites can happen ("strict"), a segment that ends
//   with an incomplete line the parser might need to rewrite is dropped
//   (counted) so that the sender retransmits it whole, as netfilter's FTP
//   helper does; after kMaxSplitTries drops of the same segment it is passed
//   unedited (counted), so a sender that never coalesces is not stalled.
//   Segments ahead of the next expected sequence number (a gap) are dropped
//   too: the helper must see every byte in order before it forwards a byte
//   it might have had to rewrite.
// - Other directions are parsed best-effort (never dropped).
// - Parser state per direction lives in the flow's FlowState() as a fixed
//   size record (no allocation beyond the string's one-time size).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "engine/helper.h"

namespace unat::helpers {

// Counters shared by the line helpers' stream handling.
struct StreamStats {
  uint64_t lines = 0;                 // complete lines parsed
  uint64_t split_drops = 0;           // cut editable line: segment dropped
  uint64_t split_passed = 0;          // ... given up: passed unedited
  uint64_t gap_drops = 0;             // segment ahead of the stream dropped
  uint64_t retransmits_reedited = 0;  // earlier rewrite re-applied
  uint64_t unsafe_drops = 0;          // retransmission cutting a rewrite
  uint64_t corrupt = 0;               // bad TCP checksum: passed, not parsed
  uint64_t edit_errors = 0;           // ReplacePayload refused
};

// What a protocol parser found in one complete line: a candidate rewrite of
// bytes [offset, offset + length) of the line. Committing it (which may
// call Expect()) happens only once the segment is known to go through.
struct Candidate {
  int kind = 0;  // parser-defined
  size_t offset = 0;
  size_t length = 0;
  uint32_t addr = 0;
  uint16_t port = 0;
  char delim = 0;
};

class TcpLineHelper : public PacketHelper {
 public:
  bool OnPacket(HelperContext& ctx, const FlowInfo& flow, Side from,
                Ipv4View& ip, L4View& l4) final;

  const StreamStats& stream_stats() const { return stream_stats_; }

  // Bytes of FlowState() the stream tracker uses; a parser may keep its own
  // state after them.
  static size_t StateSize();

  static constexpr int kMaxSplitTries = 3;
  static constexpr size_t kMaxEdits = 4;      // remembered per direction
  static constexpr size_t kMaxEditText = 48;  // bytes of one rewrite

 protected:
  // Lines from `from` may be rewritten on this flow.
  // `state` is the flow's FlowState() (a parser's own part starts at
  // StateSize()).
  virtual bool EditsFrom(const FlowInfo& flow, Side from,
                         const std::string& state) const = 0;
  // An incomplete line at a segment's end: could it need a rewrite?
  virtual bool MayNeedEdit(const FlowInfo& flow, Side from,
                           std::string_view partial) const = 0;
  // Parses one complete line (with its terminator). No side effects.
  virtual std::optional<Candidate> Parse(const FlowInfo& flow, Side from,
                                         std::string_view line) = 0;
  // Commits a candidate: counts, calls Expect(), and returns the
  // replacement text, or nothing to leave the line alone.
  virtual std::optional<std::string> Commit(HelperContext& ctx,
                                            const FlowInfo& flow, Side from,
                                            std::string_view line,
                                            const Candidate& c) = 0;
  // Longest line an editable command can be; longer partial lines are
  // passed.
  virtual size_t max_line() const { return 512; }

  StreamStats stream_stats_;
};

// Strict parsing helpers shared by the parsers.
// A decimal number without sign or leading garbage, at most `max`; returns
// the number of digits consumed (0 on failure).
size_t ParseDecimal(std::string_view s, uint64_t max, uint64_t* out);
bool StartsWithNoCase(std::string_view s, std::string_view prefix);

}  // namespace unat::helpers
