// The protocol table on its own: one entry per tracked protocol, and what
// each entry does to a real packet (engine/l4proto.h, engine/types.h).
#include "engine/l4proto.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "engine/tcp_track.h"
#include "tests/unit/component_util.h"
#include "tests/unit/test_util.h"

namespace unat::internal {
namespace {

using unat::testing::A;
using unat::testing::Views;

const L4Proto& Ops(uint8_t proto) {
  const L4Proto* ops = L4ProtoFor(proto);
  EXPECT_NE(ops, nullptr) << int(proto);
  return *ops;
}

TEST(L4ProtoTable, HasTheEntryOfEveryTrackedProtocolAndNoOther) {
  std::set<uint8_t> tracked(std::begin(kTrackedProtocols),
                            std::end(kTrackedProtocols));
  EXPECT_EQ(tracked,
            (std::set<uint8_t>{kProtoTcp, kProtoUdp, kProtoIcmp, kProtoGre}));
  for (int p = 0; p < 256; ++p) {
    const uint8_t proto = static_cast<uint8_t>(p);
    const L4Proto* ops = L4ProtoFor(proto);
    EXPECT_EQ(IsTrackedProto(proto), tracked.contains(proto)) << p;
    if (tracked.contains(proto)) {
      ASSERT_NE(ops, nullptr) << p;
      EXPECT_EQ(ops->number, proto);
      EXPECT_NE(ops->name, nullptr);
      EXPECT_NE(ops->parse, nullptr);
      EXPECT_NE(ops->read_key, nullptr);
      EXPECT_NE(ops->rewrite, nullptr);
      EXPECT_NE(ops->may_create, nullptr);
      EXPECT_NE(ops->timeout, nullptr);
    } else {
      EXPECT_EQ(ops, nullptr) << p;
    }
  }
  EXPECT_EQ(L4ProtoFor(132), nullptr);  // SCTP
  EXPECT_EQ(std::string(Ops(kProtoTcp).name), "tcp");
  EXPECT_EQ(std::string(Ops(kProtoUdp).name), "udp");
  EXPECT_EQ(std::string(Ops(kProtoIcmp).name), "icmp");
  EXPECT_EQ(std::string(Ops(kProtoGre).name), "gre");
  // What each protocol may do.
  EXPECT_EQ(Ops(kProtoTcp).track, &TrackTcp);
  EXPECT_EQ(Ops(kProtoUdp).track, nullptr);
  EXPECT_EQ(Ops(kProtoIcmp).track, nullptr);
  EXPECT_TRUE(Ops(kProtoTcp).inbound);
  EXPECT_TRUE(Ops(kProtoUdp).inbound);
  EXPECT_FALSE(Ops(kProtoIcmp).inbound);
  EXPECT_TRUE(Ops(kProtoTcp).helpers);
  EXPECT_TRUE(Ops(kProtoUdp).helpers);
  EXPECT_FALSE(Ops(kProtoIcmp).helpers);
}

TEST(L4ProtoTable, ProtoIndexIsABijectionOntoTheTables) {
  std::set<int> seen;
  for (int i = 0; i < kNumProtos; ++i) {
    EXPECT_EQ(ProtoIndex(kTrackedProtocols[i]), i) << "in list order";
    seen.insert(ProtoIndex(kTrackedProtocols[i]));
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kNumProtos));
  EXPECT_EQ(*seen.begin(), 0);
  EXPECT_EQ(*seen.rbegin(), kNumProtos - 1);
  for (int p = 0; p < 256; ++p) {
    const int i = ProtoIndex(static_cast<uint8_t>(p));
    EXPECT_GE(i, 0) << p;
    EXPECT_LT(i, kNumProtos) << p;
  }
}

TEST(L4ProtoTable, ParseChecksTheHeader) {
  DropReason why = DropReason::kNone;
  std::vector<uint8_t> short_bytes(7, 0);
  for (uint8_t proto : {kProtoTcp, kProtoUdp, kProtoIcmp}) {
    why = DropReason::kNone;
    EXPECT_FALSE(Ops(proto).parse(proto, {short_bytes.data(), 7}, &why, false));
    EXPECT_EQ(why, DropReason::kTruncated) << int(proto);
  }
  Views tcp(unat::testing::Tcp("10.0.0.2", 1, "198.51.100.1", 2));
  ASSERT_TRUE(Ops(kProtoTcp).parse(kProtoTcp, tcp.ip().payload(), &why, false));
  tcp.ip().payload()[l4_field::kTcpDataOff] = 0x40;  // 16-byte header
  EXPECT_FALSE(
      Ops(kProtoTcp).parse(kProtoTcp, tcp.ip().payload(), &why, false));
  EXPECT_EQ(why, DropReason::kBadL4Header);

  Views udp(unat::testing::Udp("10.0.0.2", 1, "198.51.100.1", 2, "hello"));
  StoreBe16(udp.ip().payload().data() + l4_field::kUdpLength, 100);
  why = DropReason::kNone;
  EXPECT_FALSE(
      Ops(kProtoUdp).parse(kProtoUdp, udp.ip().payload(), &why, false));
  EXPECT_EQ(why, DropReason::kBadL4Header);
  EXPECT_TRUE(Ops(kProtoUdp).parse(kProtoUdp, udp.ip().payload(), &why, true))
      << "a first fragment's datagram goes on";
}

TEST(L4ProtoTable, ReadKeyTakesOurSideOfTheFlow) {
  uint16_t ours = 0, theirs = 0;
  for (uint8_t proto : {kProtoTcp, kProtoUdp}) {
    Views v(proto == kProtoTcp
                ? unat::testing::Tcp("10.0.0.2", 40000, "198.51.100.1", 80)
                : unat::testing::Udp("10.0.0.2", 40000, "198.51.100.1", 80));
    Ops(proto).read_key(Side::kInside, v.l4(), &ours, &theirs);
    EXPECT_EQ(ours, 40000) << int(proto);
    EXPECT_EQ(theirs, 80) << int(proto);
    // The same header read as one arriving from outside: its destination
    // is ours.
    Ops(proto).read_key(Side::kOutside, v.l4(), &ours, &theirs);
    EXPECT_EQ(ours, 80) << int(proto);
    EXPECT_EQ(theirs, 40000) << int(proto);
  }
  for (bool reply : {false, true}) {
    Views v(unat::testing::Echo("10.0.0.2", "198.51.100.1", 777, 3, reply));
    for (Side side : {Side::kInside, Side::kOutside}) {
      ours = theirs = 1;
      Ops(kProtoIcmp).read_key(side, v.l4(), &ours, &theirs);
      EXPECT_EQ(ours, 777);
      EXPECT_EQ(theirs, 0);
    }
  }
}

// A packet of `proto` between 10.0.0.2:40000 (inside) and 198.51.100.1:80.
std::vector<uint8_t> PacketOf(uint8_t proto, bool from_inside,
                              const char* nat_side = "10.0.0.2",
                              uint16_t nat_port = 40000) {
  const char* remote = "198.51.100.1";
  const char* src = from_inside ? nat_side : remote;
  const char* dst = from_inside ? remote : nat_side;
  const uint16_t sport = from_inside ? nat_port : 80;
  const uint16_t dport = from_inside ? 80 : nat_port;
  switch (proto) {
    case kProtoTcp:
      return unat::testing::Tcp(src, sport, dst, dport,
                                Tins::TCP::PSH | Tins::TCP::ACK, 77, 88,
                                "some data");
    case kProtoUdp:
      return unat::testing::Udp(src, sport, dst, dport, "some datagram");
    default:
      return unat::testing::Echo(src, dst, nat_port, 1, !from_inside);
  }
}

TEST(L4ProtoTable, RewriteKeepsTheChecksumRight) {
  const uint32_t inside = A("10.0.0.2"), ext = A("203.0.113.1");
  for (uint8_t proto : {kProtoTcp, kProtoUdp, kProtoIcmp}) {
    for (Side from : {Side::kInside, Side::kOutside}) {
      SCOPED_TRACE(std::string(Ops(proto).name) +
                   (from == Side::kInside ? " out" : " in"));
      // Out: the source becomes the external endpoint 203.0.113.1:50000.
      // In: the destination becomes the inside endpoint 10.0.0.2:40000.
      const bool out = from == Side::kInside;
      Views v(out ? PacketOf(proto, true)
                  : PacketOf(proto, false, "203.0.113.1", 50000));
      const uint16_t port = out ? 50000 : 40000;
      if (out) {
        v.ip().set_src(ext);
      } else {
        v.ip().set_dst(inside);
      }
      Ops(proto).rewrite(v.l4(), from, out ? inside : ext, out ? ext : inside,
                         port);
      EXPECT_TRUE(L4ChecksumOk(v.ip(), v.l4(), proto));
      EXPECT_TRUE(unat::testing::ChecksumsValid(v.bytes()));
      if (proto == kProtoIcmp) {
        EXPECT_EQ(v.l4().icmp_id(), port);
      } else {
        EXPECT_EQ(out ? v.l4().src_port() : v.l4().dst_port(), port);
        EXPECT_EQ(out ? v.l4().dst_port() : v.l4().src_port(), 80)
            << "the remote's port stays";
      }
    }
  }
}

TEST(L4ProtoTable, TheChecksumCheckSeesAnAddressChangeLeftOut) {
  // The control for the test above: without rewrite() the pseudo header
  // no longer matches.
  for (uint8_t proto : {kProtoTcp, kProtoUdp}) {
    Views v(PacketOf(proto, true));
    v.ip().set_src(A("203.0.113.1"));
    EXPECT_FALSE(L4ChecksumOk(v.ip(), v.l4(), proto)) << int(proto);
  }
}

TEST(L4ProtoTable, AUdpChecksumOfZeroStaysZero) {
  std::vector<uint8_t> bytes = PacketOf(kProtoUdp, true);
  StoreBe16(bytes.data() + 20 + l4_field::kUdpChecksum, 0);  // none
  Views v(std::move(bytes));
  v.ip().set_src(A("203.0.113.1"));
  Ops(kProtoUdp).rewrite(v.l4(), Side::kInside, A("10.0.0.2"), A("203.0.113.1"),
                         50000);
  EXPECT_EQ(LoadBe16(v.l4().data() + l4_field::kUdpChecksum), 0);
  EXPECT_EQ(v.l4().src_port(), 50000);
  EXPECT_TRUE(L4ChecksumOk(v.ip(), v.l4(), kProtoUdp));
}

TEST(L4ProtoTable, AUdpChecksumThatComesOutZeroIsSentAsAllOnes) {
  const std::vector<uint8_t> base = PacketOf(kProtoUdp, true);
  int all_ones = 0;
  for (uint32_t port = 0; port <= 65535; ++port) {
    Views v(base);
    v.ip().set_src(A("203.0.113.1"));
    Ops(kProtoUdp).rewrite(v.l4(), Side::kInside, A("10.0.0.2"),
                           A("203.0.113.1"), static_cast<uint16_t>(port));
    const uint16_t c = LoadBe16(v.l4().data() + l4_field::kUdpChecksum);
    ASSERT_NE(c, 0) << "port " << port << ": 0 would mean no checksum";
    ASSERT_TRUE(L4ChecksumOk(v.ip(), v.l4(), kProtoUdp)) << "port " << port;
    all_ones += c == 0xffff;
  }
  EXPECT_GE(all_ones, 1) << "some port makes the sum come out zero";
}

TEST(L4ProtoTable, RewriteLeavesAQuotedHeaderWithoutChecksumAlone) {
  // ICMP errors quote as little as 8 bytes: a TCP header's ports and
  // sequence number, no checksum. Exactly 8 bytes: ASan sees any write
  // beyond.
  Views tcp(PacketOf(kProtoTcp, false, "203.0.113.1", 50000));
  std::vector<uint8_t> quoted(tcp.ip().payload().begin(),
                              tcp.ip().payload().begin() + 8);
  const std::vector<uint8_t> before = quoted;
  auto q = L4View::ParseQuoted({quoted.data(), quoted.size()});
  ASSERT_TRUE(q);
  Ops(kProtoTcp).rewrite(*q, Side::kOutside, A("203.0.113.1"), A("10.0.0.2"),
                         40000);
  EXPECT_EQ(q->dst_port(), 40000);
  EXPECT_EQ(q->src_port(), 80);
  EXPECT_EQ(std::vector<uint8_t>(quoted.begin() + 4, quoted.end()),
            std::vector<uint8_t>(before.begin() + 4, before.end()));
}

TEST(L4ProtoTable, OnlyATcpSynMayMakeAFlow) {
  using Tins::TCP;
  const std::vector<std::pair<uint8_t, bool>> cases = {
      {TCP::SYN, true},
      {TCP::SYN | TCP::ACK, false},
      {TCP::ACK, false},
      {TCP::RST, false},
      {TCP::SYN | TCP::RST, false},
      {TCP::FIN | TCP::ACK, false},
      {TCP::PSH | TCP::ACK, false},
      {0, false},
  };
  for (auto [flags, want] : cases) {
    Views v(unat::testing::Tcp("10.0.0.2", 1, "198.51.100.1", 2, flags));
    for (Side side : {Side::kInside, Side::kOutside}) {
      EXPECT_EQ(Ops(kProtoTcp).may_create(side, v.l4()), want)
          << "flags " << int(flags);
    }
  }
  Views udp(PacketOf(kProtoUdp, true));
  EXPECT_TRUE(Ops(kProtoUdp).may_create(Side::kInside, udp.l4()));
  EXPECT_TRUE(Ops(kProtoUdp).may_create(Side::kOutside, udp.l4()));
}

TEST(L4ProtoTable, OnlyAnInsideIcmpRequestMayMakeAFlow) {
  Views request(unat::testing::Echo("10.0.0.2", "198.51.100.1", 7));
  Views reply(unat::testing::Echo("10.0.0.2", "198.51.100.1", 7, 1, true));
  Tins::IP ts_ip("198.51.100.1", "10.0.0.2");
  ts_ip /= Tins::ICMP(Tins::ICMP::TIMESTAMP_REQUEST);
  Views timestamp(ts_ip.serialize());
  Views error(unat::testing::IcmpError(
      "10.0.0.2", "198.51.100.1", Tins::ICMP::DEST_UNREACHABLE, 3,
      unat::testing::Udp("198.51.100.1", 53, "10.0.0.2", 5000)));
  const L4Proto& icmp = Ops(kProtoIcmp);
  EXPECT_TRUE(icmp.may_create(Side::kInside, request.l4()));
  EXPECT_TRUE(icmp.may_create(Side::kInside, timestamp.l4()));
  EXPECT_FALSE(icmp.may_create(Side::kOutside, request.l4()));
  EXPECT_FALSE(icmp.may_create(Side::kInside, reply.l4()));
  EXPECT_FALSE(icmp.may_create(Side::kInside, error.l4()));
}

TEST(L4ProtoTable, TimeoutsFollowTheFlowsState) {
  Timeouts t;
  t.tcp_established_s = 1001;
  t.tcp_transitory_s = 1002;
  t.udp_s = 1003;
  t.icmp_s = 1004;
  t.tcp_inbound_syn_s = 1005;
  t.udp_inbound_unanswered_s = 1006;
  struct Case {
    TcpState state;
    uint32_t outbound, inbound;
  };
  const Case cases[] = {
      {TcpState::kSynSent, 1002, 1005},
      {TcpState::kSynReceived, 1002, 1005},
      {TcpState::kEstablished, 1001, 1001},
      {TcpState::kFinWait, 1002, 1002},
      {TcpState::kClosing, 1002, 1002},
      {TcpState::kClosed, 1002, 1002},
  };
  for (const Case& c : cases) {
    Flow f{};
    f.flags = kFlowLive | kFlowSeenInside | kFlowSeenOutside;
    f.set_state(c.state);
    EXPECT_EQ(Ops(kProtoTcp).timeout(f, t), c.outbound)
        << TcpStateName(c.state);
    f.flags |= kFlowInboundOrigin;
    EXPECT_EQ(Ops(kProtoTcp).timeout(f, t), c.inbound)
        << TcpStateName(c.state) << " inbound";
    EXPECT_EQ(TcpTimeout(f, t), c.inbound);
  }
  Flow u{};
  u.flags = kFlowLive;
  EXPECT_EQ(Ops(kProtoUdp).timeout(u, t), 1003u) << "outbound";
  u.flags = kFlowLive | kFlowInboundOrigin | kFlowSeenOutside;
  EXPECT_EQ(Ops(kProtoUdp).timeout(u, t), 1006u) << "inbound, unanswered";
  u.flags |= kFlowSeenInside;
  EXPECT_EQ(Ops(kProtoUdp).timeout(u, t), 1003u) << "inbound, answered";
  EXPECT_EQ(UdpTimeout(u, t), 1003u);
  Flow i{};
  i.flags = kFlowLive;
  EXPECT_EQ(Ops(kProtoIcmp).timeout(i, t), 1004u);
}

}  // namespace
}  // namespace unat::internal
