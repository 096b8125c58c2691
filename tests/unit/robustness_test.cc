// Hostile input: mutated and random packets through both directions. Run
// under ASan+UBSan by scripts/test.sh, so any out-of-bounds read or write,
// or undefined behaviour, fails the test. Every packet must end with exactly
// one verdict, and every drop must be counted.
#include <gtest/gtest.h>

#include <random>

#include "engine/checksum.h"
#include "engine/nat.h"
#include "tests/unit/test_util.h"

namespace unat {
namespace {

using testing::A;
using testing::Buf;

TEST(Robustness, MutatedPacketsNeverCrashAndEveryDropIsCounted) {
  NatConfig c;
  c.external_addresses = {A("203.0.113.1")};
  c.filtering = FilteringMode::kEndpointIndependent;
  c.random_seed = 9;
  auto nat = *Nat::Create(c);
  const NamespaceId lan = *nat->AddNamespace({"lan", A("10.77.0.1"), 24});
  ASSERT_TRUE(
      nat->AddForward({kProtoTcp, 0, 8080, lan, A("10.77.0.2"), 80}, 0).ok());

  std::vector<std::vector<uint8_t>> seeds = {
      testing::Udp("10.77.0.2", 5000, "203.0.113.2", 53),
      testing::Tcp("10.77.0.2", 4000, "203.0.113.2", 80),
      testing::Echo("10.77.0.2", "203.0.113.2", 7),
      testing::Udp("203.0.113.2", 53, "203.0.113.1", 5000),
      testing::Tcp("203.0.113.2", 999, "203.0.113.1", 8080),
      testing::Echo("203.0.113.2", "203.0.113.1", 7, 1, true),
  };
  // ICMP errors quoting translated packets.
  for (int i = 0; i < 3; ++i) {
    Buf b(seeds[i]);
    nat->ProcessInside(lan, b.pkt, 1000);
    seeds.push_back(testing::IcmpError("198.51.100.1", "203.0.113.1",
                                       Tins::ICMP::DEST_UNREACHABLE, 3,
                                       b.out()));
    seeds.push_back(testing::IcmpError("10.77.0.2", "203.0.113.2",
                                       Tins::ICMP::TIME_EXCEEDED, 0,
                                       seeds[3 + i]));
  }
  std::mt19937 rng(2024);
  uint64_t forwarded = 0, dropped = 0, consumed = 0;
  TimeMs now = 1000;
  for (int round = 0; round < 200000; ++round) {
    std::vector<uint8_t> p;
    if (rng() % 10 == 0) {
      p.resize(rng() % 80);
      for (auto& x : p) x = static_cast<uint8_t>(rng());
      if (!p.empty()) p[0] = static_cast<uint8_t>(0x45 + rng() % 3);
    } else {
      p = seeds[rng() % seeds.size()];
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips && !p.empty(); ++f) {
        p[rng() % p.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
      }
      if (rng() % 8 == 0) p.resize(rng() % (p.size() + 1));
      // Keep the IP header checksum right half the time, so the mutation
      // reaches the deeper parsers.
      if (p.size() >= 20 && rng() % 2) {
        const size_t hl = std::min<size_t>((p[0] & 0xf) * 4u, p.size());
        if (hl >= 20) {
          StoreBe16(&p[10], 0);
          StoreBe16(&p[10], InternetChecksum({p.data(), hl}));
        }
      }
    }
    // Exact-size buffer: any read past the end is an ASan error.
    std::vector<uint8_t> exact = p;
    Packet pkt{exact.data(), static_cast<uint32_t>(exact.size()),
               static_cast<uint32_t>(exact.size())};
    const Verdict v = (round & 1) ? nat->ProcessOutside(pkt, now)
                                  : nat->ProcessInside(lan, pkt, now);
    ASSERT_LE(pkt.len, exact.size());
    switch (v.action) {
      case Verdict::kForward:
        ++forwarded;
        break;
      case Verdict::kDrop:
        ++dropped;
        ASSERT_NE(v.reason, DropReason::kNone);
        break;
      case Verdict::kConsumed:
        ++consumed;
        break;
    }
    if (round % 1000 == 0) {
      now += 7000;
      nat->Advance(now);
    }
  }
  // Everything held (fragments) times out and is counted then.
  nat->Advance(now + 3'600'000);
  const Stats s = nat->GetStats();
  uint64_t counted = 0;
  for (uint64_t d : s.drops) counted += d;
  // Drops are counted when they happen; fragments the engine took
  // (kConsumed) and later dropped are counted then, with their reason.
  EXPECT_GE(counted, dropped);
  EXPECT_LE(counted, dropped + consumed);
  EXPECT_EQ(s.fragment_bytes_held, 0u);
  EXPECT_EQ(s.fragment_datagrams, 0u);
  // Every fragment that reached reassembly left it one way or another.
  EXPECT_EQ(s.fragments_held, 0u);
  EXPECT_EQ(s.fragments_in, s.fragments_forwarded + s.fragments_reassembled +
                                s.fragments_dropped);
  EXPECT_GT(forwarded, 1000u);
  EXPECT_GT(dropped, 1000u);
}

}  // namespace
}  // namespace unat
