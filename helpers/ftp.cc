#include "helpers/ftp.h"

#include <memory>

#include "absl/strings/str_cat.h"

namespace unat::helpers {

namespace {

enum Kind : int {
  kPort = 1,
  kEprt,
  kPasv,  // 227
  kEpsv,  // 229
  kMalformed,
  kOtherFamily,
  kPassiveOutside,
};

// Parses `n` numbers (each <= max) separated by `sep` from s[i...]; on
// success *i is just past the last digit.
bool ParseList(std::string_view s, size_t* i, int n, char sep, uint64_t max,
               uint64_t* vals) {
  size_t p = *i;
  for (int k = 0; k < n; ++k) {
    if (k > 0) {
      if (p >= s.size() || s[p] != sep) return false;
      ++p;
    }
    const size_t used = ParseDecimal(s.substr(p), max, &vals[k]);
    if (used == 0) return false;
    p += used;
  }
  *i = p;
  return true;
}

// Only blanks and the line terminator may follow.
bool OnlyEnd(std::string_view s, size_t i) {
  while (i < s.size() && s[i] == ' ') ++i;
  if (i < s.size() && s[i] == '\r') ++i;
  return i + 1 == s.size() && s[i] == '\n';
}

uint32_t Addr(const uint64_t* v) {
  return static_cast<uint32_t>((v[0] << 24) | (v[1] << 16) | (v[2] << 8) |
                               v[3]);
}

std::string Dotted(uint32_t a, char sep) {
  return absl::StrCat(a >> 24, std::string(1, sep), (a >> 16) & 255,
                      std::string(1, sep), (a >> 8) & 255, std::string(1, sep),
                      a & 255);
}

// "h1,h2,h3,h4,p1,p2" starting at *i.
std::optional<Candidate> ParseSix(std::string_view line, size_t start,
                                  int kind) {
  uint64_t v[6];
  size_t i = start;
  if (!ParseList(line, &i, 6, ',', 255, v)) return std::nullopt;
  Candidate c;
  c.kind = kind;
  c.offset = start;
  c.length = i - start;
  c.addr = Addr(v);
  c.port = static_cast<uint16_t>((v[4] << 8) | v[5]);
  return c;
}

std::optional<Candidate> ParsePort(std::string_view line) {
  size_t i = 4;
  while (i < line.size() && line[i] == ' ') ++i;
  auto c = ParseSix(line, i, kPort);
  if (!c || !OnlyEnd(line, c->offset + c->length)) {
    return Candidate{.kind = kMalformed};
  }
  return c;
}

std::optional<Candidate> ParseEprt(std::string_view line) {
  size_t i = 4;
  while (i < line.size() && line[i] == ' ') ++i;
  if (i + 3 > line.size()) return Candidate{.kind = kMalformed};
  const char d = line[i];
  if (d < 33 || d > 126 || (d >= '0' && d <= '9') || d == '.') {
    return Candidate{.kind = kMalformed};
  }
  if (line[i + 1] != '1') {
    return Candidate{.kind = line[i + 1] == '2' ? kOtherFamily : kMalformed};
  }
  if (line[i + 2] != d) return Candidate{.kind = kMalformed};
  const size_t start = i + 3;
  size_t p = start;
  uint64_t a[4];
  uint64_t port;
  if (!ParseList(line, &p, 4, '.', 255, a) || p >= line.size() ||
      line[p] != d) {
    return Candidate{.kind = kMalformed};
  }
  ++p;
  const size_t used = ParseDecimal(line.substr(p), 65535, &port);
  if (used == 0 || port == 0) return Candidate{.kind = kMalformed};
  p += used;
  if (p >= line.size() || line[p] != d || !OnlyEnd(line, p + 1)) {
    return Candidate{.kind = kMalformed};
  }
  Candidate c;
  c.kind = kEprt;
  c.offset = start;
  c.length = p - start;
  c.addr = Addr(a);
  c.port = static_cast<uint16_t>(port);
  c.delim = d;
  return c;
}

std::optional<Candidate> Parse227(std::string_view line) {
  // "227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)." Some servers leave out
  // the parentheses: then the numbers start at the first digit.
  size_t i = line.find('(', 4);
  if (i != std::string_view::npos) {
    ++i;
  } else {
    i = 4;
    while (i < line.size() && (line[i] < '0' || line[i] > '9')) ++i;
  }
  auto c = ParseSix(line, i, kPasv);
  if (!c) return Candidate{.kind = kMalformed};
  return c;
}

std::optional<Candidate> Parse229(std::string_view line) {
  // "229 Entering Extended Passive Mode (|||port|)"
  size_t i = line.find('(', 4);
  if (i == std::string_view::npos || i + 4 >= line.size()) {
    return Candidate{.kind = kMalformed};
  }
  const char d = line[i + 1];
  if (d < 33 || d > 126 || (d >= '0' && d <= '9') || line[i + 2] != d ||
      line[i + 3] != d) {
    return Candidate{.kind = kMalformed};
  }
  const size_t start = i + 4;
  uint64_t port;
  const size_t used = ParseDecimal(line.substr(start), 65535, &port);
  if (used == 0 || port == 0 || start + used >= line.size() ||
      line[start + used] != d) {
    return Candidate{.kind = kMalformed};
  }
  Candidate c;
  c.kind = kEpsv;
  c.offset = start;
  c.length = used;
  c.port = static_cast<uint16_t>(port);
  c.delim = d;
  return c;
}

bool IsCommand(std::string_view line, std::string_view cmd) {
  return StartsWithNoCase(line, cmd) &&
         (line.size() == cmd.size() || line[cmd.size()] == ' ');
}

// `partial` could still become `word` + ' ' + ...
bool CouldBe(std::string_view partial, std::string_view word) {
  const size_t n = std::min(partial.size(), word.size());
  if (!StartsWithNoCase(word, partial.substr(0, n))) return false;
  return partial.size() <= word.size() || partial[word.size()] == ' ';
}

}  // namespace

bool FtpHelper::EditsFrom(const FlowInfo& flow, Side from,
                          const std::string&) const {
  // The inside end's words: a client's PORT/EPRT or a server's 227/229.
  return from == Side::kInside;
}

bool FtpHelper::MayNeedEdit(const FlowInfo& flow, Side from,
                            std::string_view partial) const {
  if (from != Side::kInside) return false;
  if (flow.inbound_origin) {
    return CouldBe(partial, "227") || CouldBe(partial, "229");
  }
  return CouldBe(partial, "PORT") || CouldBe(partial, "EPRT");
}

std::optional<Candidate> FtpHelper::Parse(const FlowInfo& flow, Side from,
                                          std::string_view line) {
  const bool server_inside = flow.inbound_origin;
  // Server replies: from the inside for a forwarded server, from the
  // outside otherwise.
  const bool from_server = (from == Side::kInside) == server_inside;
  if (from_server) {
    if (IsCommand(line, "227")) {
      auto c = Parse227(line);
      if (from == Side::kOutside && c->kind != kMalformed) {
        c->kind = kPassiveOutside;
      }
      return c;
    }
    if (IsCommand(line, "229")) {
      auto c = Parse229(line);
      if (from == Side::kOutside && c->kind != kMalformed) {
        c->kind = kPassiveOutside;
      }
      return c;
    }
    return std::nullopt;
  }
  if (from != Side::kInside) return std::nullopt;  // outside client: no-op
  if (IsCommand(line, "PORT")) return ParsePort(line);
  if (IsCommand(line, "EPRT")) return ParseEprt(line);
  return std::nullopt;
}

std::optional<std::string> FtpHelper::Commit(HelperContext& ctx,
                                             const FlowInfo& flow, Side from,
                                             std::string_view line,
                                             const Candidate& c) {
  switch (c.kind) {
    case kMalformed:
      if (from == Side::kInside) stats_.malformed++;
      return std::nullopt;
    case kOtherFamily:
      stats_.other_family++;
      return std::nullopt;
    case kPassiveOutside:
      stats_.passive_outside++;
      return std::nullopt;
    default:
      break;
  }
  if (from != Side::kInside) return std::nullopt;
  // PORT/EPRT/227 must name the inside end's own address (the whole 32-bit
  // value: 10.0.0.1 never matches 10.0.0.10). 229 carries no address.
  if (c.kind != kEpsv && c.addr != flow.inside_addr) {
    stats_.foreign_address++;
    return std::nullopt;
  }
  ExpectationSpec spec;
  spec.proto = kProtoTcp;
  spec.remote_addr = flow.remote_addr;  // the server (active) or the client
  spec.remote_port = 0;                 // from port 20, or any
  spec.inside_addr = flow.inside_addr;
  spec.inside_port = c.port;
  spec.timeout_s = options_.expect_timeout_s;
  absl::StatusOr<ExternalEndpoint> ext = ctx.Expect(spec);
  if (!ext.ok()) {
    stats_.expect_failed++;
    return std::nullopt;
  }
  const std::string sep(1, c.delim);
  switch (c.kind) {
    case kPort:
      stats_.port_rewrites++;
      return absl::StrCat(Dotted(ext->addr, ','), ",", ext->port >> 8, ",",
                          ext->port & 255);
    case kPasv:
      stats_.pasv_rewrites++;
      return absl::StrCat(Dotted(ext->addr, ','), ",", ext->port >> 8, ",",
                          ext->port & 255);
    case kEprt:
      stats_.eprt_rewrites++;
      return absl::StrCat(Dotted(ext->addr, '.'), sep, ext->port);
    case kEpsv:
      if (ext->addr != flow.external_addr) stats_.epsv_other_address++;
      stats_.epsv_rewrites++;
      return absl::StrCat(ext->port);
  }
  return std::nullopt;
}

void FtpHelper::ForEachCounter(const CounterFn& fn) const {
  fn("port_rewrites", stats_.port_rewrites);
  fn("eprt_rewrites", stats_.eprt_rewrites);
  fn("pasv_rewrites", stats_.pasv_rewrites);
  fn("epsv_rewrites", stats_.epsv_rewrites);
  fn("foreign_address", stats_.foreign_address);
  fn("malformed", stats_.malformed);
  fn("other_family", stats_.other_family);
  fn("expect_failed", stats_.expect_failed);
  fn("passive_outside", stats_.passive_outside);
  fn("epsv_other_address", stats_.epsv_other_address);
  ForEachStreamCounter(stream_stats(), fn);
}

ExpectationPolicy FtpHelper::expectation_policy() const {
  ExpectationPolicy p = FtpEntry().expectations;
  p.max_timeout_s = options_.expect_timeout_s;
  return p;
}

const HelperEntry& FtpEntry() {
  // One data connection from the server's (or client's) address.
  static const HelperEntry entry = EntryOf<FtpHelper>(
      "ftp", kProtoTcp, {21},
      {.max_per_master = 4,
       .max_timeout_s = FtpHelper::Options{}.expect_timeout_s,
       .allow_any_remote = false});
  return entry;
}

}  // namespace unat::helpers
