// The header emitters (engine/emit.h), the TCP option walker and SeqNum
// (engine/wire.h). Emitted packets are compared byte for byte with the same
// packet built by libtins, and parsed back with our own views.
#include "engine/emit.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tests/unit/test_util.h"

namespace unat {
namespace {

using testing::A;
using Tins::TCP;

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// libtins' IP header with every field we emit set explicitly.
Tins::IP TinsIp(const char* src, const char* dst, uint8_t ttl, bool df) {
  Tins::IP ip(dst, src);
  ip.ttl(ttl);
  ip.id(0);
  ip.tos(0);
  ip.flags(df ? Tins::IP::DONT_FRAGMENT : Tins::IP::Flags(0));
  return ip;
}

Tins::TCP TinsTcp(uint16_t sport, uint16_t dport, uint8_t flags, uint32_t seq,
                  uint32_t ack, uint16_t window) {
  TCP t(dport, sport);
  t.flags(flags);
  t.seq(seq);
  t.ack_seq(ack);
  t.window(window);
  return t;
}

// Parses `b` with our views: header checksum, lengths, L4 checksum.
void ExpectParses(std::vector<uint8_t> b, uint8_t proto) {
  DropReason why = DropReason::kNone;
  auto ip = Ipv4View::Parse(b, &why);
  ASSERT_TRUE(ip) << static_cast<int>(why);
  EXPECT_EQ(ip->protocol(), proto);
  EXPECT_EQ(ip->size(), b.size());
  auto l4 = L4View::Parse(proto, ip->payload(), &why);
  ASSERT_TRUE(l4) << static_cast<int>(why);
  EXPECT_TRUE(L4ChecksumOk(*ip, *l4, proto));
}

TEST(EmitTest, UdpDatagramMatchesLibtins) {
  const std::string payload = "an answer, odd length";
  const Ipv4Repr ip{.src = A("10.77.0.1"),
                    .dst = A("10.77.0.2"),
                    .protocol = kProtoUdp,
                    .payload_length = static_cast<uint16_t>(
                        UdpRepr::kHeaderLength + payload.size()),
                    .ttl = 1,
                    .dont_fragment = true};
  std::vector<uint8_t> b(ip.buffer_len(), 0xee);
  Emit(ip, b.data());
  Emit(UdpRepr{.src_port = 5351, .dst_port = 40000}, ip, Bytes(payload),
       b.data() + Ipv4Repr::kHeaderLength);

  Tins::IP want = TinsIp("10.77.0.1", "10.77.0.2", 1, true);
  want /= Tins::UDP(40000, 5351) / Tins::RawPDU(payload);
  EXPECT_EQ(b, want.serialize());
  ExpectParses(b, kProtoUdp);
}

TEST(EmitTest, UdpChecksumZeroIsSentAsAllOnes) {
  // First with a zero word, whose checksum field then is the word that
  // makes the sum all ones: the computed checksum 0 goes out as 0xffff.
  const Ipv4Repr ip{.src = A("192.0.2.1"),
                    .dst = A("192.0.2.2"),
                    .protocol = kProtoUdp,
                    .payload_length = UdpRepr::kHeaderLength + 2};
  std::vector<uint8_t> b(ip.buffer_len());
  uint8_t word[2] = {0, 0};
  Emit(ip, b.data());
  Emit(UdpRepr{.src_port = 1, .dst_port = 2}, ip, word, b.data() + 20);
  StoreBe16(word, LoadBe16(&b[20 + l4_field::kUdpChecksum]));
  Emit(UdpRepr{.src_port = 1, .dst_port = 2}, ip, word, b.data() + 20);
  EXPECT_EQ(LoadBe16(&b[20 + l4_field::kUdpChecksum]), 0xffff);
  ExpectParses(b, kProtoUdp);
}

TEST(EmitTest, PayloadAlreadyInPlaceIsKept) {
  const std::string payload = "in place";
  const Ipv4Repr ip{
      .src = A("10.0.0.1"),
      .dst = A("10.0.0.2"),
      .protocol = kProtoUdp,
      .payload_length = static_cast<uint16_t>(8 + payload.size())};
  std::vector<uint8_t> b(ip.buffer_len());
  std::copy(payload.begin(), payload.end(), b.begin() + 28);
  Emit(ip, b.data());
  Emit(UdpRepr{.src_port = 7, .dst_port = 9}, ip,
       {b.data() + 28, payload.size()}, b.data() + 20);
  EXPECT_EQ(std::string(b.begin() + 28, b.end()), payload);
  ExpectParses(b, kProtoUdp);
}

TEST(EmitTest, TcpSegmentWithOptionsMatchesLibtins) {
  const std::string payload = "HTTP/1.1 200 OK\r\n\r\n";
  uint8_t opts[4] = {tcp_option::kMss, 4, 0, 0};
  StoreBe16(opts + 2, 1360);
  const TcpRepr tcp{.src_port = 5000,
                    .dst_port = 40001,
                    .seq = SeqNum(0xfffffff0),
                    .ack = SeqNum(12345),
                    .flags = tcp_flags::kSyn | tcp_flags::kAck,
                    .window = 65535,
                    .options = opts};
  EXPECT_EQ(tcp.header_length(), 24);
  const Ipv4Repr ip{.src = A("10.77.0.1"),
                    .dst = A("10.77.0.2"),
                    .protocol = kProtoTcp,
                    .payload_length = static_cast<uint16_t>(
                        tcp.header_length() + payload.size()),
                    .dont_fragment = true};
  std::vector<uint8_t> b(ip.buffer_len(), 0xee);
  Emit(ip, b.data());
  Emit(tcp, ip, Bytes(payload), b.data() + Ipv4Repr::kHeaderLength);

  Tins::IP want = TinsIp("10.77.0.1", "10.77.0.2", 64, true);
  TCP t = TinsTcp(5000, 40001, TCP::SYN | TCP::ACK, 0xfffffff0, 12345, 65535);
  t.mss(1360);
  want /= t / Tins::RawPDU(payload);
  EXPECT_EQ(b, want.serialize());
  ExpectParses(b, kProtoTcp);
}

TEST(EmitTest, TcpOptionTailShorterThanAWordIsLeftOut) {
  const uint8_t opts[6] = {tcp_option::kNop,
                           tcp_option::kNop,
                           tcp_option::kNop,
                           tcp_option::kNop,
                           1,
                           1};
  const TcpRepr tcp{.flags = tcp_flags::kAck, .options = opts};
  EXPECT_EQ(tcp.header_length(), 24);
}

TEST(EmitTest, ResetMatchesLibtinsAndAnswersTheSegment) {
  // A SYN with 3 bytes and FIN, no ACK: SEQ 0, ACK = its SEQ + 3 + 2.
  auto in = testing::Tcp("10.77.0.2", 40000, "10.77.0.1", 80,
                         TCP::SYN | TCP::FIN, 0xfffffffe, 0, "abc");
  DropReason why;
  auto ip_in = Ipv4View::Parse(in, &why);
  ASSERT_TRUE(ip_in);
  auto l4_in = L4View::Parse(kProtoTcp, ip_in->payload(), &why);
  ASSERT_TRUE(l4_in);
  const TcpRepr rst = ResetFor(*l4_in, 3);
  EXPECT_EQ(rst.src_port, 80);
  EXPECT_EQ(rst.dst_port, 40000);
  EXPECT_EQ(rst.seq, SeqNum(0));
  EXPECT_EQ(rst.ack, SeqNum(3));  // wrapped: 0xfffffffe + 5
  EXPECT_EQ(rst.flags, tcp_flags::kRst | tcp_flags::kAck);
  EXPECT_EQ(rst.header_length(), 20);

  // 20-byte RST from the gateway, as the engine sends it (no DF).
  const Ipv4Repr ip{.src = A("10.77.0.1"),
                    .dst = A("10.77.0.2"),
                    .protocol = kProtoTcp,
                    .payload_length = rst.header_length()};
  std::vector<uint8_t> b(ip.buffer_len());
  Emit(ip, b.data());
  Emit(rst, ip, {}, b.data() + 20);
  Tins::IP want = TinsIp("10.77.0.1", "10.77.0.2", 64, false);
  want /= TinsTcp(80, 40000, TCP::RST | TCP::ACK, 0, 3, 0);
  EXPECT_EQ(b, want.serialize());
  ExpectParses(b, kProtoTcp);

  // With an ACK: SEQ = its ACK, nothing acknowledged.
  auto acked = testing::Tcp("10.77.0.2", 40000, "10.77.0.1", 80,
                            TCP::ACK | TCP::PSH, 100, 777, "x");
  auto ip2 = Ipv4View::Parse(acked, &why);
  ASSERT_TRUE(ip2);
  auto l42 = L4View::Parse(kProtoTcp, ip2->payload(), &why);
  ASSERT_TRUE(l42);
  const TcpRepr rst2 = ResetFor(*l42, 1);
  EXPECT_EQ(rst2.seq, SeqNum(777));
  EXPECT_EQ(rst2.ack, SeqNum(0));
  EXPECT_EQ(rst2.flags, tcp_flags::kRst);
}

TEST(EmitTest, IcmpErrorMatchesLibtins) {
  // Fragmentation needed, next-hop MTU 1400, quoting a datagram.
  const auto quoted =
      testing::Udp("10.77.0.2", 5000, "198.51.100.2", 53, std::string(40, 'q'));
  const uint16_t quote = 28 + 8;
  const Ipv4Repr ip{.src = A("203.0.113.1"),
                    .dst = A("10.77.0.2"),
                    .protocol = kProtoIcmp,
                    .payload_length = IcmpRepr::kHeaderLength + quote};
  std::vector<uint8_t> b(ip.buffer_len());
  Emit(ip, b.data());
  Emit(IcmpRepr{.type = icmp_type::kDestUnreachable, .code = 4, .rest = 1400},
       {quoted.data(), quote}, b.data() + 20);

  Tins::IP want = TinsIp("203.0.113.1", "10.77.0.2", 64, false);
  Tins::ICMP icmp(Tins::ICMP::DEST_UNREACHABLE);
  icmp.code(4);
  icmp.mtu(1400);
  want /= icmp / Tins::RawPDU(quoted.data(), quote);
  EXPECT_EQ(b, want.serialize());
  ExpectParses(b, kProtoIcmp);
}

TEST(EmitTest, StoredChecksumsVerify) {
  auto b = testing::Tcp("10.0.0.1", 1, "10.0.0.2", 2, TCP::ACK, 5, 6, "data");
  b[8] = 3;                          // TTL, checksum now stale
  b[20 + l4_field::kTcpWindow] = 9;  // window, checksum now stale
  StoreIpv4Checksum(b.data(), 20);
  StoreTransportChecksum(A("10.0.0.1"), A("10.0.0.2"), kProtoTcp,
                         {b.data() + 20, b.size() - 20});
  EXPECT_TRUE(testing::ChecksumsValid(b));
  EXPECT_EQ(InternetChecksum({b.data(), 20}), 0);
  EXPECT_EQ(TransportChecksum(A("10.0.0.1"), A("10.0.0.2"), kProtoTcp,
                              {b.data() + 20, b.size() - 20}),
            0);
}

// ------------------------------------------------------------------------
// TcpOptions

struct Seen {
  uint8_t kind;
  uint16_t offset;
  std::vector<uint8_t> data;
  bool operator==(const Seen&) const = default;
};

std::vector<Seen> Walk(std::vector<uint8_t> opts) {
  std::vector<Seen> out;
  for (const TcpOption& o : TcpOptions(opts)) {
    out.push_back({o.kind, o.offset, {o.data.begin(), o.data.end()}});
    EXPECT_EQ(o.length(), o.data.size() + 2);
  }
  return out;
}

TEST(TcpOptionsTest, WalksEveryOptionButNop) {
  const std::vector<uint8_t> opts = {
      2, 4,  0x05, 0xb4,                    // MSS 1460
      1,                                    // NOP
      3, 3,  7,                             // window scale 7
      4, 2,                                 // SACK permitted
      5, 10, 0,    0,    0, 1, 0, 0, 0, 2,  // one SACK block
      1, 1,                                 // NOPs
  };
  const std::vector<Seen> want = {
      {tcp_option::kMss, 0, {0x05, 0xb4}},
      {tcp_option::kWindowScale, 5, {7}},
      {tcp_option::kSackPermitted, 8, {}},
      {tcp_option::kSack, 10, {0, 0, 0, 1, 0, 0, 0, 2}},
  };
  EXPECT_EQ(Walk(opts), want);
}

TEST(TcpOptionsTest, StopsAtEndOfList) {
  EXPECT_EQ(Walk({1, 0, 2, 4, 1, 2}), std::vector<Seen>{});
  EXPECT_EQ(Walk({3, 3, 1, 0, 2, 4, 1, 2}),
            (std::vector<Seen>{{tcp_option::kWindowScale, 0, {1}}}));
}

TEST(TcpOptionsTest, StopsSafelyOnMalformedOrTruncatedOptions) {
  const std::vector<Seen> mss = {{tcp_option::kMss, 0, {0x05, 0xb4}}};
  EXPECT_EQ(Walk({2, 4, 5, 0xb4, 3, 0, 3, 3, 1}), mss);   // length 0
  EXPECT_EQ(Walk({2, 4, 5, 0xb4, 3, 1, 3, 3, 1}), mss);   // length 1
  EXPECT_EQ(Walk({2, 4, 5, 0xb4, 8, 10, 0, 0}), mss);     // runs past the end
  EXPECT_EQ(Walk({2, 4, 5, 0xb4, 3}), mss);               // no length byte
  EXPECT_EQ(Walk({2, 5, 5, 0xb4}), std::vector<Seen>{});  // MSS past the end
  EXPECT_EQ(Walk({}), std::vector<Seen>{});
  EXPECT_EQ(Walk({1, 1, 1}), std::vector<Seen>{});
}

TEST(TcpOptionsTest, OfHeaderTakesTheBytesUpToTheDataOffset) {
  auto seg = testing::Tcp("10.0.0.1", 1, "10.0.0.2", 2, TCP::SYN);
  std::vector<uint8_t> tcp(seg.begin() + 20, seg.end());
  EXPECT_TRUE(TcpOptions::OfHeader(tcp).bytes().empty());
  // Data offset 7: 8 option bytes, the payload after them not walked.
  tcp[l4_field::kTcpDataOff] = 7 << 4;
  const uint8_t extra[] = {2, 4, 1, 0, 1, 3, 3, 2, 8, 10, 0};
  tcp.insert(tcp.end(), std::begin(extra), std::end(extra));
  const TcpOptions o = TcpOptions::OfHeader(tcp);
  EXPECT_EQ(o.bytes().size(), 8u);
  int n = 0;
  for (const TcpOption& opt : o) {
    EXPECT_NE(opt.kind, tcp_option::kTimestamps);
    ++n;
  }
  EXPECT_EQ(n, 2);
  // The same through a parsed view.
  DropReason why;
  auto l4 = L4View::Parse(kProtoTcp, tcp, &why);
  ASSERT_TRUE(l4);
  EXPECT_EQ(l4->tcp_options().bytes().data(), o.bytes().data());
  EXPECT_EQ(l4->tcp_options().bytes().size(), 8u);
  // A data offset beyond the span (or below 5) never reads outside it.
  tcp.resize(24);
  tcp[l4_field::kTcpDataOff] = 15 << 4;
  EXPECT_EQ(TcpOptions::OfHeader(tcp).bytes().size(), 4u);
  tcp[l4_field::kTcpDataOff] = 2 << 4;
  EXPECT_TRUE(TcpOptions::OfHeader(tcp).bytes().empty());
  EXPECT_TRUE(TcpOptions::OfHeader({tcp.data(), 10}).bytes().empty());
}

// ------------------------------------------------------------------------
// SeqNum

TEST(SeqNumTest, ComparesAcrossTheWrap) {
  const SeqNum before(0xfffffff0), after(0x10);
  EXPECT_TRUE(before < after);
  EXPECT_TRUE(before <= after);
  EXPECT_TRUE(after > before);
  EXPECT_TRUE(after >= before);
  EXPECT_FALSE(after < before);
  EXPECT_FALSE(before > after);
  EXPECT_EQ(after - before, 0x20);
  EXPECT_EQ(before - after, -0x20);
  EXPECT_EQ(before + 0x20u, after);
  EXPECT_EQ(after - 0x20u, before);
  EXPECT_EQ(after + int32_t{-0x20}, before);
  EXPECT_TRUE(SeqNum(7) <= SeqNum(7));
  EXPECT_TRUE(SeqNum(7) >= SeqNum(7));
  EXPECT_FALSE(SeqNum(7) < SeqNum(7));
  EXPECT_FALSE(SeqNum(7) > SeqNum(7));
  SeqNum s(0xffffffff);
  s += 1;
  EXPECT_EQ(s.value(), 0u);
  s -= size_t{2};
  EXPECT_EQ(s.value(), 0xfffffffeu);
  EXPECT_EQ(SeqNum{}.value(), 0u);
}

TEST(SeqNumTest, HalfTheSpaceApartIsBeforeBothWays) {
  // RFC 1982: undefined; here, as the signed difference says.
  const SeqNum a(0), b(0x80000000);
  EXPECT_TRUE(a < b);
  EXPECT_TRUE(b < a);
  EXPECT_EQ(a - b, INT32_MIN);
  // One less than half: ordered.
  EXPECT_TRUE(a < SeqNum(0x7fffffff));
  EXPECT_FALSE(SeqNum(0x7fffffff) < a);
}

static_assert(SeqNum(1) > SeqNum(0xffffffff));
static_assert(SeqNum(0xffffffff) + 2 == SeqNum(1));

}  // namespace
}  // namespace unat
