// FlowTable on its own: the slot pool, the index over both keys of every
// flow, and the timer wheel (engine/flow_table.h).
#include "engine/flow_table.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <vector>

#include "tests/unit/component_util.h"
#include "tests/unit/test_util.h"

namespace unat::internal {
namespace {

using unat::testing::A;
using unat::testing::ExpireAndRemove;

// A flow of namespace 3 from 10.0.0.2:40000 to 198.51.100.7:443, mapped to
// 203.0.113.1:50000, expiring at `expires_s`.
Flow SampleFlow(uint32_t expires_s = 100) {
  Flow f{};
  f.in_addr = A("10.0.0.2");
  f.ext_addr = A("203.0.113.1");
  f.rem_addr = A("198.51.100.7");
  f.in_port = 40000;
  f.ext_port = 50000;
  f.rem_port = 443;
  f.ns = 3;
  f.proto = kProtoTcp;
  f.flags = kFlowLive;
  f.owner = 0;
  f.expires_s = expires_s;
  return f;
}

class FlowTableTest : public ::testing::Test {
 protected:
  uint32_t Add(const Flow& f) {
    const uint32_t idx = table.Allocate();
    table[idx] = f;
    table.Insert(idx);
    return idx;
  }
  uint32_t FindIn(const Flow& f) const {
    return table.FindInside(f.ns, f.proto, f.in_addr, f.in_port, f.rem_addr,
                            f.rem_port);
  }
  uint32_t FindOut(const Flow& f) const {
    return table.FindOutside(f.proto, f.ext_addr, f.ext_port, f.rem_addr,
                             f.rem_port);
  }
  std::vector<uint32_t> ExpireTo(uint32_t now) {
    return ExpireAndRemove(table, now);
  }

  FlowTable table{0x5eed5eed12345678ULL};
};

TEST_F(FlowTableTest, FindsAFlowByBothKeysAndByNoKeyThatDiffersInOneField) {
  const Flow f = SampleFlow();
  const uint32_t idx = Add(f);
  EXPECT_EQ(FindIn(f), idx);
  EXPECT_EQ(FindOut(f), idx);
  // The precomputed-hash overloads agree.
  EXPECT_EQ(table.FindInside(table.InsideHash(f), f.ns, f.proto, f.in_addr,
                             f.in_port, f.rem_addr, f.rem_port),
            idx);
  EXPECT_EQ(table.FindOutside(table.OutsideHash(f), f.proto, f.ext_addr,
                              f.ext_port, f.rem_addr, f.rem_port),
            idx);

  // Inside key: namespace, proto, inside endpoint, remote endpoint.
  // Outside key: proto, external endpoint, remote endpoint (no namespace:
  // the outside is one space). A change to a field of one key only must
  // leave the flow findable by the other.
  struct Change {
    const char* what;
    void (*apply)(Flow&);
    bool inside_key, outside_key;
  };
  const Change changes[] = {
      {"ns", [](Flow& g) { g.ns = 4; }, true, false},
      {"proto", [](Flow& g) { g.proto = kProtoUdp; }, true, true},
      {"in_addr", [](Flow& g) { g.in_addr++; }, true, false},
      {"in_port", [](Flow& g) { g.in_port++; }, true, false},
      {"ext_addr", [](Flow& g) { g.ext_addr++; }, false, true},
      {"ext_port", [](Flow& g) { g.ext_port++; }, false, true},
      {"rem_addr", [](Flow& g) { g.rem_addr++; }, true, true},
      {"rem_port", [](Flow& g) { g.rem_port++; }, true, true},
  };
  for (const Change& c : changes) {
    Flow g = f;
    c.apply(g);
    EXPECT_EQ(FindIn(g), c.inside_key ? kNone : idx) << c.what;
    EXPECT_EQ(FindOut(g), c.outside_key ? kNone : idx) << c.what;
  }
  // One key is never found as the other.
  EXPECT_EQ(table.FindInside(f.ns, f.proto, f.ext_addr, f.ext_port, f.rem_addr,
                             f.rem_port),
            kNone);
  EXPECT_EQ(
      table.FindOutside(f.proto, f.in_addr, f.in_port, f.rem_addr, f.rem_port),
      kNone);
}

TEST_F(FlowTableTest, InsideAndOutsideKeysThatCoincideStayApart) {
  // A flow whose inside endpoint equals its external one, in the namespace
  // whose id is the outside keys' own: both keys hash alike.
  Flow f = SampleFlow();
  f.ns = kOutsideKeyNs;
  f.in_addr = f.ext_addr;
  f.in_port = f.ext_port;
  ASSERT_EQ(table.InsideHash(f), table.OutsideHash(f));
  const uint32_t idx = Add(f);
  EXPECT_EQ(FindIn(f), idx);
  EXPECT_EQ(FindOut(f), idx);
  table.Remove(idx);
  EXPECT_EQ(FindIn(f), kNone);
  EXPECT_EQ(FindOut(f), kNone);
}

TEST_F(FlowTableTest, RemoveUnfilesAndFreesTheSlotForReuse) {
  Flow a = SampleFlow(100);
  Flow b = SampleFlow(100);
  b.in_port = 40001;
  b.ext_port = 50001;
  const uint32_t ia = Add(a);
  const uint32_t ib = Add(b);
  ASSERT_NE(ia, ib);
  table.tcp(ia).end[0] = 1234;
  table.tcp(ia).win[1] = 99;

  table.Remove(ia);
  EXPECT_EQ(table[ia].flags, 0) << "flags cleared";
  EXPECT_FALSE(table[ia].live());
  EXPECT_EQ(FindIn(a), kNone);
  EXPECT_EQ(FindOut(a), kNone);
  EXPECT_EQ(FindIn(b), ib);
  EXPECT_EQ(FindOut(b), ib);

  // The freed slot is handed out again, its TCP tracking cleared; the pool
  // does not grow.
  const uint32_t size_before = table.size();
  const uint32_t again = table.Allocate();
  EXPECT_EQ(again, ia);
  EXPECT_EQ(table.size(), size_before);
  EXPECT_EQ(table.tcp(again).end[0], 0u);
  EXPECT_EQ(table.tcp(again).win[1], 0u);
  Flow c = SampleFlow(100);
  c.in_port = 40002;
  c.ext_port = 50002;
  table[again] = c;
  table.Insert(again);
  EXPECT_EQ(FindIn(c), again);
  EXPECT_EQ(FindIn(a), kNone);
  // The removed flow left the wheel: only b and c come due.
  std::vector<uint32_t> due = ExpireTo(100);
  std::sort(due.begin(), due.end());
  std::vector<uint32_t> want = {ib, again};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(due, want);
}

TEST_F(FlowTableTest, ExpireCallsDueExactlyForFlowsWhoseTimeHasCome) {
  std::map<uint32_t, uint32_t> expiry;  // idx -> expires_s
  const uint32_t times[] = {5, 10, 10, 20, 4000};
  for (uint32_t i = 0; i < std::size(times); ++i) {
    Flow f = SampleFlow(times[i]);
    f.in_port = static_cast<uint16_t>(1000 + i);
    f.ext_port = static_cast<uint16_t>(2000 + i);
    expiry[Add(f)] = times[i];
  }
  auto due_between = [&](uint32_t lo, uint32_t hi) {
    std::set<uint32_t> s;
    for (auto [idx, t] : expiry) {
      if (t > lo && t <= hi) s.insert(idx);
    }
    return s;
  };
  uint32_t last = 0;
  for (uint32_t now : {4u, 5u, 9u, 10u, 19u, 20u, 3999u, 4000u}) {
    std::vector<uint32_t> due = ExpireTo(now);
    EXPECT_EQ(std::set<uint32_t>(due.begin(), due.end()),
              due_between(last, now))
        << "now " << now;
    EXPECT_EQ(due.size(), due_between(last, now).size()) << "called once";
    last = now;
  }
}

TEST_F(FlowTableTest, AFlowRefreshedSinceItWasFiledMovesToItsNewSlot) {
  Flow f = SampleFlow(5);
  const uint32_t idx = Add(f);
  table[idx].expires_s = 50;  // refreshed by traffic, not refiled
  uint64_t visits = 0;
  table.Expire(5, [&](uint32_t) { FAIL() << "not due before 50"; });
  EXPECT_EQ(FindIn(f), idx);
  // It moved to slot 50: walking 5..49 again does not meet it.
  visits = table.Expire(49, [&](uint32_t) { FAIL() << "not due before 50"; });
  EXPECT_EQ(visits, 0u);
  EXPECT_EQ(ExpireTo(50), std::vector<uint32_t>{idx});
}

TEST_F(FlowTableTest, DueMayRefreshAndRefileAFlow) {
  const uint32_t idx = Add(SampleFlow(10));
  int calls = 0;
  table.Expire(10, [&](uint32_t i) {
    calls++;
    table[i].expires_s = 40;
    table.Refile(i);
  });
  EXPECT_EQ(calls, 1);
  table.Expire(39, [&](uint32_t) { calls++; });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(ExpireTo(40), std::vector<uint32_t>{idx});
}

TEST_F(FlowTableTest, RefileMovesAFlowToAnEarlierSlot) {
  const Flow f = SampleFlow(100);
  const uint32_t idx = Add(f);
  table[idx].expires_s = 30;
  table.Refile(idx);
  EXPECT_EQ(ExpireTo(30), std::vector<uint32_t>{idx});
  EXPECT_EQ(FindIn(f), kNone);
}

TEST_F(FlowTableTest, FlowsMoreThanAWheelTurnAheadComeDueAtTheirSecond) {
  // 5000 and 10000 share slots with earlier seconds (904, 1808): the wheel
  // passes them once or twice before they are due.
  const uint32_t times[] = {3, 4095, 4096, 4097, 5000, 10000};
  std::map<uint32_t, uint32_t> expiry;
  for (uint32_t i = 0; i < std::size(times); ++i) {
    Flow f = SampleFlow(times[i]);
    f.in_port = static_cast<uint16_t>(1000 + i);
    f.ext_port = static_cast<uint16_t>(2000 + i);
    expiry[Add(f)] = times[i];
  }
  for (uint32_t now = 1; now <= 10001; ++now) {
    table.Expire(now, [&](uint32_t idx) {
      EXPECT_EQ(expiry.at(idx), now) << "flow " << idx;
      table.Remove(idx);
      expiry.erase(idx);
    });
  }
  EXPECT_TRUE(expiry.empty());
}

TEST_F(FlowTableTest, AGapLongerThanTheWheelExpiresEverythingDue) {
  std::vector<uint32_t> early;
  for (uint32_t t : {100u, 3000u, 4000u}) {
    Flow f = SampleFlow(t);
    f.in_port = static_cast<uint16_t>(t);
    early.push_back(Add(f));
  }
  Flow later = SampleFlow(9500);
  later.in_port = 9500;
  const uint32_t il = Add(later);
  std::vector<uint32_t> due = ExpireTo(9000);
  std::sort(due.begin(), due.end());
  EXPECT_EQ(due, early);
  EXPECT_EQ(FindIn(later), il);
  EXPECT_EQ(ExpireTo(9499), std::vector<uint32_t>{});
  EXPECT_EQ(ExpireTo(9500), std::vector<uint32_t>{il});
}

// Random expiry times, lazy refreshes (later, as traffic makes them; some
// beyond a wheel turn), a step a second: every flow comes due exactly at
// the second it expires.
TEST_F(FlowTableTest, RandomRefreshesComeDueOnTime) {
  std::mt19937 rng(7);
  std::vector<uint32_t> live;
  for (uint32_t i = 0; i < 2000; ++i) {
    Flow f = SampleFlow(1 + rng() % 6000);
    f.in_addr += i;
    live.push_back(Add(f));
  }
  uint32_t removed = 0;
  for (uint32_t now = 1; now <= 16000; ++now) {
    for (int k = 0; k < 3 && now <= 6000; ++k) {
      const uint32_t idx = live[rng() % live.size()];
      const uint32_t later = now + 1 + rng() % 9000;
      if (table[idx].live() && table[idx].expires_s > now &&
          later > table[idx].expires_s) {
        table[idx].expires_s = later;
      }
    }
    table.Expire(now, [&](uint32_t idx) {
      ASSERT_EQ(table[idx].expires_s, now) << "flow " << idx;
      table.Remove(idx);
      removed++;
    });
  }
  EXPECT_EQ(removed, live.size());
}

TEST_F(FlowTableTest, HundredThousandFlowsStayFindableAsTheIndexGrows) {
  constexpr uint32_t kFlows = 100000;
  std::vector<Flow> flows;
  flows.reserve(kFlows);
  for (uint32_t i = 0; i < kFlows; ++i) {
    Flow f = SampleFlow(100 + i % 1000);
    f.in_addr = A("10.0.0.0") + (i >> 8);
    f.in_port = static_cast<uint16_t>(1024 + (i & 0xff));
    f.ext_port = static_cast<uint16_t>(1024 + i % 60000);
    f.ext_addr = A("203.0.113.1") + i / 60000;
    flows.push_back(f);
    ASSERT_EQ(Add(f), i);
  }
  for (uint32_t i = 0; i < kFlows; ++i) {
    ASSERT_EQ(FindIn(flows[i]), i);
    ASSERT_EQ(FindOut(flows[i]), i);
  }
  for (uint32_t i = 0; i < kFlows; i += 2) table.Remove(i);
  for (uint32_t i = 0; i < kFlows; ++i) {
    const uint32_t want = (i % 2) ? i : kNone;
    ASSERT_EQ(FindIn(flows[i]), want);
    ASSERT_EQ(FindOut(flows[i]), want);
  }
}

}  // namespace
}  // namespace unat::internal
