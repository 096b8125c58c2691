#include "helpers/tcp_messages.h"

#include <algorithm>

#include "engine/checksum.h"
#include "engine/wire.h"

namespace unat::helpers {

bool ApplyEdits(std::string_view text, std::vector<StreamEdit>& edits,
                std::string* out) {
  std::stable_sort(
      edits.begin(), edits.end(), [](const StreamEdit& a, const StreamEdit& b) {
        return a.offset != b.offset ? a.offset < b.offset : a.length < b.length;
      });
  out->clear();
  out->reserve(text.size() + 64);
  size_t at = 0;
  for (const StreamEdit& e : edits) {
    if (e.offset < at || e.offset + e.length > text.size()) return false;
    out->append(text.substr(at, e.offset - at));
    out->append(e.text);
    at = e.offset + e.length;
  }
  out->append(text.substr(at));
  return true;
}

SegmentResult FeedSegment(HelperContext& ctx, Ipv4View& ip, L4View& l4,
                          Side from, MessageStreamDir& d,
                          const MessageStreamLimits& limits,
                          MessageStreamStats& stats,
                          MessageStreamParser& parser) {
  const uint8_t flags = l4.tcp_flags();
  const uint32_t seq = l4.tcp_seq();
  if (flags & tcp_flags::kSyn) {
    d = MessageStreamDir{};
    d.init = 1;
    d.next = seq + 1;
    return {};
  }
  const std::span<uint8_t> payload = ctx.Payload();
  const bool fin = flags & (tcp_flags::kFin | tcp_flags::kRst);
  if (payload.empty() && !(fin && d.state.held != 0)) return {};
  if (TransportChecksum(ip.src(), ip.dst(), kProtoTcp,
                        {l4.data(), l4.size()}) != 0) {
    stats.corrupt++;  // the receiver drops it; its retransmission counts
    return {};
  }
  if (!d.init) {
    // Joined mid-stream: wait for a segment that starts a message.
    d.init = 1;
    d.next = seq;
    d.state = MessageStreamState{};
    d.state.desync = 1;
  }
  const size_t len = payload.size();
  const int64_t rel = SeqNum(seq) - SeqNum(d.next);
  if (rel > 0) {
    if (d.state.desync && d.state.held == 0) return {};
    // A byte not seen yet may need a rewrite before this one may go: the
    // sender fills the gap first.
    stats.gap_drops++;
    return {.forward = false};
  }
  std::string& raw = ctx.FlowState();
  const size_t max_held = limits.max_held;
  auto slot_at = [&](uint8_t slot) {
    return limits.slots_at + (static_cast<size_t>(from) * 2 + slot) * max_held;
  };
  // The state this segment starts from: the stream's, or for a recent
  // segment sent again the one it found then.
  MessageStreamState st = d.state;
  bool replay = false;
  MessageStreamSnapshot* mine = nullptr;  // this segment's, when new
  // A segment's bytes go on empty: the receiver, finding it before its
  // next byte, answers with the ACK that moves the sender on.
  auto empty = [&]() -> SegmentResult {
    if (!ctx.ReplacePayload(0, len, {}).ok()) {
      stats.edit_errors++;
      return {.forward = false};
    }
    return {};
  };
  if (rel < 0) {
    const uint32_t end = seq + static_cast<uint32_t>(len);
    const MessageStreamSnapshot* snap = nullptr;
    for (const MessageStreamSnapshot& sn : d.snap) {
      if (sn.valid && sn.seq == seq &&
          (sn.state.held == 0 || sn.gen == d.slot_gen[sn.state.held_slot])) {
        snap = &sn;
      }
    }
    if (snap != nullptr && snap->emptied && len > snap->len) {
      // It went on empty, its bytes held: the engine places a segment
      // starting there before where they went out, so this one, with
      // bytes that followed, cannot go as the first ones did.
      stats.resent_held++;
      return empty();
    }
    if (snap != nullptr) {
      st = snap->state;
      replay = true;
      stats.retransmits++;
    } else if (d.moved && SeqNum(seq) < SeqNum(d.moved_hi) &&
               SeqNum(end) > SeqNum(d.moved_lo)) {
      // Held bytes sent again (no ACK came while they were held): they
      // went, or go, out elsewhere in the sequence space, so never as they
      // are here.
      stats.resent_held++;
      return empty();
    } else if (static_cast<uint64_t>(-rel) >= len) {
      stats.old_passed++;  // older data the receiver has had
      return {};
    } else {
      // Old and new bytes from somewhere in a message: unsafe to edit or
      // to pass as they are; the sender sends the new ones again once
      // the receiver's ACK of the old ones reaches it.
      stats.unsafe_drops++;
      return empty();
    }
  } else {
    mine = &d.snap[d.snap_next];
    d.snap_next = static_cast<uint8_t>((d.snap_next + 1) % kStreamSnapshots);
    *mine = MessageStreamSnapshot{
        seq, static_cast<uint32_t>(len), st, d.slot_gen[st.held_slot], 1, 0};
  }
  // What the segment carries on: the held start of a message, then its
  // own bytes.
  const std::string_view own(reinterpret_cast<const char*>(payload.data()),
                             len);
  std::string joined;
  std::string_view text = own;
  if (st.held != 0) {
    joined.reserve(st.held + len);
    joined.assign(raw, slot_at(st.held_slot), st.held);
    joined.append(own);
    text = joined;
  }
  const size_t held_before = st.held;
  st.held = 0;
  // The start of a message cut by this segment's end, to hold.
  std::string_view hold;
  bool hold_in_place = false;
  std::vector<StreamEdit> edits;
  size_t pos = 0;
  if (st.skip != 0) {
    // The rest of a message passed unedited.
    const size_t n = std::min<size_t>(st.skip, text.size());
    st.skip -= static_cast<uint32_t>(n);
    pos += n;
  }
  while (pos < text.size()) {
    pos += std::min(parser.Filler(text.substr(pos)), text.size() - pos);
    if (pos >= text.size()) break;
    const std::string_view rest = text.substr(pos);
    const Frame f = parser.Next(rest);
    if (f.kind != Frame::kMessage) {
      if (f.kind == Frame::kIncomplete && !st.desync) {
        // Held for its rest, when it fits; else passed unedited with the
        // stream kept in step.
        const size_t needed = f.length;
        const bool fits = (needed != 0 ? needed : rest.size()) <= max_held &&
                          ctx.PayloadCapacity() >= 2 * max_held + 2048;
        if (fits && !fin) {
          hold = rest;
          hold_in_place = pos == 0 && held_before != 0;
          break;
        }
        stats.split_unedited++;
        if (needed != 0) {
          st.skip = static_cast<uint32_t>(needed - rest.size());
        } else {
          st.desync = 1;
        }
      } else if (!st.desync) {
        stats.parse_failures++;
        st.desync = 1;
      }
      pos = text.size();
      break;
    }
    st.desync = 0;
    if (held_before != 0 && pos < held_before) stats.reassembled++;
    parser.OnMessage(rest.substr(0, f.length), pos, &edits);
    pos += f.length;
  }
  const size_t cut = hold.empty() ? text.size() : text.size() - hold.size();
  std::string rebuilt;
  if (!ApplyEdits(text.substr(0, cut), edits, &rebuilt)) {
    stats.edit_errors++;  // a bug, not the input's
    edits.clear();        // the bytes, held ones too, go on unedited
    rebuilt.assign(text.substr(0, cut));
  }
  if (rebuilt.size() > ctx.PayloadCapacity()) {
    // Cannot put the held bytes back: the sender sends it again.
    stats.hold_overflows++;
    return {.forward = false};
  }
  // A retransmission changes the stream's state only where it goes on
  // past what was seen (a replay of older bytes found the holds in place).
  const uint32_t end = seq + static_cast<uint32_t>(len);
  const bool commit = !replay || SeqNum(end) > SeqNum(d.next);
  if (!hold.empty()) {
    if (!replay) stats.held++;
    st.held = static_cast<uint16_t>(hold.size());
    if (!hold_in_place) {
      // A new message: the other slot, so recent segments' snapshots of
      // the last one stay good.
      st.held_slot ^= 1;
      if (commit) d.slot_gen[st.held_slot]++;
    }
  }
  if (commit && !hold.empty()) {
    const uint32_t lo = end - static_cast<uint32_t>(hold.size());
    if (!d.moved) {
      d.moved = 1;
      d.moved_lo = lo;
      d.moved_hi = end;
    } else {
      if (SeqNum(lo) < SeqNum(d.moved_lo)) d.moved_lo = lo;
      if (SeqNum(end) > SeqNum(d.moved_hi)) d.moved_hi = end;
    }
  }
  if (commit) {
    if (!hold.empty()) {
      // (`hold` views `joined` or the packet, never `raw`.)
      const size_t slots_end = limits.slots_at + 4 * max_held;
      if (raw.size() < slots_end) raw.resize(slots_end, '\0');
      raw.replace(slot_at(st.held_slot), hold.size(), hold);
    }
    d.state = st;
    if (SeqNum(end) > SeqNum(d.next)) d.next = end;
  }
  if (mine != nullptr && rebuilt.empty()) mine->emptied = 1;
  SegmentResult result;
  if (rebuilt != own) {
    if (ctx.ReplacePayload(0, ctx.Payload().size(), rebuilt).ok()) {
      result.edits = edits.size();
    } else {
      stats.edit_errors++;
    }
  }
  // A segment all of whose bytes are held goes on empty: the sequence
  // adjustment puts it before the receiver's next byte, so the receiver
  // answers it with an ACK, which comes back to the sender covering the
  // held bytes (else the sender, unanswered, would resend them).
  result.forward = true;
  return result;
}

}  // namespace unat::helpers
