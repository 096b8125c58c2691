#include "helpers/irc.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <type_traits>

#include "absl/strings/str_cat.h"

namespace unat::helpers {

namespace {

enum Kind : int {
  kSend = 1,
  kChat,
  kResume,
  kAccept,
  kMalformed,
};

// The offers this connection made: inside port <-> external port.
struct Offers {
  uint16_t inside_port[IrcHelper::kMaxOffers];
  uint16_t ext_port[IrcHelper::kMaxOffers];
  uint8_t head;
};
static_assert(std::is_trivially_copyable_v<Offers>);

Offers LoadOffers(const std::string& s) {
  Offers o;
  const size_t at = TcpLineHelper::StateSize();
  if (s.size() >= at + sizeof o) {
    std::memcpy(&o, s.data() + at, sizeof o);
  } else {
    std::memset(&o, 0, sizeof o);
  }
  return o;
}

void StoreOffers(std::string& s, const Offers& o) {
  const size_t at = TcpLineHelper::StateSize();
  if (s.size() < at + sizeof o) s.resize(at + sizeof o, '\0');
  std::memcpy(s.data() + at, &o, sizeof o);
}

bool HasOffers(const std::string& s) {
  const Offers o = LoadOffers(s);
  for (uint16_t p : o.ext_port) {
    if (p != 0) return true;
  }
  return false;
}

bool IsSpace(char c) { return c == ' '; }

// Skips "@tags " and ":prefix "; returns the command's offset.
size_t CommandStart(std::string_view line) {
  size_t i = 0;
  for (char lead : {'@', ':'}) {
    if (i < line.size() && line[i] == lead) {
      const size_t sp = line.find(' ', i);
      if (sp == std::string_view::npos) return line.size();
      i = sp;
      while (i < line.size() && IsSpace(line[i])) ++i;
    }
  }
  return i;
}

bool IsWord(std::string_view s, size_t i, std::string_view w) {
  return StartsWithNoCase(s.substr(i), w) &&
         (i + w.size() == s.size() || IsSpace(s[i + w.size()]));
}

// `partial` (from the command on) could still become `w` + ' '.
bool CouldBeWord(std::string_view partial, std::string_view w) {
  if (partial.size() <= w.size()) return StartsWithNoCase(w, partial);
  return IsWord(partial, 0, w);
}

// Next space-separated token from s[*i]; a filename may be "quoted".
bool Token(std::string_view s, size_t* i, size_t* start, size_t* len,
           bool quoted_ok) {
  size_t p = *i;
  while (p < s.size() && IsSpace(s[p])) ++p;
  if (p >= s.size()) return false;
  *start = p;
  if (quoted_ok && s[p] == '"') {
    const size_t q = s.find('"', p + 1);
    if (q == std::string_view::npos) return false;
    *len = q + 1 - p;
    *i = q + 1;
    return true;
  }
  while (p < s.size() && !IsSpace(s[p])) ++p;
  *len = p - *start;
  *i = p;
  return *len > 0;
}

bool Number(std::string_view s, size_t* i, uint64_t max, size_t* start,
            size_t* len, uint64_t* v) {
  if (!Token(s, i, start, len, false)) return false;
  return ParseDecimal(s.substr(*start, *len), max, v) == *len;
}

}  // namespace

bool IrcHelper::EditsFrom(const FlowInfo& flow, Side from,
                          const std::string& state) const {
  if (flow.inbound_origin) return false;
  return from == Side::kInside || HasOffers(state);
}

bool IrcHelper::MayNeedEdit(const FlowInfo& flow, Side from,
                            std::string_view partial) const {
  const size_t cmd = CommandStart(partial);
  if (cmd >= partial.size()) return true;  // still in tags or prefix
  const std::string_view rest = partial.substr(cmd);
  if (!CouldBeWord(rest, "PRIVMSG") && !CouldBeWord(rest, "NOTICE")) {
    return false;
  }
  const size_t colon = rest.find(" :");
  if (colon == std::string_view::npos) return true;
  const std::string_view text = rest.substr(colon + 2);
  // A CTCP starts the text (in practice always) or appears in it.
  return text.empty() || text.find('\x01') != std::string_view::npos;
}

std::optional<Candidate> IrcHelper::Parse(const FlowInfo& flow, Side from,
                                          std::string_view line) {
  if (flow.inbound_origin) return std::nullopt;
  const size_t cmd = CommandStart(line);
  if (!IsWord(line, cmd, "PRIVMSG") && !IsWord(line, cmd, "NOTICE")) {
    return std::nullopt;
  }
  const size_t colon = line.find(" :", cmd);
  if (colon == std::string_view::npos) return std::nullopt;
  size_t at = line.find(
      "\x01"
      "DCC ",
      colon);
  if (at == std::string_view::npos) return std::nullopt;
  // The CTCP body ends at the closing \x01 (or the line's end).
  size_t end = line.find('\x01', at + 1);
  if (end == std::string_view::npos) {
    end = line.size();
    while (end > 0 && (line[end - 1] == '\n' || line[end - 1] == '\r')) --end;
  }
  const std::string_view body = line.substr(0, end);
  size_t i = at + 5;
  size_t ts, tl;
  if (!Token(body, &i, &ts, &tl, false)) return Candidate{.kind = kMalformed};
  const std::string_view type = body.substr(ts, tl);
  const bool send = type.size() == 4 && StartsWithNoCase(type, "SEND");
  const bool chat = type.size() == 4 && StartsWithNoCase(type, "CHAT");
  const bool resume = type.size() == 6 && StartsWithNoCase(type, "RESUME");
  const bool accept = type.size() == 6 && StartsWithNoCase(type, "ACCEPT");
  if (!send && !chat && !resume && !accept) return std::nullopt;
  // Offers and ACCEPT matter from the inside, RESUME from the outside.
  if (from == Side::kInside ? resume : !resume) return std::nullopt;
  size_t ns, nl;
  if (!Token(body, &i, &ns, &nl, true)) return Candidate{.kind = kMalformed};
  Candidate c;
  size_t s1, l1, s2, l2;
  uint64_t v1, v2;
  if (send || chat) {
    if (!Number(body, &i, 0xffffffffu, &s1, &l1, &v1) ||
        !Number(body, &i, 65535, &s2, &l2, &v2)) {
      return Candidate{.kind = kMalformed};
    }
    c.kind = send ? kSend : kChat;
    c.offset = s1;
    c.length = s2 + l2 - s1;
    c.addr = static_cast<uint32_t>(v1);
    c.port = static_cast<uint16_t>(v2);
    return c;
  }
  if (!Number(body, &i, 65535, &s1, &l1, &v1)) {
    return Candidate{.kind = kMalformed};
  }
  c.kind = resume ? kResume : kAccept;
  c.offset = s1;
  c.length = l1;
  c.port = static_cast<uint16_t>(v1);
  return c;
}

std::optional<std::string> IrcHelper::Commit(HelperContext& ctx,
                                             const FlowInfo& flow, Side from,
                                             std::string_view,
                                             const Candidate& c) {
  if (c.kind == kMalformed) {
    stats_.malformed++;
    return std::nullopt;
  }
  std::string& state = ctx.FlowState();
  Offers offers = LoadOffers(state);
  if (c.kind == kResume || c.kind == kAccept) {
    for (size_t k = 0; k < kMaxOffers; ++k) {
      if (offers.ext_port[k] == 0) continue;
      if (c.kind == kResume && offers.ext_port[k] == c.port) {
        stats_.resume_rewrites++;
        return absl::StrCat(offers.inside_port[k]);
      }
      if (c.kind == kAccept && offers.inside_port[k] == c.port) {
        stats_.accept_rewrites++;
        return absl::StrCat(offers.ext_port[k]);
      }
    }
    stats_.unknown_port++;
    return std::nullopt;
  }
  if (c.addr != flow.inside_addr) {
    stats_.foreign_address++;
    return std::nullopt;
  }
  if (c.port == 0) {
    // Reverse DCC: the peer will listen; only the address is ours to fix.
    stats_.reverse_offers++;
    return absl::StrCat(flow.external_addr, " 0");
  }
  ExpectationSpec spec;
  spec.proto = kProtoTcp;
  spec.remote_addr = 0;          // another IRC user: unknown to the NAT
  spec.allow_any_remote = true;  // once, for a short time (engine-capped)
  spec.remote_port = 0;
  spec.inside_addr = flow.inside_addr;
  spec.inside_port = c.port;
  spec.timeout_s = options_.expect_timeout_s;
  absl::StatusOr<ExternalEndpoint> ext = ctx.Expect(spec);
  if (!ext.ok()) {
    stats_.expect_failed++;
    return std::nullopt;
  }
  offers.inside_port[offers.head] = c.port;
  offers.ext_port[offers.head] = ext->port;
  offers.head = static_cast<uint8_t>((offers.head + 1) % kMaxOffers);
  StoreOffers(state, offers);
  if (c.kind == kSend) {
    stats_.send_rewrites++;
  } else {
    stats_.chat_rewrites++;
  }
  return absl::StrCat(ext->addr, " ", ext->port);
}

void IrcHelper::ForEachCounter(const CounterFn& fn) const {
  fn("send_rewrites", stats_.send_rewrites);
  fn("chat_rewrites", stats_.chat_rewrites);
  fn("resume_rewrites", stats_.resume_rewrites);
  fn("accept_rewrites", stats_.accept_rewrites);
  fn("reverse_offers", stats_.reverse_offers);
  fn("foreign_address", stats_.foreign_address);
  fn("malformed", stats_.malformed);
  fn("expect_failed", stats_.expect_failed);
  fn("unknown_port", stats_.unknown_port);
  ForEachStreamCounter(stream_stats(), fn);
}

ExpectationPolicy IrcHelper::expectation_policy() const {
  ExpectationPolicy p = IrcEntry().expectations;
  p.max_timeout_s = options_.expect_timeout_s;
  return p;
}

const HelperEntry& IrcEntry() {
  // The peer is another IRC user: any address, once, for at most the
  // engine's cap on such expectations.
  static const HelperEntry entry = EntryOf<IrcHelper>(
      "irc", kProtoTcp, {6667},
      {.max_per_master = 4,
       .max_timeout_s = std::min(IrcHelper::Options{}.expect_timeout_s,
                                 ExpectationSpec::kMaxAnyRemoteTimeoutS),
       .allow_any_remote = true});
  return entry;
}

}  // namespace unat::helpers
