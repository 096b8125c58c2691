#include "helpers/pptp.h"

#include <cstring>
#include <type_traits>

#include "engine/checksum.h"
#include "engine/wire.h"
#include "helpers/flow_state.h"

namespace unat::helpers {

namespace pptp {
uint16_t MessageLength(uint16_t type) {
  static constexpr uint16_t kLengths[] = {0,  156, 156, 16, 16, 16,  20, 168,
                                          32, 220, 24,  28, 16, 148, 40, 24};
  return type < sizeof(kLengths) / sizeof(kLengths[0]) ? kLengths[type] : 0;
}
}  // namespace pptp

namespace {

using namespace pptp;

// The first bytes of a message the helper keeps: through the result code
// of a Call-Reply (offset 16).
constexpr uint16_t kKeep = 20;
constexpr uint16_t kNoField = 0xffff;

struct Edit {
  uint32_t seq;  // sender sequence number of the field's first byte
  uint8_t used;
  uint8_t old_bytes[2];
  uint8_t new_bytes[2];
};

struct DirState {
  uint8_t init;
  uint8_t desync;  // a malformed message: the rest passes unparsed
  uint8_t split_tries;
  uint8_t head;   // next slot in edits
  uint8_t skip;   // the current message passes untranslated
  uint8_t fin;    // this side has closed
  uint32_t next;  // sender sequence number of the next new byte
  uint32_t split_seq;
  uint16_t pos;  // bytes of the current message seen
  uint8_t hdr[kKeep];
  Edit edits[PptpHelper::kMaxEdits];
};

enum CallState : uint8_t { kFree = 0, kReserved, kOpen };

struct Call {
  uint8_t state;
  uint16_t in_cid;   // the inside host's Call ID
  uint16_t ext_cid;  // the one the outside sees
  uint16_t rem_cid;  // the outside host's, once known
};

struct State {
  DirState dir[2];
  Call calls[PptpHelper::kMaxCalls];
};
static_assert(std::is_trivially_copyable_v<State>);

State Load(const std::string& s) { return LoadFlowRecord<State>(s); }
void Store(std::string& s, const State& st) { StoreFlowRecord(s, st); }

uint16_t Be16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}

// What a message from `from` carries that the helper handles: the Call ID
// field it translates (kNoField: none), and whether it is the sender's own
// Call ID (from inside) or the Peer's Call ID naming the inside host (from
// outside).
struct Fields {
  uint16_t own = kNoField;   // the sender's Call ID
  uint16_t peer = kNoField;  // the receiver's (Peer's Call ID)
};

Fields FieldsOf(uint16_t type) {
  switch (type) {
    case kOutgoingCallRequest:
    case kIncomingCallRequest:
    case kCallClearRequest:
    case kCallDisconnectNotify:
      return {12, kNoField};
    case kOutgoingCallReply:
    case kIncomingCallReply:
      return {12, 14};
    case kIncomingCallConnected:
    case kWanErrorNotify:
    case kSetLinkInfo:
      return {kNoField, 12};
    default:
      return {};
  }
}

// The field translated in a message of `type` from `from`: the inside
// host's own Call ID going out, the Peer's Call ID coming in.
uint16_t TranslatedField(uint16_t type, Side from) {
  const Fields f = FieldsOf(type);
  return from == Side::kInside ? f.own : f.peer;
}

class Parser {
 public:
  Parser(HelperContext& ctx, State& st, PptpStats& stats, Side from)
      : ctx_(ctx),
        st_(st),
        stats_(stats),
        from_(from),
        d_(st.dir[static_cast<int>(from)]) {}

  // Feeds the new bytes payload[off..] of a segment whose first byte has
  // sequence number seq. False: the segment must be dropped (a Call ID cut
  // by its end).
  bool Feed(uint32_t seq, size_t off) {
    off_ = off;
    std::span<uint8_t> p = ctx_.Payload();
    size_t i = off;
    while (i < p.size() && !d_.desync) {
      if (d_.pos < kKeep) {
        d_.hdr[d_.pos++] = p[i++];
        if (!AtByte(seq, i)) return true;  // desynced: the rest passes
        p = ctx_.Payload();
      } else {
        const uint16_t len = Be16(d_.hdr);
        const size_t take = std::min<size_t>(len - d_.pos, p.size() - i);
        d_.pos = static_cast<uint16_t>(d_.pos + take);
        i += take;
      }
      if (d_.pos >= kHeaderLength && d_.pos == Be16(d_.hdr)) EndMessage();
    }
    if (d_.desync || d_.skip || d_.pos <= kHeaderLength) return true;
    // A translated field with one byte in this segment and one to come.
    const uint16_t field = TranslatedField(Be16(d_.hdr + 8), from_);
    return !(field != kNoField && d_.pos == field + 1);
  }

 private:
  // The message's byte d_.pos - 1 was just read (payload index i - 1).
  bool AtByte(uint32_t seq, size_t i) {
    const uint16_t pos = d_.pos;
    if (pos == kHeaderLength) {
      const uint16_t len = Be16(d_.hdr), type = Be16(d_.hdr + 8);
      if (len < kHeaderLength || len > kMaxMessageLength ||
          Be16(d_.hdr + 2) != kControlMessage ||
          LoadBe32(d_.hdr + 4) != kMagicCookie || MessageLength(type) == 0 ||
          len < MessageLength(type) || Be16(d_.hdr + 10) != 0) {
        stats_.malformed++;
        d_.desync = 1;
        return false;
      }
      return true;
    }
    if (pos <= kHeaderLength || d_.skip) return true;
    const uint16_t type = Be16(d_.hdr + 8);
    const Fields f = FieldsOf(type);
    const uint16_t field = TranslatedField(type, from_);
    if (field != kNoField && pos == field + 2) {
      if (i < off_ + 2) {
        // Its first byte went out untranslated in an earlier segment (the
        // sender never joined them): the whole message passes as it is.
        stats_.split_passed++;
        d_.skip = 1;
        return true;
      }
      Translate(seq, i - 2, type, field);
    }
    // The result code of a Call-Reply: the call is up, or refused.
    if ((type == kOutgoingCallReply || type == kIncomingCallReply) &&
        pos == 17) {
      Reply(d_.hdr[16] == (type == kOutgoingCallReply ? kOutgoingConnected
                                                      : kIncomingConnect));
    }
    if (type == kCallDisconnectNotify && pos == f.own + 2 &&
        from_ == Side::kOutside) {
      // The remote's (the server's) Call ID names the call it clears.
      const uint16_t rem = Be16(d_.hdr + f.own);
      for (Call& c : st_.calls) {
        if (c.state == kOpen && c.rem_cid == rem) Close(c);
      }
    }
    return true;
  }

  void Translate(uint32_t seq, size_t at, uint16_t type, uint16_t field) {
    const uint16_t value = Be16(d_.hdr + field);
    if (from_ == Side::kInside) {
      Call* c = Find([&](const Call& x) { return x.in_cid == value; });
      const bool starts =
          type == kOutgoingCallRequest || type == kIncomingCallRequest ||
          type == kOutgoingCallReply || type == kIncomingCallReply;
      if (c == nullptr && starts) c = Reserve(value);
      if (c == nullptr) {
        if (!starts) stats_.unknown_call++;
        return;
      }
      Rewrite(seq, at, value, c->ext_cid);
      if (type == kCallDisconnectNotify) Close(*c);
    } else {
      Call* c = Find([&](const Call& x) { return x.ext_cid == value; });
      if (c == nullptr) {
        stats_.unknown_call++;
        return;
      }
      Rewrite(seq, at, value, c->in_cid);
    }
  }

  // A Call-Reply's result: the call the reply names (its bytes as they
  // came, before any rewrite) is opened between both Call IDs, or closed.
  void Reply(bool up) {
    const uint16_t own = Be16(d_.hdr + 12), peer = Be16(d_.hdr + 14);
    Call* c = from_ == Side::kInside
                  ? Find([&](const Call& x) { return x.in_cid == own; })
                  : Find([&](const Call& x) { return x.ext_cid == peer; });
    if (c == nullptr) return;
    if (!up) {
      stats_.calls_refused++;
      Close(*c);
      return;
    }
    c->rem_cid = from_ == Side::kInside ? peer : own;
    auto id = ctx_.OpenRelated(kProtoGre, c->in_cid, c->rem_cid);
    if (!id.ok()) {
      stats_.open_failed++;
      return;
    }
    if (c->state != kOpen) stats_.calls_opened++;
    c->state = kOpen;
  }

  template <typename Pred>
  Call* Find(Pred&& pred) {
    for (Call& c : st_.calls) {
      if (c.state != kFree && pred(c)) return &c;
    }
    return nullptr;
  }

  Call* Reserve(uint16_t in_cid) {
    Call* slot = nullptr;
    for (Call& c : st_.calls) {
      if (c.state == kFree) {
        slot = &c;
        break;
      }
    }
    if (slot == nullptr) {
      stats_.reserve_failed++;
      return nullptr;
    }
    auto ext = ctx_.ReserveRelated(kProtoGre, in_cid);
    if (!ext.ok()) {
      stats_.reserve_failed++;
      return nullptr;
    }
    *slot = Call{kReserved, in_cid, ext->port, 0};
    return slot;
  }

  void Close(Call& c) {
    if (ctx_.CloseRelated(kProtoGre, c.in_cid) && c.state == kOpen) {
      stats_.calls_closed++;
    }
    c = Call{};
  }

  void Rewrite(uint32_t seq, size_t at, uint16_t from_value,
               uint16_t to_value) {
    if (from_value == to_value) return;
    const uint8_t bytes[2] = {static_cast<uint8_t>(to_value >> 8),
                              static_cast<uint8_t>(to_value)};
    if (!ctx_.ReplacePayload(
                 at, 2,
                 std::string_view(reinterpret_cast<const char*>(bytes), 2))
             .ok()) {
      stats_.edit_errors++;
      return;
    }
    stats_.call_id_rewrites++;
    Edit& e = d_.edits[d_.head];
    d_.head = static_cast<uint8_t>((d_.head + 1) % PptpHelper::kMaxEdits);
    e = Edit{seq + static_cast<uint32_t>(at),
             1,
             {static_cast<uint8_t>(from_value >> 8),
              static_cast<uint8_t>(from_value)},
             {bytes[0], bytes[1]}};
  }

  void EndMessage() {
    const uint16_t type = Be16(d_.hdr + 8);
    if (!d_.skip) {
      stats_.messages++;
      if (type == kStopControlConnectionReply) {
        for (Call& c : st_.calls) {
          if (c.state != kFree) Close(c);
        }
      }
    }
    d_.pos = 0;
    d_.skip = 0;
  }

  HelperContext& ctx_;
  State& st_;
  PptpStats& stats_;
  Side from_;
  DirState& d_;
  size_t off_ = 0;  // the segment's first new byte
};

// The control connection ends (RST, or FIN both ways): so do its calls.
void CloseAll(HelperContext& ctx, State& st, PptpStats& stats) {
  for (Call& c : st.calls) {
    if (c.state == kFree) continue;
    if (ctx.CloseRelated(kProtoGre, c.in_cid) && c.state == kOpen) {
      stats.calls_closed++;
    }
    c = Call{};
  }
}

}  // namespace

bool PptpHelper::OnPacket(HelperContext& ctx, const FlowInfo& flow, Side from,
                          Ipv4View& ip, L4View& l4) {
  if (flow.proto != kProtoTcp) return true;
  const uint8_t flags = l4.tcp_flags();
  const uint32_t seq = l4.tcp_seq();
  std::string& raw = ctx.FlowState();
  State st = Load(raw);
  DirState& d = st.dir[static_cast<int>(from)];
  if (flags & tcp_flags::kSyn) {
    d = DirState{};
    d.init = 1;
    d.next = seq + 1;
    Store(raw, st);
    return true;
  }
  if (flags & tcp_flags::kRst) {
    CloseAll(ctx, st, stats_);
    Store(raw, st);
    return true;
  }
  if (flags & tcp_flags::kFin) {
    d.fin = 1;
    if (st.dir[0].fin && st.dir[1].fin) CloseAll(ctx, st, stats_);
    Store(raw, st);
  }
  const size_t len = ctx.Payload().size();
  if (len == 0) return true;
  if (TransportChecksum(ip.src(), ip.dst(), kProtoTcp,
                        {l4.data(), l4.size()}) != 0) {
    stats_.corrupt++;  // the receiver drops it; its retransmission is parsed
    return true;
  }
  if (!d.init) {
    d.init = 1;
    d.next = seq;
  }
  const int64_t rel = SeqNum(seq) - SeqNum(d.next);  // (64 bits: -rel)
  if (rel > 0) {
    if (d.desync) return true;
    stats_.gap_drops++;  // every byte must be seen in order
    return false;
  }
  // Bytes already seen (a retransmission): the same rewrites again.
  const size_t old_len = std::min<size_t>(len, static_cast<size_t>(-rel));
  bool reedited = false;
  for (const Edit& e : d.edits) {
    if (!e.used) continue;
    for (int b = 0; b < 2; ++b) {
      const uint32_t at = e.seq + static_cast<uint32_t>(b) - seq;
      if (at >= old_len) continue;  // (wraps when before the segment)
      if (ctx.Payload()[at] != e.old_bytes[b]) continue;
      const char c = static_cast<char>(e.new_bytes[b]);
      if (ctx.ReplacePayload(at, 1, std::string_view(&c, 1)).ok()) {
        reedited = true;
      }
    }
  }
  if (reedited) stats_.retransmits_reedited++;
  if (old_len == len) {
    Store(raw, st);
    return true;
  }
  const PptpStats before = stats_;
  const uint32_t new_seq = seq + static_cast<uint32_t>(old_len);
  Parser parser(ctx, st, stats_, from);
  if (!parser.Feed(seq, old_len)) {
    if (d.split_seq == new_seq && d.split_tries >= kMaxSplitTries) {
      // The sender never joins the two halves: let it go; the next
      // segment finds the field cut and passes the message untranslated.
      d.next = seq + static_cast<uint32_t>(len);
      d.split_tries = 0;
      Store(raw, st);
      return true;
    }
    // Drop it (the state as it was) so the sender sends the field whole.
    stats_ = before;
    st = Load(raw);
    DirState& kept = st.dir[static_cast<int>(from)];
    kept.split_tries = kept.split_seq == new_seq
                           ? static_cast<uint8_t>(kept.split_tries + 1)
                           : 1;
    kept.split_seq = new_seq;
    Store(raw, st);
    stats_.split_drops++;
    return false;
  }
  d.next = seq + static_cast<uint32_t>(len);
  d.split_tries = 0;
  Store(raw, st);
  return true;
}

ExpectationPolicy PptpHelper::expectation_policy() const {
  return PptpEntry().expectations;
}

void PptpHelper::ForEachCounter(const CounterFn& fn) const {
  fn("messages", stats_.messages);
  fn("call_id_rewrites", stats_.call_id_rewrites);
  fn("calls_opened", stats_.calls_opened);
  fn("calls_closed", stats_.calls_closed);
  fn("calls_refused", stats_.calls_refused);
  fn("malformed", stats_.malformed);
  fn("unknown_call", stats_.unknown_call);
  fn("reserve_failed", stats_.reserve_failed);
  fn("open_failed", stats_.open_failed);
  fn("split_drops", stats_.split_drops);
  fn("split_passed", stats_.split_passed);
  fn("gap_drops", stats_.gap_drops);
  fn("retransmits_reedited", stats_.retransmits_reedited);
  fn("corrupt", stats_.corrupt);
  fn("edit_errors", stats_.edit_errors);
}

const HelperEntry& PptpEntry() {
  // No expectations: a call's GRE flow is opened outright (both Call IDs
  // are known), at most kMaxCalls per control connection.
  static const HelperEntry entry =
      EntryOf<PptpHelper>("pptp", kProtoTcp, {pptp::kPort},
                          {.max_per_master = 0,
                           .max_timeout_s = 0,
                           .allow_any_remote = false,
                           .max_related_per_master = PptpHelper::kMaxCalls});
  return entry;
}

}  // namespace unat::helpers
