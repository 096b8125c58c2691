// What the port-mapping servers need from a NAT, and nothing more: forwards
// to add, find, renew and remove, whether an external port is free, the
// external addresses, the tenants and their gateways, and a place to
// answer on the gateway address.
//
// NatTable (portmap/nat_table.h) is this over one Nat. An embedder that
// runs several Nats (one per core) implements it itself: fan AddForward out
// to the shard that owns the external port, answer ExternalPortInUse for
// all of them, and so on. MappingRegistry, PortMapServer and UpnpServer see
// only this interface.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/helper.h"
#include "engine/nat.h"  // ForwardSpec, ForwardInfo, RemoteFilter
#include "engine/types.h"

namespace unat::portmap {

// A tenant as the servers see it: where it is and the gateway address they
// answer from.
struct Tenant {
  NamespaceId id = kInvalidNamespace;
  uint32_t gateway = 0;
};

// Packets and bytes translated, by arrival Side (UPnP's WANCommonInterface
// totals).
struct TrafficTotals {
  uint64_t packets[2] = {0, 0};
  uint64_t bytes[2] = {0, 0};
};

class TranslationTable {
 public:
  virtual ~TranslationTable() = default;

  // Forwards (one per lease). Add fails with AlreadyExists when the external
  // port is taken, InvalidArgument on a bad spec.
  virtual absl::StatusOr<uint32_t> AddForward(const ForwardSpec& spec,
                                              TimeMs now) = 0;
  virtual absl::Status RemoveForward(uint32_t id) = 0;
  // nullopt: no live forward has that id (ids are reused).
  virtual std::optional<ForwardSpec> FindForward(uint32_t id) const = 0;
  virtual std::vector<ForwardInfo> Forwards() const = 0;
  virtual absl::Status RenewForward(uint32_t id, TimeMs expires) = 0;
  virtual absl::Status SetForwardFilter(
      uint32_t id, std::vector<RemoteFilter> allowed_remotes) = 0;
  virtual absl::Status SetForwardEnabled(uint32_t id, bool enabled) = 0;

  // Creates (or finds) the outbound flow inside -> remote and keeps it for
  // at least `lifetime_s` (PCP PEER); returns its external endpoint.
  virtual absl::StatusOr<ExternalEndpoint> EnsureFlow(
      NamespaceId ns, uint8_t proto, uint32_t inside_addr, uint16_t inside_port,
      uint32_t remote_addr, uint16_t remote_port, uint32_t lifetime_s,
      TimeMs now) = 0;

  // Whether (proto, external address, port) is held by a mapping, a held
  // mapping or a forward: a port not to hand out.
  virtual bool ExternalPortInUse(uint8_t proto, uint32_t external_addr,
                                 uint16_t port) const = 0;
  // The first is the one announced and mapped on.
  virtual const std::vector<uint32_t>& external_addresses() const = 0;

  virtual std::vector<Tenant> Tenants() const = 0;
  // Whether `addr` is one of the tenant's own hosts (who may ask).
  virtual bool IsInsideAddress(NamespaceId ns, uint32_t addr) const = 0;
  // Packets to (proto, port) on every tenant's gateway address go to
  // `helper`.
  virtual absl::Status RegisterLocalHelper(uint8_t proto, uint16_t port,
                                           LocalHelper* helper) = 0;
  // Takes `helper` off every port it registered (the server is being turned
  // off); a table without local helpers has nothing to do.
  virtual void UnregisterLocalHelper(const LocalHelper* helper) {
    (void)helper;
  }
  virtual TrafficTotals Traffic() const = 0;
};

}  // namespace unat::portmap
