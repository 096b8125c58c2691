#include "helpers/helper_set.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace unat::helpers {

HelperSetConfig::HelperSetConfig() {
  for (const HelperEntry* e : Registered()) {
    by_name_[std::string(e->name)] = {false, e->default_ports, {}};
  }
}

HelperSetConfig& HelperSetConfig::Enable(std::string_view name, bool on) {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) it = by_name_.emplace(name, HelperConfig{}).first;
  it->second.enabled = on;
  return *this;
}

HelperSetConfig& HelperSetConfig::SetPorts(std::string_view name,
                                           std::vector<uint16_t> ports) {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) it = by_name_.emplace(name, HelperConfig{}).first;
  it->second.ports = std::move(ports);
  return *this;
}

HelperSetConfig& HelperSetConfig::SetOption(std::string_view name,
                                            std::string_view option,
                                            uint32_t value) {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) it = by_name_.emplace(name, HelperConfig{}).first;
  it->second.options[std::string(option)] = value;
  return *this;
}

uint32_t HelperSetConfig::option(std::string_view name,
                                 std::string_view option) const {
  if (auto it = by_name_.find(name); it != by_name_.end()) {
    if (auto o = it->second.options.find(option);
        o != it->second.options.end()) {
      return o->second;
    }
  }
  const HelperEntry* e = FindHelper(name);
  const HelperOption* o = e ? e->FindOption(option) : nullptr;
  return o ? o->default_value : 0;
}

bool HelperSetConfig::enabled(std::string_view name) const {
  auto it = by_name_.find(name);
  return it != by_name_.end() && it->second.enabled;
}

const std::vector<uint16_t>& HelperSetConfig::ports(
    std::string_view name) const {
  static const std::vector<uint16_t> kNone;
  auto it = by_name_.find(name);
  return it == by_name_.end() ? kNone : it->second.ports;
}

std::vector<std::string> HelperSetConfig::enabled_names() const {
  std::vector<std::string> names;
  for (const auto& [name, c] : by_name_) {
    if (c.enabled) names.push_back(name);
  }
  return names;
}

HelperSet::HelperSet(const HelperSetConfig& config) {
  for (const HelperEntry* e : Registered()) {
    if (!config.enabled(e->name)) continue;
    running_.push_back({e, config.ports(e->name), e->create()});
    for (const HelperOption& o : e->options) {
      e->configure(*running_.back().helper, o.name,
                   config.option(e->name, o.name));
    }
  }
  for (const std::string& name : config.enabled_names()) {
    if (FindHelper(name) == nullptr) unknown_.push_back(name);
  }
}

absl::Status HelperSet::Register(Nat& nat) {
  if (!unknown_.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("no helper named ", unknown_.front()));
  }
  for (const Running& r : running_) {
    for (uint16_t p : r.ports) {
      if (p == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(std::string(r.entry->name), " port 0"));
      }
      for (uint8_t proto : r.entry->protos()) {
        absl::Status s = nat.RegisterPacketHelper(proto, p, r.helper.get());
        if (!s.ok()) return s;
      }
    }
    if (r.entry->companion != nullptr) {
      absl::Status s = nat.RegisterPacketHelper(r.entry->proto, 0,
                                                r.entry->companion(*r.helper));
      if (!s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

void HelperSet::ForEachCounter(
    const std::function<void(std::string_view, uint64_t)>& fn) const {
  for (const Running& r : running_) {
    r.entry->counters(*r.helper, [&](std::string_view name, uint64_t v) {
      fn(absl::StrCat(std::string(r.entry->name), "/", std::string(name)), v);
    });
  }
}

const PacketHelper* HelperSet::Find(std::string_view name) const {
  for (const Running& r : running_) {
    if (r.entry->name == name) return r.helper.get();
  }
  return nullptr;
}

}  // namespace unat::helpers
