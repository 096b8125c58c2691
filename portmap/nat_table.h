// TranslationTable over one Nat (one shard): every call goes straight to
// the engine.
#pragma once

#include "engine/nat.h"
#include "portmap/table.h"

namespace unat::portmap {

class NatTable final : public TranslationTable {
 public:
  // `nat` must outlive this.
  explicit NatTable(Nat& nat) : nat_(nat) {}

  absl::StatusOr<uint32_t> AddForward(const ForwardSpec& spec,
                                      TimeMs now) override;
  absl::Status RemoveForward(uint32_t id) override;
  std::optional<ForwardSpec> FindForward(uint32_t id) const override;
  std::vector<ForwardInfo> Forwards() const override;
  absl::Status RenewForward(uint32_t id, TimeMs expires) override;
  absl::Status SetForwardFilter(
      uint32_t id, std::vector<RemoteFilter> allowed_remotes) override;
  absl::Status SetForwardEnabled(uint32_t id, bool enabled) override;
  absl::StatusOr<ExternalEndpoint> EnsureFlow(
      NamespaceId ns, uint8_t proto, uint32_t inside_addr, uint16_t inside_port,
      uint32_t remote_addr, uint16_t remote_port, uint32_t lifetime_s,
      TimeMs now) override;
  bool ExternalPortInUse(uint8_t proto, uint32_t external_addr,
                         uint16_t port) const override;
  const std::vector<uint32_t>& external_addresses() const override;
  std::vector<Tenant> Tenants() const override;
  bool IsInsideAddress(NamespaceId ns, uint32_t addr) const override;
  absl::Status RegisterLocalHelper(uint8_t proto, uint16_t port,
                                   LocalHelper* helper) override;
  void UnregisterLocalHelper(const LocalHelper* helper) override;
  TrafficTotals Traffic() const override;

 private:
  Nat& nat_;
};

}  // namespace unat::portmap
