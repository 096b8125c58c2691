#include "engine/wire.h"

#include <gtest/gtest.h>

#include "tests/unit/test_util.h"

namespace unat {
namespace {

using testing::Udp;

TEST(Ipv4View, ParsesValidPacketAndIgnoresPadding) {
  auto bytes = Udp("10.77.0.2", 5000, "203.0.113.2", 53);
  const size_t real = bytes.size();
  bytes.resize(real + 6, 0xee);  // link padding
  DropReason why = DropReason::kNone;
  auto ip = Ipv4View::Parse(bytes, &why);
  ASSERT_TRUE(ip);
  EXPECT_EQ(ip->size(), real);
  EXPECT_EQ(ip->payload().size(), real - 20);
  EXPECT_EQ(ip->src(), testing::A("10.77.0.2"));
  EXPECT_EQ(ip->protocol(), kProtoUdp);
}

TEST(Ipv4View, RejectsEachMalformation) {
  const auto good = Udp("10.77.0.2", 5000, "203.0.113.2", 53);
  struct Case {
    const char* name;
    std::function<void(std::vector<uint8_t>&)> mutate;
    DropReason want;
  };
  const Case cases[] = {
      {"truncated", [](auto& b) { b.resize(19); }, DropReason::kTruncated},
      {"version 6", [](auto& b) { b[0] = 0x65; }, DropReason::kBadVersion},
      {"ihl 4", [](auto& b) { b[0] = 0x44; }, DropReason::kBadIhl},
      {"ihl beyond buffer",
       [](auto& b) {
         b[0] = 0x4f;
         b.resize(40);
       },
       DropReason::kBadIhl},
      {"total length > buffer",
       [](auto& b) { StoreBe16(&b[2], static_cast<uint16_t>(b.size() + 1)); },
       DropReason::kBadTotalLength},
      {"total length < header", [](auto& b) { StoreBe16(&b[2], 12); },
       DropReason::kBadTotalLength},
      {"bad checksum", [](auto& b) { b[10] ^= 0x40; },
       DropReason::kBadIpChecksum},
  };
  for (const auto& c : cases) {
    auto b = good;
    c.mutate(b);
    DropReason why = DropReason::kNone;
    EXPECT_FALSE(Ipv4View::Parse(b, &why)) << c.name;
    EXPECT_EQ(why, c.want) << c.name;
  }
}

TEST(L4View, RejectsBadTcpDataOffsetAndUdpLength) {
  auto tcp = testing::Tcp("10.0.0.1", 1, "10.0.0.2", 2);
  std::span<uint8_t> l4(tcp.data() + 20, tcp.size() - 20);
  DropReason why = DropReason::kNone;
  ASSERT_TRUE(L4View::Parse(kProtoTcp, l4, &why));
  l4[12] = 0x00;  // data offset 0: zero-length TCP header
  EXPECT_FALSE(L4View::Parse(kProtoTcp, l4, &why));
  EXPECT_EQ(why, DropReason::kBadL4Header);
  l4[12] = 0xf0;  // 60 bytes, beyond the segment
  EXPECT_FALSE(L4View::Parse(kProtoTcp, l4, &why));
  EXPECT_EQ(why, DropReason::kBadL4Header);

  auto udp = Udp("10.0.0.1", 1, "10.0.0.2", 2, "abc");
  std::span<uint8_t> u(udp.data() + 20, udp.size() - 20);
  StoreBe16(&u[4], 7);
  EXPECT_FALSE(L4View::Parse(kProtoUdp, u, &why));
  EXPECT_EQ(why, DropReason::kBadL4Header);
  StoreBe16(&u[4], 200);
  EXPECT_FALSE(L4View::Parse(kProtoUdp, u, &why));
  EXPECT_EQ(why, DropReason::kBadL4Header);
  EXPECT_FALSE(L4View::Parse(kProtoUdp, u.first(7), &why));
  EXPECT_EQ(why, DropReason::kTruncated);
  EXPECT_FALSE(L4View::Parse(99, u, &why));
  EXPECT_EQ(why, DropReason::kUnsupportedProto);
}

TEST(L4View, UdpZeroChecksumStaysZero) {
  auto udp = Udp("10.0.0.1", 1000, "10.0.0.2", 2000, "abc");
  StoreBe16(&udp[26], 0);
  std::span<uint8_t> u(udp.data() + 20, udp.size() - 20);
  DropReason why;
  auto l4 = L4View::Parse(kProtoUdp, u, &why);
  ASSERT_TRUE(l4);
  EXPECT_EQ(l4->ChecksumOffset(kProtoUdp), 0);
}

}  // namespace
}  // namespace unat
