// The engine's control plane: configuration and policy, namespaces,
// forwards, pinned flows, the clock (Advance), statistics; and the Nat
// facade over Nat::Impl. The packet path is engine/nat.cc.
#include "engine/nat.h"
#include "engine/nat_impl.h"
#include "engine/port_claims.h"

namespace unat {

void Nat::Impl::Advance(TimeMs now) {
  SetNow(now);
  stats_.expiry_visits += flows_.Expire(now_s_, [this](uint32_t idx) {
    if (!Repin(idx)) DeleteFlow(idx, true);
  });
  mappings_.ExpireHeld(now_s_);
  forwards_.Expire(now, [this](uint32_t id) { (void)RemoveForwardIndex(id); });
  ExpireFragments();
  expects_.Expire(now, [this](uint32_t e) { RemoveExpectation(e); });
}

absl::StatusOr<ExternalEndpoint> Nat::Impl::EnsureFlow(
    NamespaceId ns, uint8_t proto, uint32_t in_addr, uint16_t in_port,
    uint32_t rem_addr, uint16_t rem_port, uint32_t lifetime_s, TimeMs now) {
  SetNow(now);
  if (ns >= namespaces_.size() || !namespaces_[ns].live) {
    return absl::InvalidArgumentError(
        absl::StrCat("namespace id ", ns, " does not exist"));
  }
  if (proto != kProtoTcp && proto != kProtoUdp) {
    return absl::InvalidArgumentError(
        absl::StrCat("protocol ", proto, " is not tcp or udp"));
  }
  if (IsUnusableSource(in_addr) || IsUnusableSource(rem_addr) || in_port == 0 ||
      rem_port == 0) {
    return absl::InvalidArgumentError("endpoint address or port not usable");
  }
  uint32_t idx = FindInside(ns, proto, in_addr, in_port, rem_addr, rem_port);
  if (idx != kNone && ExpiredNow(idx)) idx = kNone;
  if (idx == kNone) {
    DropReason why = DropReason::kNone;
    idx =
        NewOutboundFlow(ns, proto, in_addr, in_port, rem_addr, rem_port, &why);
    if (idx == kNone) {
      return absl::ResourceExhaustedError(
          absl::StrCat("no flow: ", DropReasonName(why)));
    }
  }
  Pin(idx, lifetime_s);
  return ExternalEndpoint{flows_[idx].ext_addr, flows_[idx].ext_port};
}

// ------------------------------------------------------------------------
// Namespaces and forwards

absl::Status ValidateRoutedPrefixes(const std::string& ns,
                                    const std::vector<Ipv4Prefix>& prefixes) {
  if (prefixes.size() > NamespaceConfig::kMaxRoutedPrefixes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "namespace ", ns, ": ", prefixes.size(), " routed prefixes, at most ",
        NamespaceConfig::kMaxRoutedPrefixes));
  }
  for (const Ipv4Prefix& p : prefixes) {
    if (p.len < 1 || p.len > 32) {
      return absl::InvalidArgumentError(absl::StrCat(
          "namespace ", ns, ": routed prefix ", Ipv4ToString(p.addr), "/",
          p.len, ": length is out of range 1..32"));
    }
    if (IsUnusableSource(p.addr & p.mask())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "namespace ", ns, ": routed prefix ", Ipv4ToString(p.addr), "/",
          p.len, " is not unicast address space"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<NamespaceId> Nat::Impl::AddNamespace(const NamespaceConfig& c) {
  if (c.name.empty()) {
    return absl::InvalidArgumentError("namespace name: must not be empty");
  }
  if (c.prefix_len > 32) {
    return absl::InvalidArgumentError(
        absl::StrCat("namespace ", c.name, ": prefix_len ", c.prefix_len,
                     " is out of range 0..32"));
  }
  if (c.mtu < 68) {
    return absl::InvalidArgumentError(
        absl::StrCat("namespace ", c.name, ": mtu ", c.mtu,
                     " is below the IPv4 minimum 68"));
  }
  if (IsUnusableSource(c.gateway)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "namespace ", c.name, ": gateway ", Ipv4ToString(c.gateway),
        " is not a usable unicast address"));
  }
  for (const auto& n : namespaces_) {
    if (n.live && n.name == c.name) {
      return absl::AlreadyExistsError(
          absl::StrCat("namespace ", c.name, " already exists"));
    }
  }
  if (absl::Status st = ValidateRoutedPrefixes(c.name, c.routed_prefixes);
      !st.ok()) {
    return st;
  }
  // A fresh id while there are fresh ones: state an embedder keys by a
  // removed tenant's id (leases, subscriptions, logs) never names a new
  // tenant. Only after all ids were used once does a free one serve again.
  size_t id = namespaces_.size();
  if (id >= kInvalidNamespace) {
    id = 0;
    while (id < namespaces_.size() && namespaces_[id].live) ++id;
  }
  if (id >= kInvalidNamespace) {
    return absl::ResourceExhaustedError("too many namespaces");
  }
  if (id == namespaces_.size()) namespaces_.emplace_back();
  NamespaceEntry& e = namespaces_[id];
  e = NamespaceEntry{};
  e.live = true;
  e.name = c.name;
  e.gateway = c.gateway;
  e.prefix_len = c.prefix_len;
  e.mask = PrefixMask(c.prefix_len);
  e.mtu = c.mtu;
  e.routed = c.routed_prefixes;
  for (Ipv4Prefix& p : e.routed) p.addr &= p.mask();
  live_namespaces_++;
  return static_cast<NamespaceId>(id);
}

absl::Status Nat::Impl::RemoveNamespace(NamespaceId ns) {
  if (ns >= namespaces_.size() || !namespaces_[ns].live) {
    return absl::NotFoundError(absl::StrCat("namespace id ", ns, " not found"));
  }
  for (uint32_t i = 0; i < forwards_.size(); ++i) {
    if (forwards_.Live(i) && forwards_.spec(i).ns == ns) {
      (void)RemoveForwardIndex(i);
    }
  }
  for (uint32_t i = 0; i < flows_.size(); ++i) {
    if ((flows_[i].flags & kFlowLive) && flows_[i].ns == ns) {
      DeleteFlow(i, false);
    }
  }
  absl::erase_if(out_expects_,
                 [ns](const auto& e) { return e.first.ns == ns; });
  for (uint32_t e = 0; e < expects_.size(); ++e) {
    if (expects_[e].live && expects_[e].ns == ns) RemoveExpectation(e);
  }
  mappings_.RemoveNamespace(ns);
  namespaces_[ns] = NamespaceEntry{};
  live_namespaces_--;
  return absl::OkStatus();
}

absl::Status Nat::Impl::SetRoutedPrefixes(NamespaceId ns,
                                          std::vector<Ipv4Prefix> prefixes) {
  if (ns >= namespaces_.size() || !namespaces_[ns].live) {
    return absl::NotFoundError(absl::StrCat("namespace id ", ns, " not found"));
  }
  NamespaceEntry& e = namespaces_[ns];
  if (absl::Status st = ValidateRoutedPrefixes(e.name, prefixes); !st.ok()) {
    return st;
  }
  for (Ipv4Prefix& p : prefixes) p.addr &= p.mask();
  e.routed = std::move(prefixes);
  // Flows of hosts that are no longer the tenant's end: their packets
  // would now be dropped as spoofed_source on the full path, and must not
  // go on through the fast path either.
  // Flows to a host that is now the tenant's own end too: its packets
  // stay inside from now on.
  for (uint32_t i = 0; i < flows_.size(); ++i) {
    const Flow& f = flows_[i];
    if ((f.flags & kFlowLive) && f.ns == ns &&
        (!e.Contains(f.in_addr) || e.InRouted(f.rem_addr))) {
      DeleteFlow(i, false);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> Nat::Impl::AddForward(const ForwardSpec& spec,
                                               TimeMs now) {
  SetNow(now);
  if (spec.proto != kProtoTcp && spec.proto != kProtoUdp) {
    return absl::InvalidArgumentError(
        absl::StrCat("forward proto: ", spec.proto, " is not tcp or udp"));
  }
  if (spec.external_port == 0) {
    return absl::InvalidArgumentError("forward external_port: 0 is not a port");
  }
  if (spec.inside_port == 0) {
    return absl::InvalidArgumentError("forward inside_port: 0 is not a port");
  }
  if (spec.ns >= namespaces_.size() || !namespaces_[spec.ns].live) {
    return absl::InvalidArgumentError(
        absl::StrCat("forward namespace: id ", spec.ns, " does not exist"));
  }
  if (absl::Status st = ValidateRemoteFilters(spec.allowed_remotes); !st.ok()) {
    return st;
  }
  if (IsUnusableSource(spec.inside_addr)) {
    return absl::InvalidArgumentError(
        absl::StrCat("forward inside_address: ", Ipv4ToString(spec.inside_addr),
                     " is not usable"));
  }
  std::vector<int> targets;
  if (spec.external_addr == 0) {
    for (size_t i = 0; i < config_.external_addresses.size(); ++i) {
      targets.push_back(static_cast<int>(i));
    }
  } else {
    const int i = ExternalIndex(spec.external_addr);
    if (i < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "forward external_address: ", Ipv4ToString(spec.external_addr),
          " is not one of the NAT's external addresses"));
    }
    targets.push_back(i);
  }
  for (int t : targets) {
    const uint32_t owner =
        mappings_.PortOwner(t, spec.proto, spec.external_port);
    if (owner != kPortFree) {
      return absl::AlreadyExistsError(absl::StrCat(
          ProtoName(spec.proto), " ",
          Ipv4ToString(config_.external_addresses[t]), ":", spec.external_port,
          " is already in use by ",
          (owner & kPortForwardBit) ? "another forward" : "a mapping"));
    }
  }
  // Shards: the port must be ours to hold (every target, or none).
  for (size_t k = 0; k < targets.size(); ++k) {
    if (!mappings_.ClaimPort(targets[k], spec.proto, spec.external_port)) {
      for (size_t j = 0; j < k; ++j) {
        mappings_.UnclaimPort(targets[j], spec.proto, spec.external_port);
      }
      return absl::AlreadyExistsError(absl::StrCat(
          ProtoName(spec.proto), " ",
          Ipv4ToString(config_.external_addresses[targets[k]]), ":",
          spec.external_port, " is already in use by another shard"));
    }
  }
  const uint32_t id = forwards_.Add(spec);
  for (int t : targets) {
    mappings_.SetPortOwner(t, spec.proto, spec.external_port,
                           kPortForwardBit | id);
  }
  return id;
}

void Nat::Impl::DeleteForwardFlows(uint32_t idx) {
  for (uint32_t i = 0; i < flows_.size(); ++i) {
    if ((flows_[i].flags & kFlowLive) && flows_[i].forwarded_by(idx)) {
      DeleteFlow(i, false);
    }
  }
}

absl::Status Nat::Impl::RemoveForwardIndex(uint32_t idx) {
  if (!forwards_.Live(idx)) {
    return absl::NotFoundError(absl::StrCat("forward ", idx, " not found"));
  }
  const ForwardSpec& spec = forwards_.spec(idx);
  for (size_t t = 0; t < config_.external_addresses.size(); ++t) {
    const int ti = static_cast<int>(t);
    if (mappings_.PortOwner(ti, spec.proto, spec.external_port) ==
        (kPortForwardBit | idx)) {
      mappings_.SetPortOwner(ti, spec.proto, spec.external_port, kPortFree);
    }
  }
  DeleteForwardFlows(idx);
  forwards_.Remove(idx);
  return absl::OkStatus();
}

FlowInfo Nat::Impl::Info(uint32_t idx) const {
  const Flow& f = flows_[idx];
  FlowInfo i;
  i.id = idx;
  i.ns = f.ns;
  i.proto = f.proto;
  i.tcp_state = f.state();
  i.inside_addr = f.in_addr;
  i.inside_port = f.in_port;
  i.external_addr = f.ext_addr;
  i.external_port = f.ext_port;
  i.remote_addr = f.rem_addr;
  i.remote_port = f.rem_port;
  i.inbound_origin = f.flags & kFlowInboundOrigin;
  i.expires = uint64_t{f.expires_s} * 1000;
  for (int s = 0; s < 2; ++s) {
    i.packets[s] = f.packets[s];
    i.bytes[s] = f.bytes[s];
  }
  if (f.helper) i.helper = helpers_[f.helper - 1]->name();
  i.expectations = expects_.CountOf(idx);
  if (auto it = pinned_.empty() ? pinned_.end() : pinned_.find(idx);
      it != pinned_.end()) {
    i.held_until = uint64_t{it->second} * 1000;
  }
  return i;
}

Stats Nat::Impl::GetStats() const {
  Stats s = stats_;
  for (auto& row : s.flows) row.fill(0);
  for (uint32_t i = 0; i < flows_.size(); ++i) {
    const Flow& f = flows_[i];
    if (!f.live()) continue;
    s.flows[ProtoIndex(f.proto)][f.proto == kProtoTcp ? f.state() : 0]++;
  }
  s.mappings = mappings_.live_and_held();
  s.mappings_held = mappings_.held();
  s.forwards = forwards_.live();
  s.expectations = expects_.live();
  s.related_flows = related_.live();
  s.half_open_inbound = half_open_.size();
  s.fragment_bytes_held = static_cast<uint32_t>(frags_.bytes_held());
  s.fragment_datagrams = frags_.datagrams();
  s.fragments_held = frags_.fragments_held();
  return s;
}

size_t Nat::Impl::MemoryUsage() const {
  return flows_.MemoryUsage() + mappings_.MemoryUsage();
}

// ------------------------------------------------------------------------
// Nat

Nat::Nat(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Nat::~Nat() = default;

namespace {

absl::Status ValidateConfig(const NatConfig& config) {
  if (config.external_addresses.empty()) {
    return absl::InvalidArgumentError(
        "external_addresses: at least one external address is required");
  }
  if (config.external_addresses.size() > 255) {
    return absl::InvalidArgumentError(
        absl::StrCat("external_addresses: ", config.external_addresses.size(),
                     " addresses, at most 255"));
  }
  if (config.claims != nullptr) {
    if (config.claims->external_addresses() != config.external_addresses) {
      return absl::InvalidArgumentError(
          "claims: made for other external addresses than "
          "external_addresses (every shard must list the same ones, in the "
          "same order)");
    }
    if (config.shard >= PortClaims::kMaxShards) {
      return absl::InvalidArgumentError(absl::StrCat(
          "shard: ", config.shard, ", at most ", PortClaims::kMaxShards - 1));
    }
  }
  for (uint32_t a : config.external_addresses) {
    if (IsUnusableSource(a)) {
      return absl::InvalidArgumentError(
          absl::StrCat("external_addresses: ", Ipv4ToString(a),
                       " is not a unicast address"));
    }
  }
  if (config.port_min == 0 || config.port_min > config.port_max) {
    return absl::InvalidArgumentError(
        absl::StrCat("ports: range ", config.port_min, "..", config.port_max,
                     " is empty or starts at 0"));
  }
  if (config.icmp_id_min > config.icmp_id_max) {
    return absl::InvalidArgumentError(
        absl::StrCat("icmp ids: range ", config.icmp_id_min, "..",
                     config.icmp_id_max, " is empty"));
  }
  if (config.outside_mtu < 68) {
    return absl::InvalidArgumentError(absl::StrCat(
        "outside_mtu: ", config.outside_mtu, " is below the IPv4 minimum 68"));
  }
  const FragmentConfig& fc = config.fragments;
  if (fc.max_bytes == 0 || fc.max_datagrams_per_namespace == 0 ||
      fc.max_fragments_per_datagram == 0 || fc.timeout_ms == 0) {
    return absl::InvalidArgumentError(
        "fragments: max_bytes, max_datagrams_per_namespace, "
        "max_fragments_per_datagram and timeout_ms must be > 0");
  }
  const Timeouts& t = config.timeouts;
  if (t.tcp_established_s == 0 || t.tcp_transitory_s == 0 || t.udp_s == 0 ||
      t.icmp_s == 0 || t.tcp_inbound_syn_s == 0 ||
      t.udp_inbound_unanswered_s == 0 || t.gre_unreplied_s == 0 ||
      t.gre_stream_s == 0) {
    return absl::InvalidArgumentError("timeouts: every timeout must be > 0");
  }
  if (config.limits.max_flows == 0 || config.limits.max_flows > (1u << 30)) {
    return absl::InvalidArgumentError(
        absl::StrCat("limits.max_flows: ", config.limits.max_flows,
                     " is out of range 1..", 1u << 30));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Nat>> Nat::Create(const NatConfig& config) {
  if (absl::Status st = ValidateConfig(config); !st.ok()) return st;
  return std::unique_ptr<Nat>(new Nat(std::make_unique<Impl>(config)));
}

const NatConfig& Nat::config() const { return impl_->config_; }

absl::Status Nat::UpdatePolicy(const NatConfig& config) {
  if (absl::Status st = ValidateConfig(config); !st.ok()) return st;
  if (config.external_addresses != impl_->config_.external_addresses) {
    return absl::FailedPreconditionError(
        "external_addresses: changing them needs a restart (live mappings "
        "use the current ones)");
  }
  if (config.claims != impl_->config_.claims ||
      config.shard != impl_->config_.shard) {
    return absl::FailedPreconditionError(
        "claims, shard: a shard cannot change live");
  }
  const uint64_t seed = impl_->config_.random_seed;
  impl_->config_ = config;
  impl_->config_.random_seed = seed;
  impl_->SetFilteringMode(config.filtering);
  return absl::OkStatus();
}

absl::StatusOr<NamespaceId> Nat::AddNamespace(const NamespaceConfig& config) {
  return impl_->AddNamespace(config);
}
absl::Status Nat::SetRoutedPrefixes(NamespaceId ns,
                                    std::vector<Ipv4Prefix> prefixes) {
  return impl_->SetRoutedPrefixes(ns, std::move(prefixes));
}

bool Nat::IsInsideAddress(NamespaceId ns, uint32_t addr) const {
  const auto& v = impl_->namespaces_;
  return ns < v.size() && v[ns].live && v[ns].Contains(addr);
}

absl::Status Nat::RemoveNamespace(NamespaceId ns) {
  return impl_->RemoveNamespace(ns);
}

std::vector<NamespaceInfo> Nat::Namespaces() const {
  std::vector<NamespaceInfo> out;
  for (size_t i = 0; i < impl_->namespaces_.size(); ++i) {
    const auto& e = impl_->namespaces_[i];
    if (!e.live) continue;
    NamespaceInfo n;
    n.id = static_cast<NamespaceId>(i);
    n.name = e.name;
    n.gateway = e.gateway;
    n.prefix_len = e.prefix_len;
    n.flows = e.flows;
    for (int s = 0; s < 2; ++s) {
      n.packets[s] = e.packets[s];
      n.bytes[s] = e.bytes[s];
    }
    n.routed_prefixes = e.routed;
    for (uint8_t proto : kTrackedProtocols) {
      n.ports[ProtoIndex(proto)] =
          impl_->mappings_.NamespacePorts(static_cast<NamespaceId>(i), proto);
      n.port_quota[ProtoIndex(proto)] = impl_->NamespacePortQuota(proto);
    }
    out.push_back(std::move(n));
  }
  return out;
}

absl::StatusOr<NamespaceId> Nat::FindNamespace(std::string_view name) const {
  for (size_t i = 0; i < impl_->namespaces_.size(); ++i) {
    const auto& e = impl_->namespaces_[i];
    if (e.live && e.name == name) return static_cast<NamespaceId>(i);
  }
  return absl::NotFoundError(
      absl::StrCat("namespace ", std::string(name), " not found"));
}

void Nat::SetSink(PacketSink* sink) { impl_->sink_ = sink; }

namespace {

// What the flows of an unregistered helper get in its place: no payload is
// looked at any more, but the packets still pass AlgEditor::End(), so the
// TCP sequence adjustment of what the helper changed goes on until the
// flow ends.
class DetachedHelper final : public PacketHelper {
 public:
  std::string_view name() const override { return "off"; }
  bool OnPacket(HelperContext&, const FlowInfo&, Side, Ipv4View&,
                L4View&) override {
    return true;
  }
};

PacketHelper* Detached() {
  static DetachedHelper detached;
  return &detached;
}

}  // namespace

absl::Status Nat::RegisterPacketHelper(uint8_t proto, uint16_t server_port,
                                       PacketHelper* helper) {
  if (helper == nullptr || helper == Detached()) {
    return absl::InvalidArgumentError("no helper given");
  }
  const uint32_t key = (uint32_t{proto} << 16) | server_port;
  if (server_port != 0 && impl_->helper_ports_.contains(key)) {
    return absl::AlreadyExistsError(
        absl::StrCat("a helper is already registered for ", ProtoName(proto),
                     "/", server_port));
  }
  auto& hs = impl_->helpers_;
  uint8_t index = impl_->HelperIndex(helper);
  if (index == 0) {
    // A slot an unregistered helper left, once no flow holds it, serves
    // again (turning helpers on and off never runs out of slots).
    std::vector<bool> used(hs.size() + 1, false);
    for (uint32_t i = 0; i < impl_->flows_.size(); ++i) {
      const auto& f = impl_->flows_[i];
      if ((f.flags & internal::kFlowLive) && f.helper != 0)
        used[f.helper] = true;
    }
    for (size_t i = 0; i < hs.size() && index == 0; ++i) {
      if (hs[i] == Detached() && !used[i + 1]) {
        hs[i] = helper;
        index = static_cast<uint8_t>(i + 1);
      }
    }
  }
  if (index == 0) {
    if (hs.size() >= 254)
      return absl::ResourceExhaustedError("too many helpers");
    hs.push_back(helper);
    index = static_cast<uint8_t>(hs.size());
  }
  if (server_port != 0) impl_->helper_ports_[key] = index;
  return absl::OkStatus();
}

absl::Status Nat::UnregisterPacketHelper(PacketHelper* helper) {
  Impl& m = *impl_;
  const uint8_t index =
      helper == nullptr || helper == Detached() ? 0 : m.HelperIndex(helper);
  if (index == 0) return absl::NotFoundError("the helper is not registered");
  absl::erase_if(m.helper_ports_,
                 [index](const auto& p) { return p.second == index; });
  absl::erase_if(m.out_expects_,
                 [index](const auto& e) { return e.second.helper == index; });
  auto on_helper = [&](FlowId flow) {
    return flow < m.flows_.size() &&
           (m.flows_[flow].flags & internal::kFlowLive) &&
           m.flows_[flow].helper == index;
  };
  for (uint32_t e = 0; e < m.expects_.size(); ++e) {
    const internal::Expectation& x = m.expects_[e];
    if (x.live && (x.helper == index || on_helper(x.master))) {
      m.RemoveExpectation(e);
    }
  }
  // Its holds (a SIP registration's path) end with it.
  for (uint32_t i = 0; i < m.flows_.size(); ++i) {
    if (on_helper(i)) m.Pin(i, 0);
  }
  m.helpers_[index - 1] = Detached();
  return absl::OkStatus();
}

size_t Nat::UnregisterLocalHelper(const LocalHelper* helper) {
  return absl::erase_if(impl_->local_helpers_,
                        [helper](const auto& h) { return h.second == helper; });
}

absl::Status Nat::RegisterLocalHelper(uint8_t proto, uint16_t port,
                                      LocalHelper* helper) {
  const uint32_t key = (uint32_t{proto} << 16) | port;
  if (!impl_->local_helpers_.emplace(key, helper).second) {
    return absl::AlreadyExistsError(
        absl::StrCat("a local helper is already registered for ",
                     ProtoName(proto), "/", port));
  }
  return absl::OkStatus();
}

void Nat::Advance(TimeMs now) { impl_->Advance(now); }

absl::StatusOr<uint32_t> Nat::AddForward(const ForwardSpec& spec, TimeMs now) {
  return impl_->AddForward(spec, now);
}
absl::Status Nat::RemoveForward(uint8_t proto, uint32_t external_addr,
                                uint16_t external_port) {
  const int i = impl_->forwards_.Find(proto, external_addr, external_port);
  if (i < 0) {
    return absl::NotFoundError(absl::StrCat(
        "no ", ProtoName(proto), " forward for ",
        external_addr ? Ipv4ToString(external_addr) : std::string("*"), ":",
        external_port));
  }
  return impl_->RemoveForwardIndex(static_cast<uint32_t>(i));
}
absl::Status Nat::RemoveForwardById(uint32_t id) {
  return impl_->RemoveForwardIndex(id);
}
absl::Status Nat::RenewForward(uint32_t id, TimeMs expires) {
  if (!impl_->forwards_.Live(id)) {
    return absl::NotFoundError(absl::StrCat("forward ", id, " not found"));
  }
  impl_->forwards_.Renew(id, expires);
  return absl::OkStatus();
}
absl::Status Nat::SetForwardFilter(uint32_t id,
                                   std::vector<RemoteFilter> allowed_remotes) {
  if (!impl_->forwards_.Live(id)) {
    return absl::NotFoundError(absl::StrCat("forward ", id, " not found"));
  }
  if (absl::Status st = ValidateRemoteFilters(allowed_remotes); !st.ok()) {
    return st;
  }
  impl_->forwards_.spec(id).allowed_remotes = std::move(allowed_remotes);
  return absl::OkStatus();
}

absl::Status Nat::SetForwardEnabled(uint32_t id, bool enabled) {
  if (!impl_->forwards_.Live(id)) {
    return absl::NotFoundError(absl::StrCat("forward ", id, " not found"));
  }
  ForwardSpec& spec = impl_->forwards_.spec(id);
  if (spec.enabled == enabled) return absl::OkStatus();
  spec.enabled = enabled;
  if (!enabled) impl_->DeleteForwardFlows(id);
  return absl::OkStatus();
}

std::optional<ForwardSpec> Nat::Forward(uint32_t id) const {
  if (!impl_->forwards_.Live(id)) {
    return std::nullopt;
  }
  return impl_->forwards_.spec(id);
}

std::vector<ForwardInfo> Nat::Forwards() const {
  std::vector<ForwardInfo> out;
  for (uint32_t i = 0; i < impl_->forwards_.size(); ++i) {
    if (impl_->forwards_.Live(i)) {
      out.push_back({i, impl_->forwards_.spec(i)});
    }
  }
  return out;
}

absl::StatusOr<ExternalEndpoint> Nat::EnsureFlow(
    NamespaceId ns, uint8_t proto, uint32_t inside_addr, uint16_t inside_port,
    uint32_t remote_addr, uint16_t remote_port, uint32_t lifetime_s,
    TimeMs now) {
  return impl_->EnsureFlow(ns, proto, inside_addr, inside_port, remote_addr,
                           remote_port, lifetime_s, now);
}

bool Nat::ExternalPortInUse(uint8_t proto, uint32_t external_addr,
                            uint16_t port) const {
  const int i = impl_->ExternalIndex(external_addr);
  if (i < 0) return false;
  if (impl_->mappings_.PortOwner(i, proto, port) != kPortFree) return true;
  // Shards: one another shard holds.
  const PortClaims* claims = impl_->config_.claims.get();
  return claims != nullptr &&
         claims->Owner(i, proto, port) != PortClaims::kFree;
}
const std::vector<uint32_t>& Nat::external_addresses() const {
  return impl_->config_.external_addresses;
}

void Nat::ForEachFlow(const std::function<void(const FlowInfo&)>& fn) const {
  for (uint32_t i = 0; i < impl_->flows_.size(); ++i) {
    if (impl_->flows_[i].flags & kFlowLive) fn(impl_->Info(i));
  }
}
Stats Nat::GetStats() const { return impl_->GetStats(); }
size_t Nat::MemoryUsage() const { return impl_->MemoryUsage(); }

const char* TcpStateName(TcpState state) {
  switch (state) {
    case TcpState::kSynSent:
      return "SYN_SENT";
    case TcpState::kSynReceived:
      return "SYN_RECV";
    case TcpState::kEstablished:
      return "ESTABLISHED";
    case TcpState::kFinWait:
      return "FIN_WAIT";
    case TcpState::kClosing:
      return "CLOSING";
    case TcpState::kClosed:
      return "CLOSED";
    default:
      return "?";
  }
}

const char* ForwardOwnerName(ForwardOwner owner) {
  switch (owner) {
    case ForwardOwner::kStatic:
      return "static";
    case ForwardOwner::kNatPmp:
      return "natpmp";
    case ForwardOwner::kPcp:
      return "pcp";
    case ForwardOwner::kUpnp:
      return "upnp";
  }
  return "?";
}

std::string Ipv4ToString(uint32_t a) {
  return absl::StrFormat("%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff,
                         (a >> 8) & 0xff, a & 0xff);
}

std::optional<uint32_t> ParseIpv4(std::string_view text) {
  uint32_t a = 0;
  int parts = 0;
  size_t i = 0;
  while (parts < 4) {
    uint32_t v = 0;
    size_t digits = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9' && digits < 4) {
      v = v * 10 + static_cast<uint32_t>(text[i] - '0');
      ++i;
      ++digits;
    }
    if (digits == 0 || digits > 3 || v > 255) return std::nullopt;
    a = (a << 8) | v;
    ++parts;
    if (parts < 4) {
      if (i >= text.size() || text[i] != '.') return std::nullopt;
      ++i;
    }
  }
  if (i != text.size()) return std::nullopt;
  return a;
}

}  // namespace unat
