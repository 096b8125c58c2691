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

// A reload: only the helpers whose settings change stop or start; the
// others keep running (the same object, so their state); a bad next config
// changes nothing.
TEST_F(HelperSetTest, UpdateTouchesOnlyWhatChanged) {
  HelperSetConfig c;
  c.Enable("ftp");
  c.Enable("irc");
  HelperSet set(c);
  ASSERT_TRUE(set.Register(*nat).ok());
  const PacketHelper* irc_before = set.Find("irc");
  In(Tcp("10.77.0.2", 1111, "198.51.100.2", 21));
  ASSERT_EQ(FlowOf(1111).helper, "ftp");

  // Refused whole: irc onto ftp's port.
  HelperSetConfig bad = c;
  bad.Enable("ftp", false);
  bad.Enable("tftp");
  bad.SetPorts("irc", {69, 21}).SetPorts("ftp", {21});
  bad.Enable("ftp");
  std::vector<std::string> changes;
  EXPECT_FALSE(set.Update(*nat, bad, &changes).ok());
  EXPECT_TRUE(changes.empty());
  EXPECT_EQ(set.Find("irc"), irc_before);
  EXPECT_NE(set.Find("ftp"), nullptr);
  EXPECT_EQ(set.Find("tftp"), nullptr);

  // ftp off, tftp on, irc untouched.
  HelperSetConfig next = c;
  next.Enable("ftp", false);
  next.Enable("tftp");
  ASSERT_TRUE(set.Update(*nat, next, &changes).ok());
  EXPECT_EQ(changes, (std::vector<std::string>{"ftp off", "tftp on"}));
  EXPECT_EQ(set.Find("ftp"), nullptr);
  EXPECT_EQ(set.Find("irc"), irc_before);
  EXPECT_EQ(FlowOf(1111).helper, "off");  // up, without the helper
  In(Tcp("10.77.0.2", 1112, "198.51.100.2", 21));
  In(Udp("10.77.0.2", 1113, "198.51.100.2", 69));
  In(Tcp("10.77.0.2", 1114, "198.51.100.2", 6667));
  EXPECT_EQ(FlowOf(1112).helper, "");
  EXPECT_EQ(FlowOf(1113, kProtoUdp).helper, "tftp");
  EXPECT_EQ(FlowOf(1114).helper, "irc");

  // irc moves to another port: restarted, a new object on the new port.
  changes.clear();
  next.SetPorts("irc", {6697});
  ASSERT_TRUE(set.Update(*nat, next, &changes).ok());
  EXPECT_EQ(changes,
            (std::vector<std::string>{"irc restarted (ports or options)"}));
  In(Tcp("10.77.0.2", 1115, "198.51.100.2", 6667));
  In(Tcp("10.77.0.2", 1116, "198.51.100.2", 6697));
  EXPECT_EQ(FlowOf(1115).helper, "");
  EXPECT_EQ(FlowOf(1116).helper, "irc");

  // The same config again changes nothing.
  changes.clear();
  ASSERT_TRUE(set.Update(*nat, next, &changes).ok());
  EXPECT_TRUE(changes.empty());
  std::map<std::string, uint64_t> counters;
  set.ForEachCounter(
      [&](std::string_view n, uint64_t v) { counters[std::string(n)] = v; });
  EXPECT_FALSE(counters.contains("ftp/port_rewrites"));
  EXPECT_TRUE(counters.contains("tftp/requests"));
}

}  // namespace
}  // namespace unat::helpers::testing
