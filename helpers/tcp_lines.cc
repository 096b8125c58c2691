#include "helpers/tcp_lines.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "engine/checksum.h"
#include "engine/wire.h"
#include "helpers/flow_state.h"

namespace unat::helpers {

namespace {

// One rewrite, kept so that a retransmission of the same bytes is rewritten
// the same way (without a second Expect()).
struct EditRecord {
  SeqNum pos;  // sender sequence number of the first rewritten byte
  uint8_t used;
  uint8_t olen;
  uint8_t nlen;
  char orig[TcpLineHelper::kMaxEditText];
  char repl[TcpLineHelper::kMaxEditText];
};

struct DirState {
  uint8_t init;
  uint8_t mid;  // the next new byte is inside a line we pass unparsed
  uint8_t split_tries;
  uint8_t head;  // next slot in edits
  SeqNum next;   // sender sequence number of the next new byte
  SeqNum split_seq;
  EditRecord edits[TcpLineHelper::kMaxEdits];
};

struct StreamState {
  DirState dir[2];
};
static_assert(std::is_trivially_copyable_v<StreamState>);

StreamState Load(const std::string& s) {
  return LoadFlowRecord<StreamState>(s);
}
void Store(std::string& s, const StreamState& st) { StoreFlowRecord(s, st); }

struct PendingEdit {
  size_t offset;
  size_t length;
  std::string text;
};

}  // namespace

size_t TcpLineHelper::StateSize() { return sizeof(StreamState); }

bool TcpLineHelper::OnPacket(HelperContext& ctx, const FlowInfo& flow,
                             Side from, Ipv4View& ip, L4View& l4) {
  if (flow.proto != kProtoTcp) return true;
  const uint8_t flags = l4.tcp_flags();
  const SeqNum seq(l4.tcp_seq());
  std::string& raw = ctx.FlowState();
  StreamState st = Load(raw);
  DirState& d = st.dir[static_cast<int>(from)];
  if (flags & tcp_flags::kSyn) {
    d.init = 1;
    d.next = seq + 1;
    d.mid = 0;
    Store(raw, st);
    return true;
  }
  if (flags & tcp_flags::kRst) return true;
  const std::span<uint8_t> payload = ctx.Payload();
  const size_t len = payload.size();
  if (len == 0) return true;
  if (TransportChecksum(ip.src(), ip.dst(), kProtoTcp,
                        {l4.data(), l4.size()}) != 0) {
    // The receiver drops it and the sender retransmits: parse that one.
    stream_stats_.corrupt++;
    return true;
  }
  const bool strict = EditsFrom(flow, from, raw);
  if (!d.init) {
    d.init = 1;
    d.next = seq;
    d.mid = 0;
  }
  const std::string_view bytes(reinterpret_cast<const char*>(payload.data()),
                               len);
  const int32_t rel = seq - d.next;
  if (rel > 0) {
    if (strict) {
      stream_stats_.gap_drops++;
      return false;
    }
    d.next = seq + len;
    d.mid = 1;  // where lines start is unknown now
    Store(raw, st);
    return true;
  }
  const size_t old =
      rel < 0 ? std::min(len, static_cast<size_t>(-static_cast<int64_t>(rel)))
              : 0;

  // Earlier rewrites inside this segment (a retransmission).
  std::vector<PendingEdit> edits;
  bool old_edit_here = false;
  for (const EditRecord& r : d.edits) {
    if (!r.used) continue;
    const int64_t start = r.pos - seq;
    const int64_t end = start + r.olen;
    if (end <= 0 || start >= static_cast<int64_t>(len)) continue;
    old_edit_here = true;
    const bool inside = start >= 0 && end <= static_cast<int64_t>(len);
    if (!inside || bytes.substr(static_cast<size_t>(start), r.olen) !=
                       std::string_view(r.orig, r.olen)) {
      // Re-segmented across a rewrite, or different bytes: the rewrite
      // cannot be repeated faithfully.
      if (strict) {
        stream_stats_.unsafe_drops++;
        return false;
      }
      continue;
    }
    edits.push_back(
        {static_cast<size_t>(start), r.olen, std::string(r.repl, r.nlen)});
  }

  // New bytes.
  struct Found {
    size_t line_off;
    size_t line_len;
    Candidate c;
  };
  std::vector<Found> found;
  size_t pos = old;
  bool mid = d.mid != 0;
  if (old < len && mid) {
    const size_t nl = bytes.find('\n', pos);
    if (nl == std::string_view::npos) {
      pos = len;
    } else {
      pos = nl + 1;
      mid = false;
    }
  }
  if (old < len && !mid) {
    for (;;) {
      const size_t nl = bytes.find('\n', pos);
      if (nl == std::string_view::npos) break;
      const std::string_view line = bytes.substr(pos, nl + 1 - pos);
      if (auto c = Parse(flow, from, line)) {
        found.push_back({pos, line.size(), *c});
      }
      stream_stats_.lines++;
      pos = nl + 1;
    }
    if (pos < len) {
      const std::string_view tail = bytes.substr(pos);
      if (strict && tail.size() <= max_line() &&
          MayNeedEdit(flow, from, tail)) {
        if (d.split_seq != seq) {
          d.split_seq = seq;
          d.split_tries = 0;
        }
        if (d.split_tries < kMaxSplitTries) {
          d.split_tries++;
          stream_stats_.split_drops++;
          Store(raw, st);
          return false;
        }
        stream_stats_.split_passed++;
      }
      mid = true;
      pos = len;
    }
  }
  if (!found.empty() && old_edit_here && strict) {
    // A new rewrite in a segment that also repeats an old one: the engine
    // keeps one correction point per direction and could not shift it.
    stream_stats_.unsafe_drops++;
    return false;
  }

  // Commit: Expect() and the replacement texts.
  bool new_edit = false;
  for (const Found& f : found) {
    const std::string_view line = bytes.substr(f.line_off, f.line_len);
    std::optional<std::string> text = Commit(ctx, flow, from, line, f.c);
    if (!text) continue;
    if (f.c.offset + f.c.length > line.size()) continue;  // parser bug guard
    const size_t off = f.line_off + f.c.offset;
    if (f.c.length <= kMaxEditText && text->size() <= kMaxEditText) {
      EditRecord& r = d.edits[d.head];
      d.head = static_cast<uint8_t>((d.head + 1) % kMaxEdits);
      std::memset(&r, 0, sizeof r);
      r.used = 1;
      r.pos = seq + off;
      r.olen = static_cast<uint8_t>(f.c.length);
      r.nlen = static_cast<uint8_t>(text->size());
      std::memcpy(r.orig, bytes.data() + off, f.c.length);
      std::memcpy(r.repl, text->data(), text->size());
    }
    edits.push_back({off, f.c.length, std::move(*text)});
    new_edit = true;
  }
  if (!edits.empty() && !new_edit) stream_stats_.retransmits_reedited++;

  if (old < len) {
    d.next = seq + len;
    d.mid = mid ? 1 : 0;
    d.split_tries = 0;
  }
  Store(raw, st);

  // Apply from the end so earlier offsets stay valid.
  std::sort(edits.begin(), edits.end(),
            [](const PendingEdit& a, const PendingEdit& b) {
              return a.offset > b.offset;
            });
  for (const PendingEdit& e : edits) {
    absl::Status s = ctx.ReplacePayload(e.offset, e.length, e.text);
    if (!s.ok()) {
      stream_stats_.edit_errors++;
      break;
    }
  }
  return true;
}

size_t ParseDecimal(std::string_view s, uint64_t max, uint64_t* out) {
  uint64_t v = 0;
  size_t i = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    v = v * 10 + static_cast<uint64_t>(s[i] - '0');
    if (v > max || i >= 10) return 0;
    ++i;
  }
  if (i == 0) return 0;
  *out = v;
  return i;
}

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char a = s[i];
    char b = prefix[i];
    if (a >= 'a' && a <= 'z') a = static_cast<char>(a - 32);
    if (b >= 'a' && b <= 'z') b = static_cast<char>(b - 32);
    if (a != b) return false;
  }
  return true;
}

}  // namespace unat::helpers
