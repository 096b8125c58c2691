// The shared mapping registry against a real Nat: policy, quotas, port
// ownership, forwards removed behind its back, forward id reuse, restore.
#include <gtest/gtest.h>

#include "tests/portmap/portmap_fixture.h"

namespace unat::portmap::test {
namespace {

class RegistryTest : public PortmapTest {
 protected:
  MapRequest Req(uint16_t iport, uint16_t suggested = 0,
                 const char* client = kHost, uint8_t proto = kProtoTcp) {
    MapRequest r;
    r.owner = ForwardOwner::kNatPmp;
    r.ns = lan;
    r.client = A(client);
    r.proto = proto;
    r.inside_addr = A(client);
    r.inside_port = iport;
    r.suggested_port = suggested;
    r.lifetime_s = 600;
    return r;
  }
};

TEST_F(RegistryTest, ThirdPartyNeedsPolicy) {
  MapRequest r = Req(80);
  r.inside_addr = A("10.77.0.9");
  EXPECT_EQ(registry->Map(r, now).status, MapStatus::kNotAuthorized);
  MappingPolicy p;
  p.allow_third_party = true;
  registry->set_policy(p);
  EXPECT_EQ(registry->Map(r, now).status, MapStatus::kOk);
}

TEST_F(RegistryTest, InvalidRequests) {
  MapRequest r = Req(0);
  EXPECT_EQ(registry->Map(r, now).status, MapStatus::kInvalid);
  r = Req(80);
  r.proto = kProtoIcmp;
  EXPECT_EQ(registry->Map(r, now).status, MapStatus::kInvalid);
  r = Req(80);
  r.lifetime_s = 0;
  EXPECT_EQ(registry->Map(r, now).status, MapStatus::kInvalid);
}

TEST_F(RegistryTest, RequireSuggestedFailsOnConflict) {
  ASSERT_EQ(registry->Map(Req(80, 8080), now).lease.external_port, 8080);
  MapRequest r = Req(81, 8080, "10.77.0.6");
  r.require_suggested = true;
  EXPECT_EQ(registry->Map(r, now).status, MapStatus::kCannotProvideExternal);
  r.suggested_port = 100;  // outside the policy range
  EXPECT_EQ(registry->Map(r, now).status, MapStatus::kCannotProvideExternal);
  r.suggested_port = 8081;
  EXPECT_EQ(registry->Map(r, now).lease.external_port, 8081);
}

TEST_F(RegistryTest, ForwardRemovedBehindItsBackIsNoticed) {
  auto m = registry->Map(Req(80, 8080), now);
  ASSERT_EQ(m.status, MapStatus::kOk);
  ASSERT_TRUE(nat->RemoveForward(kProtoTcp, A(kExt), 8080).ok());
  // The id is reused by a static forward elsewhere.
  ForwardSpec s;
  s.proto = kProtoTcp;
  s.external_port = 2222;
  s.ns = lan;
  s.inside_addr = A(kHost);
  s.inside_port = 22;
  auto sid = nat->AddForward(s, now);
  ASSERT_TRUE(sid.ok());
  EXPECT_EQ(*sid, m.lease.forward_id);
  // Expiry must not touch the static forward that now has that id.
  AdvanceTo(now + 601'000);
  ASSERT_EQ(nat->Forwards().size(), 1u);
  EXPECT_EQ(nat->Forwards()[0].spec.external_port, 2222);
  EXPECT_EQ(registry->size(), 0u);
}

TEST_F(RegistryTest, ReconcileDropsVanishedLeases) {
  ASSERT_EQ(registry->Map(Req(80, 8080), now).status, MapStatus::kOk);
  ASSERT_EQ(registry->Map(Req(81, 8081), now).status, MapStatus::kOk);
  ASSERT_TRUE(nat->RemoveForward(kProtoTcp, A(kExt), 8080).ok());
  EXPECT_EQ(registry->Leases().size(), 1u);
  EXPECT_EQ(registry->stats().vanished, 1u);
  EXPECT_EQ(registry->CountForClient(lan, A(kHost)), 1u);
}

TEST_F(RegistryTest, RemovingANamespaceRemovesItsLeases) {
  ASSERT_EQ(registry->Map(Req(80, 8080), now).status, MapStatus::kOk);
  ASSERT_TRUE(nat->RemoveNamespace(lan).ok());
  EXPECT_TRUE(registry->Leases().empty());
}

TEST_F(RegistryTest, RestoreKeepsTheExternalPortAndRemainingLifetime) {
  auto m = registry->Map(Req(80, 8080), now);
  ASSERT_EQ(m.status, MapStatus::kOk);
  Lease saved = m.lease;
  registry->Clear();
  EXPECT_TRUE(nat->Forwards().empty());
  auto r = registry->Restore(saved, now + 100'000);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->external_port, 8080);
  EXPECT_EQ(r->expires, saved.expires);
  EXPECT_TRUE(Reaches(kProtoTcp, 8080, kHost, 80, lan));
  // An expired one is not restored.
  registry->Clear();
  EXPECT_FALSE(registry->Restore(saved, saved.expires).ok());
}

TEST_F(RegistryTest, TotalLimit) {
  MappingPolicy p;
  p.max_total = 3;
  p.max_per_namespace = 3;  // one tenant may take it all here
  registry->set_policy(p);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(registry->Map(Req(static_cast<uint16_t>(80 + i)), now).status,
              MapStatus::kOk);
  }
  EXPECT_EQ(registry->Map(Req(90, 0, "10.77.0.6"), now).status,
            MapStatus::kNoResources);
}

TEST_F(RegistryTest, RandomPortsStayInRangeAndAreDistinct) {
  MappingPolicy p;
  p.port_min = 30000;
  p.port_max = 30099;
  p.max_per_client = 1000;
  registry->set_policy(p);
  std::set<uint16_t> ports;
  for (int i = 0; i < 100; ++i) {
    auto m = registry->Map(Req(static_cast<uint16_t>(1000 + i)), now);
    ASSERT_EQ(m.status, MapStatus::kOk);
    EXPECT_GE(m.lease.external_port, 30000);
    EXPECT_LE(m.lease.external_port, 30099);
    ports.insert(m.lease.external_port);
  }
  EXPECT_EQ(ports.size(), 100u);
  EXPECT_EQ(registry->Map(Req(2000), now).status, MapStatus::kNoResources);
}

TEST_F(RegistryTest, NamespaceCapDefaultsToAFairShare) {
  // Issue 13: one tenant's clients filled the whole pool and the other
  // tenant got nothing. max_total 6, two namespaces: 3 each by default.
  MappingPolicy p;
  p.max_total = 6;
  registry->set_policy(p);
  EXPECT_EQ(registry->NamespaceCap(), 3u);
  const char* clients[] = {"10.77.0.5", "10.77.0.6", "10.77.0.7", "10.77.0.8"};
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(registry->Map(Req(80, 0, clients[i]), now).status,
              MapStatus::kOk);
  }
  // A fourth client of lan: the tenant's share is used up.
  EXPECT_EQ(registry->Map(Req(80, 0, clients[3]), now).status,
            MapStatus::kNamespaceQuota);
  EXPECT_EQ(registry->CountForNamespace(lan), 3u);
  // A renewal inside the share is still fine.
  EXPECT_EQ(registry->Map(Req(80, 0, clients[0]), now).status, MapStatus::kOk);
  // lan2 (same addresses) still gets its share.
  for (int i = 0; i < 3; ++i) {
    MapRequest r = Req(80, 0, clients[i]);
    r.ns = lan2;
    ASSERT_EQ(registry->Map(r, now).status, MapStatus::kOk) << i;
  }
  EXPECT_EQ(registry->CountForNamespace(lan2), 3u);
  // Deleting frees the share.
  ASSERT_TRUE(registry->Remove(registry->Leases().front().id).ok());
  EXPECT_EQ(registry->Map(Req(80, 0, clients[3]), now).status, MapStatus::kOk);
}

TEST_F(RegistryTest, AtAQuotaVanishedLeasesAreFoundAtMostOnceASecond) {
  // A refused request must not cost a pass over every forward each: a
  // flood at a quota reconciles once per second.
  MappingPolicy p;
  p.max_per_namespace = 1;
  registry->set_policy(p);
  ASSERT_EQ(registry->Map(Req(80, 8080), now).status, MapStatus::kOk);
  ASSERT_TRUE(nat->RemoveForward(kProtoTcp, A(kExt), 8080).ok());
  // The first time at the quota: reconciled, the vanished lease freed it.
  ASSERT_EQ(registry->Map(Req(81, 8081), now).status, MapStatus::kOk);
  ASSERT_TRUE(nat->RemoveForward(kProtoTcp, A(kExt), 8081).ok());
  EXPECT_EQ(registry->Map(Req(82), now + 10).status,
            MapStatus::kNamespaceQuota);  // not yet looked at again
  EXPECT_EQ(registry->Map(Req(82), now + 1010).status, MapStatus::kOk);
  EXPECT_EQ(registry->stats().vanished, 2u);
}

TEST_F(RegistryTest, ExplicitNamespaceCap) {
  MappingPolicy p;
  p.max_total = 100;
  p.max_per_namespace = 2;
  registry->set_policy(p);
  EXPECT_EQ(registry->NamespaceCap(), 2u);
  ASSERT_EQ(registry->Map(Req(80), now).status, MapStatus::kOk);
  ASSERT_EQ(registry->Map(Req(81), now).status, MapStatus::kOk);
  EXPECT_EQ(registry->Map(Req(82), now).status, MapStatus::kNamespaceQuota);
  // A fair share never rounds down to nothing.
  p.max_per_namespace = 0;
  p.max_total = 1;
  registry->set_policy(p);
  EXPECT_EQ(registry->NamespaceCap(), 1u);
}

TEST_F(RegistryTest, ObserverSeesEveryChangeAndGenerationGrows) {
  std::vector<std::pair<LeaseEvent, uint16_t>> seen;
  registry->set_observer([&](LeaseEvent e, const Lease& l) {
    seen.push_back({e, l.inside_port});
  });
  const uint64_t g0 = registry->generation();
  ASSERT_EQ(registry->Map(Req(80, 8080), now).status, MapStatus::kOk);
  ASSERT_EQ(registry->Map(Req(80, 8080), now).status, MapStatus::kOk);
  auto short_lived = Req(81);
  short_lived.lifetime_s = 120;
  ASSERT_EQ(registry->Map(short_lived, now).status, MapStatus::kOk);
  ASSERT_EQ(registry->Map(Req(82), now).status, MapStatus::kOk);
  EXPECT_EQ(registry->generation(), g0 + 4);
  // Refusals change nothing.
  EXPECT_EQ(registry->Map(Req(0), now).status, MapStatus::kInvalid);
  EXPECT_EQ(registry->generation(), g0 + 4);
  registry->Advance(now + 121'000);  // 81 expires
  const Lease kept = *registry->Find({lan, kProtoTcp, A(kHost), 80});
  ASSERT_TRUE(registry->Remove(kept.id).ok());
  EXPECT_EQ(registry->RemoveClient(lan, A(kHost), ForwardOwner::kNatPmp, 0),
            1u);  // 82
  Lease again = kept;
  ASSERT_TRUE(registry->Restore(again, now).ok());
  // An operator removes it behind the registry's back.
  ASSERT_TRUE(nat->RemoveForward(kProtoTcp, 0, 8080).ok() ||
              nat->RemoveForward(kProtoTcp, A(kExt), 8080).ok());
  registry->Reconcile();
  const std::vector<std::pair<LeaseEvent, uint16_t>> want = {
      {LeaseEvent::kGranted, 80},  {LeaseEvent::kRenewed, 80},
      {LeaseEvent::kGranted, 81},  {LeaseEvent::kGranted, 82},
      {LeaseEvent::kExpired, 81},  {LeaseEvent::kDeleted, 80},
      {LeaseEvent::kDeleted, 82},  {LeaseEvent::kRestored, 80},
      {LeaseEvent::kVanished, 80},
  };
  EXPECT_EQ(seen, want);
  EXPECT_EQ(registry->generation(), g0 + want.size());
  EXPECT_STREQ(LeaseEventName(LeaseEvent::kExpired), "expired");
}

}  // namespace
}  // namespace unat::portmap::test
