// The ALG helpers this build has, one entry each: what a daemon, its config
// and its stats need to know about a helper without naming it.
//
// An entry lives in its helper's own file (ftp.cc: FtpEntry()) and is listed
// once in the table in registry.cc. Everything else (HelperSet, unatd's
// config checks, its reload comparison, `unatctl stats`) walks Registered().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/helper.h"

namespace unat::helpers {

struct StreamStats;

// One counter: its name within the helper ("port_rewrites") and value.
using CounterFn = std::function<void(std::string_view, uint64_t)>;

// A numeric setting of a helper (its config field is
// `helpers.<helper>_<name>`, e.g. `helpers.sip_media_timeout_s`).
struct HelperOption {
  std::string_view name;  // "media_timeout_s"
  uint32_t default_value = 0;
  uint32_t min = 0, max = 0;  // the values accepted
};

struct HelperEntry {
  // "ftp": also the config fields `helpers.ftp` (bool) and
  // `helpers.ftp_ports` (repeated uint32) and the counter prefix "ftp/".
  std::string_view name;
  uint8_t proto = kProtoTcp;  // of the flows it is attached to
  // A second protocol on the same ports (SIP: UDP and TCP); 0: none.
  uint8_t also_proto = 0;
  std::vector<uint16_t> default_ports;  // server ports when none are listed
  // What its expectations may do (engine/helper.h): what the helper's
  // expectation_policy() returns, the lifetime cap being its options'.
  ExpectationPolicy expectations;
  std::unique_ptr<PacketHelper> (*create)() = nullptr;
  // Every counter of a helper `create` made, in a stable order.
  void (*counters)(const PacketHelper& helper, const CounterFn& fn) = nullptr;
  // Its settings, and how one is given to a helper `create` made (before
  // it is registered; a value within the option's range).
  std::vector<HelperOption> options;
  void (*configure)(PacketHelper& helper, std::string_view option,
                    uint32_t value) = nullptr;
  // A second helper one `create` made owns, which only the flows of its
  // expectations get (H.245 under H.323): registered on no port, for
  // `proto`. nullptr: none.
  PacketHelper* (*companion)(PacketHelper& helper) = nullptr;

  // The protocols it serves: proto, then also_proto if any.
  std::vector<uint8_t> protos() const {
    return also_proto ? std::vector<uint8_t>{proto, also_proto}
                      : std::vector<uint8_t>{proto};
  }
  bool serves(uint8_t p) const {
    return p == proto || (also_proto != 0 && p == also_proto);
  }
  std::string enable_field() const { return std::string(name); }
  std::string ports_field() const { return std::string(name) + "_ports"; }
  std::string option_field(std::string_view option) const {
    return std::string(name) + "_" + std::string(option);
  }
  // nullptr when it has no option of that name.
  const HelperOption* FindOption(std::string_view option) const {
    for (const HelperOption& o : options) {
      if (o.name == option) return &o;
    }
    return nullptr;
  }
};

// Every registered helper, in registration order (the order helpers are
// registered on an engine, checked in a config and listed in stats).
std::span<const HelperEntry* const> Registered();
// nullptr when no helper has that name.
const HelperEntry* FindHelper(std::string_view name);

// For HelperEntry::counters: a helper class with
// `void ForEachCounter(const CounterFn&) const`.
template <typename T>
void CountersOf(const PacketHelper& helper, const CounterFn& fn) {
  static_cast<const T&>(helper).ForEachCounter(fn);
}

// The entry of helper class T (default-constructible, with ForEachCounter).
template <typename T>
HelperEntry EntryOf(std::string_view name, uint8_t proto,
                    std::vector<uint16_t> default_ports,
                    ExpectationPolicy expectations) {
  return {.name = name,
          .proto = proto,
          .default_ports = std::move(default_ports),
          .expectations = expectations,
          .create = []() -> std::unique_ptr<PacketHelper> {
            return std::make_unique<T>();
          },
          .counters = &CountersOf<T>,
          .options = {},
          .configure = nullptr};
}

// The TcpLineHelper stream counters ("lines", "split_drops", ...).
void ForEachStreamCounter(const StreamStats& stats, const CounterFn& fn);

}  // namespace unat::helpers
