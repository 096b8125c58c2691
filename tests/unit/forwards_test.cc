// ForwardTable on its own: ids, lookup, lease expiry and remote filters
// (engine/forwards.h).
#include "engine/forwards.h"

#include <gtest/gtest.h>

#include <vector>

#include "tests/unit/component_util.h"
#include "tests/unit/test_util.h"

namespace unat::internal {
namespace {

using unat::testing::A;
using unat::testing::ExpireAndRemove;

class ForwardTableTest : public ::testing::Test {
 protected:
  // A TCP forward of 203.0.113.1:`port` to 10.0.0.2:80 until `expires`.
  static ForwardSpec Spec(uint16_t port, TimeMs expires = 0,
                          uint8_t proto = kProtoTcp) {
    ForwardSpec s;
    s.proto = proto;
    s.external_addr = A("203.0.113.1");
    s.external_port = port;
    s.ns = 0;
    s.inside_addr = A("10.0.0.2");
    s.inside_port = 80;
    s.expires = expires;
    return s;
  }
  std::vector<uint32_t> ExpireTo(TimeMs now) {
    return ExpireAndRemove(table, now);
  }
  ForwardTable table;
  const uint32_t ext = A("203.0.113.1");
};

TEST_F(ForwardTableTest, AddFindRemoveAndReuseAnId) {
  const uint32_t a = table.Add(Spec(8080));
  const uint32_t b = table.Add(Spec(8080, 0, kProtoUdp));
  EXPECT_NE(a, b);
  EXPECT_EQ(table.live(), 2u);
  EXPECT_TRUE(table.Live(a));
  EXPECT_FALSE(table.Live(57));
  EXPECT_EQ(table.spec(a).inside_port, 80);
  EXPECT_EQ(table.Find(kProtoTcp, ext, 8080), static_cast<int>(a));
  EXPECT_EQ(table.Find(kProtoUdp, ext, 8080), static_cast<int>(b));
  EXPECT_EQ(table.Find(kProtoTcp, ext, 8081), -1);
  EXPECT_EQ(table.Find(kProtoTcp, ext + 1, 8080), -1);
  EXPECT_EQ(table.Find(kProtoIcmp, ext, 8080), -1);

  table.Remove(a);
  EXPECT_FALSE(table.Live(a));
  EXPECT_EQ(table.live(), 1u);
  EXPECT_EQ(table.Find(kProtoTcp, ext, 8080), -1);
  table.Remove(a);  // twice: nothing more
  EXPECT_EQ(table.live(), 1u);

  const uint32_t c = table.Add(Spec(9090));
  EXPECT_EQ(c, a) << "the freed id is reused";
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.Find(kProtoTcp, ext, 9090), static_cast<int>(c));
  EXPECT_EQ(table.Find(kProtoTcp, ext, 8080), -1);
}

TEST_F(ForwardTableTest, FindIsExactAboutTheExternalAddress) {
  ForwardSpec every = Spec(7000);
  every.external_addr = 0;  // every external address
  const uint32_t id = table.Add(every);
  EXPECT_EQ(table.Find(kProtoTcp, 0, 7000), static_cast<int>(id));
  EXPECT_EQ(table.Find(kProtoTcp, ext, 7000), -1);
}

TEST_F(ForwardTableTest, ExpireReportsOnlyLeasesThatEnded) {
  const uint32_t a = table.Add(Spec(1, 1000));
  const uint32_t b = table.Add(Spec(2, 2000));
  const uint32_t fixed = table.Add(Spec(3, 0));
  EXPECT_EQ(ExpireTo(999), std::vector<uint32_t>{});
  EXPECT_EQ(ExpireTo(1000), std::vector<uint32_t>{a});
  EXPECT_EQ(ExpireTo(1000000), std::vector<uint32_t>{b});
  EXPECT_TRUE(table.Live(fixed)) << "a static forward never expires";
  EXPECT_EQ(table.live(), 1u);
}

TEST_F(ForwardTableTest, ARenewedLeaseIsNotExpiredAtItsOldTime) {
  const uint32_t a = table.Add(Spec(1, 1000));
  table.Renew(a, 3000);
  EXPECT_EQ(table.spec(a).expires, 3000u);
  EXPECT_EQ(ExpireTo(1500), std::vector<uint32_t>{});
  EXPECT_TRUE(table.Live(a));
  EXPECT_EQ(ExpireTo(3000), std::vector<uint32_t>{a});

  // Renewed to 0: a lease made permanent.
  const uint32_t b = table.Add(Spec(2, 5000));
  table.Renew(b, 0);
  EXPECT_EQ(ExpireTo(1000000), std::vector<uint32_t>{});
  EXPECT_TRUE(table.Live(b));
  // A static forward given a lease expires with it.
  const uint32_t c = table.Add(Spec(3, 0));
  table.Renew(c, 2000000);
  EXPECT_EQ(ExpireTo(1999999), std::vector<uint32_t>{});
  EXPECT_EQ(ExpireTo(2000000), std::vector<uint32_t>{c});
}

TEST_F(ForwardTableTest, AReusedIdIsNotExpiredAtItsPredecessorsTime) {
  const uint32_t a = table.Add(Spec(1, 1000));
  table.Remove(a);
  const uint32_t b = table.Add(Spec(2, 5000));
  ASSERT_EQ(b, a);
  EXPECT_EQ(ExpireTo(1000), std::vector<uint32_t>{});
  EXPECT_TRUE(table.Live(b));
  EXPECT_EQ(ExpireTo(5000), std::vector<uint32_t>{b});
}

TEST_F(ForwardTableTest, RemoteFiltersAllowPrefixesAndPorts) {
  ForwardSpec open = Spec(1);
  EXPECT_TRUE(ForwardTable::RemoteAllowed(open, A("192.0.2.1"), 1));

  ForwardSpec s = Spec(1);
  // Host bits beyond the prefix are ignored.
  s.allowed_remotes = {{A("198.51.100.77"), 24, 0}, {A("192.0.2.7"), 32, 53}};
  EXPECT_TRUE(ForwardTable::RemoteAllowed(s, A("198.51.100.1"), 1));
  EXPECT_TRUE(ForwardTable::RemoteAllowed(s, A("198.51.100.255"), 65535));
  EXPECT_FALSE(ForwardTable::RemoteAllowed(s, A("198.51.101.1"), 1));
  EXPECT_TRUE(ForwardTable::RemoteAllowed(s, A("192.0.2.7"), 53));
  EXPECT_FALSE(ForwardTable::RemoteAllowed(s, A("192.0.2.7"), 54));
  EXPECT_FALSE(ForwardTable::RemoteAllowed(s, A("192.0.2.8"), 53));

  ForwardSpec any = Spec(1);
  any.allowed_remotes = {{A("10.0.0.0"), 0, 443}};
  EXPECT_TRUE(ForwardTable::RemoteAllowed(any, A("1.2.3.4"), 443));
  EXPECT_FALSE(ForwardTable::RemoteAllowed(any, A("1.2.3.4"), 444));

  ForwardSpec slash9 = Spec(1);
  slash9.allowed_remotes = {{A("10.128.0.0"), 9, 0}};
  EXPECT_TRUE(ForwardTable::RemoteAllowed(slash9, A("10.255.1.1"), 1));
  EXPECT_FALSE(ForwardTable::RemoteAllowed(slash9, A("10.127.1.1"), 1));
}

TEST(ValidateRemoteFilters, LimitsCountAndPrefixLength) {
  EXPECT_TRUE(ValidateRemoteFilters({}).ok());
  std::vector<RemoteFilter> filters(ForwardSpec::kMaxRemoteFilters);
  EXPECT_TRUE(ValidateRemoteFilters(filters).ok());
  filters.push_back({});
  const absl::Status too_many = ValidateRemoteFilters(filters);
  EXPECT_EQ(too_many.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(too_many.message().find("at most 16"), std::string::npos)
      << too_many.message();

  EXPECT_TRUE(ValidateRemoteFilters({{A("10.0.0.0"), 32, 0}}).ok());
  EXPECT_TRUE(ValidateRemoteFilters({{A("10.0.0.0"), 0, 0}}).ok());
  const absl::Status bad =
      ValidateRemoteFilters({{A("10.0.0.0"), 8, 0}, {A("10.0.0.0"), 33, 0}});
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("prefix_len 33"), std::string::npos)
      << bad.message();
}

}  // namespace
}  // namespace unat::internal
