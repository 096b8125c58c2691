#include "tun/flags.h"

#include <cctype>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "tun/log.h"

namespace unat::tun {
namespace {

absl::Status Bad(absl::string_view flag, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(flag, ": ", message));
}

std::string Quote(absl::string_view s) { return absl::StrCat("\"", s, "\""); }

absl::StatusOr<uint32_t> Port(absl::string_view flag, absl::string_view text) {
  uint32_t v = 0;
  if (!absl::SimpleAtoi(text, &v)) {
    return Bad(flag, absl::StrCat(Quote(text), " is not a number"));
  }
  if (v < 1 || v > 65535) {
    return Bad(flag, absl::StrCat(v, " is out of range 1..65535"));
  }
  return v;
}

}  // namespace

std::string FlagsHelp() {
  return R"(usage: unatd [flags]
  --config PATH            config file, protobuf text format
                           (default /etc/unat/unatd.conf)
  --check-config           check the config and flags, print a summary, exit
  --ctl-socket PATH        control socket (overrides control.socket)
  --state-file PATH        state file (overrides state_file; "" for none)
  --ignore-bad-state       start even when the state file is unreadable
                           (it is moved to PATH.bad)
  --external-address A     external address (repeatable; replaces
                           outside.external_address)
  --port-range MIN-MAX     dynamic port range (overrides ports.min/max)
  --filtering MODE         endpoint-independent | address-dependent |
                           address-and-port-dependent
  --max-flows N            overrides limits.max_flows
  --random-seed N          overrides random_seed
  --user NAME              when started as root: become NAME once the
                           devices, socket and state file are open, with no
                           capabilities left (overrides user)
  --group NAME             the group to run with (overrides group; default:
                           the user's primary group)
  --metrics-listen ADDR:PORT
                           serve Prometheus metrics on HTTP GET /metrics
                           there, e.g. 127.0.0.1:9469 (overrides
                           metrics_listen; "" for none)
  --foreground             stay in the foreground (default: detach once
                           ready)
  --pid-file PATH          write the daemon's pid there
  --log-file PATH          log there instead of stderr
  --log-level LEVEL        error | warn | info | debug: log lines of LEVEL
                           and more severe (overrides log_level; default
                           info)
  --log-format FORMAT      plain ("TIME unatd: ...") | syslog ("<N>...",
                           the priority prefix journald reads; no time)
                           (overrides log_format; default plain)
  --help, --version
)";
}

absl::StatusOr<Flags> ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg.substr(0, 2) != "--") {
      return Bad(arg, "unexpected argument (flags start with --; see --help)");
    }
    absl::string_view name = arg;
    std::optional<absl::string_view> inline_value;
    if (size_t eq = arg.find('='); eq != absl::string_view::npos) {
      name = arg.substr(0, eq);
      inline_value = arg.substr(eq + 1);
    }
    auto value = [&]() -> absl::StatusOr<std::string> {
      if (inline_value) return std::string(*inline_value);
      if (i + 1 >= argc) return Bad(name, "needs a value");
      return std::string(argv[++i]);
    };
    auto boolean = [&]() -> absl::Status {
      if (inline_value) return Bad(name, "takes no value");
      return absl::OkStatus();
    };
#define UNAT_VALUE(var)                         \
  auto var##_or = value();                      \
  if (!var##_or.ok()) return var##_or.status(); \
  std::string var = *var##_or
    if (name == "--config") {
      UNAT_VALUE(v);
      if (v.empty()) return Bad(name, "\"\" is not a path");
      f.config = v;
    } else if (name == "--ctl-socket") {
      UNAT_VALUE(v);
      f.ctl_socket = v;
    } else if (name == "--state-file") {
      UNAT_VALUE(v);
      f.state_file = v;
    } else if (name == "--external-address") {
      UNAT_VALUE(v);
      f.external_addresses.push_back(v);
    } else if (name == "--port-range") {
      UNAT_VALUE(v);
      size_t dash = v.find('-');
      if (dash == std::string::npos) {
        return Bad(name, absl::StrCat(Quote(v), " is not MIN-MAX"));
      }
      auto lo = Port(name, absl::string_view(v).substr(0, dash));
      if (!lo.ok()) return lo.status();
      auto hi = Port(name, absl::string_view(v).substr(dash + 1));
      if (!hi.ok()) return hi.status();
      if (*lo > *hi) {
        return Bad(name, absl::StrCat(Quote(v), ": MIN is above MAX"));
      }
      f.port_min = *lo;
      f.port_max = *hi;
    } else if (name == "--filtering") {
      UNAT_VALUE(v);
      std::string key =
          absl::StrReplaceAll(absl::AsciiStrToUpper(v), {{"-", "_"}});
      config::Filtering mode;
      if (!config::Filtering_Parse(key, &mode)) {
        return Bad(name, absl::StrCat(Quote(v),
                                      " is not endpoint-independent, "
                                      "address-dependent or "
                                      "address-and-port-dependent"));
      }
      f.filtering = mode;
    } else if (name == "--max-flows") {
      UNAT_VALUE(v);
      uint32_t n = 0;
      if (!absl::SimpleAtoi(v, &n) || n == 0) {
        return Bad(name, absl::StrCat(Quote(v), " is not a positive number"));
      }
      f.max_flows = n;
    } else if (name == "--random-seed") {
      UNAT_VALUE(v);
      uint64_t n = 0;
      if (!absl::SimpleAtoi(v, &n)) {
        return Bad(name, absl::StrCat(Quote(v), " is not a number"));
      }
      f.random_seed = n;
    } else if (name == "--user" || name == "--group") {
      UNAT_VALUE(v);
      if (v.empty()) return Bad(name, "\"\" is not a name");
      (name == "--user" ? f.user : f.group) = v;
    } else if (name == "--metrics-listen") {
      UNAT_VALUE(v);
      f.metrics_listen = v;
    } else if (name == "--pid-file") {
      UNAT_VALUE(v);
      f.pid_file = v;
    } else if (name == "--log-file") {
      UNAT_VALUE(v);
      f.log_file = v;
    } else if (name == "--log-level") {
      UNAT_VALUE(v);
      if (!ParseLogLevel(v)) {
        return Bad(
            name, absl::StrCat(Quote(v), " is not error, warn, info or debug"));
      }
      f.log_level = v;
    } else if (name == "--log-format") {
      UNAT_VALUE(v);
      if (!ParseLogFormat(v)) {
        return Bad(name, absl::StrCat(Quote(v), " is not plain or syslog"));
      }
      f.log_format = v;
    } else if (name == "--ignore-bad-state") {
      if (absl::Status s = boolean(); !s.ok()) return s;
      f.ignore_bad_state = true;
    } else if (name == "--foreground") {
      if (absl::Status s = boolean(); !s.ok()) return s;
      f.foreground = true;
    } else if (name == "--check-config") {
      if (absl::Status s = boolean(); !s.ok()) return s;
      f.check_config = true;
    } else if (name == "--help") {
      f.help = true;
    } else if (name == "--version") {
      f.version = true;
    } else {
      return Bad(name, "unknown flag (see --help)");
    }
#undef UNAT_VALUE
  }
  return f;
}

void ApplyFlags(const Flags& f, config::Config* c) {
  if (f.ctl_socket) c->mutable_control()->set_socket(*f.ctl_socket);
  if (f.state_file) c->set_state_file(*f.state_file);
  if (!f.external_addresses.empty()) {
    c->mutable_outside()->clear_external_address();
    for (const std::string& a : f.external_addresses) {
      c->mutable_outside()->add_external_address(a);
    }
  }
  if (f.port_min) c->mutable_ports()->set_min(*f.port_min);
  if (f.port_max) c->mutable_ports()->set_max(*f.port_max);
  if (f.filtering) c->set_filtering(*f.filtering);
  if (f.max_flows) c->mutable_limits()->set_max_flows(*f.max_flows);
  if (f.random_seed) c->set_random_seed(*f.random_seed);
  if (f.user) c->set_user(*f.user);
  if (f.group) c->set_group(*f.group);
  if (f.log_level) c->set_log_level(*f.log_level);
  if (f.log_format) c->set_log_format(*f.log_format);
  if (f.metrics_listen) c->set_metrics_listen(*f.metrics_listen);
}

std::string ConfigErrorLine(const Flags& f, const absl::Status& status) {
  const absl::string_view message = status.message();
  struct Override {
    const char* field;
    const char* flag;
    bool set;
  } const overrides[] = {
      {"outside.external_address", "--external-address",
       !f.external_addresses.empty()},
      {"ports.min", "--port-range", f.port_min.has_value()},
      {"ports.max", "--port-range", f.port_max.has_value()},
      {"filtering", "--filtering", f.filtering.has_value()},
      {"limits.max_flows", "--max-flows", f.max_flows.has_value()},
      {"random_seed", "--random-seed", f.random_seed.has_value()},
      {"control.socket", "--ctl-socket", f.ctl_socket.has_value()},
      {"state_file", "--state-file", f.state_file.has_value()},
      {"user", "--user", f.user.has_value()},
      {"group", "--group", f.group.has_value()},
      {"log_level", "--log-level", f.log_level.has_value()},
      {"log_format", "--log-format", f.log_format.has_value()},
      {"metrics_listen", "--metrics-listen", f.metrics_listen.has_value()},
  };
  for (const Override& o : overrides) {
    if (!o.set || !absl::StartsWith(message, o.field)) continue;
    absl::string_view rest = message.substr(strlen(o.field));
    // `field: ...` or `field[N]: ...` (the Nth value of a repeated flag).
    if (absl::StartsWith(rest, "[")) {
      const size_t close = rest.find(']');
      if (close == absl::string_view::npos) continue;
      rest.remove_prefix(close + 1);
    }
    if (!absl::StartsWith(rest, ": ")) continue;
    return absl::StrCat("flags: ", o.flag, rest);
  }
  return absl::StrCat("config: ", message);
}

}  // namespace unat::tun
