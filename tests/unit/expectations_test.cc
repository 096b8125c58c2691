// ExpectationTable on its own: matching an inbound packet to an announced
// related flow, per-master bookkeeping and expiry (engine/expectations.h).
#include "engine/expectations.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "tests/unit/component_util.h"
#include "tests/unit/test_util.h"

namespace unat::internal {
namespace {

using unat::testing::A;
using unat::testing::ExpireAndRemove;

class ExpectationTest : public ::testing::Test {
 protected:
  // An expectation of a UDP packet from remote:rport to ext:eport.
  uint32_t Expect(uint32_t remote, uint16_t rport, uint16_t eport = 6000,
                  TimeMs expires = 10000, FlowId master = 1,
                  uint32_t mapping = 42) {
    Expectation x;
    x.proto = kProtoUdp;
    x.ns = 0;
    x.rem_addr = remote;
    x.rem_port = rport;
    x.ext_addr = ext;
    x.ext_port = eport;
    x.mapping = mapping;
    x.master = master;
    x.helper = 1;
    x.expires = expires;
    return table.Add(x);
  }
  uint32_t Match(uint32_t src, uint16_t sport, uint16_t eport = 6000,
                 TimeMs now = 0, uint8_t proto = kProtoUdp) const {
    return table.Match(proto, ext, eport, src, sport, now);
  }
  std::vector<uint32_t> ExpireTo(TimeMs now) {
    return ExpireAndRemove(table, now);
  }

  ExpectationTable table;
  const uint32_t ext = A("203.0.113.1");
  const uint32_t remote = A("198.51.100.7");
};

TEST_F(ExpectationTest, MatchesItsEndpointAndRemoteOnly) {
  const uint32_t e = Expect(remote, 69);
  EXPECT_TRUE(table[e].live);
  EXPECT_EQ(table.live(), 1u);
  EXPECT_EQ(Match(remote, 69), e);
  EXPECT_EQ(Match(remote + 1, 69), kNone) << "other remote address";
  EXPECT_EQ(Match(remote, 70), kNone) << "other remote port";
  EXPECT_EQ(Match(remote, 69, 6001), kNone) << "other external port";
  EXPECT_EQ(Match(remote, 69, 6000, 0, kProtoTcp), kNone) << "other proto";
  EXPECT_EQ(table.Match(kProtoUdp, ext + 1, 6000, remote, 69, 0), kNone)
      << "other external address";
}

TEST_F(ExpectationTest, ZeroRemotePortOrAddressMatchesAny) {
  const uint32_t any_port = Expect(remote, 0, 6000);
  EXPECT_EQ(Match(remote, 1), any_port);
  EXPECT_EQ(Match(remote, 65535), any_port);
  EXPECT_EQ(Match(remote + 1, 1), kNone);
  const uint32_t any_remote = Expect(0, 53, 6001);
  EXPECT_EQ(Match(A("192.0.2.1"), 53, 6001), any_remote);
  EXPECT_EQ(Match(A("192.0.2.1"), 54, 6001), kNone);
  const uint32_t anyone = Expect(0, 0, 6002);
  EXPECT_EQ(Match(A("192.0.2.99"), 12345, 6002), anyone);
}

TEST_F(ExpectationTest, SeveralOnOneEndpointMatchTheirOwnRemotes) {
  const uint32_t a = Expect(remote, 100);
  const uint32_t b = Expect(A("192.0.2.1"), 200);
  EXPECT_EQ(Match(remote, 100), a);
  EXPECT_EQ(Match(A("192.0.2.1"), 200), b);
  EXPECT_EQ(Match(remote, 200), kNone);
  table.Remove(a);
  EXPECT_EQ(Match(remote, 100), kNone);
  EXPECT_EQ(Match(A("192.0.2.1"), 200), b);
}

TEST_F(ExpectationTest, AnExpiredExpectationDoesNotMatch) {
  const uint32_t e = Expect(remote, 69, 6000, 1000);
  EXPECT_EQ(Match(remote, 69, 6000, 999), e);
  EXPECT_EQ(Match(remote, 69, 6000, 1000), kNone);
  EXPECT_EQ(Match(remote, 69, 6000, 5000), kNone);
}

TEST_F(ExpectationTest, RemoveReturnsTheMappingAndUnfiles) {
  const uint32_t e = Expect(remote, 69, 6000, 10000, 5, 42);
  EXPECT_EQ(table.CountOf(5), 1u);
  EXPECT_EQ(table.Remove(e), 42u);
  EXPECT_FALSE(table[e].live);
  EXPECT_EQ(table.live(), 0u);
  EXPECT_EQ(table.CountOf(5), 0u);
  EXPECT_EQ(table.OldestOf(5), kNone);
  EXPECT_EQ(Match(remote, 69), kNone);
  EXPECT_EQ(table.Remove(e), kNone) << "removed twice: nothing to release";
  // The slot is reused.
  EXPECT_EQ(Expect(remote, 70, 6000, 10000, 5, 43), e);
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(Match(remote, 70), e);
  EXPECT_EQ(Match(remote, 69), kNone);
}

TEST_F(ExpectationTest, OldestOfAndCountOfFollowEachMaster) {
  const uint32_t a = Expect(remote, 1, 6000, 10000, 7);
  const uint32_t b = Expect(remote, 2, 6000, 10000, 7);
  const uint32_t c = Expect(remote, 3, 6000, 10000, 8);
  const uint32_t d = Expect(remote, 4, 6000, 10000, 7);
  EXPECT_EQ(table.CountOf(7), 3u);
  EXPECT_EQ(table.CountOf(8), 1u);
  EXPECT_EQ(table.CountOf(9), 0u);
  EXPECT_EQ(table.OldestOf(7), a);
  EXPECT_EQ(table.OldestOf(8), c);
  EXPECT_EQ(table.OldestOf(9), kNone);
  std::vector<uint32_t> of7 = table.OfMaster(7);
  std::sort(of7.begin(), of7.end());
  EXPECT_EQ(of7, (std::vector<uint32_t>{a, b, d}));
  // The newest takes the oldest's slot: it is still the newest.
  table.Remove(a);
  const uint32_t e = Expect(remote, 5, 6000, 10000, 7);
  EXPECT_EQ(e, a) << "slot reused";
  EXPECT_EQ(table.OldestOf(7), b);
  table.Remove(b);
  EXPECT_EQ(table.OldestOf(7), d);
  EXPECT_EQ(table.CountOf(7), 2u);
}

TEST_F(ExpectationTest, ExpireReportsEachEndedExpectationInTimeOrder) {
  const uint32_t t300 = Expect(remote, 1, 6000, 300);
  const uint32_t t100 = Expect(remote, 2, 6000, 100);
  const uint32_t t200 = Expect(remote, 3, 6000, 200);
  const uint32_t t500 = Expect(remote, 4, 6000, 500);
  const uint32_t gone = Expect(remote, 5, 6000, 150);
  table.Remove(gone);  // removed before its time: never reported
  EXPECT_EQ(ExpireTo(99), std::vector<uint32_t>{});
  EXPECT_EQ(ExpireTo(250), (std::vector<uint32_t>{t100, t200}));
  EXPECT_EQ(ExpireTo(400), std::vector<uint32_t>{t300});
  EXPECT_EQ(table.live(), 1u);
  EXPECT_EQ(Match(remote, 4, 6000, 400), t500);
  EXPECT_EQ(ExpireTo(500), std::vector<uint32_t>{t500});
  EXPECT_EQ(table.live(), 0u);
}

TEST_F(ExpectationTest, AReusedSlotIsNotExpiredAtItsPredecessorsTime) {
  const uint32_t e = Expect(remote, 1, 6000, 100);
  table.Remove(e);
  const uint32_t again = Expect(remote, 2, 6000, 900);
  ASSERT_EQ(again, e);
  EXPECT_EQ(ExpireTo(100), std::vector<uint32_t>{});
  EXPECT_EQ(Match(remote, 2, 6000, 100), again);
  EXPECT_EQ(ExpireTo(900), std::vector<uint32_t>{again});
}

}  // namespace
}  // namespace unat::internal
