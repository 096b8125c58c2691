// Issue 13's engine defences: reverse-path checks with routed prefixes,
// half-open inbound TCP kept off the host budget, per-namespace port
// quotas, IP option checks and no flow from a corrupt packet.
#include <gtest/gtest.h>
#include <tins/tins.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/nat.h"
#include "tests/unit/nat_fixture.h"
#include "tests/unit/test_util.h"

namespace unat {
namespace {

using testing::A;
using testing::Buf;
using testing::Tcp;
using testing::Udp;

class HardeningTest : public testing::NatTest {
 protected:
  // lan with 10.99.0.0/24 behind a router of its own.
  void MakeRouted() {
    Make();
    ASSERT_TRUE(nat->SetRoutedPrefixes(lan, {{A("10.99.0.0"), 24}}).ok());
  }
  uint32_t FlowCount() { return static_cast<uint32_t>(Flows().size()); }
  // 10.77.0.2 may make exactly n more flows (UDP from source ports
  // first_port..), and no more: its host budget's room.
  void ExpectHostRoom(int n, uint16_t first_port) {
    for (int i = 0; i < n; ++i) {
      EXPECT_EQ(In(lan, Udp("10.77.0.2", static_cast<uint16_t>(first_port + i),
                            "203.0.113.2", 53))
                    .action,
                Verdict::kForward)
          << i;
    }
    EXPECT_EQ(In(lan, Udp("10.77.0.2", static_cast<uint16_t>(first_port + n),
                          "203.0.113.2", 53))
                  .reason,
              DropReason::kHostFlowLimit);
  }
  // A SYN from a remote to a forwarded port.
  Verdict Syn(const std::string& remote, uint16_t sport, uint16_t dport) {
    return Out(Tcp(remote.c_str(), sport, "203.0.113.1", dport));
  }
};

TEST_F(HardeningTest, SourcesOutsideTheTenantAreDropped) {
  for (const char* spoof : {"1.2.3.4", "203.0.113.2", "10.77.1.5"}) {
    Verdict v = In(lan, Udp(spoof, 1000, "203.0.113.2", 53));
    EXPECT_EQ(v.action, Verdict::kDrop) << spoof;
    EXPECT_EQ(v.reason, DropReason::kSpoofedSource) << spoof;
  }
  EXPECT_EQ(Drops(DropReason::kSpoofedSource), 3u);
  EXPECT_EQ(FlowCount(), 0u);
  // The tenant's own hosts are translated.
  EXPECT_EQ(In(lan, Udp("10.77.0.2", 1000, "203.0.113.2", 53)).action,
            Verdict::kForward);
}

TEST_F(HardeningTest, RoutedPrefixIsTranslatedAndItsRepliesGoBackIn) {
  MakeRouted();
  std::vector<uint8_t> out;
  ASSERT_EQ(In(lan, Udp("10.99.0.5", 4000, "203.0.113.2", 53), &out).action,
            Verdict::kForward);
  Tins::IP ip(out.data(), static_cast<uint32_t>(out.size()));
  EXPECT_EQ(ip.src_addr().to_string(), "203.0.113.1");
  const uint16_t ext = ip.rfind_pdu<Tins::UDP>().sport();
  Verdict back = Out(Udp("203.0.113.2", 53, "203.0.113.1", ext), &out);
  ASSERT_EQ(back.action, Verdict::kForward);
  EXPECT_EQ(back.out_side, Side::kInside);
  EXPECT_EQ(back.out_ns, lan);
  Tins::IP reply(out.data(), static_cast<uint32_t>(out.size()));
  EXPECT_EQ(reply.dst_addr().to_string(), "10.99.0.5");
  // A neighbouring prefix is still not the tenant's, nor is lan2 given it.
  EXPECT_EQ(In(lan, Udp("10.99.1.5", 4000, "203.0.113.2", 53)).reason,
            DropReason::kSpoofedSource);
  EXPECT_EQ(In(lan2, Udp("10.99.0.5", 4000, "203.0.113.2", 53)).reason,
            DropReason::kSpoofedSource);
  // Traffic between the link and the routed prefix stays inside.
  Verdict local = In(lan, Udp("10.77.0.2", 1, "10.99.0.5", 2));
  EXPECT_EQ(local.action, Verdict::kForward);
  EXPECT_EQ(local.out_side, Side::kInside);
  EXPECT_TRUE(nat->IsInsideAddress(lan, A("10.99.0.200")));
  EXPECT_FALSE(nat->IsInsideAddress(lan2, A("10.99.0.200")));
}

TEST_F(HardeningTest, RemovingARoutedPrefixEndsItsFlows) {
  MakeRouted();
  ASSERT_EQ(In(lan, Udp("10.99.0.5", 4000, "203.0.113.2", 53)).action,
            Verdict::kForward);
  ASSERT_EQ(In(lan, Udp("10.77.0.2", 4000, "203.0.113.2", 53)).action,
            Verdict::kForward);
  ASSERT_TRUE(nat->SetRoutedPrefixes(lan, {}).ok());
  EXPECT_EQ(FlowCount(), 1u);
  // Not even the established-flow fast path lets it through now.
  EXPECT_EQ(In(lan, Udp("10.99.0.5", 4000, "203.0.113.2", 53)).reason,
            DropReason::kSpoofedSource);
  EXPECT_FALSE(nat->SetRoutedPrefixes(lan, {{A("10.0.0.0"), 0}}).ok());
  EXPECT_FALSE(nat->SetRoutedPrefixes(lan, {{A("224.0.0.0"), 8}}).ok());
}

TEST_F(HardeningTest, ANewRoutedPrefixKeepsItsTrafficInside) {
  // A flow to 10.99.0.5 went out while that was the Internet; once it is
  // lan's routed prefix, the flow ends and the next packet stays inside.
  ASSERT_EQ(In(lan, Udp("10.77.0.2", 4000, "10.99.0.5", 53)).out_side,
            Side::kOutside);
  ASSERT_TRUE(nat->SetRoutedPrefixes(lan, {{A("10.99.0.0"), 24}}).ok());
  EXPECT_EQ(FlowCount(), 0u);
  Verdict v = In(lan, Udp("10.77.0.2", 4000, "10.99.0.5", 53));
  EXPECT_EQ(v.action, Verdict::kForward);
  EXPECT_EQ(v.out_side, Side::kInside);
}

TEST_F(HardeningTest, StrangersGetOnlyAHelpersRefusal) {
  // Nothing listens on the gateway in this engine: a stranger's ping and
  // datagram are dropped as spoofed, not answered.
  EXPECT_EQ(In(lan, testing::Echo("10.99.0.5", "10.77.0.1", 1)).reason,
            DropReason::kSpoofedSource);
  EXPECT_EQ(In(lan, Udp("10.99.0.5", 1, "10.77.0.1", 5351)).reason,
            DropReason::kSpoofedSource);
  class Recorder : public LocalHelper {
   public:
    std::string_view name() const override { return "rec"; }
    void OnPacket(const LocalContext& ctx, const Ipv4View&,
                  const L4View&) override {
      seen.push_back(ctx.source_inside);
    }
    std::vector<bool> seen;
  } rec;
  ASSERT_TRUE(nat->RegisterLocalHelper(kProtoUdp, 5351, &rec).ok());
  EXPECT_EQ(In(lan, Udp("10.99.0.5", 1, "10.77.0.1", 5351)).action,
            Verdict::kConsumed);
  EXPECT_EQ(In(lan, Udp("10.77.0.2", 1, "10.77.0.1", 5351)).action,
            Verdict::kConsumed);
  EXPECT_EQ(rec.seen, (std::vector<bool>{false, true}));
}

TEST_F(HardeningTest, SpoofedSynsThroughAForwardLeaveTheHostItsBudget) {
  Make([](NatConfig& c) {
    c.limits.max_flows_per_host = 100;
    c.limits.max_half_open_per_forward = 50;
  });
  ASSERT_TRUE(
      nat->AddForward({kProtoTcp, 0, 8080, lan, A("10.77.0.2"), 80}, now).ok());
  for (int i = 0; i < 1000; ++i) {
    const std::string src =
        "198.51." + std::to_string(i / 200) + "." + std::to_string(1 + i % 200);
    ASSERT_EQ(Syn(src, 1024, 8080).action, Verdict::kForward) << i;
  }
  Stats st = nat->GetStats();
  EXPECT_EQ(st.half_open_inbound, 50u);
  EXPECT_EQ(st.half_open_evicted, 950u);
  EXPECT_EQ(Drops(DropReason::kHostFlowLimit), 0u);
  // The host's own outbound traffic has its whole budget.
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(In(lan, Udp("10.77.0.2", static_cast<uint16_t>(2000 + i),
                          "203.0.113.2", 53))
                  .action,
              Verdict::kForward)
        << i;
  }
  // A real client completes its handshake through the forward and keeps
  // the connection however many SYNs follow.
  ASSERT_EQ(Syn("192.0.2.9", 5555, 8080).action, Verdict::kForward);
  ASSERT_EQ(In(lan, Tcp("10.77.0.2", 80, "192.0.2.9", 5555,
                        Tins::TCP::SYN | Tins::TCP::ACK, 7000, 1001))
                .action,
            Verdict::kForward);
  ASSERT_EQ(Out(Tcp("192.0.2.9", 5555, "203.0.113.1", 8080, Tins::TCP::ACK,
                    1001, 7001))
                .action,
            Verdict::kForward);
  for (int i = 0; i < 200; ++i) {
    ASSERT_EQ(
        Syn("198.51.100." + std::to_string(1 + i % 200), 2048, 8080).action,
        Verdict::kForward);
  }
  std::vector<uint8_t> out;
  EXPECT_EQ(Out(Tcp("192.0.2.9", 5555, "203.0.113.1", 8080,
                    Tins::TCP::ACK | Tins::TCP::PSH, 1001, 7001, "GET /"),
                &out)
                .action,
            Verdict::kForward);
}

// A blind spoofer sends a SYN to a forward, the inside host answers with
// its SYN-ACK (to the spoofed address), and the spoofer follows with an ACK
// or FIN that guesses at the host's ISN. Only the exact acknowledgement of
// that ISN completes the handshake (as the host itself would accept); the
// guesses leave the flow half-open, off the host's budget, still evictable.
TEST_F(HardeningTest, ABlindAckOrFinCannotCompleteAnInboundHandshake) {
  Make([](NatConfig& c) {
    c.limits.max_flows_per_host = 3;
    c.limits.max_half_open_per_forward = 50;
  });
  ASSERT_TRUE(
      nat->AddForward({kProtoTcp, 0, 8080, lan, A("10.77.0.2"), 80}, now).ok());
  constexpr uint32_t kHostIsn = 7000;
  for (int i = 0; i < 10; ++i) {
    const std::string src = "198.51.100." + std::to_string(1 + i);
    const uint16_t sport = 2000;
    ASSERT_EQ(Syn(src, sport, 8080).action, Verdict::kForward) << i;
    ASSERT_EQ(In(lan, Tcp("10.77.0.2", 80, src.c_str(), sport,
                          Tins::TCP::SYN | Tins::TCP::ACK, kHostIsn, 1001))
                  .action,
              Verdict::kForward);
    // Guesses: near the ISN, zero, and a FIN. They pass (the host refuses
    // them) but complete nothing.
    for (uint32_t guess : {0u, kHostIsn, kHostIsn + 2, kHostIsn + 65536}) {
      EXPECT_EQ(Out(Tcp(src.c_str(), sport, "203.0.113.1", 8080, Tins::TCP::ACK,
                        1001, guess))
                    .action,
                Verdict::kForward);
    }
    EXPECT_EQ(Out(Tcp(src.c_str(), sport, "203.0.113.1", 8080,
                      Tins::TCP::FIN | Tins::TCP::ACK, 1001, kHostIsn + 9))
                  .action,
              Verdict::kForward);
  }
  EXPECT_EQ(nat->GetStats().half_open_inbound, 10u);
  uint32_t established = 0;
  nat->ForEachFlow([&](const FlowInfo& f) {
    established +=
        f.tcp_state == static_cast<uint8_t>(TcpState::kEstablished) ||
        f.tcp_state == static_cast<uint8_t>(TcpState::kFinWait);
  });
  EXPECT_EQ(established, 0u);
  // The host's own budget is whole: three outbound flows.
  ExpectHostRoom(3, 3000);
  // The real client, which saw the SYN-ACK, acknowledges exactly ISN+1.
  ASSERT_EQ(Out(Tcp("198.51.100.1", 2000, "203.0.113.1", 8080, Tins::TCP::ACK,
                    1001, kHostIsn + 1))
                .action,
            Verdict::kForward);
  EXPECT_EQ(nat->GetStats().half_open_inbound, 9u);
  uint32_t now_established = 0;
  nat->ForEachFlow([&](const FlowInfo& f) {
    now_established +=
        f.tcp_state == static_cast<uint8_t>(TcpState::kEstablished);
  });
  EXPECT_EQ(now_established, 1u);
}

// The host refuses a blind ACK with a RST whose sequence number is the
// ACK's guess (RFC 9293 3.10.7.4). When the guess lands in the window the
// tracker believes the RST and the flow closes; a handshake that ended so
// was never answered, so the flow stays off the host's budget and
// evictable (it used to move onto the budget as if it had completed).
TEST_F(HardeningTest, AHostsResetOfABlindAckLeavesTheFlowOffItsBudget) {
  Make([](NatConfig& c) {
    c.limits.max_flows_per_host = 3;
    c.limits.max_half_open_per_forward = 50;
  });
  ASSERT_TRUE(
      nat->AddForward({kProtoTcp, 0, 8080, lan, A("10.77.0.2"), 80}, now).ok());
  constexpr uint32_t kHostIsn = 7000;
  for (int i = 0; i < 5; ++i) {
    const std::string src = "198.51.100." + std::to_string(1 + i);
    ASSERT_EQ(Syn(src, 2000, 8080).action, Verdict::kForward) << i;
    ASSERT_EQ(In(lan, Tcp("10.77.0.2", 80, src.c_str(), 2000,
                          Tins::TCP::SYN | Tins::TCP::ACK, kHostIsn, 1001))
                  .action,
              Verdict::kForward);
    const uint32_t guess = kHostIsn + 2;
    ASSERT_EQ(Out(Tcp(src.c_str(), 2000, "203.0.113.1", 8080, Tins::TCP::ACK,
                      1001, guess))
                  .action,
              Verdict::kForward);
    ASSERT_EQ(In(lan, Tcp("10.77.0.2", 80, src.c_str(), 2000, Tins::TCP::RST,
                          guess, 0))
                  .action,
              Verdict::kForward);
  }
  uint32_t closed = 0;
  nat->ForEachFlow([&](const FlowInfo& f) {
    closed += f.tcp_state == static_cast<uint8_t>(TcpState::kClosed);
  });
  EXPECT_EQ(closed, 5u);
  EXPECT_EQ(nat->GetStats().half_open_inbound, 5u);
  EXPECT_EQ(Drops(DropReason::kHostFlowLimit), 0u);
  ExpectHostRoom(3, 3000);
}

TEST_F(HardeningTest, UnansweredInboundUdpStaysOffTheHostBudget) {
  Make([](NatConfig& c) {
    c.limits.max_flows_per_host = 20;
    c.limits.max_half_open_per_forward = 50;
  });
  ASSERT_TRUE(
      nat->AddForward({kProtoUdp, 0, 5353, lan, A("10.77.0.2"), 53}, now).ok());
  for (int i = 0; i < 500; ++i) {
    const std::string src = "198.51.100." + std::to_string(1 + i % 250);
    ASSERT_EQ(Out(Udp(src.c_str(), static_cast<uint16_t>(1024 + i / 250),
                      "203.0.113.1", 5353))
                  .action,
              Verdict::kForward);
  }
  EXPECT_EQ(nat->GetStats().half_open_inbound, 50u);
  EXPECT_EQ(nat->GetStats().half_open_evicted, 450u);
  // The host answers one of them: that flow is its own now (and is kept
  // however many datagrams follow), and its budget has room for 19 more.
  ASSERT_EQ(Out(Udp("192.0.2.9", 7000, "203.0.113.1", 5353)).action,
            Verdict::kForward);
  std::vector<uint8_t> out;
  ASSERT_EQ(In(lan, Udp("10.77.0.2", 53, "192.0.2.9", 7000), &out).action,
            Verdict::kForward);
  EXPECT_EQ(Tins::IP(out.data(), static_cast<uint32_t>(out.size()))
                .rfind_pdu<Tins::UDP>()
                .sport(),
            5353);
  for (int i = 0; i < 200; ++i) {
    Out(Udp(("198.51.100." + std::to_string(1 + i)).c_str(), 3000,
            "203.0.113.1", 5353));
  }
  ASSERT_EQ(In(lan, Udp("10.77.0.2", 53, "192.0.2.9", 7000)).action,
            Verdict::kForward);
  ExpectHostRoom(19, 2000);
  // Unanswered ones end after udp_inbound_unanswered_s; the answered one
  // has the normal UDP timeout.
  nat->Advance(now);
  now += 31'000;
  nat->Advance(now);
  EXPECT_EQ(nat->GetStats().half_open_inbound, 0u);
  uint32_t answered = 0;
  nat->ForEachFlow([&](const FlowInfo& f) {
    answered += f.inbound_origin && f.remote_addr == A("192.0.2.9");
  });
  EXPECT_EQ(answered, 1u);
}

TEST_F(HardeningTest, HalfOpenInboundExpiresAfterTheSynTimeout) {
  ASSERT_TRUE(
      nat->AddForward({kProtoTcp, 0, 8080, lan, A("10.77.0.2"), 80}, now).ok());
  ASSERT_EQ(Syn("192.0.2.9", 5555, 8080).action, Verdict::kForward);
  nat->Advance(now);
  now += 59'000;
  nat->Advance(now);
  EXPECT_EQ(nat->GetStats().half_open_inbound, 1u);
  now += 2'000;
  nat->Advance(now);
  EXPECT_EQ(nat->GetStats().half_open_inbound, 0u);
  EXPECT_EQ(FlowCount(), 0u);
}

TEST_F(HardeningTest, TotalHalfOpenLimitEvictsFromTheFullestForward) {
  Make([](NatConfig& c) {
    c.limits.max_half_open_per_forward = 1000;
    c.limits.max_half_open = 100;
  });
  ASSERT_TRUE(
      nat->AddForward({kProtoTcp, 0, 8080, lan, A("10.77.0.2"), 80}, now).ok());
  ASSERT_TRUE(
      nat->AddForward({kProtoTcp, 0, 8081, lan2, A("10.77.0.2"), 80}, now)
          .ok());
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(Syn("192.0.2." + std::to_string(1 + i), 5000, 8081).action,
              Verdict::kForward);
  }
  for (int i = 0; i < 500; ++i) {
    ASSERT_EQ(Syn("198.51.100." + std::to_string(1 + i % 250),
                  static_cast<uint16_t>(1024 + i / 250), 8080)
                  .action,
              Verdict::kForward);
  }
  EXPECT_EQ(nat->GetStats().half_open_inbound, 100u);
  // lan2's ten handshakes were never the ones to go.
  uint32_t lan2_flows = 0;
  nat->ForEachFlow([&](const FlowInfo& f) { lan2_flows += f.ns == lan2; });
  EXPECT_EQ(lan2_flows, 10u);
}

TEST_F(HardeningTest, OneNamespaceGetsOnlyItsShareOfPorts) {
  Make([](NatConfig& c) {
    c.port_min = 10000;
    c.port_max = 10099;  // 100 ports, two tenants: 50 each
    c.limits.max_ports_per_host = 0;
  });
  int granted = 0;
  for (int i = 0; i < 100; ++i) {
    const std::string src = "10.77.0." + std::to_string(2 + i % 50);
    if (In(lan,
           Udp(src.c_str(), static_cast<uint16_t>(1000 + i), "203.0.113.2", 53))
            .action == Verdict::kForward) {
      ++granted;
    }
  }
  EXPECT_EQ(granted, 50);
  EXPECT_EQ(Drops(DropReason::kNamespacePortLimit), 50u);
  auto infos = nat->Namespaces();
  ASSERT_EQ(infos.size(), 2u);
  EXPECT_EQ(infos[0].ports[ProtoIndex(kProtoUdp)], 50u);
  EXPECT_EQ(infos[0].port_quota[ProtoIndex(kProtoUdp)], 50u);
  // The other tenant is served.
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(In(lan2, Udp("10.77.0.2", static_cast<uint16_t>(1000 + i),
                           "203.0.113.2", 53))
                  .action,
              Verdict::kForward);
  }
  // A configured quota replaces the share.
  Make([](NatConfig& c) { c.limits.max_ports_per_namespace = 3; });
  for (int i = 0; i < 4; ++i) {
    In(lan,
       Udp("10.77.0.2", static_cast<uint16_t>(1000 + i), "203.0.113.2", 53));
  }
  EXPECT_EQ(Drops(DropReason::kNamespacePortLimit), 1u);
}

// An IPv4 header with `options` (padded to 4 bytes) around a UDP datagram.
std::vector<uint8_t> WithOptions(std::vector<uint8_t> options) {
  while (options.size() % 4) options.push_back(0);
  std::vector<uint8_t> pkt = Udp("10.77.0.2", 1000, "203.0.113.2", 53);
  const size_t hl = 20 + options.size();
  pkt.insert(pkt.begin() + 20, options.begin(), options.end());
  pkt[0] = static_cast<uint8_t>(0x40 | (hl / 4));
  const uint16_t total = static_cast<uint16_t>(pkt.size());
  pkt[2] = static_cast<uint8_t>(total >> 8);
  pkt[3] = static_cast<uint8_t>(total);
  pkt[10] = pkt[11] = 0;
  uint32_t sum = 0;
  for (size_t i = 0; i < hl; i += 2) sum += (pkt[i] << 8) | pkt[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  pkt[10] = static_cast<uint8_t>(~sum >> 8);
  pkt[11] = static_cast<uint8_t>(~sum);
  return pkt;
}

TEST_F(HardeningTest, MalformedAndSourceRouteOptionsAreDropped) {
  // Sound options pass: NOPs, record route, end of list.
  EXPECT_EQ(In(lan, WithOptions({1, 1, 7, 7, 4, 0, 0, 0, 0, 0})).action,
            Verdict::kForward);
  // Length 0, length 1, and a length past the header.
  EXPECT_EQ(In(lan, WithOptions({7, 0, 0, 0})).reason,
            DropReason::kBadIpOptions);
  EXPECT_EQ(In(lan, WithOptions({7, 1, 0, 0})).reason,
            DropReason::kBadIpOptions);
  EXPECT_EQ(In(lan, WithOptions({1, 7, 12, 4})).reason,
            DropReason::kBadIpOptions);
  EXPECT_EQ(In(lan, WithOptions({1, 1, 1, 0x44})).reason,
            DropReason::kBadIpOptions);  // type with no room for a length
  // Loose and strict source routes: not honoured, from either side.
  EXPECT_EQ(In(lan, WithOptions({0x83, 7, 4, 192, 0, 2, 1})).reason,
            DropReason::kSourceRoute);
  EXPECT_EQ(In(lan, WithOptions({1, 0x89, 7, 4, 192, 0, 2, 1})).reason,
            DropReason::kSourceRoute);
  EXPECT_EQ(Drops(DropReason::kBadIpOptions), 4u);
  EXPECT_EQ(Drops(DropReason::kSourceRoute), 2u);
}

TEST_F(HardeningTest, CorruptPacketMakesNoFlowButPassesOnAnEstablishedOne) {
  auto corrupt = [](std::vector<uint8_t> p, size_t csum_at) {
    p[20 + csum_at] ^= 0x5a;
    return p;
  };
  const auto udp = Udp("10.77.0.2", 1000, "203.0.113.2", 53);
  EXPECT_EQ(In(lan, corrupt(udp, 6)).reason, DropReason::kBadL4Checksum);
  EXPECT_EQ(
      In(lan, corrupt(Tcp("10.77.0.2", 1000, "203.0.113.2", 80), 16)).reason,
      DropReason::kBadL4Checksum);
  EXPECT_EQ(
      In(lan, corrupt(testing::Echo("10.77.0.2", "203.0.113.2", 9), 2)).reason,
      DropReason::kBadL4Checksum);
  EXPECT_EQ(FlowCount(), 0u);
  // UDP without a checksum is fine (RFC 768).
  auto none = udp;
  none[26] = none[27] = 0;
  EXPECT_EQ(In(lan, none).action, Verdict::kForward);
  // Inbound through a forward: no flow either.
  ASSERT_TRUE(
      nat->AddForward({kProtoTcp, 0, 8080, lan, A("10.77.0.2"), 80}, now).ok());
  EXPECT_EQ(
      Out(corrupt(Tcp("192.0.2.9", 5555, "203.0.113.1", 8080), 16)).reason,
      DropReason::kBadL4Checksum);
  EXPECT_EQ(Drops(DropReason::kBadL4Checksum), 4u);
  // On an established flow the incremental update keeps the error: the
  // packet passes and its checksum is still wrong by the same amount.
  std::vector<uint8_t> out;
  ASSERT_EQ(In(lan, udp, &out).action, Verdict::kForward);
  std::vector<uint8_t> bad_out;
  ASSERT_EQ(In(lan, corrupt(udp, 6), &bad_out).action, Verdict::kForward);
  EXPECT_TRUE(testing::ChecksumsValid(out));
  EXPECT_FALSE(testing::ChecksumsValid(bad_out));
}

}  // namespace
}  // namespace unat
