// The mapping registry and policy shared by every port-mapping protocol
// (NAT-PMP, PCP, and UPnP IGD later).
//
// One registry serves all namespaces. A lease is an inbound port mapping a
// host asked for: (namespace, protocol, inside endpoint) <- (external
// endpoint), owned by the client that asked and by the protocol it used. Each
// lease is exactly one engine forward (ForwardSpec with owner = protocol,
// owner_client = client, expires = lease expiry), so the packet path never
// uses a lapsed lease even between two Advance() calls.
//
// Lifetimes: the registry owns them. Advance() removes due leases (and their
// forwards, nothing else). The engine also drops an expired forward in its own
// Advance(), and an operator may delete one by hand; the registry therefore
// never trusts a stored forward id blindly: before it touches a forward it
// checks that the id still names the same spec (ids are reused), and a lease
// whose forward is gone is treated as gone. The two can never disagree about
// a port: the engine's port table is the only allocator.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "portmap/table.h"

namespace unat::portmap {

struct MappingPolicy {
  // External ports handed out (inclusive). A suggestion outside is not
  // honoured (another port is chosen, or the request fails if it insists).
  uint16_t port_min = 1024;
  uint16_t port_max = 65535;
  // Leases per client (namespace, address) and in total, all protocols.
  uint32_t max_per_client = 64;
  uint32_t max_total = 4096;
  // Leases per namespace (tenant), all protocols, so that one tenant cannot
  // take the whole pool. 0: a fair share, max_total divided by the number
  // of namespaces in the engine (at least 1).
  uint32_t max_per_namespace = 0;
  // Granted lifetime = clamp(requested, min, max).
  uint32_t min_lifetime_s = 120;
  uint32_t max_lifetime_s = 86400;
  // Whether a client may map a port to another inside address (PCP
  // THIRD_PARTY, UPnP NewInternalClient). Off: only to itself.
  bool allow_third_party = false;
  // Remote filters (PCP FILTER) per lease.
  uint32_t max_filters = 8;
};

using Nonce = std::array<uint8_t, 12>;

struct Lease {
  uint64_t id = 0;  // registry id, never reused
  uint32_t forward_id = 0;
  ForwardOwner owner = ForwardOwner::kNatPmp;
  NamespaceId ns = kInvalidNamespace;
  uint32_t client = 0;  // the inside host that asked
  uint8_t proto = kProtoTcp;
  uint32_t inside_addr = 0;
  uint16_t inside_port = 0;
  uint32_t external_addr = 0;
  uint16_t external_port = 0;
  TimeMs expires = 0;  // engine ms
  Nonce nonce{};       // PCP: authenticates refresh and delete
  std::vector<RemoteFilter> filters;
  std::string description;
  bool enabled = true;  // UPnP NewEnabled: a disabled lease lets nothing in
};

struct MapRequest {
  ForwardOwner owner = ForwardOwner::kNatPmp;
  NamespaceId ns = kInvalidNamespace;
  uint32_t client = 0;
  uint8_t proto = kProtoTcp;
  uint32_t inside_addr = 0;
  uint16_t inside_port = 0;
  uint32_t suggested_addr = 0;  // 0: no preference
  uint16_t suggested_port = 0;  // 0: no preference
  // Fail with kCannotProvideExternal rather than choose another endpoint
  // (PCP PREFER_FAILURE, UPnP AddPortMapping).
  bool require_suggested = false;
  uint32_t lifetime_s = 0;  // > 0; clamped by the policy
  Nonce nonce{};
  // Replace the lease's filters with these (PCP FILTER); nullopt: keep.
  std::optional<std::vector<RemoteFilter>> filters;
  std::string description;
  // nullopt: enabled on creation, unchanged on a refresh.
  std::optional<bool> enabled;
  // UPnP: a mapping is named by its external port, and one inside endpoint
  // may have several. The lease refreshed is the one on `suggested_port`
  // (same owner, client and inside endpoint); otherwise a new lease is made
  // even when the endpoint has others. Without it (NAT-PMP, PCP) the
  // owner's lease for the inside endpoint is refreshed.
  bool by_external = false;
};

enum class MapStatus : uint8_t {
  kOk = 0,
  kNotAuthorized,          // policy refuses (third party, other owner, ...)
  kNonceMismatch,          // PCP: the lease belongs to another nonce
  kUserQuota,              // the client has its maximum of leases
  kNamespaceQuota,         // the client's namespace has its maximum
  kNoResources,            // total maximum, or no free port
  kCannotProvideExternal,  // the suggestion is taken and it insisted
  kNetworkFailure,         // no external address
  kTooManyFilters,
  kInvalid,  // bad protocol, port 0, ...
};
const char* MapStatusName(MapStatus status);

struct MapResult {
  MapStatus status = MapStatus::kOk;
  Lease lease;           // on kOk: the lease as granted
  bool renewed = false;  // an existing lease was refreshed
};

// Which leases a lookup or a bulk delete concerns.
struct LeaseKey {
  NamespaceId ns = kInvalidNamespace;
  uint8_t proto = kProtoTcp;
  uint32_t inside_addr = 0;
  uint16_t inside_port = 0;
  auto operator<=>(const LeaseKey&) const = default;
};

struct RegistryStats {
  uint64_t granted = 0;
  uint64_t renewed = 0;
  uint64_t refused = 0;
  uint64_t deleted = 0;
  uint64_t expired = 0;
  uint64_t vanished = 0;  // forward removed behind the registry's back
};

// What happened to a lease, for an observer (logging, persistence).
enum class LeaseEvent : uint8_t {
  kGranted,
  kRenewed,
  kDeleted,   // by its client, an operator or Clear()
  kExpired,   // its lifetime ran out
  kVanished,  // its forward was removed behind the registry's back
  kRestored,  // from persistent state
};
const char* LeaseEventName(LeaseEvent event);

class MappingRegistry {
 public:
  // Called after every change to the set of leases or their lifetimes,
  // with the lease as it is (granted, renewed) or was (the others).
  using Observer = std::function<void(LeaseEvent, const Lease&)>;

  MappingRegistry(TranslationTable* table, MappingPolicy policy,
                  uint64_t seed = 0);

  const MappingPolicy& policy() const { return policy_; }
  void set_policy(const MappingPolicy& policy) { policy_ = policy; }
  void set_observer(Observer observer) { observer_ = std::move(observer); }
  // Grows with every change an observer is told about: a persistence layer
  // compares it with the generation it last wrote.
  uint64_t generation() const { return generation_; }

  // Clamps a requested lifetime (> 0) to the policy.
  uint32_t ClampLifetime(uint32_t requested_s) const;

  // Creates a lease, or refreshes the caller's existing lease for the same
  // inside endpoint (same owner, same client, same nonce): a refresh keeps
  // the external endpoint and sets the new lifetime. An inside endpoint
  // with another owner's (protocol's) lease is refused (kNotAuthorized).
  MapResult Map(const MapRequest& request, TimeMs now);

  // A live lease for an inside endpoint: one of `prefer`'s if it has one,
  // else any owner's; nullopt if none.
  std::optional<Lease> Find(const LeaseKey& key,
                            std::optional<ForwardOwner> prefer = std::nullopt);
  // The live lease on an external port (any address), if any.
  std::optional<Lease> FindByExternal(uint8_t proto, uint16_t external_port);

  // Removes one lease (and its forward).
  absl::Status Remove(uint64_t lease_id);
  // Removes every lease of `client` in `ns` made with `owner`; proto 0: all
  // protocols. With `nonce`, only leases with that nonce. Returns the count.
  size_t RemoveClient(NamespaceId ns, uint32_t client, ForwardOwner owner,
                      uint8_t proto, const Nonce* nonce = nullptr);
  // Removes every lease `which` picks (a tenant removed, a protocol turned
  // off), each as deleted. Returns the count.
  size_t RemoveMatching(const std::function<bool(const Lease&)>& which);
  // Removes every lease (state loss on purpose, e.g. shutdown). Returns the
  // count.
  size_t Clear();

  // Expires leases due by `now`. Cost proportional to what is due.
  void Advance(TimeMs now);
  // Drops leases whose forward vanished (removed by an operator, by the
  // engine's expiry, or with its namespace). Cost: one pass over forwards.
  void Reconcile();

  // Restores a lease from persistent state (its external endpoint exactly)
  // with its remaining lifetime; fails if the port is taken meanwhile.
  absl::StatusOr<Lease> Restore(const Lease& lease, TimeMs now);

  // Every live lease (after Reconcile()).
  std::vector<Lease> Leases();
  size_t size() const { return leases_.size(); }
  size_t CountForClient(NamespaceId ns, uint32_t client) const;
  size_t CountForNamespace(NamespaceId ns) const;
  // The per-namespace cap in force (policy, or the fair share).
  uint32_t NamespaceCap() const;
  const RegistryStats& stats() const { return stats_; }

 private:
  using ClientKey = std::pair<NamespaceId, uint32_t>;

  bool ForwardMatches(const Lease& lease) const;
  // At a quota, vanished leases may be what holds it: Reconcile(), but at
  // most once per kQuotaReconcileMs, so that a flood of requests refused at
  // a quota costs no pass over every forward each (issue 13).
  static constexpr TimeMs kQuotaReconcileMs = 1000;
  void ReconcileAtQuota(TimeMs now);
  // A live lease id for the key, preferring `prefer`'s (drops vanished
  // ones on the way).
  std::optional<uint64_t> LiveLease(const LeaseKey& key,
                                    std::optional<ForwardOwner> prefer);
  // Refreshes lease `l` with the request's lifetime, filters and enabled
  // flag; false (and the lease is gone) if its forward vanished.
  MapStatus Refresh(Lease& l, const MapRequest& r, TimeMs expires);
  uint32_t PrimaryExternal() const;
  bool PortAllowed(uint16_t port) const {
    return port >= policy_.port_min && port <= policy_.port_max;
  }
  absl::StatusOr<uint32_t> AddForward(const Lease& lease, TimeMs now);
  void Insert(Lease lease);
  void Erase(uint64_t id, bool remove_forward);
  // Counts and reports a change, then erases (for the removing events).
  void Notify(LeaseEvent event, const Lease& lease);
  void EraseWith(LeaseEvent event, uint64_t id, bool remove_forward);
  static LeaseKey KeyOf(const Lease& l) {
    return {l.ns, l.proto, l.inside_addr, l.inside_port};
  }

  TranslationTable* table_;
  MappingPolicy policy_;
  std::mt19937_64 rng_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, Lease> leases_;
  std::multimap<LeaseKey, uint64_t> by_key_;
  std::map<ClientKey, uint32_t> per_client_;
  std::map<NamespaceId, uint32_t> per_ns_;
  std::set<std::pair<TimeMs, uint64_t>> expiry_;
  RegistryStats stats_;
  Observer observer_;
  uint64_t generation_ = 0;
  bool quota_reconciled_ = false;
  TimeMs last_quota_reconcile_ = 0;
};

}  // namespace unat::portmap
