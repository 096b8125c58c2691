// HelperSet: registration on configured ports, refusals, counters.
#include "helpers/helper_set.h"

#include <map>

#include "tests/helpers/fixture.h"

namespace unat::helpers::testing {
namespace {

class HelperSetTest : public HelperFixture {};

TEST_F(HelperSetTest, ConfiguredPortsOnly) {
  HelperSetConfig c;
  c.Enable("ftp").SetPorts("ftp", {2121});
  c.Enable("irc");
  HelperSet set(c);
  ASSERT_TRUE(set.Register(*nat).ok());
  In(Tcp("10.77.0.2", 1111, "198.51.100.2", 2121));
  In(Tcp("10.77.0.2", 1112, "198.51.100.2", 21));
  In(Tcp("10.77.0.2", 1113, "198.51.100.2", 6667));
  In(Udp("10.77.0.2", 1114, "198.51.100.2", 69));
  EXPECT_EQ(FlowOf(1111).helper, "ftp");
  EXPECT_EQ(FlowOf(1112).helper, "");
  EXPECT_EQ(FlowOf(1113).helper, "irc");
  EXPECT_EQ(FlowOf(1114, kProtoUdp).helper, "");  // tftp off
  std::map<std::string, uint64_t> counters;
  set.ForEachCounter(
      [&](std::string_view n, uint64_t v) { counters[std::string(n)] = v; });
  EXPECT_TRUE(counters.contains("ftp/port_rewrites"));
  EXPECT_TRUE(counters.contains("irc/send_rewrites"));
  EXPECT_FALSE(counters.contains("tftp/requests"));
}

TEST_F(HelperSetTest, ClashAndPortZeroRefused) {
  HelperSetConfig c;
  c.Enable("ftp");
  c.Enable("irc").SetPorts("irc", {21});
  HelperSet clash(c);
  EXPECT_FALSE(clash.Register(*nat).ok());
  HelperSetConfig z;
  z.Enable("tftp").SetPorts("tftp", {0});
  HelperSet zero(z);
  EXPECT_FALSE(zero.Register(*nat).ok());
}

}  // namespace
}  // namespace unat::helpers::testing
