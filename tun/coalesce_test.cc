// Coalescing on write: every super-packet is cut here the way the kernel
// cuts one (tcp_gso_segment / __udp_gso_segment: IDs counted up from the
// first, SEQ advanced, PSH on the last segment only, lengths and checksums
// made anew) and must give back the packets that went in, bit for bit.
#include "tun/coalesce.h"

#include <cstring>
#include <string>
#include <vector>

#include "engine/checksum.h"
#include "gtest/gtest.h"
#include "tun/coalesce_testing.h"

namespace unat::tun {
namespace {

using Bytes = std::vector<uint8_t>;

constexpr uint32_t kSrc = 0xcb007101;  // 203.0.113.1
constexpr uint32_t kDst = 0xc6336402;  // 198.51.100.2

struct Ip {
  uint32_t src = kSrc;
  uint32_t dst = kDst;
  uint16_t id = 100;
  bool df = true;
  uint8_t ttl = 64;
  uint8_t tos = 0;
};

void FinishIp(Bytes* b, const Ip& ip, uint8_t proto) {
  uint8_t* p = b->data();
  p[0] = 0x45;
  p[1] = ip.tos;
  StoreBe16(p + 2, static_cast<uint16_t>(b->size()));
  StoreBe16(p + 4, ip.id);
  StoreBe16(p + 6, ip.df ? 0x4000 : 0);
  p[8] = ip.ttl;
  p[9] = proto;
  StoreBe32(p + 12, ip.src);
  StoreBe32(p + 16, ip.dst);
  testing::SetIpChecksum(p);
}

void TcpChecksum(Bytes* b) {
  uint8_t* p = b->data();
  StoreBe16(p + 36, 0);
  StoreBe16(p + 36, TransportChecksum(LoadBe32(p + 12), LoadBe32(p + 16),
                                      kProtoTcp, {p + 20, b->size() - 20}));
}

void UdpChecksum(Bytes* b) {
  uint8_t* p = b->data();
  StoreBe16(p + 26, 0);
  uint16_t c = TransportChecksum(LoadBe32(p + 12), LoadBe32(p + 16), kProtoUdp,
                                 {p + 20, b->size() - 20});
  StoreBe16(p + 26, c == 0 ? 0xffff : c);
}

Bytes Tcp(uint32_t seq, size_t payload, uint8_t flags = 0x10, Ip ip = {},
          uint16_t sport = 40000, std::string options = "") {
  const size_t thl = 20 + options.size();
  Bytes b(20 + thl + payload);
  uint8_t* t = b.data() + 20;
  StoreBe16(t, sport);
  StoreBe16(t + 2, 80);
  StoreBe32(t + 4, seq);
  StoreBe32(t + 8, 7777);
  t[12] = static_cast<uint8_t>((thl / 4) << 4);
  t[13] = flags;
  StoreBe16(t + 14, 501);
  std::memcpy(t + 20, options.data(), options.size());
  for (size_t i = 0; i < payload; ++i) {
    t[thl + i] = static_cast<uint8_t>(seq + i);
  }
  FinishIp(&b, ip, kProtoTcp);
  TcpChecksum(&b);
  return b;
}

Bytes Udp(size_t payload, Ip ip = {}, uint16_t sport = 5000, uint8_t fill = 0) {
  Bytes b(28 + payload);
  uint8_t* u = b.data() + 20;
  StoreBe16(u, sport);
  StoreBe16(u + 2, 5201);
  StoreBe16(u + 4, static_cast<uint16_t>(8 + payload));
  for (size_t i = 0; i < payload; ++i)
    u[8 + i] = static_cast<uint8_t>(fill + i);
  FinishIp(&b, ip, kProtoUdp);
  UdpChecksum(&b);
  return b;
}

struct Written {
  Bytes bytes;
  OffloadInfo info;
  uint32_t segments = 1;
  bool super = false;
};

class FakeDevice : public GatherWriter {
 public:
  bool tcp = true;
  bool udp = true;
  bool refuse = false;
  bool stopped = false;
  std::vector<Written> writes;

  bool TakesTcpSuper() const override { return tcp && !stopped; }
  bool TakesUdpSuper() const override { return udp && !stopped; }
  void WritePacket(uint8_t* data, size_t len,
                   const OffloadInfo& info) override {
    writes.push_back({Bytes(data, data + len), info, 1, false});
  }
  Result WriteGathered(const OffloadInfo& info, const struct iovec* parts,
                       int count, size_t len, uint32_t segments) override {
    if (refuse) return Result::kRefused;
    Written w;
    for (int i = 0; i < count; ++i) {
      const uint8_t* b = static_cast<const uint8_t*>(parts[i].iov_base);
      w.bytes.insert(w.bytes.end(), b, b + parts[i].iov_len);
    }
    EXPECT_EQ(w.bytes.size(), len);
    w.info = info;
    w.segments = segments;
    w.super = true;
    writes.push_back(std::move(w));
    return Result::kWritten;
  }
  void StopSuper() override { stopped = true; }

  // Every write cut back into packets, in order.
  std::vector<Bytes> Packets() const {
    std::vector<Bytes> out;
    for (const Written& w : writes) {
      if (!w.super) {
        out.push_back(w.bytes);
        continue;
      }
      // The kernel's view: the L4 field holds the pseudo-header sum of
      // the whole; the length fields say the whole.
      const Bytes& s = w.bytes;
      EXPECT_TRUE(w.info.needs_csum);
      EXPECT_EQ(w.info.csum_start, 20);
      EXPECT_EQ(LoadBe16(s.data() + 2), s.size());
      EXPECT_EQ(InternetChecksum({s.data(), 20}), 0) << "IP checksum";
      const size_t field = 20 + w.info.csum_offset;
      EXPECT_EQ(
          LoadBe16(s.data() + field),
          Fold(PseudoHeaderSum(LoadBe32(s.data() + 12), LoadBe32(s.data() + 16),
                               s[9], static_cast<uint32_t>(s.size() - 20))));
      std::vector<Bytes> segs = testing::CutLikeKernel(s, w.info);
      EXPECT_EQ(segs.size(), w.segments);
      out.insert(out.end(), segs.begin(), segs.end());
    }
    return out;
  }
};

class CoalesceTest : public ::testing::Test {
 protected:
  // Keeps the packets alive (the coalescer points into them) until Flush.
  void Batch(const std::vector<Bytes>& in, FakeDevice* dev = nullptr) {
    held_ = in;
    for (Bytes& b : held_) {
      c_.Add(dev ? dev : &dev_, b.data(), static_cast<uint32_t>(b.size()),
             OffloadInfo{});
    }
    c_.Flush();
  }
  size_t Supers(const FakeDevice& d) const {
    size_t n = 0;
    for (const Written& w : d.writes) n += w.super;
    return n;
  }

  Coalescer c_;
  FakeDevice dev_;
  std::vector<Bytes> held_;
};

TEST_F(CoalesceTest, TcpSegmentsBecomeOneSuperPacketThatCutsBackExactly) {
  std::vector<Bytes> in;
  Ip ip;
  for (int i = 0; i < 10; ++i) {
    ip.id = static_cast<uint16_t>(65530 + i);  // wraps
    in.push_back(Tcp(1000 + i * 1400, 1400, i == 9 ? 0x18 : 0x10, ip));
  }
  Batch(in);
  ASSERT_EQ(dev_.writes.size(), 1u);
  EXPECT_TRUE(dev_.writes[0].super);
  EXPECT_EQ(dev_.writes[0].info.gso_type, 1);  // TCPV4
  EXPECT_EQ(dev_.writes[0].info.gso_size, 1400);
  EXPECT_EQ(dev_.writes[0].info.csum_offset, 16);
  EXPECT_EQ(dev_.Packets(), in);
  EXPECT_EQ(c_.counters().super_packets, 1u);
  EXPECT_EQ(c_.counters().merged, 10u);
}

TEST_F(CoalesceTest, ShortLastSegmentJoinsAndClosesTheGroup) {
  Ip ip;
  std::vector<Bytes> in;
  uint32_t seq = 1;
  for (size_t len : {1000, 1000, 300, 1000, 1000}) {
    in.push_back(Tcp(seq, len, 0x10, ip));
    seq += static_cast<uint32_t>(len);
    ++ip.id;
  }
  Batch(in);
  ASSERT_EQ(dev_.writes.size(), 2u);
  EXPECT_EQ(dev_.writes[0].segments, 3u);
  EXPECT_EQ(dev_.writes[1].segments, 2u);
  EXPECT_EQ(dev_.Packets(), in);
}

TEST_F(CoalesceTest, PshEndsAGroupAndASegmentAfterItStartsAnother) {
  Ip ip;
  std::vector<Bytes> in;
  for (int i = 0; i < 4; ++i) {
    in.push_back(Tcp(1 + i * 500, 500, i == 1 ? 0x18 : 0x10, ip));
    ++ip.id;
  }
  Batch(in);
  ASSERT_EQ(dev_.writes.size(), 2u);
  EXPECT_EQ(dev_.writes[0].segments, 2u);
  EXPECT_EQ(dev_.Packets(), in);
}

TEST_F(CoalesceTest, WhatTheKernelCouldNotGiveBackStaysApart) {
  // A SEQ gap, another TTL, other TCP options, another ACK: each its own.
  Ip ip;
  Ip other_ttl = ip;
  other_ttl.ttl = 63;
  std::vector<Bytes> in = {
      Tcp(1, 100, 0x10, ip), Tcp(201, 100, 0x10, ip),      // gap
      Tcp(301, 100, 0x10, other_ttl),                      // TTL
      Tcp(401, 100, 0x10, ip, 40000, "\x01\x01\x01\x01"),  // options
  };
  Bytes other_ack = Tcp(501, 100, 0x10, ip);
  StoreBe32(other_ack.data() + 28, 9999);
  TcpChecksum(&other_ack);
  in.push_back(other_ack);
  Batch(in);
  EXPECT_EQ(Supers(dev_), 0u);
  EXPECT_EQ(dev_.Packets(), in);
}

TEST_F(CoalesceTest, IpIdsMustFollowUnlessDfIsSet) {
  Ip ip;
  ip.df = false;
  std::vector<Bytes> apart = {Tcp(1, 100, 0x10, ip), Tcp(101, 100, 0x10, ip)};
  Batch(apart);
  EXPECT_EQ(Supers(dev_), 0u) << "same ID twice without DF";
  dev_.writes.clear();
  Ip next = ip;
  next.id = static_cast<uint16_t>(ip.id + 1);
  std::vector<Bytes> following = {Tcp(1, 100, 0x10, ip),
                                  Tcp(101, 100, 0x10, next)};
  Batch(following);
  EXPECT_EQ(Supers(dev_), 1u);
  EXPECT_EQ(dev_.Packets(), following);
}

TEST_F(CoalesceTest, FlowsInterleavedEachKeepTheirOrder) {
  Ip a, b;
  std::vector<Bytes> in;
  for (int i = 0; i < 6; ++i) {
    in.push_back(Tcp(1 + i * 700, 700, 0x10, a, 40000));
    in.push_back(Tcp(9 + i * 700, 700, 0x10, b, 40001));
    ++a.id;
    ++b.id;
  }
  Batch(in);
  ASSERT_EQ(dev_.writes.size(), 2u);
  std::vector<Bytes> got = dev_.Packets();
  std::vector<Bytes> flow_a, flow_b;
  for (size_t i = 0; i < in.size(); i += 2) flow_a.push_back(in[i]);
  for (size_t i = 1; i < in.size(); i += 2) flow_b.push_back(in[i]);
  std::vector<Bytes> want = flow_a;
  want.insert(want.end(), flow_b.begin(), flow_b.end());
  EXPECT_EQ(got, want);
}

TEST_F(CoalesceTest, AFinOrABadChecksumWaitsForWhatIsHeldOfItsFlow) {
  Ip ip;
  std::vector<Bytes> in;
  for (int i = 0; i < 3; ++i) {
    in.push_back(Tcp(1 + i * 100, 100, 0x10, ip));
    ++ip.id;
  }
  in.push_back(Tcp(301, 100, 0x11, ip));  // FIN
  ++ip.id;
  Bytes bad = Tcp(401, 100, 0x10, ip);
  bad[60] ^= 0xff;  // payload damaged
  in.push_back(bad);
  Batch(in);
  ASSERT_EQ(dev_.writes.size(), 3u);
  EXPECT_TRUE(dev_.writes[0].super);
  EXPECT_EQ(dev_.Packets(), in);  // the bad one went as it was, last
  EXPECT_EQ(c_.counters().bad_checksum, 1u);
}

TEST_F(CoalesceTest, ADamagedIpHeaderIsNeverMadeWhole) {
  // Found by the coalesce fuzz target: a merged packet got a fresh IP
  // checksum, hiding a wrong one.
  Ip ip;
  std::vector<Bytes> in;
  for (int i = 0; i < 3; ++i) {
    in.push_back(Udp(36, ip));
    ++ip.id;
  }
  in[1][11] ^= 0x02;  // IP checksum off
  Batch(in);
  EXPECT_EQ(Supers(dev_), 0u);
  EXPECT_EQ(dev_.Packets(), in);
}

TEST_F(CoalesceTest, NeverPastTheIpLengthLimit) {
  Ip ip;
  std::vector<Bytes> in;
  for (int i = 0; i < 60; ++i) {
    in.push_back(Tcp(1 + i * 1460, 1460, 0x10, ip));
    ++ip.id;
  }
  Batch(in);
  ASSERT_EQ(dev_.writes.size(), 2u);
  EXPECT_EQ(dev_.writes[0].segments, 44u);  // 40 + 44 x 1460 <= 65535
  EXPECT_LE(dev_.writes[0].bytes.size(), 65535u);
  EXPECT_EQ(dev_.Packets(), in);
}

TEST_F(CoalesceTest, UdpDatagramsOfOneSizeBecomeUsoAtMost64AtATime) {
  Ip ip;
  std::vector<Bytes> in;
  for (int i = 0; i < 70; ++i) {
    in.push_back(Udp(36, ip, 5000, static_cast<uint8_t>(i)));
    ++ip.id;
  }
  Batch(in);
  ASSERT_EQ(dev_.writes.size(), 2u);
  EXPECT_EQ(dev_.writes[0].info.gso_type, 5);  // UDP_L4
  EXPECT_EQ(dev_.writes[0].info.csum_offset, 6);
  EXPECT_EQ(dev_.writes[0].segments, 64u);
  EXPECT_EQ(dev_.writes[1].segments, 6u);
  EXPECT_EQ(dev_.Packets(), in);
}

TEST_F(CoalesceTest, UdpWithoutChecksumOrWithoutUsoGoesAsItIs) {
  Ip ip;
  std::vector<Bytes> in;
  for (int i = 0; i < 4; ++i) {
    in.push_back(Udp(36, ip));
    ++ip.id;
  }
  std::vector<Bytes> none = in;
  for (Bytes& b : none) StoreBe16(b.data() + 26, 0);
  Batch(none);
  EXPECT_EQ(Supers(dev_), 0u);
  EXPECT_EQ(dev_.Packets(), none);
  FakeDevice no_uso;
  no_uso.udp = false;
  Batch(in, &no_uso);
  EXPECT_EQ(Supers(no_uso), 0u);
  EXPECT_EQ(no_uso.Packets(), in);
}

TEST_F(CoalesceTest, ARefusedSuperPacketGoesOutAsThePacketsItWas) {
  Ip ip;
  std::vector<Bytes> in;
  for (int i = 0; i < 5; ++i) {
    in.push_back(Tcp(1 + i * 100, 100, 0x10, ip));
    ++ip.id;
  }
  dev_.refuse = true;
  Batch(in);
  EXPECT_TRUE(dev_.stopped);
  EXPECT_EQ(Supers(dev_), 0u);
  EXPECT_EQ(dev_.Packets(), in);
  EXPECT_EQ(c_.counters().refused, 1u);
  // And from then on nothing is held.
  dev_.writes.clear();
  Batch(in);
  EXPECT_EQ(dev_.Packets(), in);
  EXPECT_EQ(c_.counters().refused, 1u);
}

TEST_F(CoalesceTest, TwoDevicesAreNeverMixed) {
  FakeDevice other;
  Ip ip;
  std::vector<Bytes> in;
  for (int i = 0; i < 4; ++i) {
    in.push_back(Tcp(1 + i * 100, 100, 0x10, ip));
    ++ip.id;
  }
  held_ = in;
  for (size_t i = 0; i < held_.size(); ++i) {
    c_.Add(i % 2 ? &other : &dev_, held_[i].data(),
           static_cast<uint32_t>(held_[i].size()), OffloadInfo{});
  }
  c_.Flush();
  // Each device saw its own two, as they were (SEQs not consecutive).
  EXPECT_EQ(dev_.Packets(), (std::vector<Bytes>{in[0], in[2]}));
  EXPECT_EQ(other.Packets(), (std::vector<Bytes>{in[1], in[3]}));
}

TEST_F(CoalesceTest, MoreFlowsThanGroupsStillLeaveInOrder) {
  std::vector<Bytes> in;
  Ip ip;
  for (int round = 0; round < 3; ++round) {
    for (int f = 0; f < 12; ++f) {
      in.push_back(Tcp(1 + round * 100, 100, 0x10, ip,
                       static_cast<uint16_t>(40000 + f)));
    }
    ++ip.id;
  }
  Batch(in);
  std::vector<Bytes> got = dev_.Packets();
  ASSERT_EQ(got.size(), in.size());
  // Per flow, the order is the order they came in.
  for (int f = 0; f < 12; ++f) {
    std::vector<Bytes> want, have;
    for (const Bytes& b : in) {
      if (LoadBe16(b.data() + 20) == 40000 + f) want.push_back(b);
    }
    for (const Bytes& b : got) {
      if (LoadBe16(b.data() + 20) == 40000 + f) have.push_back(b);
    }
    EXPECT_EQ(have, want) << "flow " << f;
  }
}

}  // namespace
}  // namespace unat::tun
