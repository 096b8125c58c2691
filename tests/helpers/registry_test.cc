// The helper registry: every entry complete and distinct, and HelperSet
// generic over it (default ports, unknown names, counters by prefix).
#include "helpers/registry.h"

#include <map>
#include <set>
#include <string>

#include "helpers/ftp.h"
#include "helpers/helper_set.h"
#include "tests/helpers/fixture.h"

namespace unat::helpers::testing {
namespace {

TEST(HelperRegistryTest, EveryEntryIsCompleteAndDistinct) {
  ASSERT_FALSE(Registered().empty());
  std::set<std::string_view> names;
  std::set<std::pair<uint8_t, uint16_t>> ports;
  for (const HelperEntry* e : Registered()) {
    SCOPED_TRACE(std::string(e->name));
    EXPECT_FALSE(e->name.empty());
    EXPECT_TRUE(names.insert(e->name).second) << "name registered twice";
    EXPECT_EQ(e->name.find_first_of("/ ."), std::string_view::npos);
    EXPECT_TRUE(e->proto == kProtoTcp || e->proto == kProtoUdp);
    ASSERT_FALSE(e->default_ports.empty());
    for (uint16_t p : e->default_ports) {
      EXPECT_NE(p, 0);
      // Defaults never clash: every helper turned on with its defaults
      // registers.
      for (uint8_t proto : e->protos()) {
        EXPECT_TRUE(ports.insert({proto, p}).second) << "port " << p;
      }
    }
    EXPECT_EQ(e->ports_field(), std::string(e->name) + "_ports");
    EXPECT_EQ(e->options.empty(), e->configure == nullptr);
    for (const HelperOption& o : e->options) {
      EXPECT_LE(o.min, o.default_value) << o.name;
      EXPECT_LE(o.default_value, o.max) << o.name;
      EXPECT_EQ(e->FindOption(o.name), &o);
    }
    EXPECT_EQ(FindHelper(e->name), e);
    ASSERT_NE(e->create, nullptr);
    ASSERT_NE(e->counters, nullptr);
    std::unique_ptr<PacketHelper> h = e->create();
    ASSERT_NE(h, nullptr);
    EXPECT_EQ(h->name(), e->name);  // the flow dump's HELPER column
    int counters = 0;
    e->counters(*h, [&](std::string_view n, uint64_t v) {
      EXPECT_FALSE(n.empty());
      EXPECT_EQ(n.find('/'), std::string_view::npos) << n;
      EXPECT_EQ(v, 0u) << n;
      ++counters;
    });
    EXPECT_GT(counters, 0);
    // Each helper makes related flows: expectations, or flows it opens.
    EXPECT_GE(
        e->expectations.max_per_master + e->expectations.max_related_per_master,
        1u);
    if (e->expectations.max_per_master != 0) {
      EXPECT_GE(e->expectations.max_timeout_s, 1u);
    }
    if (e->expectations.allow_any_remote) {
      EXPECT_LE(e->expectations.max_timeout_s,
                ExpectationSpec::kMaxAnyRemoteTimeoutS);
    }
  }
  EXPECT_EQ(FindHelper("h225"), nullptr);
  EXPECT_EQ(FindHelper("natpmp"), nullptr);  // a local helper, not an ALG
}

TEST(HelperRegistryTest, TheBuiltInHelpers) {
  const HelperEntry* ftp = FindHelper("ftp");
  const HelperEntry* tftp = FindHelper("tftp");
  const HelperEntry* irc = FindHelper("irc");
  ASSERT_TRUE(ftp && tftp && irc);
  EXPECT_EQ(ftp->proto, kProtoTcp);
  EXPECT_EQ(ftp->default_ports, std::vector<uint16_t>{21});
  EXPECT_EQ(tftp->proto, kProtoUdp);
  EXPECT_EQ(tftp->default_ports, std::vector<uint16_t>{69});
  EXPECT_EQ(irc->proto, kProtoTcp);
  EXPECT_EQ(irc->default_ports, std::vector<uint16_t>{6667});
  // The policies their ExpectationSpecs carry today.
  EXPECT_EQ(ftp->expectations.max_timeout_s, 120u);
  EXPECT_FALSE(ftp->expectations.allow_any_remote);
  EXPECT_EQ(tftp->expectations.max_timeout_s, 60u);
  EXPECT_FALSE(tftp->expectations.allow_any_remote);
  EXPECT_EQ(irc->expectations.max_timeout_s, 120u);
  EXPECT_TRUE(irc->expectations.allow_any_remote);
  for (const HelperEntry* e : {ftp, tftp, irc}) {
    EXPECT_EQ(e->expectations.max_per_master, 4u);
    EXPECT_EQ(e->expectations.max_related_per_master, 0u);
  }
  // PPTP opens its calls' GRE flows and expects nothing.
  const HelperEntry* pptp = FindHelper("pptp");
  ASSERT_NE(pptp, nullptr);
  EXPECT_EQ(pptp->proto, kProtoTcp);
  EXPECT_EQ(pptp->default_ports, std::vector<uint16_t>{1723});
  EXPECT_EQ(pptp->expectations.max_per_master, 0u);
  EXPECT_EQ(pptp->expectations.max_related_per_master, 16u);
  // H.323: call signalling on TCP and RAS on UDP, on both its ports; the
  // H.245 connections it expects get its companion.
  const HelperEntry* h323 = FindHelper("h323");
  ASSERT_NE(h323, nullptr);
  EXPECT_EQ(h323->protos(), (std::vector<uint8_t>{kProtoTcp, kProtoUdp}));
  EXPECT_EQ(h323->default_ports, (std::vector<uint16_t>{1720, 1719}));
  ASSERT_NE(h323->companion, nullptr);
  auto helper = h323->create();
  EXPECT_EQ(h323->companion(*helper)->name(), "h245");
}

TEST(HelperRegistryTest, ConfigStartsOffOnTheDefaultPorts) {
  HelperSetConfig c;
  for (const HelperEntry* e : Registered()) {
    EXPECT_FALSE(c.enabled(e->name));
    EXPECT_EQ(c.ports(e->name), e->default_ports);
  }
  EXPECT_TRUE(c.enabled_names().empty());
  EXPECT_TRUE(c.ports("h225").empty());
  HelperSetConfig d;
  EXPECT_EQ(c, d);
  d.SetPorts("ftp", {21});  // the default again
  EXPECT_EQ(c, d);
  d.SetPorts("ftp", {2121});
  EXPECT_NE(c, d);
}

class HelperSetRegistryTest : public HelperFixture {};

TEST_F(HelperSetRegistryTest, EveryHelperOnItsDefaultPorts) {
  HelperSetConfig c;
  for (const HelperEntry* e : Registered()) c.Enable(e->name);
  HelperSet set(c);
  ASSERT_TRUE(set.Register(*nat).ok());
  uint16_t sport = 2000;
  for (const HelperEntry* e : Registered()) {
    ASSERT_NE(set.Find(e->name), nullptr);
    EXPECT_EQ(set.Find(e->name)->name(), e->name);
    for (uint16_t p : e->default_ports) {
      for (uint8_t proto : e->protos()) {
        ++sport;
        In(proto == kProtoTcp ? Tcp("10.77.0.2", sport, "198.51.100.2", p)
                              : Udp("10.77.0.2", sport, "198.51.100.2", p));
        EXPECT_EQ(FlowOf(sport, proto).helper, e->name);
      }
    }
  }
  // Counters come prefixed by their helper's name, every helper's.
  std::set<std::string> prefixes;
  set.ForEachCounter([&](std::string_view n, uint64_t) {
    prefixes.insert(std::string(n.substr(0, n.find('/'))));
  });
  EXPECT_EQ(prefixes.size(), Registered().size());
}

TEST_F(HelperSetRegistryTest, OffHelpersAndUnknownNames) {
  HelperSet none(HelperSetConfig{});
  ASSERT_TRUE(none.Register(*nat).ok());
  EXPECT_EQ(none.Find("ftp"), nullptr);
  int n = 0;
  none.ForEachCounter([&](std::string_view, uint64_t) { ++n; });
  EXPECT_EQ(n, 0);
  HelperSetConfig c;
  c.Enable("h225");
  HelperSet unknown(c);
  absl::Status s = unknown.Register(*nat);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "no helper named h225");
}

TEST(HelperRegistryTest, EachHelperGivesTheEngineItsEntrysPolicy) {
  for (const HelperEntry* e : Registered()) {
    SCOPED_TRACE(std::string(e->name));
    const ExpectationPolicy p = e->create()->expectation_policy();
    EXPECT_EQ(p.max_per_master, e->expectations.max_per_master);
    EXPECT_EQ(p.max_timeout_s, e->expectations.max_timeout_s);
    EXPECT_EQ(p.allow_any_remote, e->expectations.allow_any_remote);
  }
  // Only DCC names no peer: FTP and TFTP never open to any remote.
  EXPECT_FALSE(
      FindHelper("ftp")->create()->expectation_policy().allow_any_remote);
  EXPECT_FALSE(
      FindHelper("tftp")->create()->expectation_policy().allow_any_remote);
  EXPECT_TRUE(
      FindHelper("irc")->create()->expectation_policy().allow_any_remote);
  // The lifetime cap follows the helper's options.
  FtpHelper::Options o;
  o.expect_timeout_s = 45;
  EXPECT_EQ(FtpHelper(o).expectation_policy().max_timeout_s, 45u);
}

}  // namespace
}  // namespace unat::helpers::testing
