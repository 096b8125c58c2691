// The NAT's own ICMP errors on their own: what BuildIcmpError writes, what
// MayAnswerWithIcmpError refuses, and the rate limiter (engine/icmp.h).
#include "engine/icmp.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/unit/component_util.h"
#include "tests/unit/test_util.h"

namespace unat::internal {
namespace {

using unat::testing::A;
using unat::testing::Views;

// Builds the error about `original` from 203.0.113.1.
std::vector<uint8_t> ErrorAbout(const std::vector<uint8_t>& original,
                                uint8_t type, uint8_t code, uint32_t rest) {
  Views v(original);
  std::vector<uint8_t> out(kIcmpErrorMax + 16, 0xee);
  const uint16_t n =
      BuildIcmpError(A("203.0.113.1"), v.ip(), type, code, rest, out.data());
  EXPECT_LE(n, kIcmpErrorMax);
  for (size_t i = n; i < out.size(); ++i) {
    EXPECT_EQ(out[i], 0xee) << "wrote past its length at " << i;
  }
  out.resize(n);
  return out;
}

TEST(BuildIcmpError, MakesAValidErrorQuotingTheWholeSmallPacket) {
  const std::vector<uint8_t> original = unat::testing::Udp(
      "10.0.0.2", 5000, "198.51.100.1", 53, std::string(100, 'x'));
  std::vector<uint8_t> err =
      ErrorAbout(original, icmp_type::kTimeExceeded, 0, 0);
  ASSERT_EQ(err.size(), 20u + 8u + original.size());

  Views v(err);  // parses: lengths and the IP header checksum are right
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v.ip().size(), err.size());
  EXPECT_EQ(v.ip().src(), A("203.0.113.1"));
  EXPECT_EQ(v.ip().dst(), A("10.0.0.2")) << "back to the packet's source";
  EXPECT_EQ(v.ip().protocol(), kProtoIcmp);
  EXPECT_EQ(v.ip().ttl(), 64);
  EXPECT_FALSE(v.ip().is_fragment());
  EXPECT_EQ(v.l4().icmp_type(), icmp_type::kTimeExceeded);
  EXPECT_EQ(v.l4().icmp_code(), 0);
  EXPECT_TRUE(L4ChecksumOk(v.ip(), v.l4(), kProtoIcmp));
  EXPECT_EQ(std::vector<uint8_t>(err.begin() + 28, err.end()), original);
  EXPECT_TRUE(unat::testing::ChecksumsValid(err));
}

TEST(BuildIcmpError, WritesTheRestOfTheHeader) {
  const std::vector<uint8_t> original =
      unat::testing::Tcp("10.0.0.2", 40000, "198.51.100.1", 80, Tins::TCP::SYN);
  // Fragmentation needed, next-hop MTU 1400 (RFC 1191).
  std::vector<uint8_t> err =
      ErrorAbout(original, icmp_type::kDestUnreachable, 4, 1400);
  ASSERT_GE(err.size(), 28u);
  EXPECT_EQ(err[20], icmp_type::kDestUnreachable);
  EXPECT_EQ(err[21], 4);
  EXPECT_EQ(LoadBe32(&err[24]), 1400u);
  Views v(err);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(L4ChecksumOk(v.ip(), v.l4(), kProtoIcmp));
}

TEST(BuildIcmpError, QuotesAtMost548Bytes) {
  const std::vector<uint8_t> original = unat::testing::Udp(
      "10.0.0.2", 5000, "198.51.100.1", 53, std::string(1400, 'y'));
  std::vector<uint8_t> err =
      ErrorAbout(original, icmp_type::kTimeExceeded, 0, 0);
  ASSERT_EQ(err.size(), 576u) << "RFC 1812 4.3.2.3";
  Views v(err);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v.ip().size(), 576);
  EXPECT_TRUE(L4ChecksumOk(v.ip(), v.l4(), kProtoIcmp));
  EXPECT_EQ(std::vector<uint8_t>(err.begin() + 28, err.end()),
            std::vector<uint8_t>(original.begin(), original.begin() + 548));
  // Exactly 548 bytes fit whole; one more is cut.
  for (size_t payload : {548u - 28u, 549u - 28u}) {
    const std::vector<uint8_t> o = unat::testing::Udp(
        "10.0.0.2", 5000, "198.51.100.1", 53, std::string(payload, 'z'));
    EXPECT_EQ(ErrorAbout(o, icmp_type::kTimeExceeded, 0, 0).size(), 576u);
  }
}

TEST(MayAnswerWithIcmpError, AnswersOrdinaryPacketsAndQueries) {
  EXPECT_TRUE(MayAnswerWithIcmpError(
      Views(unat::testing::Udp("10.0.0.2", 1, "198.51.100.1", 2)).ip()));
  EXPECT_TRUE(MayAnswerWithIcmpError(
      Views(unat::testing::Tcp("10.0.0.2", 1, "198.51.100.1", 2)).ip()));
  EXPECT_TRUE(MayAnswerWithIcmpError(
      Views(unat::testing::Echo("10.0.0.2", "198.51.100.1", 7)).ip()));
  EXPECT_TRUE(MayAnswerWithIcmpError(
      Views(unat::testing::Echo("10.0.0.2", "198.51.100.1", 7, 1, true)).ip()));
}

TEST(MayAnswerWithIcmpError, NeverAnswersAPacketToMulticastOrBroadcast) {
  // RFC 1812 4.3.2.7: no error about a datagram sent to a group or to the
  // limited broadcast address.
  EXPECT_FALSE(MayAnswerWithIcmpError(
      Views(unat::testing::Udp("10.0.0.2", 1, "239.255.255.250", 1900)).ip()));
  EXPECT_FALSE(MayAnswerWithIcmpError(
      Views(unat::testing::Udp("10.0.0.2", 68, "255.255.255.255", 67)).ip()));
}

TEST(MayAnswerWithIcmpError, NeverAnswersAnIcmpError) {
  const std::vector<uint8_t> quoted =
      unat::testing::Udp("198.51.100.1", 53, "10.0.0.2", 5000);
  for (auto type : {Tins::ICMP::DEST_UNREACHABLE, Tins::ICMP::TIME_EXCEEDED,
                    Tins::ICMP::PARAM_PROBLEM, Tins::ICMP::SOURCE_QUENCH}) {
    Views v(
        unat::testing::IcmpError("10.0.0.2", "198.51.100.1", type, 0, quoted));
    EXPECT_FALSE(MayAnswerWithIcmpError(v.ip())) << "type " << int(type);
  }
  // An ICMP packet too short to say what it is: a bare header.
  std::vector<uint8_t> bare =
      unat::testing::Udp("10.0.0.2", 1, "198.51.100.1", 2);
  bare.resize(20);
  bare[ipv4_field::kProtocol] = kProtoIcmp;
  StoreBe16(&bare[ipv4_field::kTotalLength], 20);
  StoreBe16(&bare[ipv4_field::kChecksum], 0);
  StoreBe16(&bare[ipv4_field::kChecksum], InternetChecksum({bare.data(), 20}));
  Views empty(bare);
  ASSERT_TRUE(empty.ip().payload().empty());
  EXPECT_FALSE(MayAnswerWithIcmpError(empty.ip()));
}

TEST(MayAnswerWithIcmpError, AnswersOnlyTheFirstFragment) {
  auto fragment = [](uint16_t offset_units, bool more) {
    Tins::IP ip("198.51.100.1", "10.0.0.2");
    ip.fragment_offset(offset_units);
    if (more) ip.flags(Tins::IP::MORE_FRAGMENTS);
    ip /= Tins::RawPDU(std::string(64, 'f'));
    ip.protocol(kProtoUdp);
    return ip.serialize();
  };
  Views first(fragment(0, true));
  ASSERT_TRUE(first.ip().is_fragment());
  EXPECT_TRUE(MayAnswerWithIcmpError(first.ip()));
  Views middle(fragment(8, true));
  ASSERT_EQ(middle.ip().fragment_offset_bytes(), 64);
  EXPECT_FALSE(MayAnswerWithIcmpError(middle.ip()));
  Views last(fragment(16, false));
  EXPECT_FALSE(MayAnswerWithIcmpError(last.ip()));
}

TEST(MayAnswerWithIcmpError, NeverAnswersAnUnusableSource) {
  for (const char* src : {"0.0.0.0", "127.0.0.1", "127.255.0.9", "224.0.0.5",
                          "239.255.255.250", "255.255.255.255", "240.0.0.1"}) {
    EXPECT_TRUE(IsUnusableSource(A(src))) << src;
    // (libtins would fill in 0.0.0.0: the source is set here.)
    Views v(unat::testing::Udp("10.0.0.2", 1, "198.51.100.1", 2));
    v.ip().set_src(A(src));
    ASSERT_EQ(v.ip().src(), A(src));
    EXPECT_FALSE(MayAnswerWithIcmpError(v.ip())) << src;
  }
  for (const char* src : {"10.0.0.2", "1.0.0.0", "126.255.255.255", "128.0.0.1",
                          "223.255.255.255"}) {
    EXPECT_FALSE(IsUnusableSource(A(src))) << src;
  }
  EXPECT_TRUE(IsMulticastOrBroadcast(A("224.0.0.1")));
  EXPECT_FALSE(IsMulticastOrBroadcast(A("240.0.0.1")));
}

TEST(IcmpRateLimiter, ABurstThenTheRefillRate) {
  IcmpRateLimiter limiter;
  // 10 a second, 5 deep, full at its first use.
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(limiter.Take(1000, 10, 5)) << i;
  EXPECT_FALSE(limiter.Take(1000, 10, 5));
  EXPECT_FALSE(limiter.Take(1099, 10, 5)) << "0.99 of a token";
  EXPECT_TRUE(limiter.Take(1100, 10, 5)) << "one token after 100 ms";
  EXPECT_FALSE(limiter.Take(1100, 10, 5));
  // Three tokens in 300 ms.
  int taken = 0;
  for (int i = 0; i < 10; ++i) taken += limiter.Take(1400, 10, 5);
  EXPECT_EQ(taken, 3);
  // A long quiet time fills it to the burst, no more.
  taken = 0;
  for (int i = 0; i < 20; ++i) taken += limiter.Take(100000, 10, 5);
  EXPECT_EQ(taken, 5);
}

TEST(IcmpRateLimiter, PartialTokensAccumulate) {
  IcmpRateLimiter limiter;
  EXPECT_TRUE(limiter.Take(0, 3, 1));
  // 3 a second: a token every 333.3 ms, counted in thousandths.
  EXPECT_FALSE(limiter.Take(200, 3, 1));
  EXPECT_FALSE(limiter.Take(333, 3, 1));
  EXPECT_TRUE(limiter.Take(334, 3, 1));
  EXPECT_FALSE(limiter.Take(500, 3, 1));
}

}  // namespace
}  // namespace unat::internal
