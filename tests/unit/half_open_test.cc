// HalfOpenTable on its own: which unanswered inbound flow makes way at the
// per-group and total limits (engine/half_open.h).
#include "engine/half_open.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace unat::internal {
namespace {

constexpr uint32_t kG1 = 11, kG2 = 22, kG3 = 33;

class HalfOpenTest : public ::testing::Test {
 protected:
  // Adds flows first..last (oldest first) to `group`.
  void AddRange(uint32_t first, uint32_t last, uint32_t group) {
    for (uint32_t f = first; f <= last; ++f) table.Add(f, group);
  }
  HalfOpenTable table;
};

TEST_F(HalfOpenTest, NoVictimWhileThereIsRoom) {
  AddRange(1, 2, kG1);
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.GroupSize(kG1), 2u);
  EXPECT_EQ(table.GroupSize(kG2), 0u);
  EXPECT_EQ(table.Victim(kG1, 3, 3), kNone);
  EXPECT_EQ(table.Victim(kG2, 1, 3), kNone);
  EXPECT_EQ(table.Victim(kG1, 0, 0), kNone) << "0: no limit";
}

TEST_F(HalfOpenTest, AtTheGroupLimitTheGroupsOldestMakesWay) {
  AddRange(1, 3, kG1);
  table.Add(10, kG2);
  EXPECT_EQ(table.Victim(kG1, 3, 0), 1u);
  EXPECT_EQ(table.Victim(kG2, 3, 0), kNone) << "the other group has room";
  ASSERT_TRUE(table.Remove(1));
  EXPECT_EQ(table.Victim(kG1, 3, 0), kNone);
  table.Add(4, kG1);
  EXPECT_EQ(table.Victim(kG1, 3, 0), 2u);
  EXPECT_EQ(table.Victim(kG1, 2, 0), 2u) << "over the limit too";
}

TEST_F(HalfOpenTest, AtTheTotalLimitTheFullestGroupPays) {
  table.Add(1, kG1);  // the oldest of all, in the new flow's group
  AddRange(2, 4, kG2);
  AddRange(5, 6, kG3);
  EXPECT_EQ(table.Victim(kG1, 0, 6), 2u);
  EXPECT_EQ(table.Victim(kG3, 0, 6), 2u);
  EXPECT_EQ(table.Victim(kG1, 0, 7), kNone);
  // The per-group limit comes first.
  EXPECT_EQ(table.Victim(kG3, 2, 6), 5u);
  // Once g2 is no longer the fullest, g3 is.
  table.Remove(2);
  table.Remove(3);
  EXPECT_EQ(table.Victim(kG1, 0, 4), 5u);
}

TEST_F(HalfOpenTest, AnAnsweredFlowIsNeverAVictim) {
  AddRange(1, 3, kG1);
  EXPECT_TRUE(table.Remove(1));
  EXPECT_FALSE(table.Remove(1)) << "no longer half-open";
  EXPECT_FALSE(table.Remove(99)) << "never was";
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.GroupSize(kG1), 2u);
  EXPECT_EQ(table.Victim(kG1, 2, 0), 2u);
  EXPECT_EQ(table.Victim(kG1, 0, 2), 2u);
  // A flow that is half-open again (its slot reused) is the newest.
  table.Remove(2);
  table.Add(2, kG1);
  EXPECT_EQ(table.Victim(kG1, 2, 0), 3u);
  table.Remove(3);
  EXPECT_EQ(table.Victim(kG1, 1, 0), 2u);
}

TEST_F(HalfOpenTest, GroupSizeCountsLiveFlowsOnly) {
  AddRange(1, 5, kG1);
  AddRange(6, 7, kG2);
  EXPECT_EQ(table.GroupSize(kG1), 5u);
  EXPECT_EQ(table.GroupSize(kG2), 2u);
  for (uint32_t f = 1; f <= 5; ++f) table.Remove(f);
  EXPECT_EQ(table.GroupSize(kG1), 0u);
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.Victim(kG1, 1, 0), kNone);
  EXPECT_EQ(table.Victim(kG1, 0, 2), 6u) << "g2 is the only group left";
}

TEST_F(HalfOpenTest, ManyAnsweredFlowsLeaveTheOldestRight) {
  // Flows answered in between leave stale entries that Add compacts.
  table.Add(1, kG1);
  for (uint32_t f = 2; f < 20000; ++f) {
    table.Add(f, kG1);
    if (f % 100 != 0) table.Remove(f);
  }
  EXPECT_EQ(table.GroupSize(kG1), 1u + 199u);
  EXPECT_EQ(table.Victim(kG1, 200, 0), 1u);
  table.Remove(1);
  EXPECT_EQ(table.Victim(kG1, 199, 0), 100u);
  for (uint32_t f = 100; f < 19900; f += 100) table.Remove(f);
  EXPECT_EQ(table.GroupSize(kG1), 1u);
  EXPECT_EQ(table.Victim(kG1, 1, 0), 19900u);
}

TEST_F(HalfOpenTest, AFlowAddedTwiceIsFiledOnceInItsLatestGroup) {
  table.Add(1, kG1);
  table.Add(1, kG1);
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(table.GroupSize(kG1), 1u);
  table.Add(1, kG2);
  EXPECT_EQ(table.GroupSize(kG1), 0u);
  EXPECT_EQ(table.GroupSize(kG2), 1u);
  ASSERT_TRUE(table.Remove(1));
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(table.GroupSize(kG2), 0u);
}

// Against a brute-force count of every group, over random adds, answers
// and evictions spread across many groups: the victim at the total limit is
// always a flow of a fullest group (found without a scan of the groups).
TEST_F(HalfOpenTest, TheFullestGroupIsKnownThroughRandomChurn) {
  std::mt19937 rng(5);
  std::map<uint32_t, uint32_t> group_of;  // live flow -> group
  uint32_t next_flow = 0;
  for (int step = 0; step < 8000; ++step) {
    const int op = static_cast<int>(rng() % 10);
    if (op < 6 || group_of.empty()) {
      const uint32_t g = rng() % 300;
      table.Add(next_flow, g);
      group_of[next_flow++] = g;
    } else {
      auto it = group_of.begin();
      std::advance(it, rng() % group_of.size());
      ASSERT_TRUE(table.Remove(it->first));
      group_of.erase(it);
    }
    std::map<uint32_t, uint32_t> counts;
    uint32_t most = 0;
    for (const auto& [f, g] : group_of) most = std::max(most, ++counts[g]);
    ASSERT_EQ(table.size(), group_of.size());
    if (group_of.empty()) continue;
    const uint32_t v = table.Victim(/*group=*/1000, 0, table.size());
    ASSERT_NE(v, kNone) << step;
    ASSERT_EQ(counts[group_of.at(v)], most) << step;
    ASSERT_EQ(table.GroupSize(group_of.at(v)), most);
  }
}

}  // namespace
}  // namespace unat::internal
