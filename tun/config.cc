#include "tun/config.h"

#include <grp.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/text_format.h"
#include "helpers/registry.h"
#include "tun/metrics_server.h"
#include "tun/privileges.h"

namespace unat::tun {
namespace {

class OneLineErrors : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (seen_) return;  // the first error is the one that matters
    seen_ = true;
    line_ = line;
    column_ = column;
    message_ = message;
  }
  void AddWarning(int, google::protobuf::io::ColumnNumber,
                  const std::string&) override {}
  bool seen() const { return seen_; }
  int line() const { return line_; }
  int column() const { return column_; }
  const std::string& message() const { return message_; }

 private:
  bool seen_ = false;
  int line_ = -1;
  int column_ = 0;
  std::string message_;
};

class SilentErrors : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int, google::protobuf::io::ColumnNumber,
                const std::string&) override {}
};

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

// What a value of `field` must look like, for an error message.
std::string Expected(const FieldDescriptor* field) {
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return "an integer (int32)";
    case FieldDescriptor::CPPTYPE_INT64:
      return "an integer (int64)";
    case FieldDescriptor::CPPTYPE_UINT32:
      return "an unsigned integer (uint32)";
    case FieldDescriptor::CPPTYPE_UINT64:
      return "an unsigned integer (uint64)";
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT:
      return "a number";
    case FieldDescriptor::CPPTYPE_BOOL:
      return "true or false";
    case FieldDescriptor::CPPTYPE_STRING:
      return "a quoted string";
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return "a { ... } block";
    case FieldDescriptor::CPPTYPE_ENUM: {
      std::string names;
      const google::protobuf::EnumDescriptor* e = field->enum_type();
      for (int i = 0; i < e->value_count(); ++i) {
        absl::StrAppend(&names, i == 0 ? "" : ", ", e->value(i)->name());
      }
      return absl::StrCat("one of ", names);
    }
  }
  return "a valid value";
}

// Where a text-format error is: the path of the field whose value the
// tokenizer was at (`inside[0].mtu`), that field, and the value as written
// (`-1`, `"fast"`).
struct ErrorSite {
  std::string path;
  const FieldDescriptor* field = nullptr;
  std::string value;
  int line = 0;  // of the value, 0-based like the tokenizer's
  int column = 0;
};

// Walks the text's tokens up to (line, column), following fields and
// blocks the way the text-format parser does. nullopt when the error is not
// at a field's value (a field name, a brace, the end of the text); then
// `*before` is the value just before that token, if there is one (the
// parser reports a bad enum or bool after it has read the value).
std::optional<ErrorSite> FindErrorSite(absl::string_view text, int line,
                                       int column, const Descriptor* root,
                                       std::optional<ErrorSite>* before) {
  namespace io = google::protobuf::io;
  io::ArrayInputStream input(text.data(), static_cast<int>(text.size()));
  SilentErrors silent;
  io::Tokenizer tok(&input, &silent);
  tok.set_comment_style(io::Tokenizer::SH_COMMENT_STYLE);
  tok.set_allow_f_after_float(true);
  tok.set_require_space_after_number(false);
  struct Scope {
    const Descriptor* type;
    std::string prefix;
    std::map<std::string, int> seen;
    bool in_list;  // a block that is an element of [ ... ]
    // The field whose value the block is (for the list's next element).
    std::string owner_name;
    const FieldDescriptor* owner_field;
  };
  std::vector<Scope> scopes;
  scopes.push_back({root, "", {}, false, "", nullptr});
  enum { kName, kAfterName, kValue, kList } state = kName;
  std::string name, path;
  const FieldDescriptor* field = nullptr;
  auto reached = [&](const io::Tokenizer::Token& t) {
    return t.line > line || (t.line == line && t.end_column > column);
  };
  auto element_path = [&]() {
    const int index = scopes.back().seen[name]++;
    return field != nullptr && field->is_repeated()
               ? absl::StrCat(scopes.back().prefix, name, "[", index, "]")
               : absl::StrCat(scopes.back().prefix, name);
  };
  auto open_block = [&](bool in_list) {
    path = element_path();
    scopes.push_back({field != nullptr && field->cpp_type() ==
                                              FieldDescriptor::CPPTYPE_MESSAGE
                          ? field->message_type()
                          : nullptr,
                      path + ".",
                      {},
                      in_list,
                      name,
                      field});
    state = kName;
  };
  // The value at the current token, joining a minus sign to its number.
  auto value_here = [&]() -> std::optional<ErrorSite> {
    std::string v = tok.current().text;
    const int end = tok.current().end_column;
    const int at_line = tok.current().line;
    const int start = tok.current().column;
    if (v == "-" && tok.Next() && tok.current().line == at_line &&
        tok.current().column == end) {
      v += tok.current().text;
    }
    return ErrorSite{path, field, v, at_line, start};
  };
  std::optional<ErrorSite> last_value;  // the previous token's, if a value
  while (tok.Next()) {
    const io::Tokenizer::Token& t = tok.current();
    const bool here = reached(t);
    if (here) *before = last_value;
    last_value.reset();
    switch (state) {
      case kName:
        if (t.text == "}" || t.text == ">") {
          if (here || scopes.size() == 1) return std::nullopt;
          const bool was_in_list = scopes.back().in_list;
          name = scopes.back().owner_name;
          field = scopes.back().owner_field;
          scopes.pop_back();
          state = was_in_list ? kList : kName;
          break;
        }
        if (t.text == ";" || t.text == ",") break;
        if (here || t.type != io::Tokenizer::TYPE_IDENTIFIER) {
          return std::nullopt;
        }
        name = t.text;
        field = scopes.back().type ? scopes.back().type->FindFieldByName(name)
                                   : nullptr;
        state = kAfterName;
        break;
      case kAfterName:
        // An error right after a name is about the name (repeated, ...).
        if (here) return std::nullopt;
        if (t.text == ":") {
          state = kValue;
          break;
        }
        [[fallthrough]];
      case kValue:
        if (t.text == "{" || t.text == "<") {
          if (here) return std::nullopt;
          open_block(false);
          break;
        }
        if (t.text == "[") {
          if (here) return std::nullopt;
          state = kList;
          break;
        }
        path = element_path();
        if (here) return value_here();
        last_value = ErrorSite{path, field, t.text, t.line, t.column};
        state = kName;
        break;
      case kList:
        if (t.text == "]") {
          if (here) return std::nullopt;
          state = kName;
          break;
        }
        if (t.text == ",") break;
        if (t.text == "{" || t.text == "<") {
          if (here) return std::nullopt;
          open_block(true);
          break;
        }
        path = element_path();
        if (here) return value_here();
        last_value = ErrorSite{path, field, t.text, t.line, t.column};
        break;
    }
  }
  *before = last_value;  // the error is at the end of the text
  return std::nullopt;
}

absl::Status Bad(absl::string_view field, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", message));
}

std::string Quote(absl::string_view s) { return absl::StrCat("\"", s, "\""); }

absl::Status CheckRange(absl::string_view field, uint64_t value, uint64_t lo,
                        uint64_t hi) {
  if (value < lo || value > hi) {
    return Bad(field, absl::StrCat(value, " is out of range ", lo, "..", hi));
  }
  return absl::OkStatus();
}

absl::Status CheckDevice(absl::string_view field, const std::string& name) {
  if (name.empty()) return Bad(field, "is required");
  if (name.size() > 15) {
    return Bad(field,
               absl::StrCat(Quote(name), " is longer than 15 characters"));
  }
  for (char c : name) {
    if (c == '/' || c == ' ' || c == ':' || c == '\0') {
      return Bad(field, absl::StrCat(Quote(name), " is not a device name"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckNetns(absl::string_view field, const std::string& netns) {
  if (netns.empty()) return absl::OkStatus();
  if (netns.find('/') == std::string::npos && (netns == "." || netns == "..")) {
    return Bad(field, absl::StrCat(Quote(netns), " is not a namespace name"));
  }
  return absl::OkStatus();
}

absl::Status ParseAddress(absl::string_view field, const std::string& text,
                          uint32_t* addr) {
  std::optional<uint32_t> parsed = ParseIpv4(text);
  if (!parsed) {
    return Bad(field, absl::StrCat(Quote(text), " is not an IPv4 address"));
  }
  *addr = *parsed;
  return absl::OkStatus();
}

// The helpers that answer on the gateway address (portmap/), configured by
// their own fields; not in the ALG registry.
bool IsLocalHelper(absl::string_view name) {
  return name == "natpmp" || name == "pcp" || name == "upnp";
}

// Every registered ALG from its `helpers.<name>` and `helpers.<name>_ports`
// fields (tun/config.proto), read by name through reflection.
absl::Status BuildAlgs(const config::Helpers& h,
                       helpers::HelperSetConfig* out) {
  const Descriptor* desc = h.GetDescriptor();
  const google::protobuf::Reflection* refl = h.GetReflection();
  for (const helpers::HelperEntry* e : helpers::Registered()) {
    const FieldDescriptor* on = desc->FindFieldByName(e->enable_field());
    const FieldDescriptor* ports = desc->FindFieldByName(e->ports_field());
    if (on == nullptr || on->is_repeated() ||
        on->cpp_type() != FieldDescriptor::CPPTYPE_BOOL || ports == nullptr ||
        !ports->is_repeated() ||
        ports->cpp_type() != FieldDescriptor::CPPTYPE_UINT32) {
      return absl::InternalError(absl::StrCat(
          "config.proto has no helpers.", e->enable_field(),
          " (bool) and helpers.", e->ports_field(), " (repeated uint32)"));
    }
    out->Enable(e->name, refl->GetBool(h, on));
    for (const helpers::HelperOption& o : e->options) {
      const FieldDescriptor* f = desc->FindFieldByName(e->option_field(o.name));
      if (f == nullptr || f->is_repeated() ||
          f->cpp_type() != FieldDescriptor::CPPTYPE_UINT32) {
        return absl::InternalError(absl::StrCat("config.proto has no helpers.",
                                                e->option_field(o.name),
                                                " (optional uint32)"));
      }
      if (!refl->HasField(h, f)) continue;
      const uint32_t v = refl->GetUInt32(h, f);
      if (absl::Status s =
              CheckRange(absl::StrCat("helpers.", e->option_field(o.name)), v,
                         o.min, o.max);
          !s.ok()) {
        return s;
      }
      out->SetOption(e->name, o.name, v);
    }
    const int n = refl->FieldSize(h, ports);
    if (n == 0) continue;
    const std::string field = absl::StrCat("helpers.", e->ports_field());
    std::vector<uint16_t> list;
    for (int i = 0; i < n; ++i) {
      const uint32_t p = refl->GetRepeatedUInt32(h, ports, i);
      if (p == 0 || p > 65535) {
        return Bad(field, absl::StrCat(p, " is not a port (1..65535)"));
      }
      if (std::find(list.begin(), list.end(), p) != list.end()) {
        return Bad(field, absl::StrCat("port ", p, " listed twice"));
      }
      list.push_back(static_cast<uint16_t>(p));
    }
    out->SetPorts(e->name, std::move(list));
  }
  // Two enabled helpers cannot share a server port of the same protocol.
  const auto all = helpers::Registered();
  for (size_t later = 0; later < all.size(); ++later) {
    const helpers::HelperEntry& b = *all[later];
    if (!out->enabled(b.name)) continue;
    const std::vector<uint16_t>& b_ports = out->ports(b.name);
    for (size_t earlier = 0; earlier < later; ++earlier) {
      const helpers::HelperEntry& a = *all[earlier];
      if (!out->enabled(a.name)) continue;
      uint8_t shared = 0;
      for (uint8_t proto : a.protos()) {
        if (shared == 0 && b.serves(proto)) shared = proto;
      }
      if (shared == 0) continue;
      for (uint16_t p : out->ports(a.name)) {
        if (std::find(b_ports.begin(), b_ports.end(), p) != b_ports.end()) {
          const std::string earlier_name =
              absl::AsciiStrToUpper(std::string(a.name));
          // Read letter by letter: "an FTP", "an IRC", "a TFTP".
          const bool an = absl::StrContains("AEFHILMNORSX", earlier_name[0]);
          return Bad(absl::StrCat("helpers.", b.ports_field()),
                     absl::StrCat(absl::AsciiStrToUpper(ProtoName(shared)),
                                  " port ", p, " is also ", an ? "an " : "a ",
                                  earlier_name, " port"));
        }
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

// 0/8, loopback, multicast and class E: no host can be behind a router there.
bool IsReservedForRouting(uint32_t a) {
  return (a >> 24) == 0 || (a >> 24) == 127 || (a >> 28) >= 0xe;
}

absl::Status ParseCidr(absl::string_view text, uint32_t* addr,
                       uint8_t* prefix_len) {
  size_t slash = text.find('/');
  if (slash == absl::string_view::npos) {
    return absl::InvalidArgumentError("missing /prefix");
  }
  absl::string_view head = text.substr(0, slash);
  std::optional<uint32_t> parsed =
      ParseIpv4(std::string_view(head.data(), head.size()));
  uint32_t len = 0;
  if (!parsed || !absl::SimpleAtoi(text.substr(slash + 1), &len) || len > 32) {
    return absl::InvalidArgumentError("not ADDRESS/PREFIX");
  }
  *addr = *parsed;
  *prefix_len = static_cast<uint8_t>(len);
  return absl::OkStatus();
}

std::string FilteringName(config::Filtering filtering) {
  return config::Filtering_Name(filtering);
}

absl::StatusOr<config::Config> ParseConfigText(absl::string_view text,
                                               absl::string_view filename) {
  config::Config config;
  google::protobuf::TextFormat::Parser parser;
  OneLineErrors errors;
  parser.RecordErrorsTo(&errors);
  if (parser.ParseFromString(std::string(text), &config)) return config;
  if (!errors.seen()) {
    return absl::InvalidArgumentError(absl::StrCat(filename, ": cannot parse"));
  }
  if (errors.line() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(filename, ": ", errors.message()));
  }
  std::string where =
      absl::StrCat(filename, ":", errors.line() + 1, ":", errors.column() + 1);
  // A bad value: name the field by its path and show the value as written
  // (protobuf's own words name neither: `Expected integer, got: -`).
  std::optional<ErrorSite> before;
  std::optional<ErrorSite> site =
      FindErrorSite(text, errors.line(), errors.column(),
                    config::Config::descriptor(), &before);
  if (!site && before && before->field != nullptr &&
      (absl::StrContains(errors.message(), "enumeration value") ||
       absl::StrContains(errors.message(), "boolean"))) {
    site = before;
    // The parser points after the value; point at it.
    where = absl::StrCat(filename, ":", site->line + 1, ":", site->column + 1);
  }
  if (site && site->field != nullptr) {
    const bool range = absl::StrContains(errors.message(), "out of range");
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": ", site->path, ": ", site->value,
        range ? " is out of range for " : " is not ", Expected(site->field)));
  }
  if (site) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": ", site->path, ": ", site->value, ": ", errors.message()));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(where, ": ", errors.message()));
}

absl::StatusOr<config::Config> LoadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot open: ", strerror(errno)));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return ParseConfigText(buffer.str(), path);
}

absl::StatusOr<DaemonConfig> BuildDaemonConfig(const config::Config& c) {
  DaemonConfig d;

  // Outside first: forwards refer to its addresses.
  if (!c.has_outside()) return Bad("outside", "is required");
  const config::Outside& out = c.outside();
  if (absl::Status s = CheckDevice("outside.device", out.device()); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckNetns("outside.netns", out.netns()); !s.ok()) {
    return s;
  }
  if (out.has_mtu() && out.mtu() != 0) {
    if (absl::Status s = CheckRange("outside.mtu", out.mtu(), 576, 65535);
        !s.ok()) {
      return s;
    }
  }
  d.outside = {out.device(), out.netns(), out.mtu()};
  if (out.external_address_size() == 0) {
    return Bad("outside.external_address", "at least one is required");
  }
  for (int i = 0; i < out.external_address_size(); ++i) {
    std::string field = absl::StrCat("outside.external_address[", i, "]");
    uint32_t addr = 0;
    if (absl::Status s = ParseAddress(field, out.external_address(i), &addr);
        !s.ok()) {
      return s;
    }
    if (addr == 0 || addr == 0xffffffff || (addr >> 28) >= 14 ||
        (addr >> 24) == 127) {
      return Bad(field, absl::StrCat(Quote(out.external_address(i)),
                                     " is not a usable unicast address"));
    }
    for (uint32_t seen : d.nat.external_addresses) {
      if (seen == addr) {
        return Bad(field, absl::StrCat(Quote(out.external_address(i)),
                                       " is repeated"));
      }
    }
    d.nat.external_addresses.push_back(addr);
  }

  // Inside networks.
  if (c.inside_size() == 0) return Bad("inside", "at least one is required");
  std::set<std::string> names;
  std::set<std::pair<std::string, std::string>> devices;
  devices.insert({out.netns(), out.device()});
  for (int i = 0; i < c.inside_size(); ++i) {
    const config::Inside& in = c.inside(i);
    std::string p = absl::StrCat("inside[", i, "]");
    InsideSpec spec;
    if (in.name().empty()) return Bad(p + ".name", "is required");
    if (in.name().size() > 64) {
      return Bad(p + ".name", absl::StrCat(Quote(in.name()),
                                           " is longer than 64 characters"));
    }
    for (char ch : in.name()) {
      if (!(isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' ||
            ch == '.')) {
        return Bad(p + ".name",
                   absl::StrCat(Quote(in.name()),
                                " may only have letters, digits, - _ ."));
      }
    }
    if (!names.insert(in.name()).second) {
      return Bad(p + ".name", absl::StrCat(Quote(in.name()), " is repeated"));
    }
    if (absl::Status s = CheckDevice(p + ".device", in.device()); !s.ok()) {
      return s;
    }
    if (absl::Status s = CheckNetns(p + ".netns", in.netns()); !s.ok()) {
      return s;
    }
    if (!devices.insert({in.netns(), in.device()}).second) {
      return Bad(
          p + ".device",
          absl::StrCat(
              Quote(in.device()),
              in.netns().empty() ? "" : absl::StrCat(" in netns ", in.netns()),
              " is used twice"));
    }
    if (in.address().empty()) return Bad(p + ".address", "is required");
    if (absl::Status s =
            ParseCidr(in.address(), &spec.gateway, &spec.prefix_len);
        !s.ok()) {
      return Bad(p + ".address",
                 absl::StrCat(Quote(in.address()), " is not ADDRESS/PREFIX"));
    }
    if (spec.prefix_len < 1 || spec.prefix_len > 30) {
      return Bad(p + ".address",
                 absl::StrCat(Quote(in.address()),
                              ": prefix length is out of range 1..30"));
    }
    uint32_t host = spec.gateway & ~PrefixMask(spec.prefix_len);
    if (host == 0 || host == ~PrefixMask(spec.prefix_len)) {
      return Bad(p + ".address",
                 absl::StrCat(Quote(in.address()),
                              " is the network or broadcast address"));
    }
    if (in.has_mtu() && in.mtu() != 0) {
      if (absl::Status s = CheckRange(p + ".mtu", in.mtu(), 576, 65535);
          !s.ok()) {
        return s;
      }
    }
    if (in.routed_prefix_size() >
        static_cast<int>(NamespaceConfig::kMaxRoutedPrefixes)) {
      return Bad(p + ".routed_prefix",
                 absl::StrCat(in.routed_prefix_size(), " prefixes, at most ",
                              NamespaceConfig::kMaxRoutedPrefixes));
    }
    for (int r = 0; r < in.routed_prefix_size(); ++r) {
      const std::string field = absl::StrCat(p, ".routed_prefix[", r, "]");
      const std::string& text = in.routed_prefix(r);
      Ipv4Prefix prefix;
      if (!ParseCidr(text, &prefix.addr, &prefix.len).ok()) {
        return Bad(field, absl::StrCat(Quote(text), " is not ADDRESS/PREFIX"));
      }
      if (prefix.len < 1 || (prefix.addr & ~prefix.mask()) != 0) {
        return Bad(field,
                   absl::StrCat(Quote(text),
                                prefix.len < 1
                                    ? ": prefix length is out of range 1..32"
                                    : " has host bits set past the prefix"));
      }
      if (IsReservedForRouting(prefix.addr)) {
        return Bad(field,
                   absl::StrCat(Quote(text), " is not unicast address space"));
      }
      const Ipv4Prefix link{spec.gateway, spec.prefix_len};
      if (link.Contains(prefix.addr) || prefix.Contains(spec.gateway)) {
        return Bad(field, absl::StrCat(Quote(text), " overlaps ", p,
                                       ".address ", Quote(in.address())));
      }
      spec.routed_prefixes.push_back(prefix);
    }
    spec.name = in.name();
    spec.device = in.device();
    spec.netns = in.netns();
    spec.mtu = in.mtu();
    d.inside.push_back(std::move(spec));
  }

  // Ports.
  const config::Ports& ports = c.ports();
  if (absl::Status s = CheckRange("ports.min", ports.min(), 1, 65535);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckRange("ports.max", ports.max(), 1, 65535);
      !s.ok()) {
    return s;
  }
  if (ports.min() > ports.max()) {
    return Bad("ports.min",
               absl::StrCat(ports.min(), " is above ports.max ", ports.max()));
  }
  if (absl::Status s =
          CheckRange("ports.icmp_id_min", ports.icmp_id_min(), 0, 65535);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          CheckRange("ports.icmp_id_max", ports.icmp_id_max(), 0, 65535);
      !s.ok()) {
    return s;
  }
  if (ports.icmp_id_min() > ports.icmp_id_max()) {
    return Bad("ports.icmp_id_min",
               absl::StrCat(ports.icmp_id_min(), " is above ports.icmp_id_max ",
                            ports.icmp_id_max()));
  }
  d.nat.port_min = static_cast<uint16_t>(ports.min());
  d.nat.port_max = static_cast<uint16_t>(ports.max());
  d.nat.icmp_id_min = static_cast<uint16_t>(ports.icmp_id_min());
  d.nat.icmp_id_max = static_cast<uint16_t>(ports.icmp_id_max());
  d.nat.port_preservation = ports.preservation();
  d.nat.port_parity = ports.parity();

  // Timeouts: the RFC minimums are the floor.
  const config::Timeouts& t = c.timeouts();
  struct TimeoutField {
    const char* name;
    uint32_t value;
    uint32_t min;
    uint32_t* out;
  } timeouts[] = {
      {"timeouts.tcp_established_s", t.tcp_established_s(), 7440,
       &d.nat.timeouts.tcp_established_s},
      {"timeouts.tcp_transitory_s", t.tcp_transitory_s(), 240,
       &d.nat.timeouts.tcp_transitory_s},
      {"timeouts.udp_s", t.udp_s(), 120, &d.nat.timeouts.udp_s},
      {"timeouts.icmp_s", t.icmp_s(), 60, &d.nat.timeouts.icmp_s},
      {"timeouts.port_hold_s", t.port_hold_s(), 0, &d.nat.timeouts.port_hold_s},
      {"timeouts.tcp_inbound_syn_s", t.tcp_inbound_syn_s(), 6,
       &d.nat.timeouts.tcp_inbound_syn_s},
      {"timeouts.udp_inbound_unanswered_s", t.udp_inbound_unanswered_s(), 10,
       &d.nat.timeouts.udp_inbound_unanswered_s},
      {"timeouts.gre_unreplied_s", t.gre_unreplied_s(), 10,
       &d.nat.timeouts.gre_unreplied_s},
      {"timeouts.gre_stream_s", t.gre_stream_s(), 10,
       &d.nat.timeouts.gre_stream_s},
  };
  for (const TimeoutField& f : timeouts) {
    if (absl::Status s = CheckRange(f.name, f.value, f.min, 7 * 24 * 3600);
        !s.ok()) {
      return s;
    }
    *f.out = f.value;
  }

  switch (c.filtering()) {
    case config::ENDPOINT_INDEPENDENT:
      d.nat.filtering = FilteringMode::kEndpointIndependent;
      break;
    case config::ADDRESS_DEPENDENT:
      d.nat.filtering = FilteringMode::kAddressDependent;
      break;
    case config::ADDRESS_AND_PORT_DEPENDENT:
      d.nat.filtering = FilteringMode::kAddressAndPortDependent;
      break;
  }

  const config::Fragments& fr = c.fragments();
  d.nat.fragments.mode = fr.mode() == config::Fragments::FULL
                             ? ReassemblyMode::kFull
                             : ReassemblyMode::kVirtual;
  {
    struct FragField {
      const char* name;
      uint32_t value;
      uint32_t min, max;
      uint32_t* out;
    } frag_fields[] = {
        {"fragments.max_bytes", fr.max_bytes(), 65536, 1u << 30,
         &d.nat.fragments.max_bytes},
        {"fragments.max_datagrams_per_namespace",
         fr.max_datagrams_per_namespace(), 1, 1u << 20,
         &d.nat.fragments.max_datagrams_per_namespace},
        {"fragments.max_fragments_per_datagram",
         fr.max_fragments_per_datagram(), 2, 8192,
         &d.nat.fragments.max_fragments_per_datagram},
        {"fragments.timeout_ms", fr.timeout_ms(), 1000, 120000,
         &d.nat.fragments.timeout_ms},
    };
    for (const FragField& f : frag_fields) {
      if (absl::Status s = CheckRange(f.name, f.value, f.min, f.max); !s.ok()) {
        return s;
      }
      *f.out = f.value;
    }
  }

  const config::Limits& l = c.limits();
  if (absl::Status s =
          CheckRange("limits.max_flows", l.max_flows(), 1, uint32_t{1} << 26);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          CheckRange("limits.max_flows_per_namespace",
                     l.max_flows_per_namespace(), 0, l.max_flows());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckRange("limits.max_flows_per_host",
                                  l.max_flows_per_host(), 1, l.max_flows());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckRange("limits.max_ports_per_host",
                                  l.max_ports_per_host(), 1, 65535);
      !s.ok()) {
    return s;
  }
  d.nat.limits.max_flows = l.max_flows();
  d.nat.limits.max_flows_per_namespace = l.max_flows_per_namespace();
  d.nat.limits.max_flows_per_host = l.max_flows_per_host();
  d.nat.limits.max_ports_per_host = l.max_ports_per_host();
  if (absl::Status s = CheckRange("limits.max_ports_per_namespace",
                                  l.max_ports_per_namespace(), 0, 1u << 24);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckRange("limits.max_half_open_per_forward",
                                  l.max_half_open_per_forward(), 1, 1u << 20);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckRange("limits.max_half_open", l.max_half_open(), 1,
                                  l.max_flows());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckRange("limits.max_expectations",
                                  l.max_expectations(), 1, 1u << 20);
      !s.ok()) {
    return s;
  }
  d.nat.limits.max_expectations = l.max_expectations();
  d.nat.limits.max_ports_per_namespace = l.max_ports_per_namespace();
  d.nat.limits.max_half_open_per_forward = l.max_half_open_per_forward();
  d.nat.limits.max_half_open = l.max_half_open();

  const config::IcmpErrors& ie = c.icmp_errors();
  if (absl::Status s =
          CheckRange("icmp_errors.per_second", ie.per_second(), 0, 1000000);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckRange("icmp_errors.burst", ie.burst(), 0, 1000000);
      !s.ok()) {
    return s;
  }
  d.nat.icmp_errors_per_second = ie.per_second();
  d.nat.icmp_error_burst = ie.burst();
  d.nat.random_seed = c.random_seed();

  // Helpers: the local ones (NAT-PMP, PCP, UPnP) and the registered ALGs
  // are built in; the others are not yet.
  const google::protobuf::Reflection* refl = c.helpers().GetReflection();
  std::vector<const google::protobuf::FieldDescriptor*> set_fields;
  refl->ListFields(c.helpers(), &set_fields);
  for (const google::protobuf::FieldDescriptor* f : set_fields) {
    if (f->is_repeated() ||
        f->type() != google::protobuf::FieldDescriptor::TYPE_BOOL) {
      continue;
    }
    if (IsLocalHelper(f->name()) || helpers::FindHelper(f->name())) continue;
    if (refl->GetBool(c.helpers(), f)) {
      return Bad(absl::StrCat("helpers.", f->name()),
                 "true is not available: this build has no such helper yet");
    }
  }
  d.natpmp = c.helpers().natpmp();
  d.pcp = c.helpers().pcp();
  d.upnp = c.helpers().upnp();
  if (c.helpers().upnp_port() == 0 || c.helpers().upnp_port() > 65535) {
    return Bad("helpers.upnp_port", absl::StrCat(c.helpers().upnp_port(),
                                                 " is not a port (1..65535)"));
  }
  d.upnp_port = static_cast<uint16_t>(c.helpers().upnp_port());
  if (c.helpers().upnp_igd_version() != 1 &&
      c.helpers().upnp_igd_version() != 2) {
    return Bad("helpers.upnp_igd_version",
               absl::StrCat(c.helpers().upnp_igd_version(), " is not 1 or 2"));
  }
  d.upnp_igd_version = static_cast<int>(c.helpers().upnp_igd_version());
  if (absl::Status s = BuildAlgs(c.helpers(), &d.alg); !s.ok()) return s;

  // Port-mapping policy.
  const config::Portmap& pm = c.portmap();
  struct {
    const char* field;
    uint64_t value, lo, hi;
  } const pm_ranges[] = {
      {"portmap.port_min", pm.port_min(), 1, 65535},
      {"portmap.port_max", pm.port_max(), 1, 65535},
      {"portmap.max_per_client", pm.max_per_client(), 0, 65536},
      {"portmap.max_total", pm.max_total(), 0, 1u << 20},
      {"portmap.max_per_namespace", pm.max_per_namespace(), 0, 1u << 20},
      {"portmap.min_lifetime_s", pm.min_lifetime_s(), 1, 1u << 30},
      {"portmap.max_lifetime_s", pm.max_lifetime_s(), 1, 1u << 30},
      {"portmap.max_filters", pm.max_filters(), 0,
       ForwardSpec::kMaxRemoteFilters},
      {"portmap.requests_per_second", pm.requests_per_second(), 1, 100000},
      {"portmap.request_burst", pm.request_burst(), 1, 100000},
      {"portmap.max_clients", pm.max_clients(), 1, 1u << 20},
  };
  for (const auto& r : pm_ranges) {
    if (absl::Status s = CheckRange(r.field, r.value, r.lo, r.hi); !s.ok()) {
      return s;
    }
  }
  if (pm.port_min() > pm.port_max()) {
    return Bad("portmap.port_min",
               absl::StrCat(pm.port_min(), " is above portmap.port_max ",
                            pm.port_max()));
  }
  if (pm.min_lifetime_s() > pm.max_lifetime_s()) {
    return Bad(
        "portmap.min_lifetime_s",
        absl::StrCat(pm.min_lifetime_s(), " is above portmap.max_lifetime_s ",
                     pm.max_lifetime_s()));
  }
  d.portmap_policy.port_min = static_cast<uint16_t>(pm.port_min());
  d.portmap_policy.port_max = static_cast<uint16_t>(pm.port_max());
  d.portmap_policy.max_per_client = pm.max_per_client();
  d.portmap_policy.max_total = pm.max_total();
  d.portmap_policy.max_per_namespace = pm.max_per_namespace();
  d.portmap_policy.min_lifetime_s = pm.min_lifetime_s();
  d.portmap_policy.max_lifetime_s = pm.max_lifetime_s();
  d.portmap_policy.allow_third_party = pm.allow_third_party();
  d.portmap_policy.max_filters = pm.max_filters();
  d.portmap_rate.per_second = pm.requests_per_second();
  d.portmap_rate.burst = pm.request_burst();
  d.portmap_rate.max_clients = pm.max_clients();

  // Forwards.
  std::set<std::tuple<uint32_t, uint32_t, uint32_t>> forward_keys;
  for (int i = 0; i < c.forward_size(); ++i) {
    const config::Forward& f = c.forward(i);
    std::string p = absl::StrCat("forward[", i, "]");
    ForwardEntry e;
    if (f.proto() != config::TCP && f.proto() != config::UDP) {
      return Bad(p + ".proto", absl::StrCat(config::Proto_Name(f.proto()),
                                            " is not TCP or UDP"));
    }
    e.proto = static_cast<uint8_t>(f.proto());
    if (f.has_external_address() && !f.external_address().empty()) {
      if (absl::Status s = ParseAddress(p + ".external_address",
                                        f.external_address(), &e.external_addr);
          !s.ok()) {
        return s;
      }
      bool ours = false;
      for (uint32_t a : d.nat.external_addresses) ours |= a == e.external_addr;
      if (!ours) {
        return Bad(p + ".external_address",
                   absl::StrCat(Quote(f.external_address()),
                                " is not one of outside.external_address"));
      }
    }
    if (!f.has_external_port()) return Bad(p + ".external_port", "is required");
    if (absl::Status s =
            CheckRange(p + ".external_port", f.external_port(), 1, 65535);
        !s.ok()) {
      return s;
    }
    e.external_port = static_cast<uint16_t>(f.external_port());
    const InsideSpec* ns = nullptr;
    for (const InsideSpec& in : d.inside) {
      if (in.name == f.namespace_()) ns = &in;
    }
    if (ns == nullptr) {
      return Bad(p + ".namespace",
                 absl::StrCat(Quote(f.namespace_()),
                              " is not the name of an inside network"));
    }
    e.ns = ns->name;
    if (absl::Status s = ParseAddress(p + ".inside_address", f.inside_address(),
                                      &e.inside_addr);
        !s.ok()) {
      return s;
    }
    uint32_t mask = PrefixMask(ns->prefix_len);
    bool routed = false;
    for (const Ipv4Prefix& r : ns->routed_prefixes) {
      routed = routed || r.Contains(e.inside_addr);
    }
    if ((!routed && (e.inside_addr & mask) != (ns->gateway & mask)) ||
        e.inside_addr == ns->gateway) {
      return Bad(
          p + ".inside_address",
          absl::StrCat(
              Quote(f.inside_address()), " is not a host of inside network ",
              ns->name, " (", Ipv4ToString(ns->gateway), "/", ns->prefix_len,
              ns->routed_prefixes.empty() ? "" : " or its routed_prefix", ")"));
    }
    if (!f.has_inside_port()) return Bad(p + ".inside_port", "is required");
    if (absl::Status s =
            CheckRange(p + ".inside_port", f.inside_port(), 1, 65535);
        !s.ok()) {
      return s;
    }
    e.inside_port = static_cast<uint16_t>(f.inside_port());
    if (!forward_keys.insert({e.proto, e.external_addr, e.external_port})
             .second) {
      return Bad(p + ".external_port",
                 absl::StrCat(f.external_port(), " is forwarded twice"));
    }
    e.description = f.description();
    d.forwards.push_back(std::move(e));
  }

  // Control socket.
  const config::Control& ctl = c.control();
  if (ctl.socket().empty() || ctl.socket()[0] != '/') {
    return Bad("control.socket",
               absl::StrCat(Quote(ctl.socket()), " is not an absolute path"));
  }
  if (ctl.socket().size() >= 108) {
    return Bad("control.socket",
               absl::StrCat(Quote(ctl.socket()), " is longer than 107 bytes"));
  }
  if (ctl.mode() > 0777 || (ctl.mode() & 0600) != 0600 ||
      (ctl.mode() & 0007) != 0) {
    return Bad("control.mode",
               absl::StrFormat("0%o must give the owner rw and others nothing "
                               "(0600 or 0660)",
                               ctl.mode()));
  }
  d.ctl_socket = ctl.socket();
  d.ctl_mode = ctl.mode();
  d.ctl_group = ctl.group();
  if (!ctl.group().empty()) {
    struct group* gr = getgrnam(ctl.group().c_str());
    if (gr == nullptr) {
      return Bad("control.group",
                 absl::StrCat(Quote(ctl.group()), " is not a group"));
    }
    d.ctl_gid = gr->gr_gid;
  }

  if (!c.state_file().empty() && c.state_file()[0] != '/') {
    return Bad("state_file",
               absl::StrCat(Quote(c.state_file()), " is not an absolute path"));
  }
  d.state_file = c.state_file();
  if (absl::Status s = CheckRange("tick_ms", c.tick_ms(), 10, 1000); !s.ok()) {
    return s;
  }
  d.tick_ms = c.tick_ms();
  if (absl::Status s = CheckRange("batch", c.batch(), 1, 256); !s.ok()) {
    return s;
  }
  d.batch = c.batch();
  if (absl::Status s = CheckRange("tx_queue_len", c.tx_queue_len(), 0, 1000000);
      !s.ok()) {
    return s;
  }
  d.tx_queue_len = c.tx_queue_len();
  d.offload = c.offload();
  d.coalesce = c.coalesce();
  if (!c.metrics_listen().empty()) {
    if (absl::Status s = ParseListenAddress(c.metrics_listen(), &d.metrics_addr,
                                            &d.metrics_port);
        !s.ok()) {
      return Bad("metrics_listen", s.message());
    }
    d.metrics_listen = c.metrics_listen();
  }

  // Who to become after start-up (when started as root).
  auto run_as = ResolveRunAs(c.user(), c.group());
  if (!run_as.ok()) return run_as.status();
  d.run_as = *run_as;

  auto level = ParseLogLevel(c.log_level());
  if (!level) {
    return Bad("log_level", absl::StrCat(Quote(c.log_level()),
                                         " is not error, warn, info or debug"));
  }
  d.log.level = *level;
  auto format = ParseLogFormat(c.log_format());
  if (!format) {
    return Bad("log_format",
               absl::StrCat(Quote(c.log_format()), " is not plain or syslog"));
  }
  d.log.format = *format;
  return d;
}

}  // namespace unat::tun
