#include "portmap/nat_table.h"

#include <utility>

namespace unat::portmap {

absl::StatusOr<uint32_t> NatTable::AddForward(const ForwardSpec& spec,
                                              TimeMs now) {
  return nat_.AddForward(spec, now);
}

absl::Status NatTable::RemoveForward(uint32_t id) {
  return nat_.RemoveForwardById(id);
}

std::optional<ForwardSpec> NatTable::FindForward(uint32_t id) const {
  return nat_.Forward(id);
}

std::vector<ForwardInfo> NatTable::Forwards() const { return nat_.Forwards(); }

absl::Status NatTable::RenewForward(uint32_t id, TimeMs expires) {
  return nat_.RenewForward(id, expires);
}

absl::Status NatTable::SetForwardFilter(
    uint32_t id, std::vector<RemoteFilter> allowed_remotes) {
  return nat_.SetForwardFilter(id, std::move(allowed_remotes));
}

absl::Status NatTable::SetForwardEnabled(uint32_t id, bool enabled) {
  return nat_.SetForwardEnabled(id, enabled);
}

absl::StatusOr<ExternalEndpoint> NatTable::EnsureFlow(
    NamespaceId ns, uint8_t proto, uint32_t inside_addr, uint16_t inside_port,
    uint32_t remote_addr, uint16_t remote_port, uint32_t lifetime_s,
    TimeMs now) {
  return nat_.EnsureFlow(ns, proto, inside_addr, inside_port, remote_addr,
                         remote_port, lifetime_s, now);
}

bool NatTable::ExternalPortInUse(uint8_t proto, uint32_t external_addr,
                                 uint16_t port) const {
  return nat_.ExternalPortInUse(proto, external_addr, port);
}

const std::vector<uint32_t>& NatTable::external_addresses() const {
  return nat_.external_addresses();
}

std::vector<Tenant> NatTable::Tenants() const {
  std::vector<Tenant> out;
  for (const NamespaceInfo& n : nat_.Namespaces()) {
    out.push_back({n.id, n.gateway});
  }
  return out;
}

bool NatTable::IsInsideAddress(NamespaceId ns, uint32_t addr) const {
  return nat_.IsInsideAddress(ns, addr);
}

absl::Status NatTable::RegisterLocalHelper(uint8_t proto, uint16_t port,
                                           LocalHelper* helper) {
  return nat_.RegisterLocalHelper(proto, port, helper);
}

void NatTable::UnregisterLocalHelper(const LocalHelper* helper) {
  nat_.UnregisterLocalHelper(helper);
}

TrafficTotals NatTable::Traffic() const {
  const Stats s = nat_.GetStats();
  TrafficTotals t;
  for (int side = 0; side < 2; ++side) {
    t.packets[side] = s.packets[side];
    t.bytes[side] = s.bytes[side];
  }
  return t;
}

}  // namespace unat::portmap
