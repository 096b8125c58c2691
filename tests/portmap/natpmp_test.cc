// NAT-PMP (RFC 6886) through a real Nat: every opcode and result code,
// lifetimes, deletes, epoch, announcements, rate limiting; and the granted
// mapping really forwards.
#include <gtest/gtest.h>

#include "tests/portmap/portmap_fixture.h"

namespace unat::portmap::test {
namespace {

Bytes MapReq(uint8_t op, uint16_t iport, uint16_t eport, uint32_t life) {
  Bytes b = {0, op, 0, 0};
  Put16(b, iport);
  Put16(b, eport);
  Put32(b, life);
  return b;
}

class NatPmpTest : public PortmapTest {};

TEST_F(NatPmpTest, ExternalAddressExactBytes) {
  now += 7'500;  // the epoch counts seconds since the server started
  auto r = Ask({0, 0});
  ASSERT_TRUE(r);
  const Bytes want = {0, 128, 0, 0, 0, 0, 0, 7, 203, 0, 113, 1};
  EXPECT_EQ(*r, want);
}

TEST_F(NatPmpTest, MapUdpExactBytesAndForwards) {
  // The example request from the protocol notes: UDP 1234, suggest 5678, 60 s.
  const Bytes req = {0x00, 0x01, 0x00, 0x00, 0x04, 0xD2,
                     0x16, 0x2E, 0x00, 0x00, 0x00, 0x3C};
  auto r = Ask(req);
  ASSERT_TRUE(r);
  // 60 s is below the policy minimum (120 s): the granted lifetime says so.
  const Bytes want = {0,    129,  0,    0,    0, 0, 0, 0,
                      0x04, 0xD2, 0x16, 0x2E, 0, 0, 0, 120};
  EXPECT_EQ(*r, want);
  EXPECT_TRUE(Reaches(kProtoUdp, 5678, kHost, 1234, lan));
  EXPECT_FALSE(Reaches(kProtoTcp, 5678, kHost, 1234, lan));
  auto fw = nat->Forwards();
  ASSERT_EQ(fw.size(), 1u);
  EXPECT_EQ(fw[0].spec.owner, ForwardOwner::kNatPmp);
  EXPECT_EQ(fw[0].spec.owner_client, A(kHost));
  EXPECT_EQ(fw[0].spec.expires, now + 120'000);
}

TEST_F(NatPmpTest, MapTcpForwardsSyn) {
  auto r = Ask(MapReq(2, 80, 8080, 3600));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 16u);
  EXPECT_EQ((*r)[1], 130);
  EXPECT_EQ(Get16(*r, 2), natpmp::kSuccess);
  EXPECT_EQ(Get16(*r, 8), 80);
  EXPECT_EQ(Get16(*r, 10), 8080);
  EXPECT_EQ(Get32(*r, 12), 3600u);
  EXPECT_TRUE(Reaches(kProtoTcp, 8080, kHost, 80, lan));
}

TEST_F(NatPmpTest, RenewalKeepsPortAndUpdatesLifetime) {
  auto r1 = Ask(MapReq(2, 80, 0, 3600));
  ASSERT_TRUE(r1);
  const uint16_t port = Get16(*r1, 10);
  ASSERT_GE(port, 1024);
  now += 10'000;
  // A renewal, even with another suggestion, keeps the port.
  auto r2 = Ask(MapReq(2, 80, 9999, 7200));
  ASSERT_TRUE(r2);
  EXPECT_EQ(Get16(*r2, 2), natpmp::kSuccess);
  EXPECT_EQ(Get16(*r2, 10), port);
  EXPECT_EQ(Get32(*r2, 12), 7200u);
  EXPECT_EQ(nat->Forwards().size(), 1u);
  EXPECT_EQ(nat->Forwards()[0].spec.expires, now + 7'200'000);
}

TEST_F(NatPmpTest, TakenSuggestionGetsAnotherPortNotAnError) {
  ForwardSpec s;
  s.proto = kProtoTcp;
  s.external_port = 8080;
  s.ns = lan;
  s.inside_addr = A("10.77.0.9");
  s.inside_port = 80;
  ASSERT_TRUE(nat->AddForward(s, now).ok());
  auto r = Ask(MapReq(2, 80, 8080, 3600));
  ASSERT_TRUE(r);
  EXPECT_EQ(Get16(*r, 2), natpmp::kSuccess);
  const uint16_t port = Get16(*r, 10);
  EXPECT_NE(port, 8080);
  EXPECT_GE(port, 1024);
  EXPECT_TRUE(Reaches(kProtoTcp, port, kHost, 80, lan));
  EXPECT_TRUE(Reaches(kProtoTcp, 8080, "10.77.0.9", 80, lan));

  // Another client's mapping is taken too.
  auto r2 = Ask(MapReq(2, 80, port, 3600), "10.77.0.6");
  ASSERT_TRUE(r2);
  EXPECT_EQ(Get16(*r2, 2), natpmp::kSuccess);
  EXPECT_NE(Get16(*r2, 10), port);
}

TEST_F(NatPmpTest, PortOfLiveDynamicMappingIsNeverHandedOut) {
  Buf b(unat::testing::Udp("10.77.0.9", 5000, kRemote, 53));
  ASSERT_EQ(nat->ProcessInside(lan, b.pkt, now).action, Verdict::kForward);
  Tins::IP out(b.out().data(), static_cast<uint32_t>(b.out().size()));
  const uint16_t dyn = out.rfind_pdu<Tins::UDP>().sport();
  auto r = Ask(MapReq(1, 7000, dyn, 3600));
  ASSERT_TRUE(r);
  EXPECT_EQ(Get16(*r, 2), natpmp::kSuccess);
  EXPECT_NE(Get16(*r, 10), dyn);
}

TEST_F(NatPmpTest, SuggestionOutsidePolicyRangeIsReplaced) {
  auto r = Ask(MapReq(2, 80, 80, 3600));
  ASSERT_TRUE(r);
  EXPECT_EQ(Get16(*r, 2), natpmp::kSuccess);
  EXPECT_GE(Get16(*r, 10), 1024);
}

TEST_F(NatPmpTest, LifetimeLimitsAreClamped) {
  auto r1 = Ask(MapReq(2, 81, 0, 1));
  ASSERT_TRUE(r1);
  EXPECT_EQ(Get32(*r1, 12), 120u);
  auto r2 = Ask(MapReq(2, 82, 0, 0xffffffff));
  ASSERT_TRUE(r2);
  EXPECT_EQ(Get32(*r2, 12), 86400u);
}

TEST_F(NatPmpTest, DeleteOneClosesThePath) {
  auto r = Ask(MapReq(1, 5000, 15000, 3600));
  ASSERT_TRUE(r);
  ASSERT_TRUE(Reaches(kProtoUdp, 15000, kHost, 5000, lan));
  auto d = Ask(MapReq(1, 5000, 0, 0));
  ASSERT_TRUE(d);
  const Bytes want = {0, 129, 0, 0, 0, 0, 0, 0, 0x13, 0x88, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(*d, want);
  EXPECT_TRUE(nat->Forwards().empty());
  EXPECT_EQ(registry->size(), 0u);
  EXPECT_FALSE(Reaches(kProtoUdp, 15000, kHost, 5000, lan, kRemote, 45001));
  // Deleting what is not there succeeds.
  auto d2 = Ask(MapReq(1, 5000, 0, 0));
  ASSERT_TRUE(d2);
  EXPECT_EQ(Get16(*d2, 2), natpmp::kSuccess);
}

TEST_F(NatPmpTest, DeleteAllOfOneProtocol) {
  ASSERT_TRUE(Ask(MapReq(1, 5000, 0, 3600)));
  ASSERT_TRUE(Ask(MapReq(1, 5001, 0, 3600)));
  ASSERT_TRUE(Ask(MapReq(2, 5000, 0, 3600)));
  ASSERT_TRUE(Ask(MapReq(1, 5000, 0, 3600), "10.77.0.6"));
  ASSERT_EQ(registry->size(), 4u);
  auto d = Ask(MapReq(1, 0, 0, 0));
  ASSERT_TRUE(d);
  const Bytes want = {0, 129, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(*d, want);
  // This client's TCP mapping and the other client's UDP mapping remain.
  ASSERT_EQ(registry->size(), 2u);
  EXPECT_TRUE(registry->Find({lan, kProtoTcp, A(kHost), 5000}));
  EXPECT_TRUE(registry->Find({lan, kProtoUdp, A("10.77.0.6"), 5000}));
  EXPECT_EQ(nat->Forwards().size(), 2u);
}

TEST_F(NatPmpTest, DeletingAStaticForwardIsNotAuthorized) {
  ForwardSpec s;
  s.proto = kProtoTcp;
  s.external_port = 2222;
  s.ns = lan;
  s.inside_addr = A(kHost);
  s.inside_port = 22;
  ASSERT_TRUE(nat->AddForward(s, now).ok());
  auto d = Ask(MapReq(2, 22, 0, 0));
  ASSERT_TRUE(d);
  EXPECT_EQ(Get16(*d, 2), natpmp::kNotAuthorized);
  EXPECT_EQ(nat->Forwards().size(), 1u);
}

TEST_F(NatPmpTest, AnotherProtocolsMappingIsNotAuthorized) {
  // A PCP mapping for the same inside endpoint cannot be renewed or deleted
  // through NAT-PMP.
  MapRequest req;
  req.owner = ForwardOwner::kPcp;
  req.ns = lan;
  req.client = A(kHost);
  req.proto = kProtoTcp;
  req.inside_addr = A(kHost);
  req.inside_port = 80;
  req.lifetime_s = 600;
  ASSERT_EQ(registry->Map(req, now).status, MapStatus::kOk);
  auto r = Ask(MapReq(2, 80, 0, 3600));
  ASSERT_TRUE(r);
  EXPECT_EQ(Get16(*r, 2), natpmp::kNotAuthorized);
  EXPECT_EQ(Get16(*r, 10), 0);
  EXPECT_EQ(Get32(*r, 12), 0u);
  auto d = Ask(MapReq(2, 80, 0, 0));
  ASSERT_TRUE(d);
  EXPECT_EQ(Get16(*d, 2), natpmp::kNotAuthorized);
  EXPECT_EQ(registry->size(), 1u);
}

TEST_F(NatPmpTest, InternalPortZeroWithLifetimeIsRefused) {
  auto r = Ask(MapReq(2, 0, 0, 3600));
  ASSERT_TRUE(r);
  EXPECT_EQ(Get16(*r, 2), natpmp::kNotAuthorized);
}

TEST_F(NatPmpTest, UnsupportedOpcode) {
  auto r = Ask({0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  ASSERT_TRUE(r);
  const Bytes want = {0, 131, 0, 5, 0, 0, 0, 0};
  EXPECT_EQ(*r, want);
  auto r2 = Ask({0, 127});
  ASSERT_TRUE(r2);
  EXPECT_EQ((*r2)[1], 255);
  EXPECT_EQ(Get16(*r2, 2), natpmp::kUnsupportedOpcode);
}

TEST_F(NatPmpTest, OutOfResourcesAtTheClientQuota) {
  MappingPolicy p;
  p.max_per_client = 2;
  Make(p);
  ASSERT_EQ(Get16(*Ask(MapReq(2, 1, 0, 3600)), 2), natpmp::kSuccess);
  ASSERT_EQ(Get16(*Ask(MapReq(2, 2, 0, 3600)), 2), natpmp::kSuccess);
  auto r = Ask(MapReq(2, 3, 0, 3600));
  ASSERT_TRUE(r);
  EXPECT_EQ(Get16(*r, 2), natpmp::kOutOfResources);
  EXPECT_EQ(Get16(*r, 10), 0);
  // A renewal is still fine, and so is another client.
  EXPECT_EQ(Get16(*Ask(MapReq(2, 2, 0, 3600)), 2), natpmp::kSuccess);
  EXPECT_EQ(Get16(*Ask(MapReq(2, 3, 0, 3600), "10.77.0.6"), 2),
            natpmp::kSuccess);
}

TEST_F(NatPmpTest, OneTenantCannotTakeTheWholePool) {
  // Issue 13: spoofed clients of lan filled max_total and lan2 got result
  // 4. Now lan stops at its share (max_total / 2 here) and lan2 is served.
  MappingPolicy p;
  p.max_total = 8;
  p.max_per_client = 2;
  Make(p);
  int granted = 0, refused = 0;
  for (int c = 10; c < 20; ++c) {
    const std::string client = "10.77.0." + std::to_string(c);
    for (uint16_t port = 1; port <= 2; ++port) {
      auto r = Ask(MapReq(2, port, 0, 3600), client.c_str());
      ASSERT_TRUE(r);
      if (Get16(*r, 2) == natpmp::kSuccess) {
        granted++;
      } else {
        EXPECT_EQ(Get16(*r, 2), natpmp::kOutOfResources);
        EXPECT_EQ(Get16(*r, 10), 0);
        refused++;
      }
    }
  }
  EXPECT_EQ(granted, 4);
  EXPECT_EQ(refused, 16);
  auto r = Ask(MapReq(2, 80, 0, 3600), kHost, 40001, lan2);
  ASSERT_TRUE(r);
  EXPECT_EQ(Get16(*r, 2), natpmp::kSuccess);
  EXPECT_NE(Get16(*r, 10), 0);
}

TEST_F(NatPmpTest, OutOfResourcesWhenThePortRangeIsFull) {
  MappingPolicy p;
  p.port_min = 20000;
  p.port_max = 20001;
  Make(p);
  EXPECT_EQ(Get16(*Ask(MapReq(1, 1, 0, 3600)), 2), natpmp::kSuccess);
  EXPECT_EQ(Get16(*Ask(MapReq(1, 2, 0, 3600)), 2), natpmp::kSuccess);
  auto r = Ask(MapReq(1, 3, 0, 3600));
  EXPECT_EQ(Get16(*r, 2), natpmp::kOutOfResources);
  // TCP ports are a separate space.
  EXPECT_EQ(Get16(*Ask(MapReq(2, 3, 0, 3600)), 2), natpmp::kSuccess);
}

TEST_F(NatPmpTest, VersionOneGetsPcpUnsupportedVersion) {
  Bytes req(24, 0);
  req[0] = 1;
  req[1] = 1;
  auto r = Ask(req);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 24u);
  EXPECT_EQ((*r)[0], 2);  // the version the server speaks
  EXPECT_EQ((*r)[1], 0x81);
  EXPECT_EQ((*r)[3], pcp::kUnsuppVersion);
}

TEST_F(NatPmpTest, NatPmpOnlyServerAnswersVersionTwoWithResultOne) {
  PortMapConfig c;
  c.pcp = false;
  Make({}, c);
  Bytes req(60, 0);
  req[0] = 2;
  req[1] = 1;
  auto r = Ask(req);
  ASSERT_TRUE(r);
  const Bytes want = {0, 129, 0, 1, 0, 0, 0, 0};
  EXPECT_EQ(*r, want);
}

TEST_F(NatPmpTest, ResponsesAndTruncatedRequestsAreDroppedAndCounted) {
  EXPECT_FALSE(Ask({0, 128, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_FALSE(Ask({0, 129}));
  EXPECT_EQ(server->stats().drops[int(PortMapDrop::kResponse)], 2u);
  EXPECT_FALSE(Ask({0}));
  EXPECT_FALSE(Ask({}));
  EXPECT_FALSE(Ask({0, 1, 0, 0, 0, 80, 0, 0}));  // map request cut short
  EXPECT_EQ(server->stats().drops[int(PortMapDrop::kTruncated)], 3u);
  EXPECT_EQ(registry->size(), 0u);
}

TEST_F(NatPmpTest, EpochCountsSecondsAndResets) {
  EXPECT_EQ(Get32(*Ask({0, 0}), 4), 0u);
  now += 42'900;
  EXPECT_EQ(Get32(*Ask({0, 0}), 4), 42u);
  EXPECT_EQ(Get32(*Ask(MapReq(2, 80, 0, 3600)), 4), 42u);
  server->ResetEpoch(now);
  now += 3'000;
  EXPECT_EQ(Get32(*Ask({0, 0}), 4), 3u);
  server->SetEpoch(1000, now);  // kept across a restart
  now += 2'000;
  EXPECT_EQ(Get32(*Ask({0, 0}), 4), 1002u);
}

TEST_F(NatPmpTest, ExpiryRemovesTheForwardAndNothingElse) {
  ForwardSpec s;
  s.proto = kProtoTcp;
  s.external_port = 2222;
  s.ns = lan;
  s.inside_addr = A(kHost);
  s.inside_port = 22;
  ASSERT_TRUE(nat->AddForward(s, now).ok());
  const TimeMs t0 = now;
  auto r = Ask(MapReq(2, 80, 8080, 200));
  ASSERT_EQ(Get32(*r, 12), 200u);
  AdvanceTo(t0 + 199'000);
  EXPECT_EQ(registry->size(), 1u);
  EXPECT_TRUE(Reaches(kProtoTcp, 8080, kHost, 80, lan));
  AdvanceTo(t0 + 200'000);
  EXPECT_EQ(registry->size(), 0u);
  EXPECT_EQ(registry->stats().expired, 1u);
  ASSERT_EQ(nat->Forwards().size(), 1u);
  EXPECT_EQ(nat->Forwards()[0].spec.external_port, 2222);
  EXPECT_FALSE(Reaches(kProtoTcp, 8080, kHost, 80, lan, kRemote, 45002));
  EXPECT_TRUE(Reaches(kProtoTcp, 2222, kHost, 22, lan, kRemote, 45003));
}

TEST_F(NatPmpTest, EngineExpiringFirstIsNoticed) {
  const TimeMs t0 = now;
  ASSERT_TRUE(Ask(MapReq(2, 80, 8080, 200)));
  now = t0 + 201'000;
  nat->Advance(now);  // the engine drops the lapsed forward first
  EXPECT_TRUE(nat->Forwards().empty());
  EXPECT_FALSE(registry->Find({lan, kProtoTcp, A(kHost), 80}));
  // A new request maps again (the old lease does not block it).
  auto r = Ask(MapReq(2, 80, 8080, 200));
  EXPECT_EQ(Get16(*r, 2), natpmp::kSuccess);
  EXPECT_EQ(Get16(*r, 10), 8080);
}

TEST_F(NatPmpTest, TenantsMapTheSameInsidePortToDifferentExternalPorts) {
  auto r1 = Ask(MapReq(2, 80, 8080, 3600), kHost, 40001, lan);
  auto r2 = Ask(MapReq(2, 80, 8080, 3600), kHost, 40001, lan2);
  ASSERT_TRUE(r1 && r2);
  const uint16_t p1 = Get16(*r1, 10), p2 = Get16(*r2, 10);
  EXPECT_EQ(p1, 8080);
  EXPECT_NE(p2, p1);
  EXPECT_TRUE(Reaches(kProtoTcp, p1, kHost, 80, lan));
  EXPECT_TRUE(Reaches(kProtoTcp, p2, kHost, 80, lan2, kRemote, 45004));
  // Deleting in one tenant leaves the other's.
  ASSERT_TRUE(Ask(MapReq(2, 80, 0, 0), kHost, 40001, lan2));
  EXPECT_EQ(registry->size(), 1u);
  EXPECT_TRUE(registry->Find({lan, kProtoTcp, A(kHost), 80}));
}

TEST_F(NatPmpTest, FloodFromOneClientIsBoundedOthersServed) {
  int answered = 0;
  for (int i = 0; i < 100; ++i) answered += Ask({0, 0}).has_value();
  EXPECT_EQ(answered, 20);  // the burst
  EXPECT_EQ(server->stats().drops[int(PortMapDrop::kRateLimited)], 80u);
  EXPECT_TRUE(Ask({0, 0}, "10.77.0.6"));
  EXPECT_TRUE(Ask({0, 0}, kHost, 40001, lan2));  // same address, other tenant
  now += 1'000;                                  // 10 more tokens
  answered = 0;
  for (int i = 0; i < 20; ++i) answered += Ask({0, 0}).has_value();
  EXPECT_EQ(answered, 10);
}

TEST_F(NatPmpTest, RateLimiterStateIsBounded) {
  PortMapConfig c;
  c.rate.max_clients = 16;
  Make({}, c);
  for (int i = 0; i < 200; ++i) {
    const std::string src = "10.77.0." + std::to_string(2 + i % 250);
    ASSERT_TRUE(Ask({0, 0}, src.c_str()));
  }
  RateLimiter l(c.rate);
  for (uint32_t i = 0; i < 1000; ++i) l.Allow(lan, i, now);
  EXPECT_EQ(l.size(), 16u);
}

TEST_F(NatPmpTest, AnnouncementsAtStartFollowRfcTiming) {
  sink.packets.clear();
  server->Start(now, /*state_restored=*/false);
  std::vector<TimeMs> sent_at;
  const TimeMs t0 = now;
  for (TimeMs t = t0; t <= t0 + 300'000; t += 50) {
    const size_t before = sink.packets.size();
    server->Tick(t, &sink);
    if (sink.packets.size() != before) sent_at.push_back(t - t0);
  }
  // 10 rounds: at 0, then 250 ms doubling (RFC 6886 3.2.1).
  const std::vector<TimeMs> want = {0,    250,   750,   1750,  3750,
                                    7750, 15750, 31750, 63750, 127750};
  EXPECT_EQ(sent_at, want);
  // Each round: NAT-PMP and PCP ANNOUNCE in both tenants.
  ASSERT_EQ(sink.packets.size(), 40u);
  int natpmp_msgs = 0, pcp_msgs = 0;
  for (const Emitted& e : sink.packets) {
    EXPECT_TRUE(ChecksumsValid(e.bytes));
    Tins::IP ip(e.bytes.data(), static_cast<uint32_t>(e.bytes.size()));
    EXPECT_EQ(ip.dst_addr(), Tins::IPv4Address("224.0.0.1"));
    EXPECT_EQ(ip.src_addr(), Tins::IPv4Address(kGw));
    EXPECT_EQ(ip.ttl(), 1);
    EXPECT_EQ(ip.rfind_pdu<Tins::UDP>().dport(), kClientPort);
    EXPECT_EQ(ip.rfind_pdu<Tins::UDP>().sport(), kServerPort);
    const Bytes p = ip.rfind_pdu<Tins::RawPDU>().payload();
    if (p[0] == 0) {
      ++natpmp_msgs;
      ASSERT_EQ(p.size(), 12u);
      EXPECT_EQ(p[1], 128);
      EXPECT_EQ(Get32(p, 8), A(kExt));
    } else {
      ++pcp_msgs;
      ASSERT_EQ(p.size(), 24u);
      EXPECT_EQ(p[1], 0x80);
      EXPECT_EQ(p[3], 0);
    }
  }
  EXPECT_EQ(natpmp_msgs, 20);
  EXPECT_EQ(pcp_msgs, 20);
}

TEST_F(NatPmpTest, RestartWithStateAnnouncesNatPmpOnly) {
  sink.packets.clear();
  server->Start(now, /*state_restored=*/true);
  server->Tick(now, &sink);
  ASSERT_EQ(sink.packets.size(), 2u);  // one per tenant, NAT-PMP
  for (const Emitted& e : sink.packets) {
    Tins::IP ip(e.bytes.data(), static_cast<uint32_t>(e.bytes.size()));
    EXPECT_EQ(ip.rfind_pdu<Tins::RawPDU>().payload()[0], 0);
  }
}

TEST_F(NatPmpTest, HostOutsideTheTenantIsRefusedUntilItsPrefixIsRouted) {
  // 10.99.0.5 sits on lan's device but outside 10.77.0.0/24 (issue 13
  // defect 6): every opcode answers 2, and nothing is mapped.
  auto ext = Ask({0, 0}, "10.99.0.5");
  ASSERT_TRUE(ext);
  ASSERT_EQ(ext->size(), 12u);
  EXPECT_EQ(Get16(*ext, 2), natpmp::kNotAuthorized);
  EXPECT_EQ(Get32(*ext, 8), 0u);
  for (uint32_t life : {3600u, 0u}) {
    auto r = Ask(MapReq(2, 80, 8080, life), "10.99.0.5");
    ASSERT_TRUE(r);
    EXPECT_EQ(Get16(*r, 2), natpmp::kNotAuthorized) << life;
    EXPECT_EQ(Get16(*r, 10), 0);
  }
  EXPECT_TRUE(nat->Forwards().empty());
  // A VPN client behind the tenant's own router is served.
  ASSERT_TRUE(nat->SetRoutedPrefixes(lan, {{A("10.99.0.0"), 24}}).ok());
  auto ok = Ask(MapReq(2, 80, 8080, 3600), "10.99.0.5");
  ASSERT_TRUE(ok);
  EXPECT_EQ(Get16(*ok, 2), natpmp::kSuccess);
  EXPECT_TRUE(Reaches(kProtoTcp, 8080, "10.99.0.5", 80, lan));
  // lan2 has no such prefix: its 10.99.0.5 is still a stranger.
  auto other = Ask(MapReq(2, 81, 8081, 3600), "10.99.0.5", 40001, lan2);
  ASSERT_TRUE(other);
  EXPECT_EQ(Get16(*other, 2), natpmp::kNotAuthorized);
}

}  // namespace
}  // namespace unat::portmap::test
