#include "helpers/helper_set.h"

#include <map>
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

HelperSet::Running HelperSet::Start(const HelperEntry& e,
                                    const HelperSetConfig& config) {
  Running r{&e, config.ports(e.name), e.create()};
  for (const HelperOption& o : e.options) {
    e.configure(*r.helper, o.name, config.option(e.name, o.name));
  }
  return r;
}

HelperSet::HelperSet(const HelperSetConfig& config) : config_(config) {
  for (const HelperEntry* e : Registered()) {
    if (!config.enabled(e->name)) continue;
    running_.push_back(Start(*e, config));
  }
  for (const std::string& name : config.enabled_names()) {
    if (FindHelper(name) == nullptr) unknown_.push_back(name);
  }
}

absl::Status HelperSet::RegisterOne(Nat& nat, const Running& r) {
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
  return absl::OkStatus();
}

absl::Status HelperSet::UnregisterOne(Nat& nat, const Running& r) {
  if (r.entry->companion != nullptr) {
    (void)nat.UnregisterPacketHelper(r.entry->companion(*r.helper));
  }
  return nat.UnregisterPacketHelper(r.helper.get());
}

absl::Status HelperSet::Register(Nat& nat) {
  if (!unknown_.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("no helper named ", unknown_.front()));
  }
  for (const Running& r : running_) {
    if (absl::Status s = RegisterOne(nat, r); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status HelperSet::Check(const HelperSetConfig& next) {
  for (const std::string& name : next.enabled_names()) {
    if (FindHelper(name) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("no helper named ", name));
    }
  }
  std::map<std::pair<uint8_t, uint16_t>, std::string_view> taken;
  for (const HelperEntry* e : Registered()) {
    if (!next.enabled(e->name)) continue;
    for (uint16_t p : next.ports(e->name)) {
      if (p == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(std::string(e->name), " port 0"));
      }
      for (uint8_t proto : e->protos()) {
        auto [it, fresh] = taken.emplace(std::pair{proto, p}, e->name);
        if (!fresh && it->second != e->name) {
          return absl::InvalidArgumentError(absl::StrCat(
              std::string(e->name), " and ", std::string(it->second),
              " both want ", ProtoName(proto), "/", p));
        }
      }
    }
  }
  return absl::OkStatus();
}

absl::Status HelperSet::Update(Nat& nat, const HelperSetConfig& next,
                               std::vector<std::string>* changes) {
  if (absl::Status s = Check(next); !s.ok()) return s;
  auto same = [&](const HelperEntry& e) {
    if (config_.ports(e.name) != next.ports(e.name)) return false;
    for (const HelperOption& o : e.options) {
      if (config_.option(e.name, o.name) != next.option(e.name, o.name)) {
        return false;
      }
    }
    return true;
  };
  // Off first, so a port that moves from one helper to another is free.
  std::vector<const HelperEntry*> starting;
  for (auto it = running_.begin(); it != running_.end();) {
    const HelperEntry& e = *it->entry;
    if (next.enabled(e.name) && same(e)) {
      ++it;
      continue;
    }
    (void)UnregisterOne(nat, *it);
    if (next.enabled(e.name)) {
      starting.push_back(&e);
      if (changes) {
        changes->push_back(
            absl::StrCat(std::string(e.name), " restarted (ports or options)"));
      }
    } else if (changes) {
      changes->push_back(absl::StrCat(std::string(e.name), " off"));
    }
    it = running_.erase(it);
  }
  for (const HelperEntry* e : Registered()) {
    if (!next.enabled(e->name) || config_.enabled(e->name)) continue;
    starting.push_back(e);
    if (changes) changes->push_back(absl::StrCat(std::string(e->name), " on"));
  }
  config_ = next;
  absl::Status result = absl::OkStatus();
  for (const HelperEntry* e : starting) {
    running_.push_back(Start(*e, next));
    if (absl::Status s = RegisterOne(nat, running_.back()); !s.ok()) {
      // Only the engine running out of helper slots gets here (Check()
      // passed): the helper stays off.
      (void)UnregisterOne(nat, running_.back());
      running_.pop_back();
      config_.Enable(e->name, false);
      if (result.ok()) {
        result = absl::ResourceExhaustedError(
            absl::StrCat(std::string(e->name), ": ", s.message()));
      }
    }
  }
  return result;
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
