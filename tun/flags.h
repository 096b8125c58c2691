// unatd's command line. Flags override the config file's fields.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tun/config.pb.h"

namespace unat::tun {

struct Flags {
  std::string config = "/etc/unat/unatd.conf";
  std::optional<std::string> ctl_socket;
  std::optional<std::string> state_file;
  std::vector<std::string> external_addresses;  // replaces the config's
  std::optional<uint32_t> port_min, port_max;
  std::optional<config::Filtering> filtering;
  std::optional<uint32_t> max_flows;
  std::optional<uint64_t> random_seed;
  std::optional<std::string> user;            // overrides the config's user
  std::optional<std::string> group;           // overrides the config's group
  std::optional<std::string> metrics_listen;  // "" turns it off
  bool ignore_bad_state = false;
  bool foreground = false;
  bool check_config = false;
  std::string pid_file;
  std::string log_file;
  std::optional<std::string> log_level;   // overrides log_level
  std::optional<std::string> log_format;  // overrides log_format
  bool help = false;
  bool version = false;
};

// Errors are one line naming the flag and the value: `--port-range: "x" is
// not MIN-MAX`.
absl::StatusOr<Flags> ParseFlags(int argc, char** argv);

// Writes the flags that override config fields into `config`.
void ApplyFlags(const Flags& flags, config::Config* config);

// The one line for an error from checking the config after ApplyFlags():
// `flags: --external-address: "300.1.1.1" is not an IPv4 address` when the
// field it names was set by a flag, else `config: ...`.
std::string ConfigErrorLine(const Flags& flags, const absl::Status& status);

std::string FlagsHelp();

}  // namespace unat::tun
