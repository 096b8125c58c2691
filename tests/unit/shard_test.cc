// Shards (engine/port_claims.h): two Nat instances sharing one PortClaims,
// as one thread each would run them. No two hand out the same external
// port; every reply, steered by InboundShard, reaches the shard that holds
// its flow and goes back to the right inside host; forwards, ICMP and
// released ports are shared the same way.
#include <gtest/gtest.h>
#include <tins/tins.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/checksum.h"
#include "engine/nat.h"
#include "engine/port_claims.h"
#include "tests/unit/test_util.h"

namespace unat {
namespace {

using testing::A;
using testing::Buf;
using testing::Echo;
using testing::IcmpError;
using testing::Udp;

constexpr uint32_t kShards = 2;

class ShardTest : public ::testing::Test {
 protected:
  void SetUp() override { Make(); }
  void Make(bool preserve = false, uint16_t port_min = 1024,
            uint16_t port_max = 65535) {
    shards_.clear();
    claims_ =
        std::make_shared<PortClaims>(std::vector<uint32_t>{A("203.0.113.1")});
    for (uint32_t s = 0; s < kShards; ++s) {
      NatConfig c;
      c.external_addresses = {A("203.0.113.1")};
      c.random_seed = 42;  // the same seed: both shards try the same ports
      c.port_preservation = preserve;
      c.port_min = port_min;
      c.port_max = port_max;
      c.claims = claims_;
      c.shard = static_cast<uint8_t>(s);
      auto n = Nat::Create(c);
      ASSERT_TRUE(n.ok()) << n.status();
      shards_.push_back(std::move(*n));
      lan_ = *shards_.back()->AddNamespace({"lan", A("10.77.0.1"), 16});
    }
  }
  // An inside packet through its host's shard; returns that shard.
  uint32_t In(const std::vector<uint8_t>& bytes, Verdict* v,
              std::vector<uint8_t>* out) {
    const uint32_t src = LoadBe32(bytes.data() + 12);
    const uint32_t s = OutboundShard(lan_, src, kShards);
    Buf b(bytes);
    *v = shards_[s]->ProcessInside(lan_, b.pkt, now_);
    *out = b.out();
    return s;
  }
  // An outside packet through the shard InboundShard names (-1: shard 0).
  int Out(const std::vector<uint8_t>& bytes, Verdict* v,
          std::vector<uint8_t>* out) {
    const int s = claims_->InboundShard(bytes.data(), bytes.size());
    Buf b(bytes);
    *v = shards_[s < 0 ? 0 : s]->ProcessOutside(b.pkt, now_);
    *out = b.out();
    return s;
  }

  std::shared_ptr<PortClaims> claims_;
  std::vector<std::unique_ptr<Nat>> shards_;
  NamespaceId lan_ = 0;
  TimeMs now_ = 1'000'000;
};

std::string Host(int i) {
  return absl::StrCat("10.77.", 1 + i / 200, ".", 1 + i % 200);
}

TEST_F(ShardTest, NoPortTwiceAndEveryReplyFindsItsShard) {
  // 600 hosts x 8 flows each, spread over both shards by their address.
  struct Sent {
    std::string host;
    uint16_t sport;
    uint32_t shard;
  };
  std::map<uint16_t, Sent> by_ext;
  std::vector<uint32_t> per_shard(kShards, 0);
  for (int h = 0; h < 600; ++h) {
    for (uint16_t k = 0; k < 8; ++k) {
      const std::string host = Host(h);
      const uint16_t sport = static_cast<uint16_t>(40000 + k);
      Verdict v;
      std::vector<uint8_t> out;
      const uint32_t s =
          In(Udp(host.c_str(), sport, "198.51.100.7", 53), &v, &out);
      ASSERT_EQ(v.action, Verdict::kForward) << DropReasonName(v.reason);
      const uint16_t ext = LoadBe16(out.data() + 20);
      ASSERT_EQ(by_ext.count(ext), 0u) << "external port " << ext << " twice";
      by_ext[ext] = {host, sport, s};
      EXPECT_EQ(claims_->Owner(0, kProtoUdp, ext), s);
      ++per_shard[s];
    }
  }
  EXPECT_GT(per_shard[0], 1000u);
  EXPECT_GT(per_shard[1], 1000u);
  EXPECT_EQ(claims_->CountByShard(kProtoUdp, kShards), per_shard);
  // Every reply: steered to its flow's shard, back to its host and port.
  for (const auto& [ext, sent] : by_ext) {
    Verdict v;
    std::vector<uint8_t> out;
    const int s = Out(Udp("198.51.100.7", 53, "203.0.113.1", ext), &v, &out);
    ASSERT_EQ(s, static_cast<int>(sent.shard));
    ASSERT_EQ(v.action, Verdict::kForward) << DropReasonName(v.reason);
    EXPECT_EQ(LoadBe32(out.data() + 16), A(sent.host.c_str()));
    EXPECT_EQ(LoadBe16(out.data() + 22), sent.sport);
  }
  // An ICMP error quoting one of them goes to the same shard.
  const auto& [ext, sent] = *by_ext.begin();
  const auto quoted = Udp("203.0.113.1", ext, "198.51.100.7", 53);
  const auto err = IcmpError("198.51.100.7", "203.0.113.1",
                             Tins::ICMP::DEST_UNREACHABLE, 3, quoted, 28);
  EXPECT_EQ(claims_->InboundShard(err.data(), err.size()),
            static_cast<int>(sent.shard));
}

TEST_F(ShardTest, PortPreservationNeverGivesTheSamePortToTwoShards) {
  Make(/*preserve=*/true);
  // Find two hosts on different shards; both ask for inside port 5000.
  std::string a, b;
  for (int h = 0; h < 50 && b.empty(); ++h) {
    const std::string host = Host(h);
    const uint32_t s = OutboundShard(lan_, A(host.c_str()), kShards);
    if (s == 0 && a.empty()) a = host;
    if (s == 1 && b.empty()) b = host;
  }
  ASSERT_FALSE(a.empty());
  ASSERT_FALSE(b.empty());
  Verdict v;
  std::vector<uint8_t> out_a, out_b;
  In(Udp(a.c_str(), 5000, "198.51.100.7", 53), &v, &out_a);
  ASSERT_EQ(v.action, Verdict::kForward);
  In(Udp(b.c_str(), 5000, "198.51.100.7", 53), &v, &out_b);
  ASSERT_EQ(v.action, Verdict::kForward);
  EXPECT_EQ(LoadBe16(out_a.data() + 20), 5000);  // preserved for the first
  EXPECT_NE(LoadBe16(out_b.data() + 20), 5000);  // not again by the other
}

TEST_F(ShardTest, APoolOfTwoPortsServesTwoShardsThenSaysNoPorts) {
  Make(false, 30000, 30001);
  std::set<uint16_t> got;
  int refused = 0;
  for (int h = 0; h < 40; ++h) {
    Verdict v;
    std::vector<uint8_t> out;
    In(Udp(Host(h).c_str(), 7000, "198.51.100.7", 53), &v, &out);
    if (v.action == Verdict::kForward) {
      got.insert(LoadBe16(out.data() + 20));
    } else {
      // The pool is empty, or this shard's tenant holds its share of it.
      EXPECT_TRUE(v.reason == DropReason::kNoPorts ||
                  v.reason == DropReason::kNamespacePortLimit)
          << DropReasonName(v.reason);
      ++refused;
    }
  }
  EXPECT_EQ(got, (std::set<uint16_t>{30000, 30001}));
  EXPECT_EQ(refused, 38);
}

TEST_F(ShardTest, AForwardIsRefusedOnAPortAnotherShardHoldsAndSteersItsOwn) {
  Verdict v;
  std::vector<uint8_t> out;
  const uint32_t s =
      In(Udp(Host(0).c_str(), 6000, "198.51.100.7", 53), &v, &out);
  ASSERT_EQ(v.action, Verdict::kForward);
  const uint16_t ext = LoadBe16(out.data() + 20);
  const uint32_t other = 1 - s;
  ForwardSpec f;
  f.proto = kProtoUdp;
  f.external_port = ext;
  f.ns = lan_;
  f.inside_addr = A("10.77.9.9");
  f.inside_port = 9;
  auto refused = shards_[other]->AddForward(f, now_);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(std::string(refused.status().message()).find("another shard"),
            std::string::npos)
      << refused.status();
  EXPECT_TRUE(
      shards_[other]->ExternalPortInUse(kProtoUdp, A("203.0.113.1"), ext));
  // A free port: the forward's shard holds it, and inbound goes there.
  f.external_port = 2222;
  f.inside_addr = A(Host(0).c_str());
  ASSERT_TRUE(shards_[s]->AddForward(f, now_).ok());
  EXPECT_EQ(claims_->Owner(0, kProtoUdp, 2222), s);
  const int to = Out(Udp("198.51.100.8", 999, "203.0.113.1", 2222), &v, &out);
  EXPECT_EQ(to, static_cast<int>(s));
  EXPECT_EQ(v.action, Verdict::kForward) << DropReasonName(v.reason);
  // Removing it gives the port back.
  const auto fw = shards_[s]->Forwards();
  ASSERT_EQ(fw.size(), 1u);
  ASSERT_TRUE(shards_[s]->RemoveForwardById(fw[0].id).ok());
  EXPECT_EQ(claims_->Owner(0, kProtoUdp, 2222), PortClaims::kFree);
}

TEST_F(ShardTest, IcmpIdentifiersAreClaimedAndRepliesSteered) {
  for (int h = 0; h < 40; ++h) {
    Verdict v;
    std::vector<uint8_t> out;
    const uint32_t s = In(Echo(Host(h).c_str(), "198.51.100.7", 77), &v, &out);
    ASSERT_EQ(v.action, Verdict::kForward);
    const uint16_t id = LoadBe16(out.data() + 24);
    EXPECT_EQ(claims_->Owner(0, kProtoIcmp, id), s);
    const auto reply = Echo("198.51.100.7", "203.0.113.1", id, 1, true);
    EXPECT_EQ(Out(reply, &v, &out), static_cast<int>(s));
    ASSERT_EQ(v.action, Verdict::kForward) << DropReasonName(v.reason);
    EXPECT_EQ(LoadBe16(out.data() + 24), 77);
  }
}

TEST_F(ShardTest, PortsComeBackWhenFlowsExpireOrAShardGoes) {
  Verdict v;
  std::vector<uint8_t> out;
  for (int h = 0; h < 20; ++h) {
    In(Udp(Host(h).c_str(), 7000, "198.51.100.7", 53), &v, &out);
    ASSERT_EQ(v.action, Verdict::kForward);
  }
  auto held = claims_->CountByShard(kProtoUdp, kShards);
  EXPECT_EQ(held[0] + held[1], 20u);
  // Past every UDP timeout and the port hold: all free again.
  now_ += 3'600'000;
  for (auto& n : shards_) n->Advance(now_);
  now_ += 3'600'000;
  for (auto& n : shards_) n->Advance(now_);
  held = claims_->CountByShard(kProtoUdp, kShards);
  EXPECT_EQ(held[0] + held[1], 0u);
  // A shard destroyed with flows gives their ports back.
  for (int h = 0; h < 20; ++h) {
    In(Udp(Host(h).c_str(), 7000, "198.51.100.7", 53), &v, &out);
  }
  held = claims_->CountByShard(kProtoUdp, kShards);
  const uint32_t kept = held[0];
  shards_[1].reset();
  held = claims_->CountByShard(kProtoUdp, kShards);
  EXPECT_EQ(held[0], kept);
  EXPECT_EQ(held[1], 0u);
}

TEST_F(ShardTest, ClaimsForOtherAddressesOrAChangeLiveAreRefused) {
  NatConfig c;
  c.external_addresses = {A("203.0.113.9")};
  c.claims = claims_;
  auto bad = Nat::Create(c);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(std::string(bad.status().message()).find("claims"),
            std::string::npos);
  NatConfig live;
  live.external_addresses = {A("203.0.113.1")};
  live.claims = claims_;
  live.shard = 1;  // shard 0 asked to become shard 1
  EXPECT_FALSE(shards_[0]->UpdatePolicy(live).ok());
}

TEST(PortClaimsTest, FragmentsAndStrangersHaveNoShard) {
  PortClaims claims({A("203.0.113.1")});
  ASSERT_TRUE(claims.Claim(0, kProtoUdp, 4000, 1));
  EXPECT_FALSE(claims.Claim(0, kProtoUdp, 4000, 0));
  EXPECT_TRUE(claims.Claim(0, kProtoUdp, 4000, 1));  // its own: still its
  auto p = Udp("198.51.100.7", 53, "203.0.113.1", 4000);
  EXPECT_EQ(claims.InboundShard(p.data(), p.size()), 1);
  // A later fragment (offset != 0) carries no ports.
  auto frag = p;
  StoreBe16(frag.data() + 6, 0x0010);
  EXPECT_EQ(claims.InboundShard(frag.data(), frag.size()),
            PortClaims::kNoShard);
  // Another address, a port nobody holds, a truncated packet.
  auto other = Udp("198.51.100.7", 53, "203.0.113.2", 4000);
  EXPECT_EQ(claims.InboundShard(other.data(), other.size()),
            PortClaims::kNoShard);
  auto free_port = Udp("198.51.100.7", 53, "203.0.113.1", 4001);
  EXPECT_EQ(claims.InboundShard(free_port.data(), free_port.size()),
            PortClaims::kNoShard);
  EXPECT_EQ(claims.InboundShard(p.data(), 24), PortClaims::kNoShard);
  claims.Release(0, kProtoUdp, 4000, 0);  // not the holder: nothing
  EXPECT_EQ(claims.Owner(0, kProtoUdp, 4000), 1);
  claims.Release(0, kProtoUdp, 4000, 1);
  EXPECT_EQ(claims.Owner(0, kProtoUdp, 4000), PortClaims::kFree);
}

TEST(PortClaimsTest, OutboundShardSpreadsHostsAndKeepsOneHostOnOne) {
  std::vector<int> n(4, 0);
  for (uint32_t a = 0; a < 4000; ++a) ++n[OutboundShard(0, 0x0a4d0000 + a, 4)];
  for (int c : n) EXPECT_GT(c, 800);
  EXPECT_EQ(OutboundShard(3, 0x0a4d0102, 4), OutboundShard(3, 0x0a4d0102, 4));
  EXPECT_EQ(OutboundShard(3, 0x0a4d0102, 1), 0u);
}

}  // namespace
}  // namespace unat
