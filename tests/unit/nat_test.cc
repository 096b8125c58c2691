#include "engine/nat.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "engine/wire.h"
#include "tests/unit/nat_fixture.h"
#include "tests/unit/test_util.h"

namespace unat {
namespace {

using testing::A;
using testing::Buf;
using testing::CapturingSink;
using testing::ChecksumsValid;
using testing::Echo;
using testing::Emitted;
using testing::IcmpError;
using testing::NatTest;
using testing::Tcp;
using testing::Udp;

// ---------------------------------------------------------------- round trips

TEST_F(NatTest, UdpRoundTrip) {
  std::vector<uint8_t> out;
  Verdict v = In(lan, Udp("10.77.0.2", 5000, "203.0.113.2", 53, "query"), &out);
  ASSERT_EQ(v.action, Verdict::kForward);
  EXPECT_EQ(v.out_side, Side::kOutside);
  EXPECT_TRUE(ChecksumsValid(out));
  Tins::IP ip(out.data(), static_cast<uint32_t>(out.size()));
  EXPECT_EQ(ip.src_addr(), Tins::IPv4Address("203.0.113.1"));
  EXPECT_EQ(ip.dst_addr(), Tins::IPv4Address("203.0.113.2"));
  EXPECT_EQ(ip.ttl(), 63);
  const auto& udp = ip.rfind_pdu<Tins::UDP>();
  const uint16_t ext = udp.sport();
  EXPECT_GE(ext, 1024);
  EXPECT_EQ(udp.dport(), 53);

  v = Out(Udp("203.0.113.2", 53, "203.0.113.1", ext, "answer"), &out);
  ASSERT_EQ(v.action, Verdict::kForward);
  EXPECT_EQ(v.out_side, Side::kInside);
  EXPECT_EQ(v.out_ns, lan);
  EXPECT_TRUE(ChecksumsValid(out));
  Tins::IP back(out.data(), static_cast<uint32_t>(out.size()));
  EXPECT_EQ(back.dst_addr(), Tins::IPv4Address("10.77.0.2"));
  EXPECT_EQ(back.rfind_pdu<Tins::UDP>().dport(), 5000);
  EXPECT_EQ(back.rfind_pdu<Tins::UDP>().sport(), 53);
  auto raw = back.rfind_pdu<Tins::RawPDU>().payload();
  EXPECT_EQ(std::string(raw.begin(), raw.end()), "answer");
}

TEST_F(NatTest, UdpZeroChecksumIsLeftZero) {
  auto p = Udp("10.77.0.2", 5000, "203.0.113.2", 53);
  StoreBe16(&p[26], 0);
  std::vector<uint8_t> out;
  ASSERT_EQ(In(lan, p, &out).action, Verdict::kForward);
  EXPECT_EQ(LoadBe16(&out[26]), 0);
  EXPECT_EQ(InternetChecksum({out.data(), 20}), 0);
}

TEST_F(NatTest, TcpRoundTripAndStates) {
  std::vector<uint8_t> out;
  ASSERT_EQ(In(lan, Tcp("10.77.0.2", 40000, "203.0.113.2", 80), &out).action,
            Verdict::kForward);
  EXPECT_TRUE(ChecksumsValid(out));
  Tins::IP ip(out.data(), static_cast<uint32_t>(out.size()));
  const uint16_t ext = ip.rfind_pdu<Tins::TCP>().sport();
  ASSERT_EQ(Flows().size(), 1u);
  EXPECT_EQ(Flows()[0].tcp_state, static_cast<uint8_t>(TcpState::kSynSent));

  ASSERT_EQ(Out(Tcp("203.0.113.2", 80, "203.0.113.1", ext,
                    Tins::TCP::SYN | Tins::TCP::ACK, 5000, 1001),
                &out)
                .action,
            Verdict::kForward);
  EXPECT_TRUE(ChecksumsValid(out));
  Tins::IP synack(out.data(), static_cast<uint32_t>(out.size()));
  EXPECT_EQ(synack.dst_addr(), Tins::IPv4Address("10.77.0.2"));
  EXPECT_EQ(synack.rfind_pdu<Tins::TCP>().dport(), 40000);

  ASSERT_EQ(In(lan,
               Tcp("10.77.0.2", 40000, "203.0.113.2", 80, Tins::TCP::ACK, 1001,
                   5001, "GET / HTTP/1.0\r\n\r\n"),
               &out)
                .action,
            Verdict::kForward);
  EXPECT_TRUE(ChecksumsValid(out));
  EXPECT_EQ(Flows()[0].tcp_state, static_cast<uint8_t>(TcpState::kEstablished));
  EXPECT_EQ(Flows()[0].expires, (now / 1000 + 7440) * 1000);

  // FIN moves to transitory state; the flow stays.
  ASSERT_EQ(In(lan, Tcp("10.77.0.2", 40000, "203.0.113.2", 80,
                        Tins::TCP::FIN | Tins::TCP::ACK, 1019, 5001))
                .action,
            Verdict::kForward);
  ASSERT_EQ(Flows().size(), 1u);
  EXPECT_EQ(Flows()[0].tcp_state, static_cast<uint8_t>(TcpState::kFinWait));
  EXPECT_EQ(Flows()[0].expires, (now / 1000 + 240) * 1000);
}

TEST_F(NatTest, NewTcpFlowNeedsSyn) {
  EXPECT_EQ(In(lan, Tcp("10.77.0.2", 40000, "203.0.113.2", 80, Tins::TCP::ACK))
                .reason,
            DropReason::kTcpNotSyn);
  EXPECT_EQ(Drops(DropReason::kTcpNotSyn), 1u);
  EXPECT_TRUE(Flows().empty());
}

TEST_F(NatTest, IcmpEchoRoundTripTranslatesIdentifier) {
  std::vector<uint8_t> out;
  ASSERT_EQ(In(lan, Echo("10.77.0.2", "203.0.113.2", 777, 3), &out).action,
            Verdict::kForward);
  EXPECT_TRUE(ChecksumsValid(out));
  Tins::IP ip(out.data(), static_cast<uint32_t>(out.size()));
  const auto& icmp = ip.rfind_pdu<Tins::ICMP>();
  const uint16_t ext_id = icmp.id();
  EXPECT_EQ(icmp.sequence(), 3);
  EXPECT_EQ(ip.src_addr(), Tins::IPv4Address("203.0.113.1"));

  ASSERT_EQ(
      Out(Echo("203.0.113.2", "203.0.113.1", ext_id, 3, true), &out).action,
      Verdict::kForward);
  EXPECT_TRUE(ChecksumsValid(out));
  Tins::IP back(out.data(), static_cast<uint32_t>(out.size()));
  EXPECT_EQ(back.dst_addr(), Tins::IPv4Address("10.77.0.2"));
  EXPECT_EQ(back.rfind_pdu<Tins::ICMP>().id(), 777);
  EXPECT_EQ(back.rfind_pdu<Tins::ICMP>().type(), Tins::ICMP::ECHO_REPLY);
}

TEST_F(NatTest, PingToGatewayAndExternalAddressIsAnswered) {
  std::vector<uint8_t> out;
  Verdict v = In(lan, Echo("10.77.0.2", "10.77.0.1", 9), &out);
  ASSERT_EQ(v.action, Verdict::kForward);
  EXPECT_EQ(v.out_side, Side::kInside);
  EXPECT_EQ(v.out_ns, lan);
  EXPECT_TRUE(ChecksumsValid(out));
  Tins::IP ip(out.data(), static_cast<uint32_t>(out.size()));
  EXPECT_EQ(ip.src_addr(), Tins::IPv4Address("10.77.0.1"));
  EXPECT_EQ(ip.dst_addr(), Tins::IPv4Address("10.77.0.2"));
  EXPECT_EQ(ip.rfind_pdu<Tins::ICMP>().type(), Tins::ICMP::ECHO_REPLY);

  v = Out(Echo("203.0.113.2", "203.0.113.1", 9), &out);
  ASSERT_EQ(v.action, Verdict::kForward);
  EXPECT_EQ(v.out_side, Side::kOutside);
  EXPECT_TRUE(ChecksumsValid(out));
}

// ------------------------------------------------------------ ports, mapping

TEST_F(NatTest, EndpointIndependentMapping) {
  const uint16_t a = UdpOut(lan, "10.77.0.2", 5000, "203.0.113.2", 53);
  const uint16_t b = UdpOut(lan, "10.77.0.2", 5000, "198.51.100.7", 1234);
  EXPECT_EQ(a, b);
  EXPECT_EQ(Flows().size(), 2u);
  EXPECT_EQ(nat->GetStats().mappings, 1u);
}

TEST_F(NatTest, PortsAreUniqueRandomAndKeepParity) {
  std::set<uint16_t> seen;
  std::vector<uint16_t> order;
  for (int i = 0; i < 3000; ++i) {
    const uint16_t sport = static_cast<uint16_t>(10000 + i);
    const uint16_t p = UdpOut(lan, "10.77.0.2", sport, "203.0.113.2", 53);
    ASSERT_NE(p, 0);
    EXPECT_TRUE(seen.insert(p).second) << "port " << p << " handed out twice";
    EXPECT_EQ(p % 2, sport % 2) << "parity";
    EXPECT_GE(p, 1024);
    order.push_back(p);
  }
  // Not sequential: consecutive allocations rarely differ by <= 2.
  int close = 0;
  for (size_t i = 1; i < order.size(); ++i) {
    if (std::abs(int{order[i]} - int{order[i - 1]}) <= 2) ++close;
  }
  EXPECT_LT(close, 30);
  // Spread: every eighth of the range is used.
  std::array<int, 8> buckets{};
  for (uint16_t p : order) buckets[(p - 1024) * 8 / (65536 - 1024)]++;
  for (int b : buckets) EXPECT_GT(b, 3000 / 8 / 2);
}

TEST_F(NatTest, PortPreservationWhenConfigured) {
  Make([](NatConfig& c) { c.port_preservation = true; });
  EXPECT_EQ(UdpOut(lan, "10.77.0.2", 5000, "203.0.113.2", 53), 5000);
  // The same inside port from another tenant cannot have it too.
  const uint16_t other = UdpOut(lan2, "10.77.0.2", 5000, "203.0.113.2", 53);
  EXPECT_NE(other, 5000);
  EXPECT_EQ(other % 2, 0);
}

TEST_F(NatTest, PairedPoolingKeepsOneExternalAddressPerHost) {
  Make([](NatConfig& c) {
    c.external_addresses = {A("203.0.113.1"), A("203.0.113.5"),
                            A("203.0.113.9")};
  });
  std::set<uint32_t> used;
  for (int h = 2; h < 40; ++h) {
    const std::string host = "10.77.0." + std::to_string(h);
    std::set<uint32_t> per_host;
    for (int i = 0; i < 5; ++i) {
      std::vector<uint8_t> out;
      ASSERT_EQ(In(lan,
                   Udp(host.c_str(), static_cast<uint16_t>(2000 + i),
                       "198.51.100.1", 53),
                   &out)
                    .action,
                Verdict::kForward);
      per_host.insert(LoadBe32(&out[12]));
    }
    EXPECT_EQ(per_host.size(), 1u) << host;
    used.insert(*per_host.begin());
  }
  EXPECT_EQ(used.size(), 3u);
}

// ------------------------------------------------------------------ filtering

TEST_F(NatTest, FilteringAddressAndPortDependentByDefault) {
  const uint16_t ext = UdpOut(lan, "10.77.0.2", 5000, "203.0.113.2", 53);
  EXPECT_EQ(Out(Udp("203.0.113.2", 54, "203.0.113.1", ext)).reason,
            DropReason::kFiltered);
  EXPECT_EQ(Out(Udp("198.51.100.9", 53, "203.0.113.1", ext)).reason,
            DropReason::kFiltered);
  EXPECT_EQ(Out(Udp("203.0.113.2", 53, "203.0.113.1", ext)).action,
            Verdict::kForward);
  EXPECT_EQ(Drops(DropReason::kFiltered), 2u);
}

TEST_F(NatTest, FilteringAddressDependent) {
  Make([](NatConfig& c) { c.filtering = FilteringMode::kAddressDependent; });
  const uint16_t ext = UdpOut(lan, "10.77.0.2", 5000, "203.0.113.2", 53);
  std::vector<uint8_t> out;
  Verdict v = Out(Udp("203.0.113.2", 9999, "203.0.113.1", ext), &out);
  ASSERT_EQ(v.action, Verdict::kForward);
  EXPECT_TRUE(ChecksumsValid(out));
  EXPECT_EQ(Out(Udp("198.51.100.9", 53, "203.0.113.1", ext)).reason,
            DropReason::kFiltered);
}

TEST_F(NatTest, FilteringEndpointIndependent) {
  Make([](NatConfig& c) { c.filtering = FilteringMode::kEndpointIndependent; });
  const uint16_t ext = UdpOut(lan, "10.77.0.2", 5000, "203.0.113.2", 53);
  std::vector<uint8_t> out;
  Verdict v = Out(Udp("198.51.100.9", 7, "203.0.113.1", ext), &out);
  ASSERT_EQ(v.action, Verdict::kForward);
  EXPECT_EQ(v.out_ns, lan);
  Tins::IP ip(out.data(), static_cast<uint32_t>(out.size()));
  EXPECT_EQ(ip.dst_addr(), Tins::IPv4Address("10.77.0.2"));
  // Unmapped ports stay closed.
  EXPECT_EQ(Out(Udp("198.51.100.9", 7, "203.0.113.1", 1000)).reason,
            DropReason::kNoFlow);
}

// ----------------------------------------------------------------- ICMP errors

struct ErrorKind {
  Tins::ICMP::Flags type;
  uint8_t code;
  uint16_t mtu;
};
const ErrorKind kErrorKinds[] = {
    {Tins::ICMP::DEST_UNREACHABLE, 3, 0},     // port unreachable
    {Tins::ICMP::DEST_UNREACHABLE, 1, 0},     // host unreachable
    {Tins::ICMP::DEST_UNREACHABLE, 4, 1400},  // fragmentation needed
    {Tins::ICMP::TIME_EXCEEDED, 0, 0},       {Tins::ICMP::PARAM_PROBLEM, 0, 0},
};

enum class L4 { kTcp, kUdp, kIcmp };

std::vector<uint8_t> MakeOriginal(L4 l4, const char* src, const char* dst) {
  switch (l4) {
    case L4::kTcp:
      return Tcp(src, 40000, dst, 80, Tins::TCP::SYN, 1000, 0, "abcdefgh");
    case L4::kUdp:
      return Udp(src, 5000, dst, 53, "a udp payload");
    case L4::kIcmp:
      return Echo(src, dst, 4321);
  }
  return {};
}

TEST_F(NatTest, IcmpErrorsFromOutsideAreTranslatedWithTheirQuote) {
  for (L4 l4 : {L4::kTcp, L4::kUdp, L4::kIcmp}) {
    for (const ErrorKind& k : kErrorKinds) {
      for (size_t quote : {size_t{0}, size_t{28}}) {  // full, RFC 792 minimum
        Make();
        const auto original = MakeOriginal(l4, "10.77.0.2", "203.0.113.2");
        std::vector<uint8_t> translated;
        ASSERT_EQ(In(lan, original, &translated).action, Verdict::kForward);
        // A router on the way reports on the translated packet.
        auto err = IcmpError("198.51.100.254", "203.0.113.1", k.type, k.code,
                             translated, quote, k.mtu);
        std::vector<uint8_t> out;
        Verdict v = Out(err, &out);
        ASSERT_EQ(v.action, Verdict::kForward)
            << DropReasonName(v.reason) << " l4=" << int(l4)
            << " type=" << k.type << " quote=" << quote;
        EXPECT_EQ(v.out_ns, lan);
        EXPECT_TRUE(ChecksumsValid(out));
        Tins::IP ip(out.data(), static_cast<uint32_t>(out.size()));
        EXPECT_EQ(ip.dst_addr(), Tins::IPv4Address("10.77.0.2"));
        EXPECT_EQ(ip.src_addr(), Tins::IPv4Address("198.51.100.254"));
        const auto& icmp = ip.rfind_pdu<Tins::ICMP>();
        EXPECT_EQ(icmp.type(), k.type);
        EXPECT_EQ(icmp.code(), k.code);
        if (k.mtu) EXPECT_EQ(icmp.mtu(), k.mtu);
        // The quote must be the original packet as the inside host sent it,
        // with the TTL the NAT decremented (and the header checksum to match).
        auto expected = original;
        expected[8]--;
        StoreBe16(&expected[10], 0);
        StoreBe16(&expected[10], InternetChecksum({expected.data(), 20}));
        const size_t n = quote ? quote : expected.size();
        std::vector<uint8_t> quoted(out.begin() + 28, out.end());
        ASSERT_EQ(quoted.size(), n);
        EXPECT_TRUE(std::equal(quoted.begin(), quoted.end(), expected.begin()))
            << "l4=" << int(l4) << " type=" << k.type << " quote=" << quote;
      }
    }
  }
}

TEST_F(NatTest, IcmpErrorsFromInsideAreTranslatedWithTheirQuote) {
  for (L4 l4 : {L4::kTcp, L4::kUdp}) {
    for (const ErrorKind& k : kErrorKinds) {
      Make([](NatConfig& c) {
        c.filtering = FilteringMode::kEndpointIndependent;
      });
      // Open a mapping, then a remote sends in; the inside host rejects it.
      auto first = MakeOriginal(l4, "10.77.0.2", "203.0.113.2");
      std::vector<uint8_t> translated;
      ASSERT_EQ(In(lan, first, &translated).action, Verdict::kForward);
      Tins::IP tip(translated.data(), static_cast<uint32_t>(translated.size()));
      const uint16_t ext = l4 == L4::kTcp ? tip.rfind_pdu<Tins::TCP>().sport()
                                          : tip.rfind_pdu<Tins::UDP>().sport();
      const auto inbound =
          l4 == L4::kTcp ? Tcp("203.0.113.2", 80, "203.0.113.1", ext,
                               Tins::TCP::SYN | Tins::TCP::ACK, 5000, 1001)
                         : Udp("203.0.113.2", 53, "203.0.113.1", ext, "reply");
      std::vector<uint8_t> delivered;
      ASSERT_EQ(Out(inbound, &delivered).action, Verdict::kForward);
      auto err = IcmpError("10.77.0.2", "203.0.113.2", k.type, k.code,
                           delivered, 0, k.mtu);
      std::vector<uint8_t> out;
      Verdict v = In(lan, err, &out);
      ASSERT_EQ(v.action, Verdict::kForward) << DropReasonName(v.reason);
      EXPECT_EQ(v.out_side, Side::kOutside);
      EXPECT_TRUE(ChecksumsValid(out));
      Tins::IP ip(out.data(), static_cast<uint32_t>(out.size()));
      EXPECT_EQ(ip.src_addr(), Tins::IPv4Address("203.0.113.1"));
      auto expected = inbound;
      expected[8]--;
      StoreBe16(&expected[10], 0);
      StoreBe16(&expected[10], InternetChecksum({expected.data(), 20}));
      std::vector<uint8_t> quoted(out.begin() + 28, out.end());
      EXPECT_EQ(quoted, expected) << "type=" << k.type;
    }
  }
  // ICMP echo: an inside host's error about an echo reply it got.
  Make();
  std::vector<uint8_t> t;
  ASSERT_EQ(In(lan, Echo("10.77.0.2", "203.0.113.2", 55), &t).action,
            Verdict::kForward);
  Tins::IP tip(t.data(), static_cast<uint32_t>(t.size()));
  const auto reply = Echo("203.0.113.2", "203.0.113.1",
                          tip.rfind_pdu<Tins::ICMP>().id(), 1, true);
  std::vector<uint8_t> delivered, out;
  ASSERT_EQ(Out(reply, &delivered).action, Verdict::kForward);
  auto err = IcmpError("10.77.0.2", "203.0.113.2", Tins::ICMP::PARAM_PROBLEM, 0,
                       delivered);
  ASSERT_EQ(In(lan, err, &out).action, Verdict::kForward);
  EXPECT_TRUE(ChecksumsValid(out));
  auto expected = reply;
  expected[8]--;
  StoreBe16(&expected[10], 0);
  StoreBe16(&expected[10], InternetChecksum({expected.data(), 20}));
  EXPECT_EQ(std::vector<uint8_t>(out.begin() + 28, out.end()), expected);
}

TEST_F(NatTest, IcmpErrorsMatchingNoFlowAreDropped) {
  const auto stray = Udp("203.0.113.1", 4444, "203.0.113.2", 53);
  EXPECT_EQ(Out(IcmpError("198.51.100.254", "203.0.113.1",
                          Tins::ICMP::DEST_UNREACHABLE, 3, stray))
                .reason,
            DropReason::kIcmpNoFlow);
  const auto stray_in = Udp("203.0.113.2", 53, "10.77.0.2", 5000);
  EXPECT_EQ(In(lan, IcmpError("10.77.0.2", "203.0.113.2",
                              Tins::ICMP::DEST_UNREACHABLE, 3, stray_in))
                .reason,
            DropReason::kIcmpNoFlow);
  // A corrupt quote.
  auto translated = std::vector<uint8_t>{};
  In(lan, Udp("10.77.0.2", 5000, "203.0.113.2", 53), &translated);
  translated[10] ^= 1;
  EXPECT_EQ(Out(IcmpError("198.51.100.254", "203.0.113.1",
                          Tins::ICMP::DEST_UNREACHABLE, 3, translated))
                .reason,
            DropReason::kIcmpBadQuote);
  EXPECT_EQ(Drops(DropReason::kIcmpNoFlow), 2u);
}

// ---------------------------------------------------------------------- TTL

TEST_F(NatTest, TtlExpiryAnsweredWithTimeExceededFromGateway) {
  const auto p = Udp("10.77.0.2", 5000, "203.0.113.2", 33434, "probe", 1);
  EXPECT_EQ(In(lan, p).reason, DropReason::kTtlExpired);
  ASSERT_EQ(sink.packets.size(), 1u);
  const auto& e = sink.packets[0];
  EXPECT_EQ(e.side, Side::kInside);
  EXPECT_EQ(e.ns, lan);
  EXPECT_TRUE(ChecksumsValid(e.bytes));
  Tins::IP ip(e.bytes.data(), static_cast<uint32_t>(e.bytes.size()));
  EXPECT_EQ(ip.src_addr(), Tins::IPv4Address("10.77.0.1"));
  EXPECT_EQ(ip.dst_addr(), Tins::IPv4Address("10.77.0.2"));
  EXPECT_EQ(ip.rfind_pdu<Tins::ICMP>().type(), Tins::ICMP::TIME_EXCEEDED);
  EXPECT_EQ(std::vector<uint8_t>(e.bytes.begin() + 28, e.bytes.end()), p);
  EXPECT_TRUE(Flows().empty());

  // From outside: from the external address.
  EXPECT_EQ(Out(Udp("203.0.113.2", 1, "203.0.113.1", 2, "x", 1)).reason,
            DropReason::kTtlExpired);
  ASSERT_EQ(sink.packets.size(), 2u);
  Tins::IP ip2(sink.packets[1].bytes.data(),
               static_cast<uint32_t>(sink.packets[1].bytes.size()));
  EXPECT_EQ(ip2.src_addr(), Tins::IPv4Address("203.0.113.1"));
  EXPECT_EQ(sink.packets[1].side, Side::kOutside);
}

TEST_F(NatTest, NoIcmpErrorAboutAnIcmpErrorAndRateLimited) {
  auto inner = Udp("203.0.113.2", 53, "10.77.0.2", 5000);
  auto err = IcmpError("10.77.0.2", "203.0.113.2", Tins::ICMP::DEST_UNREACHABLE,
                       3, inner);
  err[8] = 1;
  StoreBe16(&err[10], 0);
  StoreBe16(&err[10], InternetChecksum({err.data(), 20}));
  EXPECT_EQ(In(lan, err).reason, DropReason::kTtlExpired);
  EXPECT_TRUE(sink.packets.empty());

  for (int i = 0; i < 500; ++i) {
    In(lan, Udp("10.77.0.2", 5000, "203.0.113.2", 33434, "p", 1));
  }
  const auto burst = nat->config().icmp_error_burst;
  EXPECT_EQ(sink.packets.size(), burst);
  EXPECT_EQ(nat->GetStats().icmp_errors_rate_limited, 500 - burst);
  now += 1000;  // one second refills 100 tokens (capped at the burst)
  for (int i = 0; i < 500; ++i) {
    In(lan, Udp("10.77.0.2", 5000, "203.0.113.2", 33434, "p", 1));
  }
  EXPECT_EQ(sink.packets.size(), 2 * burst);
}

// ------------------------------------------------------------------- hairpin

TEST_F(NatTest, HairpinToOwnForwardedService) {
  ASSERT_TRUE(
      nat->AddForward({kProtoTcp, 0, 8080, lan, A("10.77.0.3"), 80}, now).ok());
  // 10.77.0.2 connects to 203.0.113.1:8080 and must reach 10.77.0.3:80
  // with its own source translated to the external endpoint.
  std::vector<uint8_t> out;
  Verdict v = In(lan, Tcp("10.77.0.2", 41000, "203.0.113.1", 8080), &out);
  ASSERT_EQ(v.action, Verdict::kForward) << DropReasonName(v.reason);
  EXPECT_EQ(v.out_side, Side::kInside);
  EXPECT_EQ(v.out_ns, lan);
  EXPECT_TRUE(ChecksumsValid(out));
  Tins::IP ip(out.data(), static_cast<uint32_t>(out.size()));
  EXPECT_EQ(ip.dst_addr(), Tins::IPv4Address("10.77.0.3"));
  EXPECT_EQ(ip.src_addr(), Tins::IPv4Address("203.0.113.1"));
  const auto& tcp = ip.rfind_pdu<Tins::TCP>();
  EXPECT_EQ(tcp.dport(), 80);
  const uint16_t ext = tcp.sport();
  EXPECT_EQ(ip.ttl(), 63);

  // The server's answer goes back the same way.
  v = In(lan,
         Tcp("10.77.0.3", 80, "203.0.113.1", ext,
             Tins::TCP::SYN | Tins::TCP::ACK, 7000, 1001),
         &out);
  ASSERT_EQ(v.action, Verdict::kForward) << DropReasonName(v.reason);
  EXPECT_EQ(v.out_side, Side::kInside);
  EXPECT_TRUE(ChecksumsValid(out));
  Tins::IP back(out.data(), static_cast<uint32_t>(out.size()));
  EXPECT_EQ(back.src_addr(), Tins::IPv4Address("203.0.113.1"));
  EXPECT_EQ(back.dst_addr(), Tins::IPv4Address("10.77.0.2"));
  EXPECT_EQ(back.rfind_pdu<Tins::TCP>().sport(), 8080);
  EXPECT_EQ(back.rfind_pdu<Tins::TCP>().dport(), 41000);
}

TEST_F(NatTest, HairpinUdpBetweenTwoMappings) {
  Make([](NatConfig& c) { c.filtering = FilteringMode::kEndpointIndependent; });
  const uint16_t b = UdpOut(lan, "10.77.0.3", 6000, "203.0.113.2", 53);
  std::vector<uint8_t> out;
  Verdict v = In(lan, Udp("10.77.0.2", 5000, "203.0.113.1", b), &out);
  ASSERT_EQ(v.action, Verdict::kForward) << DropReasonName(v.reason);
  EXPECT_EQ(v.out_side, Side::kInside);
  Tins::IP ip(out.data(), static_cast<uint32_t>(out.size()));
  EXPECT_EQ(ip.dst_addr(), Tins::IPv4Address("10.77.0.3"));
  EXPECT_EQ(ip.rfind_pdu<Tins::UDP>().dport(), 6000);
  EXPECT_EQ(ip.src_addr(), Tins::IPv4Address("203.0.113.1"));
  EXPECT_TRUE(ChecksumsValid(out));
}

// ----------------------------------------------------------------- tenants

TEST_F(NatTest, TenantsWithIdenticalAddressesStayApart) {
  const uint16_t a = UdpOut(lan, "10.77.0.2", 5000, "203.0.113.2", 53);
  const uint16_t b = UdpOut(lan2, "10.77.0.2", 5000, "203.0.113.2", 53);
  ASSERT_NE(a, 0);
  ASSERT_NE(b, 0);
  EXPECT_NE(a, b);
  Verdict va = Out(Udp("203.0.113.2", 53, "203.0.113.1", a));
  Verdict vb = Out(Udp("203.0.113.2", 53, "203.0.113.1", b));
  EXPECT_EQ(va.out_ns, lan);
  EXPECT_EQ(vb.out_ns, lan2);
  int in_lan = 0, in_lan2 = 0;
  for (const auto& f : Flows()) (f.ns == lan ? in_lan : in_lan2)++;
  EXPECT_EQ(in_lan, 1);
  EXPECT_EQ(in_lan2, 1);
  auto ns = nat->Namespaces();
  ASSERT_EQ(ns.size(), 2u);
  EXPECT_EQ(ns[0].flows, 1u);

  ASSERT_TRUE(nat->RemoveNamespace(lan2).ok());
  EXPECT_EQ(Flows().size(), 1u);
  EXPECT_FALSE(nat->ExternalPortInUse(kProtoUdp, A("203.0.113.1"), b));
  EXPECT_EQ(In(lan2, Udp("10.77.0.2", 5000, "203.0.113.2", 53)).reason,
            DropReason::kUnknownNamespace);
}

// ----------------------------------------------------------------- forwards

TEST_F(NatTest, ForwardDeliversToItsTenantOnly) {
  ASSERT_TRUE(
      nat->AddForward({kProtoTcp, 0, 8080, lan, A("10.77.0.2"), 80}, now).ok());
  std::vector<uint8_t> out;
  Verdict v = Out(Tcp("203.0.113.2", 33000, "203.0.113.1", 8080), &out);
  ASSERT_EQ(v.action, Verdict::kForward);
  EXPECT_EQ(v.out_ns, lan);
  EXPECT_TRUE(ChecksumsValid(out));
  Tins::IP ip(out.data(), static_cast<uint32_t>(out.size()));
  EXPECT_EQ(ip.dst_addr(), Tins::IPv4Address("10.77.0.2"));
  EXPECT_EQ(ip.rfind_pdu<Tins::TCP>().dport(), 80);
  // The reply from lan2's identical host is not part of that flow.
  EXPECT_EQ(In(lan2, Tcp("10.77.0.2", 80, "203.0.113.2", 33000,
                         Tins::TCP::SYN | Tins::TCP::ACK, 1, 1001))
                .reason,
            DropReason::kTcpNotSyn);
  v = In(lan,
         Tcp("10.77.0.2", 80, "203.0.113.2", 33000,
             Tins::TCP::SYN | Tins::TCP::ACK, 1, 1001),
         &out);
  ASSERT_EQ(v.action, Verdict::kForward);
  Tins::IP r(out.data(), static_cast<uint32_t>(out.size()));
  EXPECT_EQ(r.rfind_pdu<Tins::TCP>().sport(), 8080);
}

TEST_F(NatTest, ForwardConflicts) {
  ASSERT_TRUE(
      nat->AddForward({kProtoTcp, 0, 8080, lan, A("10.77.0.2"), 80}, now).ok());
  auto dup =
      nat->AddForward({kProtoTcp, 0, 8080, lan2, A("10.77.0.9"), 80}, now);
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kAlreadyExists);
  // UDP 8080 is a different port.
  EXPECT_TRUE(
      nat->AddForward({kProtoUdp, 0, 8080, lan, A("10.77.0.2"), 80}, now).ok());
  const uint16_t mapped = UdpOut(lan, "10.77.0.2", 5000, "203.0.113.2", 53);
  auto clash =
      nat->AddForward({kProtoUdp, 0, mapped, lan, A("10.77.0.2"), 1}, now);
  EXPECT_EQ(clash.status().code(), absl::StatusCode::kAlreadyExists);
  auto bad = nat->AddForward(
      {kProtoTcp, A("192.0.2.1"), 1, lan, A("10.77.0.2"), 1}, now);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(nat->AddForward({kProtoTcp, 0, 0, lan, A("10.77.0.2"), 1}, now)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(NatTest, DynamicAllocationNeverTakesAForwardedPort) {
  Make([](NatConfig& c) {
    c.port_min = 2000;
    c.port_max = 2003;
    c.port_parity = false;
    c.limits.max_ports_per_namespace = 65535;  // the pool, not the share
  });
  ASSERT_TRUE(
      nat->AddForward({kProtoUdp, 0, 2001, lan, A("10.77.0.2"), 9}, now).ok());
  std::set<uint16_t> got;
  for (int i = 0; i < 3; ++i) {
    got.insert(UdpOut(lan, "10.77.0.2", static_cast<uint16_t>(100 + i),
                      "203.0.113.2", 53));
  }
  EXPECT_EQ(got, (std::set<uint16_t>{2000, 2002, 2003}));
  EXPECT_EQ(In(lan, Udp("10.77.0.2", 200, "203.0.113.2", 53)).reason,
            DropReason::kNoPorts);
}

TEST_F(NatTest, LeasedForwardExpiresAndRemovalEndsItsFlows) {
  auto id =
      nat->AddForward({kProtoUdp, 0, 7000, lan, A("10.77.0.2"), 7000,
                       ForwardOwner::kNatPmp, A("10.77.0.2"), now + 60'000},
                      now);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(Out(Udp("203.0.113.2", 1, "203.0.113.1", 7000)).action,
            Verdict::kForward);
  EXPECT_EQ(Flows().size(), 1u);
  now += 61'000;
  nat->Advance(now);
  EXPECT_TRUE(nat->Forwards().empty());
  EXPECT_TRUE(Flows().empty());
  EXPECT_EQ(Out(Udp("203.0.113.2", 1, "203.0.113.1", 7000)).reason,
            DropReason::kNoFlow);

  ASSERT_TRUE(
      nat->AddForward({kProtoTcp, 0, 8080, lan, A("10.77.0.2"), 80}, now).ok());
  EXPECT_EQ(Out(Tcp("203.0.113.2", 1, "203.0.113.1", 8080)).action,
            Verdict::kForward);
  EXPECT_EQ(Flows().size(), 1u);
  ASSERT_TRUE(nat->RemoveForward(kProtoTcp, 0, 8080).ok());
  EXPECT_TRUE(Flows().empty());
  EXPECT_EQ(Out(Tcp("203.0.113.2", 1, "203.0.113.1", 8080)).reason,
            DropReason::kNoFlow);
  EXPECT_EQ(nat->RemoveForward(kProtoTcp, 0, 8080).code(),
            absl::StatusCode::kNotFound);
}

// ------------------------------------------------- helpers and expectations

class RecordingHelper : public PacketHelper {
 public:
  std::string_view name() const override { return "test"; }
  bool OnPacket(HelperContext& ctx, const FlowInfo& flow, Side from,
                Ipv4View& ip, L4View& l4) override {
    calls.push_back({flow.id, from, flow.inside_port, ip.src(), ip.dst()});
    if (expect_next) {
      ExpectationSpec spec;
      spec.proto = kProtoUdp;
      spec.remote_addr = flow.remote_addr;
      spec.remote_port = 0;  // TFTP: the server answers from a new port
      spec.inside_addr = flow.inside_addr;
      spec.inside_port = flow.inside_port;
      spec.timeout_s = 30;
      auto ep = ctx.Expect(spec);
      EXPECT_TRUE(ep.ok()) << ep.status();
      if (ep.ok()) expected = *ep;
      expect_next = false;
    }
    return !drop;
  }
  struct Call {
    FlowId flow;
    Side from;
    uint16_t inside_port;
    uint32_t src, dst;
  };
  std::vector<Call> calls;
  bool expect_next = false;
  bool drop = false;
  ExternalEndpoint expected;
};

// A helper that asks for an RTP/RTCP pair of expectations for inside port
// pair_port (SIP's media).
class PairHelper : public PacketHelper {
 public:
  std::string_view name() const override { return "pair"; }
  bool OnPacket(HelperContext& ctx, const FlowInfo& flow, Side from, Ipv4View&,
                L4View&) override {
    if (from != Side::kInside || pair_port == 0) return true;
    ExpectationSpec spec;
    spec.proto = kProtoUdp;
    spec.remote_addr = flow.remote_addr;
    spec.inside_addr = flow.inside_addr;
    spec.inside_port = pair_port;
    spec.timeout_s = 60;
    result = ctx.ExpectPair(spec);
    pair_port = 0;
    return true;
  }
  ExpectationPolicy expectation_policy() const override {
    return {.max_per_master = 4, .max_timeout_s = 120};
  }
  uint16_t pair_port = 0;
  absl::StatusOr<ExternalEndpoint> result = absl::UnknownError("not asked");
};

// A helper turned off takes its expectations with it: the media pair it
// announced no longer lets the remote in, and the mapping references they
// held are released.
TEST_F(NatTest, UnregisteringAHelperRemovesItsExpectations) {
  PairHelper h;
  ASSERT_TRUE(nat->RegisterPacketHelper(kProtoUdp, 5060, &h).ok());
  const uint32_t mappings_before = nat->GetStats().mappings;
  h.pair_port = 40000;
  UdpOut(lan, "10.77.0.2", 5060, "203.0.113.2", 5060);
  ASSERT_TRUE(h.result.ok()) << h.result.status();
  const uint16_t rtp = h.result->port;
  ASSERT_EQ(nat->GetStats().expectations, 2u);
  ASSERT_TRUE(nat->UnregisterPacketHelper(&h).ok());
  EXPECT_EQ(nat->GetStats().expectations, 0u);
  EXPECT_EQ(Out(Udp("203.0.113.2", 30000, "203.0.113.1", rtp)).reason,
            DropReason::kNoFlow);
  // The signalling flow's mapping stays (its flow is up); the pair's are
  // released (held for their post-expiry time, as any unused mapping).
  const Stats st = nat->GetStats();
  EXPECT_EQ(st.mappings - st.mappings_held, mappings_before + 1);
  EXPECT_EQ(st.mappings_held, 2u);
  // And the signalling flow still passes, without the helper.
  UdpOut(lan, "10.77.0.2", 5060, "203.0.113.2", 5060);
  nat->ForEachFlow([](const FlowInfo& f) {
    if (f.inside_port == 5060) {
      EXPECT_EQ(f.helper, "off");
    }
  });
}

TEST_F(NatTest, AnExpectationPairIsAnEvenPortAndTheNext) {
  PairHelper h;
  ASSERT_TRUE(nat->RegisterPacketHelper(kProtoUdp, 5060, &h).ok());
  h.pair_port = 40000;
  UdpOut(lan, "10.77.0.2", 5060, "203.0.113.2", 5060);
  ASSERT_TRUE(h.result.ok()) << h.result.status();
  const uint16_t rtp = h.result->port;
  EXPECT_EQ(rtp % 2, 0);
  EXPECT_EQ(nat->GetStats().expectations, 2u);
  // RTP and RTCP from the remote reach inside ports 40000 and 40001.
  std::vector<uint8_t> out;
  for (uint16_t k : {uint16_t{0}, uint16_t{1}}) {
    ASSERT_EQ(Out(Udp("203.0.113.2", static_cast<uint16_t>(30000 + k),
                      "203.0.113.1", static_cast<uint16_t>(rtp + k)),
                  &out)
                  .action,
              Verdict::kForward)
        << k;
    EXPECT_EQ(Tins::IP(out.data(), static_cast<uint32_t>(out.size()))
                  .rfind_pdu<Tins::UDP>()
                  .dport(),
              40000 + k);
  }
  EXPECT_EQ(nat->GetStats().expectations, 0u) << "each used once";
  // A pair whose RTP port is mapped on an odd port already is refused;
  // nothing is left behind.
  const uint32_t mappings = nat->GetStats().mappings;
  uint16_t odd_in = 0;
  for (uint16_t p = 41000; p < 41100 && odd_in == 0; ++p) {
    if (UdpOut(lan, "10.77.0.2", p, "203.0.113.9", 9) % 2 == 1) odd_in = p;
  }
  ASSERT_NE(odd_in, 0);
  h.pair_port = odd_in;
  UdpOut(lan, "10.77.0.2", 5060, "203.0.113.2", 5060);
  EXPECT_FALSE(h.result.ok());
  EXPECT_EQ(h.result.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(nat->GetStats().expectations, 0u);
  EXPECT_GE(nat->GetStats().mappings, mappings);
}

TEST_F(NatTest, PacketHelperSeesFlowAndDirection) {
  RecordingHelper h;
  ASSERT_TRUE(nat->RegisterPacketHelper(kProtoUdp, 69, &h).ok());
  EXPECT_FALSE(nat->RegisterPacketHelper(kProtoUdp, 69, &h).ok());
  const uint16_t ext = UdpOut(lan, "10.77.0.2", 5000, "203.0.113.2", 69);
  UdpOut(lan, "10.77.0.2", 5001, "203.0.113.2", 53);  // no helper
  ASSERT_EQ(Out(Udp("203.0.113.2", 69, "203.0.113.1", ext)).action,
            Verdict::kForward);
  ASSERT_EQ(h.calls.size(), 2u);
  EXPECT_EQ(h.calls[0].from, Side::kInside);
  EXPECT_EQ(h.calls[1].from, Side::kOutside);
  EXPECT_EQ(h.calls[0].flow, h.calls[1].flow);
  EXPECT_EQ(h.calls[0].inside_port, 5000);
  // Headers are already translated when the helper runs.
  EXPECT_EQ(h.calls[0].src, A("203.0.113.1"));
  EXPECT_EQ(h.calls[1].dst, A("10.77.0.2"));
  auto flows = Flows();
  int with_helper = 0;
  for (const auto& f : flows) with_helper += f.helper == "test";
  EXPECT_EQ(with_helper, 1);
  h.drop = true;
  EXPECT_EQ(In(lan, Udp("10.77.0.2", 5000, "203.0.113.2", 69)).reason,
            DropReason::kHelperDrop);
}

TEST_F(NatTest, ExpectationOpensOnlyForItsRemoteAndOnce) {
  RecordingHelper h;
  ASSERT_TRUE(nat->RegisterPacketHelper(kProtoUdp, 69, &h).ok());
  h.expect_next = true;
  const uint16_t ext = UdpOut(lan, "10.77.0.2", 5000, "203.0.113.2", 69);
  EXPECT_EQ(h.expected.port, ext);  // the client's own mapping (EIM)
  EXPECT_EQ(Flows()[0].expectations, 1u);
  // Another remote is refused (address-and-port-dependent filtering).
  EXPECT_EQ(Out(Udp("198.51.100.3", 3333, "203.0.113.1", ext)).reason,
            DropReason::kFiltered);
  // The server's new port is let in by the expectation.
  std::vector<uint8_t> out;
  Verdict v = Out(Udp("203.0.113.2", 3333, "203.0.113.1", ext, "DATA"), &out);
  ASSERT_EQ(v.action, Verdict::kForward) << DropReasonName(v.reason);
  EXPECT_EQ(v.out_ns, lan);
  EXPECT_TRUE(ChecksumsValid(out));
  EXPECT_EQ(nat->GetStats().expectations, 0u);
  // Consumed: a second new port from the same server is filtered again.
  EXPECT_EQ(Out(Udp("203.0.113.2", 4444, "203.0.113.1", ext)).reason,
            DropReason::kFiltered);
}

TEST_F(NatTest, ExpectationsDieWithTheirMasterAndOnTime) {
  RecordingHelper h;
  ASSERT_TRUE(nat->RegisterPacketHelper(kProtoUdp, 69, &h).ok());
  h.expect_next = true;
  const uint16_t ext = UdpOut(lan, "10.77.0.2", 5000, "203.0.113.2", 69);
  EXPECT_EQ(nat->GetStats().expectations, 1u);
  now += 31'000;  // past the expectation's 30 s
  nat->Advance(now);
  EXPECT_EQ(nat->GetStats().expectations, 0u);
  EXPECT_EQ(Out(Udp("203.0.113.2", 3333, "203.0.113.1", ext)).reason,
            DropReason::kFiltered);

  h.expect_next = true;
  UdpOut(lan, "10.77.0.2", 5000, "203.0.113.2", 69);
  EXPECT_EQ(nat->GetStats().expectations, 1u);
  now += 301'000;  // the master UDP flow times out
  nat->Advance(now);
  EXPECT_TRUE(Flows().empty());
  EXPECT_EQ(nat->GetStats().expectations, 0u);
}

// A helper whose every packet from inside asks for one expectation, with
// the policy and the child helper the test sets.
class PolicyHelper : public PacketHelper {
 public:
  explicit PolicyHelper(std::string_view name) : name_(name) {}
  std::string_view name() const override { return name_; }
  ExpectationPolicy expectation_policy() const override { return policy; }
  bool OnPacket(HelperContext& ctx, const FlowInfo& flow, Side from, Ipv4View&,
                L4View&) override {
    seen.push_back(flow.id);
    if (from != Side::kInside || !expect) return true;
    ExpectationSpec spec;
    spec.proto = kProtoUdp;
    spec.remote_addr = any_remote ? 0 : flow.remote_addr;
    spec.allow_any_remote = any_remote;
    spec.remote_port = 0;
    spec.inside_addr = flow.inside_addr;
    spec.inside_port = static_cast<uint16_t>(next_inside_port++);
    spec.timeout_s = timeout_s;
    spec.helper = child;
    last = ctx.Expect(spec);
    return true;
  }
  ExpectationPolicy policy;
  bool expect = true;
  bool any_remote = false;
  uint32_t timeout_s = 300;
  uint32_t next_inside_port = 7000;
  PacketHelper* child = nullptr;
  absl::StatusOr<ExternalEndpoint> last = ExternalEndpoint{};
  std::vector<FlowId> seen;

 private:
  std::string name_;
};

TEST_F(NatTest, ExpectationPolicyIsPerHelper) {
  PolicyHelper h("policy");
  h.policy.max_per_master = 2;
  h.policy.max_timeout_s = 20;
  ASSERT_TRUE(nat->RegisterPacketHelper(kProtoUdp, 5060, &h).ok());
  std::vector<uint16_t> ports;
  for (int i = 0; i < 3; ++i) {
    UdpOut(lan, "10.77.0.2", 5000, "203.0.113.2", 5060);
    ASSERT_TRUE(h.last.ok()) << h.last.status();
    ports.push_back(h.last->port);
  }
  // Two waiting per master: the third evicted the oldest (its port is only
  // held now, with nothing behind it).
  EXPECT_EQ(nat->GetStats().expectations, 2u);
  EXPECT_EQ(Out(Udp("203.0.113.2", 9, "203.0.113.1", ports[0])).reason,
            DropReason::kNoFlow);
  // The 300 s asked for is capped at the helper's 20 s.
  now += 21'000;
  nat->Advance(now);
  EXPECT_EQ(nat->GetStats().expectations, 0u);
  EXPECT_EQ(Out(Udp("203.0.113.2", 9, "203.0.113.1", ports[2])).reason,
            DropReason::kNoFlow);
  // A helper whose protocol always names its peer may not open to anyone.
  h.policy.allow_any_remote = false;
  h.any_remote = true;
  UdpOut(lan, "10.77.0.2", 5000, "203.0.113.2", 5060);
  EXPECT_EQ(h.last.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(nat->GetStats().expectations, 0u);
}

TEST_F(NatTest, ExpectationsHaveAnEngineWideLimit) {
  Make([](NatConfig& c) { c.limits.max_expectations = 3; });
  PolicyHelper h("policy");
  h.policy.max_per_master = 0;  // no per-master limit of its own
  ASSERT_TRUE(nat->RegisterPacketHelper(kProtoUdp, 5060, &h).ok());
  for (int i = 0; i < 3; ++i) {
    UdpOut(lan, "10.77.0.2", 5000, "203.0.113.2", 5060);
    ASSERT_TRUE(h.last.ok()) << h.last.status();
  }
  UdpOut(lan, "10.77.0.2", 5000, "203.0.113.2", 5060);
  EXPECT_EQ(h.last.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(nat->GetStats().expectations, 3u);
}

TEST_F(NatTest, ExpectedFlowGetsTheHelperItsExpectationNames) {
  PolicyHelper master("master");
  PolicyHelper child("child");
  child.expect = false;
  master.child = &child;
  ASSERT_TRUE(nat->RegisterPacketHelper(kProtoUdp, 5060, &master).ok());
  // Registered for a port the test never uses: a helper must be known to
  // the engine before an expectation may name it.
  ASSERT_TRUE(nat->RegisterPacketHelper(kProtoUdp, 1, &child).ok());
  UdpOut(lan, "10.77.0.2", 5000, "203.0.113.2", 5060);
  ASSERT_TRUE(master.last.ok()) << master.last.status();
  const uint16_t rtp = master.last->port;
  std::vector<uint8_t> out;
  ASSERT_EQ(
      Out(Udp("203.0.113.2", 40000, "203.0.113.1", rtp, "RTP"), &out).action,
      Verdict::kForward);
  EXPECT_TRUE(ChecksumsValid(out));
  ASSERT_EQ(child.seen.size(), 1u);
  int children = 0;
  for (const FlowInfo& f : Flows()) {
    if (f.helper == "child") {
      ++children;
      EXPECT_EQ(f.inside_port, 7000);
      EXPECT_EQ(f.id, child.seen[0]);
    }
  }
  EXPECT_EQ(children, 1);
  // Its later packets, both ways, go to the child too.
  In(lan, Udp("10.77.0.2", 7000, "203.0.113.2", 40000));
  EXPECT_EQ(child.seen.size(), 2u);

  // A helper the engine does not know cannot be named.
  PolicyHelper stranger("stranger");
  master.child = &stranger;
  UdpOut(lan, "10.77.0.2", 5000, "203.0.113.2", 5060);
  EXPECT_EQ(master.last.status().code(), absl::StatusCode::kInvalidArgument);
}

// -------------------------------------------------------------------- limits

TEST_F(NatTest, FlowLimits) {
  Make([](NatConfig& c) {
    c.limits.max_flows = 5;
    c.limits.max_flows_per_namespace = 4;
    c.limits.max_flows_per_host = 3;
    c.limits.max_ports_per_host = 2;
  });
  // Ports per host: third inside port refused.
  UdpOut(lan, "10.77.0.2", 1, "203.0.113.2", 53);
  UdpOut(lan, "10.77.0.2", 2, "203.0.113.2", 53);
  EXPECT_EQ(In(lan, Udp("10.77.0.2", 3, "203.0.113.2", 53)).reason,
            DropReason::kHostPortLimit);
  // Flows per host: a third flow on an existing mapping.
  UdpOut(lan, "10.77.0.2", 1, "203.0.113.3", 53);
  EXPECT_EQ(In(lan, Udp("10.77.0.2", 1, "203.0.113.4", 53)).reason,
            DropReason::kHostFlowLimit);
  // Per namespace.
  UdpOut(lan, "10.77.0.3", 1, "203.0.113.2", 53);
  EXPECT_EQ(In(lan, Udp("10.77.0.4", 1, "203.0.113.2", 53)).reason,
            DropReason::kNamespaceFlowLimit);
  // Total.
  UdpOut(lan2, "10.77.0.5", 1, "203.0.113.2", 53);
  EXPECT_EQ(In(lan2, Udp("10.77.0.6", 1, "203.0.113.2", 53)).reason,
            DropReason::kFlowLimit);
  // Live flows were not evicted for any of that.
  EXPECT_EQ(Flows().size(), 5u);
  for (auto r : {DropReason::kHostPortLimit, DropReason::kHostFlowLimit,
                 DropReason::kNamespaceFlowLimit, DropReason::kFlowLimit}) {
    EXPECT_EQ(Drops(r), 1u) << DropReasonName(r);
  }
}

TEST_F(NatTest, PortPoolExhaustion) {
  Make([](NatConfig& c) {
    c.port_min = 3000;
    c.port_max = 3009;
    c.limits.max_ports_per_host = 0;
    c.limits.max_ports_per_namespace = 65535;  // the pool, not the share
  });
  for (int i = 0; i < 10; ++i) {
    ASSERT_NE(UdpOut(lan, "10.77.0.2", static_cast<uint16_t>(100 + i),
                     "203.0.113.2", 53),
              0);
  }
  EXPECT_EQ(In(lan, Udp("10.77.0.2", 200, "203.0.113.2", 53)).reason,
            DropReason::kNoPorts);
}

// ----------------------------------------------------------------- malformed

TEST_F(NatTest, MalformedPacketsAreCountedAndDropped) {
  const auto good = Udp("10.77.0.2", 5000, "203.0.113.2", 53);
  auto mut = [&](auto f) {
    auto b = good;
    f(b);
    return b;
  };
  struct Case {
    std::vector<uint8_t> bytes;
    DropReason want;
  };
  auto tcp = Tcp("10.77.0.2", 1, "203.0.113.2", 2);
  auto tcp0 = tcp;
  tcp0[32] = 0;  // data offset 0
  Tins::IP gre_ip("203.0.113.2", "10.77.0.2");
  gre_ip.protocol(132);  // SCTP: not translated
  gre_ip /= Tins::RawPDU("xxxxxxxx");
  const Case cases[] = {
      {mut([](auto& b) { b.resize(10); }), DropReason::kTruncated},
      {mut([](auto& b) { b[0] = 0x55; }), DropReason::kBadVersion},
      {mut([](auto& b) { b[0] = 0x43; }), DropReason::kBadIhl},
      {mut([](auto& b) { StoreBe16(&b[2], 9000); }),
       DropReason::kBadTotalLength},
      {mut([](auto& b) { b[11] ^= 0xff; }), DropReason::kBadIpChecksum},
      {tcp0, DropReason::kBadL4Header},
      {gre_ip.serialize(), DropReason::kUnsupportedProto},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(In(lan, c.bytes).reason, c.want) << DropReasonName(c.want);
    EXPECT_EQ(Out(c.bytes).action, Verdict::kDrop);
  }
  for (const auto& c : cases) {
    EXPECT_GE(Drops(c.want), 1u) << DropReasonName(c.want);
  }
  EXPECT_TRUE(Flows().empty());
}

TEST_F(NatTest, MartiansAndFragmentsAreCounted) {
  EXPECT_EQ(In(lan, Udp("10.77.0.2", 1, "224.0.0.251", 5353)).reason,
            DropReason::kMartian);
  EXPECT_EQ(In(lan, Udp("203.0.113.1", 1, "203.0.113.2", 53)).reason,
            DropReason::kMartian);
  EXPECT_EQ(Out(Udp("203.0.113.2", 1, "198.51.100.1", 53)).reason,
            DropReason::kMartian);
  auto frag = Udp("10.77.0.2", 5000, "203.0.113.2", 53);
  frag[6] = 0x20;  // MF
  StoreBe16(&frag[10], 0);
  StoreBe16(&frag[10], InternetChecksum({frag.data(), 20}));
  EXPECT_EQ(In(lan, frag).reason, DropReason::kFragMalformed);  // 13 bytes, MF
  EXPECT_EQ(In(lan, Udp("10.77.0.2", 1, "10.77.0.1", 9)).reason,
            DropReason::kLocalNoHelper);
  // ... answered with port unreachable from the gateway.
  ASSERT_FALSE(sink.packets.empty());
  Tins::IP unreach(sink.packets.back().bytes.data(),
                   static_cast<uint32_t>(sink.packets.back().bytes.size()));
  EXPECT_EQ(unreach.src_addr(), Tins::IPv4Address("10.77.0.1"));
  EXPECT_EQ(unreach.rfind_pdu<Tins::ICMP>().code(), 3);
}

// An SSDP M-SEARCH to 239.255.255.250:1900 is the one multicast datagram a
// local helper may take: consumed by the UDP 1900 helper (with the tenant
// and its gateway), never forwarded; without that helper a counted martian.
TEST_F(NatTest, SsdpMulticastGoesToItsLocalHelperOnly) {
  const std::string search =
      "M-SEARCH * HTTP/1.1\r\nMAN: \"ssdp:discover\"\r\nST: ssdp:all\r\n\r\n";
  auto msearch = [&](uint16_t dport = 1900) {
    return Udp("10.77.0.2", 50000, "239.255.255.250", dport, search);
  };
  const uint64_t martians = Drops(DropReason::kMartian);
  Verdict v = In(lan, msearch());
  EXPECT_EQ(v.action, Verdict::kDrop);
  EXPECT_EQ(v.reason, DropReason::kMartian);
  EXPECT_EQ(Drops(DropReason::kMartian), martians + 1);

  struct Recorder : LocalHelper {
    std::string_view name() const override { return "rec"; }
    void OnPacket(const LocalContext& ctx, const Ipv4View& ip,
                  const L4View& l4) override {
      seen.push_back({ctx.ns, ctx.gateway, ip.dst(), l4.dst_port()});
    }
    std::vector<std::array<uint32_t, 4>> seen;
  } rec;
  ASSERT_TRUE(nat->RegisterLocalHelper(kProtoUdp, 1900, &rec).ok());
  v = In(lan2, msearch());
  EXPECT_EQ(v.action, Verdict::kConsumed);
  ASSERT_EQ(rec.seen.size(), 1u);
  EXPECT_EQ(rec.seen[0][0], lan2);
  EXPECT_EQ(rec.seen[0][1], A("10.77.0.1"));
  EXPECT_EQ(rec.seen[0][2], A("239.255.255.250"));
  EXPECT_EQ(rec.seen[0][3], 1900u);
  EXPECT_TRUE(Flows().empty());
  // Another port of the group, or another group: still martian.
  EXPECT_EQ(In(lan, msearch(1901)).reason, DropReason::kMartian);
  EXPECT_EQ(
      In(lan, Udp("10.77.0.2", 50000, "239.255.255.251", 1900, search)).reason,
      DropReason::kMartian);
  EXPECT_EQ(rec.seen.size(), 1u);
  EXPECT_EQ(nat->GetStats().packets[0], 1u);  // the consumed one only
}

// -------------------------------------------------------------------- expiry

TEST_F(NatTest, ExpiryWithInjectedClockAndPortHold) {
  nat->Advance(now);
  const uint16_t ext = UdpOut(lan, "10.77.0.2", 5000, "203.0.113.2", 53);
  ASSERT_EQ(Flows().size(), 1u);
  now += 299'000;
  nat->Advance(now);
  EXPECT_EQ(Flows().size(), 1u);  // 5 min is not over
  // Traffic refreshes it.
  EXPECT_EQ(Out(Udp("203.0.113.2", 53, "203.0.113.1", ext)).action,
            Verdict::kForward);
  now += 299'000;
  nat->Advance(now);
  EXPECT_EQ(Flows().size(), 1u);
  now += 2'000;
  nat->Advance(now);
  EXPECT_TRUE(Flows().empty());
  EXPECT_EQ(nat->GetStats().flows_expired, 1u);
  // The port is held for its owner and nobody else.
  EXPECT_TRUE(nat->ExternalPortInUse(kProtoUdp, A("203.0.113.1"), ext));
  EXPECT_EQ(nat->GetStats().mappings_held, 1u);
  EXPECT_EQ(Out(Udp("203.0.113.2", 53, "203.0.113.1", ext)).reason,
            DropReason::kNoFlow);
  now += 60'000;
  EXPECT_EQ(UdpOut(lan, "10.77.0.2", 5000, "198.51.100.1", 53), ext);
  // Let it go all the way.
  now += 301'000;
  nat->Advance(now);
  now += 121'000;
  nat->Advance(now);
  EXPECT_FALSE(nat->ExternalPortInUse(kProtoUdp, A("203.0.113.1"), ext));
  EXPECT_EQ(nat->GetStats().mappings, 0u);
}

TEST_F(NatTest, ExpiredFlowIsNotUsedBeforeTheReaperRuns) {
  const uint16_t ext = UdpOut(lan, "10.77.0.2", 5000, "203.0.113.2", 53);
  now += 301'000;  // no Advance()
  EXPECT_EQ(Out(Udp("203.0.113.2", 53, "203.0.113.1", ext)).reason,
            DropReason::kNoFlow);
}

TEST_F(NatTest, ExpiryCostIsProportionalToWhatExpires) {
  // 20000 TCP flows that will not expire for 2 h, and 10 UDP flows that
  // will: advancing past the UDP timeout looks only at what is due.
  Make([](NatConfig& c) {
    c.timeouts.tcp_transitory_s = 7200;
    c.limits.max_flows_per_host = 0;
  });
  // The hosts are 10.77.1.2 and up: behind a router of the tenant's.
  ASSERT_TRUE(nat->SetRoutedPrefixes(lan, {{A("10.77.0.0"), 16}}).ok());
  nat->Advance(now);
  for (int i = 0; i < 20000; ++i) {
    const std::string host = "10.77." + std::to_string(1 + i / 250) + "." +
                             std::to_string(2 + i % 250);
    ASSERT_EQ(In(lan, Tcp(host.c_str(), 1000, "203.0.113.2", 80)).action,
              Verdict::kForward);
  }
  for (int i = 0; i < 10; ++i) {
    UdpOut(lan, "10.77.0.2", static_cast<uint16_t>(100 + i), "203.0.113.2", 53);
  }
  const uint64_t visits_before = nat->GetStats().expiry_visits;
  now += 300'001 + 1000;
  nat->Advance(now);
  EXPECT_EQ(nat->GetStats().flows_expired, 10u);
  EXPECT_EQ(Flows().size(), 20000u);
  EXPECT_LE(nat->GetStats().expiry_visits - visits_before, 10u);
}

// ------------------------------------------------------------------- TCP RST

TEST_F(NatTest, OutOfWindowRstFromOutsideDoesNotKillTheFlow) {
  std::vector<uint8_t> out;
  In(lan, Tcp("10.77.0.2", 40000, "203.0.113.2", 80, Tins::TCP::SYN, 1000),
     &out);
  Tins::IP ip(out.data(), static_cast<uint32_t>(out.size()));
  const uint16_t ext = ip.rfind_pdu<Tins::TCP>().sport();
  // A blind RST before the server answered, with a wrong ACK.
  EXPECT_EQ(Out(Tcp("203.0.113.2", 80, "203.0.113.1", ext,
                    Tins::TCP::RST | Tins::TCP::ACK, 0, 77777))
                .reason,
            DropReason::kTcpInvalidRst);
  ASSERT_EQ(Out(Tcp("203.0.113.2", 80, "203.0.113.1", ext,
                    Tins::TCP::SYN | Tins::TCP::ACK, 5000, 1001))
                .action,
            Verdict::kForward);
  In(lan,
     Tcp("10.77.0.2", 40000, "203.0.113.2", 80, Tins::TCP::ACK, 1001, 5001));
  ASSERT_EQ(Flows()[0].tcp_state, static_cast<uint8_t>(TcpState::kEstablished));
  // Far outside the window: ignored, counted.
  EXPECT_EQ(Out(Tcp("203.0.113.2", 80, "203.0.113.1", ext, Tins::TCP::RST,
                    5001 + 0x40000000))
                .reason,
            DropReason::kTcpInvalidRst);
  EXPECT_EQ(Flows()[0].tcp_state, static_cast<uint8_t>(TcpState::kEstablished));
  // In window: passes, the flow goes transitory (not deleted).
  EXPECT_EQ(
      Out(Tcp("203.0.113.2", 80, "203.0.113.1", ext, Tins::TCP::RST, 5001))
          .action,
      Verdict::kForward);
  ASSERT_EQ(Flows().size(), 1u);
  EXPECT_EQ(Flows()[0].tcp_state, static_cast<uint8_t>(TcpState::kClosed));
  EXPECT_EQ(Flows()[0].expires, (now / 1000 + 240) * 1000);
}

// ------------------------------------------------------------ property test

TEST_F(NatTest, RandomTranslateThenUntranslateRestoresThePacket) {
  Make([](NatConfig& c) {
    c.filtering = FilteringMode::kAddressAndPortDependent;
    c.external_addresses = {A("203.0.113.1"), A("203.0.113.7")};
  });
  std::mt19937 rng(12345);
  for (int i = 0; i < 3000; ++i) {
    const NamespaceId ns = rng() % 2 ? lan : lan2;
    const std::string in_host = "10.77.0." + std::to_string(2 + rng() % 200);
    const std::string remote = "198.51.100." + std::to_string(1 + rng() % 250);
    const uint16_t sport = static_cast<uint16_t>(1 + rng() % 65535);
    const uint16_t dport = static_cast<uint16_t>(1 + rng() % 65535);
    std::string payload(rng() % 64, 'x');
    for (auto& ch : payload) ch = static_cast<char>(rng());
    const int kind = static_cast<int>(rng() % 3);
    std::vector<uint8_t> p, reply_template;
    if (kind == 0) {
      p = Udp(in_host.c_str(), sport, remote.c_str(), dport, payload);
    } else if (kind == 1) {
      p = Tcp(in_host.c_str(), sport, remote.c_str(), dport, Tins::TCP::SYN,
              static_cast<uint32_t>(rng()), 0, payload);
    } else {
      p = Echo(in_host.c_str(), remote.c_str(), sport,
               static_cast<uint16_t>(rng()));
    }
    std::vector<uint8_t> out;
    Verdict v = In(ns, p, &out);
    ASSERT_EQ(v.action, Verdict::kForward) << DropReasonName(v.reason);
    ASSERT_TRUE(ChecksumsValid(out));
    // Mirror the translated packet (what the remote would answer) ...
    Tins::IP t(out.data(), static_cast<uint32_t>(out.size()));
    Tins::IP r(t.src_addr(), t.dst_addr());
    r.ttl(64);
    if (kind == 0) {
      const auto& u = t.rfind_pdu<Tins::UDP>();
      r /= Tins::UDP(u.sport(), u.dport()) /
           Tins::RawPDU(payload.empty() ? std::string("z") : payload);
    } else if (kind == 1) {
      const auto& s = t.rfind_pdu<Tins::TCP>();
      Tins::TCP tcp(s.sport(), s.dport());
      tcp.flags(Tins::TCP::SYN | Tins::TCP::ACK);
      tcp.ack_seq(s.seq() + 1);
      r /= tcp;
    } else {
      Tins::ICMP icmp(Tins::ICMP::ECHO_REPLY);
      icmp.id(t.rfind_pdu<Tins::ICMP>().id());
      icmp.sequence(t.rfind_pdu<Tins::ICMP>().sequence());
      r /= icmp / Tins::RawPDU("pingpingpingping");
    }
    std::vector<uint8_t> back;
    v = Out(r.serialize(), &back);
    ASSERT_EQ(v.action, Verdict::kForward) << DropReasonName(v.reason);
    ASSERT_EQ(v.out_ns, ns);
    ASSERT_TRUE(ChecksumsValid(back));
    // ... and it must come back addressed exactly to the original sender.
    Tins::IP b(back.data(), static_cast<uint32_t>(back.size()));
    Tins::IP o(p.data(), static_cast<uint32_t>(p.size()));
    ASSERT_EQ(b.dst_addr(), o.src_addr());
    ASSERT_EQ(b.src_addr(), o.dst_addr());
    if (kind == 0) {
      ASSERT_EQ(b.rfind_pdu<Tins::UDP>().dport(),
                o.rfind_pdu<Tins::UDP>().sport());
      ASSERT_EQ(b.rfind_pdu<Tins::UDP>().sport(),
                o.rfind_pdu<Tins::UDP>().dport());
    } else if (kind == 1) {
      ASSERT_EQ(b.rfind_pdu<Tins::TCP>().dport(),
                o.rfind_pdu<Tins::TCP>().sport());
      ASSERT_EQ(b.rfind_pdu<Tins::TCP>().sport(),
                o.rfind_pdu<Tins::TCP>().dport());
    } else {
      ASSERT_EQ(b.rfind_pdu<Tins::ICMP>().id(), o.rfind_pdu<Tins::ICMP>().id());
    }
    // Translating the original packet again gives the same bytes.
    std::vector<uint8_t> again;
    if (kind != 1) {
      ASSERT_EQ(In(ns, p, &again).action, Verdict::kForward);
      ASSERT_EQ(again, out);
    }
  }
}

}  // namespace
}  // namespace unat

namespace unat {
namespace {

TEST_F(NatTest, BatchGivesTheSameResultsAsOneByOne) {
  // Two identical engines; one gets packets one by one, the other in
  // batches (including drops, new flows and repeats inside one batch).
  auto make = [] {
    NatConfig c;
    c.external_addresses = {A("203.0.113.1")};
    c.random_seed = 5;
    auto n = *Nat::Create(c);
    (void)*n->AddNamespace({"lan", A("10.77.0.1"), 24});
    return n;
  };
  auto one = make(), batch = make();
  std::vector<std::vector<uint8_t>> in;
  for (int i = 0; i < 40; ++i) {
    const std::string h = "10.77.0." + std::to_string(2 + i % 7);
    in.push_back(
        Udp(h.c_str(), static_cast<uint16_t>(1000 + i % 5), "203.0.113.2", 53));
  }
  in.push_back(Tcp("10.77.0.2", 1, "203.0.113.2", 2, Tins::TCP::ACK));  // drop
  in.push_back({1, 2, 3});                                              // junk
  std::vector<Buf> a, b;
  for (auto& p : in) {
    a.emplace_back(p);
    b.emplace_back(p);
  }
  std::vector<Verdict> va, vb(in.size());
  for (auto& x : a) va.push_back(one->ProcessInside(0, x.pkt, now));
  std::vector<Packet> pk;
  for (auto& x : b) pk.push_back(x.pkt);
  batch->ProcessInsideBatch(0, pk, vb.data(), now);
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(va[i].action, vb[i].action) << i;
    EXPECT_EQ(va[i].reason, vb[i].reason) << i;
    b[i].pkt.len = pk[i].len;
    EXPECT_EQ(a[i].out(), b[i].out()) << i;
  }
  // And back in.
  std::vector<Buf> ra, rb;
  for (auto& x : a) {
    if (x.pkt.len < 28) continue;
    Tins::IP t(x.pkt.data, x.pkt.len);
    if (!t.find_pdu<Tins::UDP>()) continue;
    auto r =
        Udp("203.0.113.2", 53, "203.0.113.1", t.rfind_pdu<Tins::UDP>().sport());
    ra.emplace_back(r);
    rb.emplace_back(r);
  }
  std::vector<Packet> rp;
  for (auto& x : rb) rp.push_back(x.pkt);
  std::vector<Verdict> rvb(rp.size());
  batch->ProcessOutsideBatch(rp, rvb.data(), now);
  for (size_t i = 0; i < ra.size(); ++i) {
    Verdict v = one->ProcessOutside(ra[i].pkt, now);
    EXPECT_EQ(v.action, Verdict::kForward);
    EXPECT_EQ(rvb[i].action, Verdict::kForward);
    rb[i].pkt.len = rp[i].len;
    EXPECT_EQ(ra[i].out(), rb[i].out());
  }
}

}  // namespace
}  // namespace unat

namespace unat {
namespace {

TEST_F(NatTest, UdpChecksumThatComputesToZeroIsSentAsFfff) {
  // Find a payload whose checksum, once translated to 203.0.113.1:5000,
  // computes to 0x0000: RFC 768 says it must go out as 0xFFFF (0 means "no
  // checksum"). The search uses the translated packet built directly.
  Make([](NatConfig& c) { c.port_preservation = true; });
  std::string payload = "ab";
  bool found = false;
  for (uint32_t v = 0; v < 65536 && !found; ++v) {
    payload[0] = static_cast<char>(v >> 8);
    payload[1] = static_cast<char>(v & 0xff);
    auto t = Udp("203.0.113.1", 5000, "203.0.113.2", 53, payload);
    StoreBe16(&t[26], 0);
    const uint32_t src = LoadBe32(&t[12]), dst = LoadBe32(&t[16]);
    const uint32_t pseudo = (src >> 16) + (src & 0xffff) + (dst >> 16) +
                            (dst & 0xffff) + kProtoUdp +
                            static_cast<uint32_t>(t.size() - 20);
    found = InternetChecksum({t.data() + 20, t.size() - 20}, pseudo) == 0;
  }
  ASSERT_TRUE(found);
  std::vector<uint8_t> out;
  ASSERT_EQ(
      In(lan, Udp("10.77.0.2", 5000, "203.0.113.2", 53, payload), &out).action,
      Verdict::kForward);
  ASSERT_EQ(LoadBe16(&out[20]), 5000);
  EXPECT_EQ(LoadBe16(&out[26]), 0xffff);
}

}  // namespace
}  // namespace unat

namespace unat {
namespace {

TEST_F(NatTest, EnsureFlowPinsAFlowPastItsIdleTimeout) {
  auto ep = nat->EnsureFlow(lan, kProtoUdp, A("10.77.0.2"), 6000,
                            A("203.0.113.2"), 7000, 1000, now);
  ASSERT_TRUE(ep.ok()) << ep.status();
  EXPECT_EQ(ep->addr, A("203.0.113.1"));
  // The same 5-tuple's traffic uses it.
  EXPECT_EQ(UdpOut(lan, "10.77.0.2", 6000, "203.0.113.2", 7000), ep->port);
  // Idle for 600 s (UDP timeout 300 s): still there thanks to the pin.
  now += 600'000;
  nat->Advance(now);
  ASSERT_EQ(Flows().size(), 1u);
  std::vector<uint8_t> out;
  EXPECT_EQ(Out(Udp("203.0.113.2", 7000, "203.0.113.1", ep->port), &out).action,
            Verdict::kForward);
  // A refresh returns the same endpoint.
  auto again = nat->EnsureFlow(lan, kProtoUdp, A("10.77.0.2"), 6000,
                               A("203.0.113.2"), 7000, 100, now);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->port, ep->port);
  // Past both the pin and the idle timeout it goes.
  now += 400'000;
  nat->Advance(now);
  EXPECT_TRUE(Flows().empty());
  EXPECT_EQ(nat->EnsureFlow(lan, kProtoIcmp, A("10.77.0.2"), 1,
                            A("203.0.113.2"), 1, 10, now)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace unat

namespace unat {
namespace {

TEST_F(NatTest, ForwardRemoteFilterLetsOnlyListedPeersIn) {
  ForwardSpec spec{kProtoUdp, 0, 9000, lan, A("10.77.0.2"), 9000};
  spec.allowed_remotes = {{A("198.51.100.0"), 24, 0},
                          {A("203.0.113.2"), 32, 53}};
  auto id = nat->AddForward(spec, now);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(Out(Udp("198.51.100.77", 1, "203.0.113.1", 9000)).action,
            Verdict::kForward);
  EXPECT_EQ(Out(Udp("203.0.113.2", 53, "203.0.113.1", 9000)).action,
            Verdict::kForward);
  EXPECT_EQ(Out(Udp("203.0.113.2", 54, "203.0.113.1", 9000)).reason,
            DropReason::kFiltered);
  EXPECT_EQ(Out(Udp("192.0.2.1", 53, "203.0.113.1", 9000)).reason,
            DropReason::kFiltered);
  ASSERT_TRUE(nat->SetForwardFilter(*id, {}).ok());
  EXPECT_EQ(Out(Udp("192.0.2.1", 53, "203.0.113.1", 9000)).action,
            Verdict::kForward);
  std::vector<RemoteFilter> too_many(17);
  EXPECT_EQ(nat->SetForwardFilter(*id, too_many).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace unat

namespace unat {
namespace {

TEST_F(NatTest, SameSubnetTrafficIsRoutedBackUntranslated) {
  std::vector<uint8_t> out;
  Verdict v = In(lan2, Tcp("10.77.0.2", 1000, "10.77.0.3", 81), &out);
  ASSERT_EQ(v.action, Verdict::kForward);
  EXPECT_EQ(v.out_side, Side::kInside);
  EXPECT_EQ(v.out_ns, lan2);
  EXPECT_TRUE(ChecksumsValid(out));
  Tins::IP ip(out.data(), static_cast<uint32_t>(out.size()));
  EXPECT_EQ(ip.src_addr(), Tins::IPv4Address("10.77.0.2"));
  EXPECT_EQ(ip.dst_addr(), Tins::IPv4Address("10.77.0.3"));
  EXPECT_TRUE(Flows().empty());
  EXPECT_EQ(nat->GetStats().mappings, 0u);
}

}  // namespace
}  // namespace unat

namespace unat {
namespace {

class AnyRemoteHelper : public PacketHelper {
 public:
  std::string_view name() const override { return "dcc"; }
  bool OnPacket(HelperContext& ctx, const FlowInfo& flow, Side from, Ipv4View&,
                L4View&) override {
    if (from != Side::kInside || done) return true;
    done = true;
    ExpectationSpec spec;
    spec.proto = kProtoTcp;
    spec.remote_addr = 0;
    spec.inside_addr = flow.inside_addr;
    spec.inside_port = 5000;
    spec.timeout_s = 600;  // capped to 120
    refused = ctx.Expect(spec).status();
    spec.allow_any_remote = true;
    auto ep = ctx.Expect(spec);
    if (ep.ok()) port = ep->port;
    return true;
  }
  bool done = false;
  absl::Status refused;
  uint16_t port = 0;
};

TEST_F(NatTest, AnyRemoteExpectationOnlyWhenAskedForOnceAndShortLived) {
  AnyRemoteHelper h;
  ASSERT_TRUE(nat->RegisterPacketHelper(kProtoTcp, 6667, &h).ok());
  In(lan, Tcp("10.77.0.2", 40000, "203.0.113.2", 6667));
  EXPECT_EQ(h.refused.code(), absl::StatusCode::kInvalidArgument);
  ASSERT_NE(h.port, 0);
  // Any peer may connect, once.
  Verdict v = Out(Tcp("198.51.100.50", 3333, "203.0.113.1", h.port));
  EXPECT_EQ(v.action, Verdict::kForward) << DropReasonName(v.reason);
  EXPECT_EQ(Out(Tcp("198.51.100.51", 3333, "203.0.113.1", h.port)).reason,
            DropReason::kFiltered);
  // A second one expires after 120 s, not 600.
  h.done = false;
  In(lan, Tcp("10.77.0.2", 40001, "203.0.113.2", 6667));
  EXPECT_EQ(nat->GetStats().expectations, 1u);
  now += 121'000;
  nat->Advance(now);
  EXPECT_EQ(nat->GetStats().expectations, 0u);
}

}  // namespace
}  // namespace unat

namespace unat {
namespace {

TEST_F(NatTest, UpdatePolicyKeepsFlowsAndAppliesNewRules) {
  const uint16_t ext = UdpOut(lan, "10.77.0.2", 5000, "203.0.113.2", 53);
  NatConfig c = nat->config();
  c.filtering = FilteringMode::kAddressDependent;
  c.timeouts.udp_s = 600;
  ASSERT_TRUE(nat->UpdatePolicy(c).ok());
  EXPECT_EQ(Flows().size(), 1u);
  // Address-dependent now: the same remote on another port gets in.
  EXPECT_EQ(Out(Udp("203.0.113.2", 99, "203.0.113.1", ext)).action,
            Verdict::kForward);
  EXPECT_EQ(Out(Udp("198.51.100.1", 53, "203.0.113.1", ext)).reason,
            DropReason::kFiltered);
  c.external_addresses = {A("203.0.113.9")};
  EXPECT_EQ(nat->UpdatePolicy(c).code(), absl::StatusCode::kFailedPrecondition);
  c = nat->config();
  c.port_min = 0;
  EXPECT_EQ(nat->UpdatePolicy(c).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(nat->config().port_min, 1024);
}

}  // namespace
}  // namespace unat

namespace unat {
namespace {

TEST_F(NatTest, TcpToAnUnservedGatewayPortGetsARst) {
  std::vector<uint8_t> out;
  Verdict v = In(
      lan, Tcp("10.77.0.2", 40000, "10.77.0.1", 22, Tins::TCP::SYN, 777), &out);
  ASSERT_EQ(v.action, Verdict::kForward);
  EXPECT_EQ(v.out_side, Side::kInside);
  EXPECT_TRUE(ChecksumsValid(out));
  Tins::IP ip(out.data(), static_cast<uint32_t>(out.size()));
  EXPECT_EQ(ip.src_addr(), Tins::IPv4Address("10.77.0.1"));
  EXPECT_EQ(ip.dst_addr(), Tins::IPv4Address("10.77.0.2"));
  const auto& tcp = ip.rfind_pdu<Tins::TCP>();
  EXPECT_EQ(tcp.sport(), 22);
  EXPECT_EQ(tcp.dport(), 40000);
  EXPECT_EQ(tcp.flags(), Tins::TCP::RST | Tins::TCP::ACK);
  EXPECT_EQ(tcp.ack_seq(), 778u);
  // With an ACK: RST carrying that ACK as its sequence number.
  v = In(lan, Tcp("10.77.0.2", 40000, "10.77.0.1", 22, Tins::TCP::ACK, 1, 5555),
         &out);
  ASSERT_EQ(v.action, Verdict::kForward);
  Tins::IP ip2(out.data(), static_cast<uint32_t>(out.size()));
  EXPECT_EQ(ip2.rfind_pdu<Tins::TCP>().flags(), Tins::TCP::RST);
  EXPECT_EQ(ip2.rfind_pdu<Tins::TCP>().seq(), 5555u);
  // Never a RST for a RST.
  EXPECT_EQ(
      In(lan, Tcp("10.77.0.2", 40000, "10.77.0.1", 22, Tins::TCP::RST)).reason,
      DropReason::kLocalNoHelper);
}

}  // namespace
}  // namespace unat

namespace unat {
namespace {

// Packets of an established flow take the engine's fast path only when no
// check of the full path could apply; these must all still get them.
TEST_F(NatTest, EstablishedFlowPacketsStillGetEveryCheck) {
  auto fix_ip = [](std::vector<uint8_t>& p) {
    StoreBe16(&p[10], 0);
    StoreBe16(&p[10], InternetChecksum({p.data(), 20}));
  };
  const auto first = Udp("10.77.0.2", 5000, "203.0.113.2", 53, "hello");
  std::vector<uint8_t> out;
  ASSERT_EQ(In(lan, first, &out).action, Verdict::kForward);
  ASSERT_EQ(nat->GetStats().flows_created, 1u);

  // Link padding after the datagram is dropped, checksums stay right.
  auto padded = first;
  padded.insert(padded.end(), 6, 0xee);
  ASSERT_EQ(In(lan, padded, &out).action, Verdict::kForward);
  EXPECT_EQ(out.size(), first.size());
  EXPECT_TRUE(ChecksumsValid(out));

  // A wrong header checksum, TTL 1: dropped as the full path does, never
  // translated as established.
  auto bad = first;
  bad[10] ^= 0x01;
  EXPECT_EQ(In(lan, bad).reason, DropReason::kBadIpChecksum);
  auto ttl1 = first;
  ttl1[8] = 1;
  fix_ip(ttl1);
  EXPECT_EQ(In(lan, ttl1).reason, DropReason::kTtlExpired);

  // Too big for the outside MTU with DF: ICMP "fragmentation needed".
  auto big = Udp("10.77.0.2", 5000, "203.0.113.2", 53, std::string(1600, 'x'));
  big[6] |= 0x40;
  fix_ip(big);
  const size_t sent_before = sink.packets.size();
  EXPECT_EQ(In(lan, big).reason, DropReason::kNeedFragDf);
  EXPECT_EQ(sink.packets.size(), sent_before + 1);

  // Counters: the first two packets, in the flow, engine and namespace.
  auto flows = Flows();
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].packets[0], 2u);
  EXPECT_EQ(flows[0].bytes[0], 2 * first.size());
  EXPECT_EQ(nat->GetStats().packets[0], 2u);
  EXPECT_EQ(nat->GetStats().bytes[0], 2 * first.size());
  EXPECT_EQ(nat->Namespaces()[lan].packets[0], 2u);

  // Past its timeout (no Advance() yet) the flow is not used: a new one is
  // made for the same endpoints.
  now += (nat->config().timeouts.udp_s + 1) * 1000;
  ASSERT_EQ(In(lan, first, &out).action, Verdict::kForward);
  EXPECT_EQ(nat->GetStats().flows_created, 2u);
  EXPECT_EQ(nat->GetStats().flows_expired, 1u);
}

}  // namespace
}  // namespace unat
