// The fragment table on its own (engine/fragments.h): entries by key, the
// per-namespace datagram limit, held bytes, poisoning and the timeout.
#include <gtest/gtest.h>

#include <vector>

#include "engine/fragments.h"

namespace unat::internal {
namespace {

class FragmentTableTest : public ::testing::Test {
 protected:
  FragmentTableTest() { config.max_datagrams_per_namespace = 2; }
  static FragKey Key(uint16_t id, NamespaceId ns = 0) {
    return FragKey{0x0a000002, 0xc6336401, id, ns, kProtoUdp};
  }
  uint32_t Add(uint16_t id, NamespaceId ns = 0, TimeMs now = 0) {
    DropReason why = DropReason::kNone;
    const uint32_t e =
        table.FindOrAdd(Key(id, ns), Side::kInside, ns, now, &why);
    EXPECT_NE(e, kNone) << DropReasonName(why);
    return e;
  }
  uint64_t Drops(DropReason r) const {
    return stats.drops[static_cast<int>(r)];
  }
  FragmentConfig config;
  Stats stats;
  FragmentTable table{config, stats};
  std::vector<uint8_t> bytes = std::vector<uint8_t>(100, 0xab);
};

TEST_F(FragmentTableTest, OneEntryPerKey) {
  const uint32_t a = Add(1);
  EXPECT_EQ(Add(1), a);
  EXPECT_NE(Add(2), a);
  EXPECT_EQ(table.datagrams(), 2u);
  EXPECT_EQ(table[a].key, Key(1));
  EXPECT_EQ(table[a].expires, config.timeout_ms);
  EXPECT_FALSE(table[a].full) << "virtual reassembly by default";
}

TEST_F(FragmentTableTest, ANamespaceAtItsLimitGivesUpItsOldest) {
  const uint32_t a = Add(1);
  table.Hold(a, bytes, 8, 100);
  Add(2);
  // Another namespace has room of its own.
  Add(1, /*ns=*/1);
  const uint32_t c = Add(3);
  EXPECT_EQ(table.datagrams(), 3u);
  EXPECT_FALSE(table[a].live && table[a].key == Key(1)) << "the oldest went";
  EXPECT_EQ(table[c].key, Key(3));
  EXPECT_EQ(Drops(DropReason::kFragDatagramLimit), 1u) << "its one fragment";
  EXPECT_EQ(stats.fragments_dropped, 1u);
  EXPECT_EQ(table.bytes_held(), 0u);
}

TEST_F(FragmentTableTest, HeldBytesAreCountedUntilTakenOrDropped) {
  const uint32_t a = Add(1);
  table.Hold(a, bytes, 8, 100);
  table.Hold(a, {bytes.data(), 50}, 108, 50);
  EXPECT_EQ(table.bytes_held(), 150u);
  EXPECT_EQ(table.fragments_held(), 2u);
  std::vector<HeldFragment> held = table.TakeHeld(a);
  ASSERT_EQ(held.size(), 2u);
  EXPECT_EQ(held[1].offset, 108);
  EXPECT_EQ(held[1].bytes.size(), 50u);
  EXPECT_EQ(table.bytes_held(), 0u);
  EXPECT_EQ(table.fragments_held(), 0u);
  // Poisoned: what it holds is dropped under the reason, and it says so.
  table.Hold(a, bytes, 8, 100);
  table.Poison(a, DropReason::kFragOverlap);
  EXPECT_EQ(Drops(DropReason::kFragOverlap), 1u);
  EXPECT_EQ(table[a].state, FragState::kDropped);
  EXPECT_EQ(table.bytes_held(), 0u);
  EXPECT_TRUE(table[a].live) << "it refuses later fragments until its timeout";
}

TEST_F(FragmentTableTest, MemoryEvictionSkipsDatagramsHoldingNothing) {
  const uint32_t a = Add(1);            // holds nothing (its first went on)
  const uint32_t b = Add(1, /*ns=*/1);  // holds a fragment
  table.Hold(b, bytes, 8, 100);
  const uint32_t c = Add(2, /*ns=*/1);
  EXPECT_TRUE(
      table.EvictOldest(kInvalidNamespace, c, DropReason::kFragMemoryLimit));
  EXPECT_TRUE(table[a].live);
  EXPECT_FALSE(table[b].live);
  EXPECT_EQ(Drops(DropReason::kFragMemoryLimit), 1u);
  EXPECT_FALSE(
      table.EvictOldest(kInvalidNamespace, c, DropReason::kFragMemoryLimit))
      << "nothing else holds bytes";
}

TEST_F(FragmentTableTest, ExpiryTimesOutOldestFirstAndFreesTheEntry) {
  const uint32_t a = Add(1, 0, /*now=*/0);
  table.Hold(a, bytes, 8, 100);
  const uint32_t b = Add(2, 0, /*now=*/1000);
  std::vector<uint32_t> timed_out;
  table.Expire(config.timeout_ms, [&](uint32_t e) { timed_out.push_back(e); });
  EXPECT_EQ(timed_out, std::vector<uint32_t>{a});
  EXPECT_EQ(stats.fragment_datagrams_timed_out, 1u);
  EXPECT_EQ(Drops(DropReason::kFragTimeout), 1u);
  EXPECT_TRUE(table[b].live);
  EXPECT_EQ(table.datagrams(), 1u);
  // One found past its time before the reaper ran is timed out, then made
  // anew.
  DropReason why = DropReason::kNone;
  const uint32_t again =
      table.FindOrAdd(Key(2), Side::kInside, 0, 1000 + config.timeout_ms, &why);
  EXPECT_NE(again, kNone);
  EXPECT_EQ(stats.fragment_datagrams_timed_out, 2u);
  EXPECT_EQ(table[again].expires, 1000 + 2 * uint64_t{config.timeout_ms});
}

}  // namespace
}  // namespace unat::internal
