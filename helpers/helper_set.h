// The ALG helpers a daemon or an embedder turns on, registered with a Nat on
// their configured server ports, with their counters in one place. Generic
// over the registry (helpers/registry.h): nothing here names a helper.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "engine/nat.h"
#include "helpers/registry.h"

namespace unat::helpers {

// One helper's settings.
struct HelperConfig {
  bool enabled = false;
  std::vector<uint16_t> ports;  // its server ports
  // Options set (HelperEntry::options), by name; the others default.
  std::map<std::string, uint32_t, std::less<>> options;
  bool operator==(const HelperConfig&) const = default;
};

// The settings of every registered helper, by name ("ftp"): all off and on
// their default ports until changed.
class HelperSetConfig {
 public:
  HelperSetConfig();
  // Turns the helper named `name` on (or off); its ports stay. A name no
  // helper has is kept and refused by HelperSet::Register().
  HelperSetConfig& Enable(std::string_view name, bool on = true);
  // Replaces its server ports.
  HelperSetConfig& SetPorts(std::string_view name, std::vector<uint16_t> ports);

  // Sets one of its options (HelperEntry::options; the caller checks the
  // range).
  HelperSetConfig& SetOption(std::string_view name, std::string_view option,
                             uint32_t value);

  bool enabled(std::string_view name) const;
  // An option's value: as set, else the entry's default (0 for an option
  // or a helper that does not exist).
  uint32_t option(std::string_view name, std::string_view option) const;
  // Its server ports: the defaults until SetPorts(); empty for a name no
  // helper has.
  const std::vector<uint16_t>& ports(std::string_view name) const;
  // The names turned on, in name order.
  std::vector<std::string> enabled_names() const;

  bool operator==(const HelperSetConfig&) const = default;

 private:
  std::map<std::string, HelperConfig, std::less<>> by_name_;
};

class HelperSet {
 public:
  // Creates the enabled helpers (each from its registry entry), with their
  // options.
  explicit HelperSet(const HelperSetConfig& config);
  // Registers the enabled helpers on their ports, with their entry's
  // protocol. Fails on an unknown name, port 0 or a port another helper
  // already has.
  absl::Status Register(Nat& nat);
  // Whether `next` would register cleanly: known names, no port 0, no port
  // two helpers share. What Update() checks before it changes anything.
  static absl::Status Check(const HelperSetConfig& next);
  // Brings a registered set to `next` on a running engine: a helper whose
  // settings (on, ports, options) stay keeps running with its state and
  // flows; one turned off or changed leaves the engine
  // (Nat::UnregisterPacketHelper: its flows stay up without it) and, if
  // still on, a new one with the new settings takes its ports. Check()
  // fails: nothing changes. `changes` gets one line per helper touched
  // ("sip on", "ftp off", "h323 restarted (ports or options changed)").
  absl::Status Update(Nat& nat, const HelperSetConfig& next,
                      std::vector<std::string>* changes);
  // Every counter of the enabled helpers as "ftp/port_rewrites" etc.
  void ForEachCounter(
      const std::function<void(std::string_view, uint64_t)>& fn) const;
  // The enabled helper named `name`; nullptr when it is off.
  const PacketHelper* Find(std::string_view name) const;

 private:
  struct Running {
    const HelperEntry* entry;
    std::vector<uint16_t> ports;
    std::unique_ptr<PacketHelper> helper;
  };
  static Running Start(const HelperEntry& e, const HelperSetConfig& config);
  static absl::Status RegisterOne(Nat& nat, const Running& r);
  static absl::Status UnregisterOne(Nat& nat, const Running& r);
  std::vector<Running> running_;      // in registration order
  std::vector<std::string> unknown_;  // enabled, but no helper has the name
  HelperSetConfig config_;            // what runs
};

}  // namespace unat::helpers
