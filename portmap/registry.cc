#include "portmap/registry.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace unat::portmap {
namespace {

bool SameFilters(const std::vector<RemoteFilter>& a,
                 const std::vector<RemoteFilter>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](const RemoteFilter& x, const RemoteFilter& y) {
                      return x.addr == y.addr && x.prefix_len == y.prefix_len &&
                             x.port == y.port;
                    });
}

}  // namespace

const char* MapStatusName(MapStatus status) {
  switch (status) {
    case MapStatus::kOk:
      return "ok";
    case MapStatus::kNotAuthorized:
      return "not_authorized";
    case MapStatus::kNonceMismatch:
      return "nonce_mismatch";
    case MapStatus::kUserQuota:
      return "user_quota";
    case MapStatus::kNamespaceQuota:
      return "namespace_quota";
    case MapStatus::kNoResources:
      return "no_resources";
    case MapStatus::kCannotProvideExternal:
      return "cannot_provide_external";
    case MapStatus::kNetworkFailure:
      return "network_failure";
    case MapStatus::kTooManyFilters:
      return "too_many_filters";
    case MapStatus::kInvalid:
      return "invalid";
  }
  return "?";
}

const char* LeaseEventName(LeaseEvent event) {
  switch (event) {
    case LeaseEvent::kGranted:
      return "granted";
    case LeaseEvent::kRenewed:
      return "renewed";
    case LeaseEvent::kDeleted:
      return "deleted";
    case LeaseEvent::kExpired:
      return "expired";
    case LeaseEvent::kVanished:
      return "vanished";
    case LeaseEvent::kRestored:
      return "restored";
  }
  return "?";
}

MappingRegistry::MappingRegistry(TranslationTable* table, MappingPolicy policy,
                                 uint64_t seed)
    : table_(table),
      policy_(policy),
      rng_(seed != 0 ? seed : std::random_device{}()) {}

uint32_t MappingRegistry::ClampLifetime(uint32_t requested_s) const {
  return std::clamp(requested_s, policy_.min_lifetime_s,
                    std::max(policy_.min_lifetime_s, policy_.max_lifetime_s));
}

uint32_t MappingRegistry::PrimaryExternal() const {
  const auto& ext = table_->external_addresses();
  return ext.empty() ? 0 : ext.front();
}

bool MappingRegistry::ForwardMatches(const Lease& l) const {
  const std::optional<ForwardSpec> s = table_->FindForward(l.forward_id);
  return s && s->owner == l.owner && s->owner_client == l.client &&
         s->ns == l.ns && s->proto == l.proto &&
         s->inside_addr == l.inside_addr && s->inside_port == l.inside_port &&
         s->external_addr == l.external_addr &&
         s->external_port == l.external_port;
}

std::optional<uint64_t> MappingRegistry::LiveLease(
    const LeaseKey& key, std::optional<ForwardOwner> prefer) {
  std::vector<uint64_t> ids;
  for (auto [it, end] = by_key_.equal_range(key); it != end; ++it) {
    ids.push_back(it->second);
  }
  std::optional<uint64_t> any;
  for (uint64_t id : ids) {
    const Lease& l = leases_.at(id);
    if (!ForwardMatches(l)) {
      stats_.vanished++;
      EraseWith(LeaseEvent::kVanished, id, false);
      continue;
    }
    if (!prefer || l.owner == *prefer) return id;
    if (!any) any = id;
  }
  return any;
}

size_t MappingRegistry::CountForClient(NamespaceId ns, uint32_t client) const {
  auto it = per_client_.find({ns, client});
  return it == per_client_.end() ? 0 : it->second;
}

size_t MappingRegistry::CountForNamespace(NamespaceId ns) const {
  auto it = per_ns_.find(ns);
  return it == per_ns_.end() ? 0 : it->second;
}

uint32_t MappingRegistry::NamespaceCap() const {
  if (policy_.max_per_namespace != 0) return policy_.max_per_namespace;
  const size_t n = std::max<size_t>(1, table_->Tenants().size());
  return std::max<uint32_t>(1, static_cast<uint32_t>(policy_.max_total / n));
}

void MappingRegistry::Notify(LeaseEvent event, const Lease& lease) {
  generation_++;
  if (observer_) observer_(event, lease);
}

void MappingRegistry::EraseWith(LeaseEvent event, uint64_t id,
                                bool remove_forward) {
  auto it = leases_.find(id);
  if (it == leases_.end()) return;
  const Lease copy = it->second;
  Erase(id, remove_forward);
  Notify(event, copy);
}

void MappingRegistry::Insert(Lease lease) {
  const uint64_t id = lease.id;
  by_key_.emplace(KeyOf(lease), id);
  per_client_[{lease.ns, lease.client}]++;
  per_ns_[lease.ns]++;
  expiry_.emplace(lease.expires, id);
  leases_.emplace(id, std::move(lease));
}

void MappingRegistry::Erase(uint64_t id, bool remove_forward) {
  auto it = leases_.find(id);
  if (it == leases_.end()) return;
  const Lease& l = it->second;
  if (remove_forward && ForwardMatches(l)) {
    (void)table_->RemoveForward(l.forward_id);
  }
  for (auto [k, end] = by_key_.equal_range(KeyOf(l)); k != end; ++k) {
    if (k->second == id) {
      by_key_.erase(k);
      break;
    }
  }
  auto pc = per_client_.find({l.ns, l.client});
  if (pc != per_client_.end() && --pc->second == 0) per_client_.erase(pc);
  auto pn = per_ns_.find(l.ns);
  if (pn != per_ns_.end() && --pn->second == 0) per_ns_.erase(pn);
  expiry_.erase({l.expires, id});
  leases_.erase(it);
}

absl::StatusOr<uint32_t> MappingRegistry::AddForward(const Lease& l,
                                                     TimeMs now) {
  ForwardSpec spec;
  spec.proto = l.proto;
  spec.external_addr = l.external_addr;
  spec.external_port = l.external_port;
  spec.ns = l.ns;
  spec.inside_addr = l.inside_addr;
  spec.inside_port = l.inside_port;
  spec.owner = l.owner;
  spec.owner_client = l.client;
  spec.expires = l.expires;
  spec.description = l.description;
  spec.allowed_remotes = l.filters;
  spec.enabled = l.enabled;
  return table_->AddForward(spec, now);
}

MapResult MappingRegistry::Map(const MapRequest& r, TimeMs now) {
  MapResult out;
  auto refuse = [&](MapStatus s) {
    stats_.refused++;
    out.status = s;
    return out;
  };
  if ((r.proto != kProtoTcp && r.proto != kProtoUdp) || r.inside_port == 0 ||
      r.inside_addr == 0 || r.lifetime_s == 0) {
    return refuse(MapStatus::kInvalid);
  }
  if (r.inside_addr != r.client && !policy_.allow_third_party) {
    return refuse(MapStatus::kNotAuthorized);
  }
  // Only the tenant's own hosts (its link and routed prefixes) are served,
  // and only for its own hosts: a stranger on the device gets its
  // protocol's refusal, as the engine would not translate it anyway.
  if (!table_->IsInsideAddress(r.ns, r.client) ||
      !table_->IsInsideAddress(r.ns, r.inside_addr)) {
    return refuse(MapStatus::kNotAuthorized);
  }
  if (r.filters &&
      r.filters->size() > std::min<size_t>(policy_.max_filters,
                                           ForwardSpec::kMaxRemoteFilters)) {
    return refuse(MapStatus::kTooManyFilters);
  }
  const TimeMs expires = now + uint64_t{ClampLifetime(r.lifetime_s)} * 1000;
  const LeaseKey key{r.ns, r.proto, r.inside_addr, r.inside_port};

  // The lease this request refreshes, if any.
  std::optional<uint64_t> existing;
  if (r.by_external) {
    if (r.suggested_port != 0) {
      if (auto held = FindByExternal(r.proto, r.suggested_port);
          held && held->owner == r.owner && KeyOf(*held) == key &&
          (r.suggested_addr == 0 || held->external_addr == r.suggested_addr)) {
        existing = held->id;
      }
    }
  }
  if (auto id = LiveLease(key, r.owner)) {
    // Another protocol's lease for this inside endpoint: not ours to
    // renew, and no second protocol maps the same endpoint.
    if (leases_.at(*id).owner != r.owner) {
      return refuse(MapStatus::kNotAuthorized);
    }
    if (!r.by_external) existing = id;
  }
  if (existing) {
    Lease& l = leases_.at(*existing);
    if (l.client != r.client) return refuse(MapStatus::kNotAuthorized);
    if (r.owner == ForwardOwner::kPcp && l.nonce != r.nonce) {
      return refuse(MapStatus::kNonceMismatch);
    }
    const MapStatus st = Refresh(l, r, expires);
    if (st != MapStatus::kOk) return refuse(st);
    stats_.renewed++;
    out.lease = leases_.at(*existing);
    out.renewed = true;
    Notify(LeaseEvent::kRenewed, out.lease);
    return out;
  }

  const auto& ext = table_->external_addresses();
  if (ext.empty()) return refuse(MapStatus::kNetworkFailure);
  if (leases_.size() >= policy_.max_total) {
    ReconcileAtQuota(now);
    if (leases_.size() >= policy_.max_total) {
      return refuse(MapStatus::kNoResources);
    }
  }
  // A tenant's share: one namespace cannot starve the others.
  if (CountForNamespace(r.ns) >= NamespaceCap()) {
    ReconcileAtQuota(now);
    if (CountForNamespace(r.ns) >= NamespaceCap()) {
      return refuse(MapStatus::kNamespaceQuota);
    }
  }
  if (CountForClient(r.ns, r.client) >= policy_.max_per_client) {
    ReconcileAtQuota(now);
    if (CountForClient(r.ns, r.client) >= policy_.max_per_client) {
      return refuse(MapStatus::kUserQuota);
    }
  }

  Lease l;
  l.owner = r.owner;
  l.ns = r.ns;
  l.client = r.client;
  l.proto = r.proto;
  l.inside_addr = r.inside_addr;
  l.inside_port = r.inside_port;
  l.expires = expires;
  l.nonce = r.nonce;
  if (r.filters) l.filters = *r.filters;
  l.description = r.description;
  l.enabled = r.enabled.value_or(true);

  // The external address: the suggestion when it is one of ours.
  const bool addr_ours =
      r.suggested_addr != 0 &&
      std::find(ext.begin(), ext.end(), r.suggested_addr) != ext.end();
  if (r.suggested_addr != 0 && !addr_ours && r.require_suggested) {
    return refuse(MapStatus::kCannotProvideExternal);
  }
  l.external_addr = addr_ours ? r.suggested_addr : PrimaryExternal();

  auto try_port = [&](uint16_t port) -> bool {
    if (!PortAllowed(port) || port == 0) return false;
    if (table_->ExternalPortInUse(l.proto, l.external_addr, port)) return false;
    l.external_port = port;
    auto id = AddForward(l, now);
    if (!id.ok()) return false;
    l.forward_id = *id;
    return true;
  };

  bool done = r.suggested_port != 0 && try_port(r.suggested_port);
  if (!done && r.require_suggested && r.suggested_port != 0) {
    return refuse(MapStatus::kCannotProvideExternal);
  }
  if (!done) {
    // Random start, then a linear probe over the whole range (RFC 6056
    // algorithm 1 style); the engine's port table is the authority.
    const uint32_t span = uint32_t{policy_.port_max} - policy_.port_min + 1;
    const uint32_t start = static_cast<uint32_t>(rng_() % span);
    for (uint32_t i = 0; i < span && !done; ++i) {
      done = try_port(
          static_cast<uint16_t>(policy_.port_min + (start + i) % span));
    }
  }
  if (!done) return refuse(MapStatus::kNoResources);
  l.id = next_id_++;
  stats_.granted++;
  out.lease = l;
  Insert(std::move(l));
  Notify(LeaseEvent::kGranted, out.lease);
  return out;
}

MapStatus MappingRegistry::Refresh(Lease& l, const MapRequest& r,
                                   TimeMs expires) {
  if (r.filters && !SameFilters(*r.filters, l.filters)) {
    if (!table_->SetForwardFilter(l.forward_id, *r.filters).ok()) {
      return MapStatus::kTooManyFilters;
    }
    l.filters = *r.filters;
  }
  if (r.enabled && *r.enabled != l.enabled) {
    if (!table_->SetForwardEnabled(l.forward_id, *r.enabled).ok()) {
      return MapStatus::kNoResources;
    }
    l.enabled = *r.enabled;
  }
  if (!table_->RenewForward(l.forward_id, expires).ok()) {
    // Cannot happen after ForwardMatches(); treat as vanished.
    stats_.vanished++;
    EraseWith(LeaseEvent::kVanished, l.id, false);
    return MapStatus::kNoResources;
  }
  expiry_.erase({l.expires, l.id});
  l.expires = expires;
  expiry_.emplace(l.expires, l.id);
  return MapStatus::kOk;
}

std::optional<Lease> MappingRegistry::Find(const LeaseKey& key,
                                           std::optional<ForwardOwner> prefer) {
  auto id = LiveLease(key, prefer);
  if (!id) return std::nullopt;
  return leases_.at(*id);
}

std::optional<Lease> MappingRegistry::FindByExternal(uint8_t proto,
                                                     uint16_t external_port) {
  for (auto it = leases_.begin(); it != leases_.end(); ++it) {
    const Lease& l = it->second;
    if (l.proto != proto || l.external_port != external_port) continue;
    if (ForwardMatches(l)) return l;
    stats_.vanished++;
    EraseWith(LeaseEvent::kVanished, it->first, false);
    return FindByExternal(proto, external_port);
  }
  return std::nullopt;
}

absl::Status MappingRegistry::Remove(uint64_t lease_id) {
  if (!leases_.count(lease_id)) {
    return absl::NotFoundError(absl::StrCat("lease ", lease_id, " not found"));
  }
  stats_.deleted++;
  EraseWith(LeaseEvent::kDeleted, lease_id, true);
  return absl::OkStatus();
}

size_t MappingRegistry::RemoveClient(NamespaceId ns, uint32_t client,
                                     ForwardOwner owner, uint8_t proto,
                                     const Nonce* nonce) {
  std::vector<uint64_t> doomed;
  for (const auto& [id, l] : leases_) {
    if (l.ns == ns && l.client == client && l.owner == owner &&
        (proto == 0 || l.proto == proto) && (!nonce || l.nonce == *nonce)) {
      doomed.push_back(id);
    }
  }
  for (uint64_t id : doomed) {
    stats_.deleted++;
    EraseWith(LeaseEvent::kDeleted, id, true);
  }
  return doomed.size();
}

size_t MappingRegistry::RemoveMatching(
    const std::function<bool(const Lease&)>& which) {
  std::vector<uint64_t> doomed;
  for (const auto& [id, l] : leases_) {
    if (which(l)) doomed.push_back(id);
  }
  for (uint64_t id : doomed) {
    stats_.deleted++;
    EraseWith(LeaseEvent::kDeleted, id, true);
  }
  return doomed.size();
}

size_t MappingRegistry::Clear() {
  const size_t n = leases_.size();
  while (!leases_.empty()) {
    EraseWith(LeaseEvent::kDeleted, leases_.begin()->first, true);
  }
  return n;
}

void MappingRegistry::Advance(TimeMs now) {
  while (!expiry_.empty() && expiry_.begin()->first <= now) {
    const uint64_t id = expiry_.begin()->second;
    stats_.expired++;
    EraseWith(LeaseEvent::kExpired, id, true);
  }
}

void MappingRegistry::ReconcileAtQuota(TimeMs now) {
  if (quota_reconciled_ && now < last_quota_reconcile_ + kQuotaReconcileMs) {
    return;
  }
  quota_reconciled_ = true;
  last_quota_reconcile_ = now;
  Reconcile();
}

void MappingRegistry::Reconcile() {
  std::map<uint32_t, const ForwardInfo*> by_id;
  const std::vector<ForwardInfo> forwards = table_->Forwards();
  for (const ForwardInfo& f : forwards) by_id[f.id] = &f;
  std::vector<uint64_t> gone;
  for (const auto& [id, l] : leases_) {
    auto it = by_id.find(l.forward_id);
    const bool same = it != by_id.end() && it->second->spec.owner == l.owner &&
                      it->second->spec.owner_client == l.client &&
                      it->second->spec.ns == l.ns &&
                      it->second->spec.proto == l.proto &&
                      it->second->spec.external_port == l.external_port &&
                      it->second->spec.inside_addr == l.inside_addr &&
                      it->second->spec.inside_port == l.inside_port;
    if (!same) gone.push_back(id);
  }
  for (uint64_t id : gone) {
    stats_.vanished++;
    EraseWith(LeaseEvent::kVanished, id, false);
  }
}

absl::StatusOr<Lease> MappingRegistry::Restore(const Lease& in, TimeMs now) {
  if (in.expires <= now) {
    return absl::InvalidArgumentError("lease already expired");
  }
  Lease l = in;
  auto id = AddForward(l, now);
  if (!id.ok()) return id.status();
  l.forward_id = *id;
  l.id = next_id_++;
  Lease copy = l;
  Insert(std::move(l));
  Notify(LeaseEvent::kRestored, copy);
  return copy;
}

std::vector<Lease> MappingRegistry::Leases() {
  Reconcile();
  std::vector<Lease> out;
  out.reserve(leases_.size());
  for (const auto& [id, l] : leases_) out.push_back(l);
  return out;
}

}  // namespace unat::portmap
