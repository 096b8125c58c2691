#include "helpers/sip_message.h"

#include <algorithm>
#include <cctype>

namespace unat::helpers::sip {

namespace {

bool IsTokenChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("-.!%*_+`'~").find(c) != std::string_view::npos;
}
bool IsSpace(char c) { return c == ' ' || c == '\t'; }
bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() &&
         EqualsIgnoreCase(s.substr(0, prefix.size()), prefix);
}

// The end of the line starting at `pos` (the index of its CR or LF, or
// text.size()) and the start of the next one.
size_t LineEnd(std::string_view text, size_t pos, size_t* next) {
  const size_t lf = text.find('\n', pos);
  if (lf == std::string_view::npos) {
    *next = text.size();
    return text.size();
  }
  *next = lf + 1;
  return lf > pos && text[lf - 1] == '\r' ? lf - 1 : lf;
}

Span Trim(std::string_view text, size_t from, size_t to) {
  while (from < to && IsSpace(text[from])) ++from;
  while (to > from && IsSpace(text[to - 1])) --to;
  return {from, to - from};
}

// Decimal digits in `s` as a number no larger than `max`.
std::optional<uint32_t> Number(std::string_view s, uint32_t max) {
  if (s.empty() || s.size() > 10) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v > max) return std::nullopt;
  return static_cast<uint32_t>(v);
}

std::optional<Message> Fail(ParseError* why, ParseError e) {
  *why = e;
  return std::nullopt;
}

// host[:port] at `pos` of `text`, ending before `to` or a delimiter.
std::optional<HostPort> HostPortAt(std::string_view text, size_t pos, size_t to,
                                   std::string_view delims) {
  HostPort hp;
  size_t i = pos;
  if (i < to && text[i] == '[') {  // IPv6 reference: kept as it is
    const size_t close = text.find(']', i);
    if (close == std::string_view::npos || close >= to) return std::nullopt;
    i = close + 1;
  } else {
    while (i < to && delims.find(text[i]) == std::string_view::npos &&
           text[i] != ':' && !IsSpace(text[i])) {
      ++i;
    }
  }
  if (i == pos) return std::nullopt;
  hp.host = {pos, i - pos};
  if (i < to && text[i] == ':') {
    const size_t p = ++i;
    while (i < to && text[i] >= '0' && text[i] <= '9') ++i;
    auto v = Number(text.substr(p, i - p), 65535);
    if (!v || *v == 0) return std::nullopt;
    hp.port = {p, i - p};
    hp.port_value = static_cast<uint16_t>(*v);
  }
  return hp;
}

}  // namespace

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

const char* ParseErrorName(ParseError e) {
  switch (e) {
    case ParseError::kNone:
      return "none";
    case ParseError::kIncomplete:
      return "incomplete";
    case ParseError::kBadStartLine:
      return "bad_start_line";
    case ParseError::kBadHeader:
      return "bad_header";
    case ParseError::kBadLength:
      return "bad_content_length";
    case ParseError::kTooLarge:
      return "too_large";
  }
  return "unknown";
}

HeaderKind KindOf(std::string_view name) {
  struct Entry {
    std::string_view full;
    char compact;
    HeaderKind kind;
  };
  static constexpr Entry kEntries[] = {
      {"via", 'v', HeaderKind::kVia},
      {"contact", 'm', HeaderKind::kContact},
      {"from", 'f', HeaderKind::kFrom},
      {"to", 't', HeaderKind::kTo},
      {"call-id", 'i', HeaderKind::kCallId},
      {"cseq", 0, HeaderKind::kCSeq},
      {"content-length", 'l', HeaderKind::kContentLength},
      {"content-type", 'c', HeaderKind::kContentType},
      {"record-route", 0, HeaderKind::kRecordRoute},
      {"route", 0, HeaderKind::kRoute},
      {"expires", 0, HeaderKind::kExpires},
  };
  for (const Entry& e : kEntries) {
    if (EqualsIgnoreCase(name, e.full) ||
        (e.compact != 0 && name.size() == 1 &&
         std::tolower(static_cast<unsigned char>(name[0])) == e.compact)) {
      return e.kind;
    }
  }
  return HeaderKind::kOther;
}

const Header* Message::Find(HeaderKind kind) const {
  for (const Header& h : headers) {
    if (h.kind == kind) return &h;
  }
  return nullptr;
}

std::optional<Message> Parse(std::string_view text, bool stream,
                             ParseError* why, size_t* needed) {
  *why = ParseError::kNone;
  if (needed != nullptr) *needed = 0;
  // RFC 3261 7.5: a stream may carry CRLFs between messages (keep-alives);
  // the caller skips them. The header section ends at an empty line.
  size_t head_end = std::string_view::npos, body_start = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t next;
    const size_t end = LineEnd(text, pos, &next);
    if (next == text.size() && (end == text.size())) break;  // unterminated
    if (end == pos && pos != 0) {
      head_end = pos;
      body_start = next;
      break;
    }
    pos = next;
  }
  if (head_end == std::string_view::npos) {
    return Fail(why, text.size() >= kMaxMessage ? ParseError::kTooLarge
                                                : ParseError::kIncomplete);
  }
  if (head_end > kMaxMessage) return Fail(why, ParseError::kTooLarge);
  Message m;
  // The start line.
  size_t next;
  const size_t sl_end = LineEnd(text, 0, &next);
  const std::string_view sl = text.substr(0, sl_end);
  if (StartsWithIgnoreCase(sl, "SIP/2.0 ")) {
    if (sl.size() < 11 || !Number(sl.substr(8, 3), 699) ||
        (sl.size() > 11 && sl[11] != ' ')) {
      return Fail(why, ParseError::kBadStartLine);
    }
    m.status = static_cast<int>(*Number(sl.substr(8, 3), 699));
    if (m.status < 100) return Fail(why, ParseError::kBadStartLine);
  } else {
    const size_t sp1 = sl.find(' ');
    const size_t sp2 =
        sp1 == std::string_view::npos ? sp1 : sl.find(' ', sp1 + 1);
    if (sp1 == 0 || sp2 == std::string_view::npos || sp2 == sp1 + 1 ||
        !EqualsIgnoreCase(sl.substr(sp2 + 1), "SIP/2.0")) {
      return Fail(why, ParseError::kBadStartLine);
    }
    for (size_t i = 0; i < sp1; ++i) {
      if (!IsTokenChar(sl[i])) return Fail(why, ParseError::kBadStartLine);
    }
    m.request = true;
    m.method = {0, sp1};
    m.request_uri = {sp1 + 1, sp2 - sp1 - 1};
  }
  // The header fields; a line starting with white space continues the
  // previous one (RFC 3261 7.3.1).
  std::optional<uint32_t> content_length;
  for (size_t pos = next; pos < head_end;) {
    const size_t end = LineEnd(text, pos, &next);
    if (IsSpace(text[pos])) {
      if (m.headers.empty()) return Fail(why, ParseError::kBadHeader);
      Header& h = m.headers.back();
      const Span more = Trim(text, pos, end);
      if (more.length != 0) {
        if (h.value.length == 0) h.value.offset = more.offset;
        h.value.length = more.end() - h.value.offset;
      }
      pos = next;
      continue;
    }
    const size_t colon = text.find(':', pos);
    if (colon == std::string_view::npos || colon >= end) {
      return Fail(why, ParseError::kBadHeader);
    }
    const Span name = Trim(text, pos, colon);
    if (name.length == 0) return Fail(why, ParseError::kBadHeader);
    for (size_t i = name.offset; i < name.end(); ++i) {
      if (!IsTokenChar(text[i])) return Fail(why, ParseError::kBadHeader);
    }
    if (m.headers.size() >= kMaxHeaders) {
      return Fail(why, ParseError::kTooLarge);
    }
    Header h{KindOf(name.of(text)), name, Trim(text, colon + 1, end)};
    if (h.kind == HeaderKind::kContentLength) {
      auto v = Number(h.value.of(text), kMaxMessage);
      if (!v || (content_length && *content_length != *v)) {
        return Fail(why, ParseError::kBadLength);
      }
      content_length = v;
    }
    m.headers.push_back(h);
    pos = next;
  }
  const size_t rest = text.size() - body_start;
  size_t body_len;
  if (content_length) {
    m.has_content_length = true;
    body_len = *content_length;
    if (body_len > rest) {
      if (stream && needed != nullptr) *needed = body_start + body_len;
      return Fail(why,
                  stream ? ParseError::kIncomplete : ParseError::kBadLength);
    }
  } else {
    if (stream) return Fail(why, ParseError::kBadLength);  // RFC 3261 18.3
    body_len = rest;
  }
  m.body = {body_start, body_len};
  m.length = body_start + body_len;
  if (m.length > kMaxMessage) return Fail(why, ParseError::kTooLarge);
  return m;
}

std::vector<size_t> FindAddress(std::string_view text, std::string_view addr,
                                size_t from, size_t to) {
  std::vector<size_t> out;
  if (addr.empty() || to > text.size()) return out;
  auto joins = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-';
  };
  for (size_t at = text.find(addr, from);
       at != std::string_view::npos && at + addr.size() <= to;
       at = text.find(addr, at + 1)) {
    if (at > 0 && joins(text[at - 1])) continue;
    const size_t after = at + addr.size();
    if (after < text.size() && joins(text[after])) continue;
    out.push_back(at);
  }
  return out;
}

std::optional<HostPort> UriHostPort(std::string_view text, Span value) {
  const std::string_view v = value.of(text);
  size_t s = std::string_view::npos;
  for (size_t i = 0; i + 4 <= v.size(); ++i) {
    if (StartsWithIgnoreCase(v.substr(i), "sip:")) {
      s = i + 4;
      break;
    }
    if (StartsWithIgnoreCase(v.substr(i), "sips:")) {
      s = i + 5;
      break;
    }
  }
  if (s == std::string_view::npos) return std::nullopt;
  // The host follows the userinfo, if any (an '@' before the end of the
  // URI's host part).
  const size_t uri_end = std::min(v.find_first_of(">;?, \t", s), v.size());
  const size_t at = v.substr(0, uri_end).rfind('@');
  if (at != std::string_view::npos && at >= s) s = at + 1;
  return HostPortAt(text, value.offset + s, value.offset + uri_end, ">;?,");
}

std::optional<HostPort> ViaSentBy(std::string_view text, Span value) {
  const std::string_view v = value.of(text);
  // sent-protocol: SIP / 2.0 / transport, with optional white space.
  size_t i = 0, slashes = 0;
  while (i < v.size() && slashes < 2) {
    if (v[i] == '/') ++slashes;
    ++i;
  }
  if (slashes < 2) return std::nullopt;
  while (i < v.size() && IsSpace(v[i])) ++i;
  while (i < v.size() && IsTokenChar(v[i])) ++i;  // the transport
  const size_t proto_end = i;
  while (i < v.size() && IsSpace(v[i])) ++i;
  if (i == proto_end || i >= v.size()) return std::nullopt;
  const size_t end = std::min(v.find_first_of(";, \t", i), v.size());
  return HostPortAt(text, value.offset + i, value.offset + end, ";,");
}

std::vector<Span> Values(std::string_view text, Span value) {
  std::vector<Span> out;
  const std::string_view v = value.of(text);
  bool quoted = false;
  int angle = 0;
  size_t start = 0;
  for (size_t i = 0; i <= v.size(); ++i) {
    if (i < v.size()) {
      const char c = v[i];
      if (c == '"' && (i == 0 || v[i - 1] != '\\')) quoted = !quoted;
      if (quoted) continue;
      if (c == '<') angle++;
      if (c == '>' && angle > 0) angle--;
      if (c != ',' || angle != 0) continue;
    }
    const Span t = Trim(text, value.offset + start, value.offset + i);
    if (t.length != 0) out.push_back(t);
    start = i + 1;
  }
  return out;
}

std::string_view CSeqMethod(std::string_view text, Span value) {
  const std::string_view v = value.of(text);
  size_t i = 0;
  while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i;
  if (i == 0 || i == v.size() || !IsSpace(v[i])) return {};
  while (i < v.size() && IsSpace(v[i])) ++i;
  const size_t s = i;
  while (i < v.size() && IsTokenChar(v[i])) ++i;
  if (i != v.size()) return {};
  return v.substr(s);
}

std::optional<uint32_t> DeltaSeconds(std::string_view value) {
  if (value.empty() || value.size() > 20) return std::nullopt;
  uint64_t n = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return std::nullopt;
    n = std::min<uint64_t>(n * 10 + static_cast<uint64_t>(c - '0'),
                           0xffffffffu);
  }
  return static_cast<uint32_t>(n);
}

std::optional<uint32_t> ContactExpires(std::string_view text, Span value) {
  // The first contact only.
  const std::vector<Span> values = Values(text, value);
  if (values.empty()) return std::nullopt;
  const std::string_view v = values.front().of(text);
  // Its parameters follow the name-addr's '>' (outside quotes), or the
  // URI's first ';' when it has no brackets.
  bool quoted = false, bracketed = false;
  size_t params = std::string_view::npos;
  for (size_t i = 0; i < v.size() && params == std::string_view::npos; ++i) {
    const char c = v[i];
    if (c == '"' && (i == 0 || v[i - 1] != '\\')) quoted = !quoted;
    if (quoted) continue;
    if (c == '<') bracketed = true;
    if (c == '>' && bracketed) params = i + 1;
  }
  if (!bracketed) params = v.find(';');
  if (params == std::string_view::npos) return std::nullopt;
  size_t i = params;
  while (i < v.size()) {
    const size_t semi = v.find(';', i);
    if (semi == std::string_view::npos) break;
    i = semi + 1;
    size_t end = std::min(v.find(';', i), v.size());
    Span p = Trim(v, i, end);
    std::string_view param = p.of(v);
    const size_t eq = param.find('=');
    if (eq == std::string_view::npos) continue;
    Span name = Trim(param, 0, eq);
    if (!EqualsIgnoreCase(name.of(param), "expires")) continue;
    Span val = Trim(param, eq + 1, param.size());
    return DeltaSeconds(val.of(param));
  }
  return std::nullopt;
}

std::optional<Sdp> ParseSdp(std::string_view text, Span body) {
  Sdp sdp;
  bool first = true;
  auto fields = [&](size_t from, size_t to) {
    std::vector<Span> f;
    size_t i = from;
    while (i < to) {
      while (i < to && text[i] == ' ') ++i;
      const size_t s = i;
      while (i < to && text[i] != ' ') ++i;
      if (i > s) f.push_back({s, i - s});
    }
    return f;
  };
  auto addr_of = [&](Span s) {  // "a.b.c.d/ttl" -> the address
    const size_t slash = s.of(text).find('/');
    return slash == std::string_view::npos ? s : Span{s.offset, slash};
  };
  for (size_t pos = body.offset; pos < body.end();) {
    size_t next;
    size_t end = LineEnd(text, pos, &next);
    end = std::min(end, body.end());
    next = std::min(next, body.end());
    if (end == pos) {
      pos = next;
      continue;
    }
    const std::string_view line = text.substr(pos, end - pos);
    if (first) {
      if (line != "v=0") return std::nullopt;
      first = false;
    } else if (line.size() >= 2 && line[1] == '=') {
      const auto f = fields(pos + 2, end);
      auto is_ip4 = [&](size_t net, size_t type) {
        return f.size() > type && f[net].of(text) == "IN" &&
               f[type].of(text) == "IP4";
      };
      switch (line[0]) {
        case 'o':
          if (f.size() >= 6 && is_ip4(3, 4)) sdp.origin_addr = f[5];
          break;
        case 'c':
          if (f.size() >= 3 && is_ip4(0, 1)) {
            (sdp.media.empty() ? sdp.connection_addr
                               : sdp.media.back().connection_addr) =
                addr_of(f[2]);
          }
          break;
        case 'm':
          if (f.size() >= 3) {
            SdpMedia m;
            m.media = f[0];
            const std::string_view p = f[1].of(text);
            const size_t slash = p.find('/');
            m.port = {f[1].offset,
                      slash == std::string_view::npos ? p.size() : slash};
            auto v = Number(m.port.of(text), 65535);
            if (v) {
              m.port_value = static_cast<uint16_t>(*v);
              sdp.media.push_back(m);
            }
          }
          break;
        case 'a':
          if (!sdp.media.empty() && StartsWithIgnoreCase(line, "a=rtcp:")) {
            const auto g = fields(pos + 7, end);
            if (!g.empty()) {
              auto v = Number(g[0].of(text), 65535);
              if (v) {
                SdpMedia& m = sdp.media.back();
                m.rtcp_port = g[0];
                m.rtcp_port_value = static_cast<uint16_t>(*v);
                if (g.size() >= 4 && g[1].of(text) == "IN" &&
                    g[2].of(text) == "IP4") {
                  m.rtcp_addr = g[3];
                }
              }
            }
          }
          break;
        default:
          break;
      }
    }
    pos = next;
  }
  if (first) return std::nullopt;
  return sdp;
}

}  // namespace unat::helpers::sip
