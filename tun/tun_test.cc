// Unit tests of unatd's pieces that need no devices: config checks, flags,
// framing, the state file.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "helpers/registry.h"
#include "tun/config.h"
#include "tun/control.pb.h"
#include "tun/flags.h"
#include "tun/framing.h"
#include "tun/metrics.h"
#include "tun/privileges.h"
#include "tun/state_file.h"

namespace unat::tun {
namespace {

constexpr char kGood[] = R"(
inside { name: "lan" device: "unat0" netns: "unat-lan" address: "10.77.0.1/24" }
outside { device: "unatw0" netns: "unat-wan" external_address: "203.0.113.1" }
control { socket: "/run/unat/test.sock" }
)";

absl::StatusOr<DaemonConfig> Build(const std::string& text) {
  auto parsed = ParseConfigText(text, "test.conf");
  if (!parsed.ok()) return parsed.status();
  return BuildDaemonConfig(*parsed);
}

std::string Error(const std::string& text) {
  auto c = Build(text);
  return c.ok() ? "ok" : std::string(c.status().message());
}

TEST(ConfigTest, GoodConfigHasDefaults) {
  auto c = Build(kGood);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->inside.size(), 1u);
  EXPECT_EQ(c->inside[0].gateway, 0x0a4d0001u);
  EXPECT_EQ(c->inside[0].prefix_len, 24);
  EXPECT_EQ(c->nat.external_addresses, std::vector<uint32_t>{0xcb007101u});
  EXPECT_EQ(c->nat.port_min, 1024);
  EXPECT_EQ(c->nat.port_max, 65535);
  EXPECT_EQ(c->nat.filtering, FilteringMode::kAddressAndPortDependent);
  EXPECT_EQ(c->ctl_mode, 0600u);
  EXPECT_EQ(c->state_file, "/var/lib/unat/state.pb");
  EXPECT_EQ(c->nat.limits.max_expectations, 4096u);
  auto set = Build(std::string(kGood) + "limits { max_expectations: 12 }");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->nat.limits.max_expectations, 12u);
}

TEST(ConfigTest, ErrorsNameFieldAndValue) {
  std::string g = kGood;
  EXPECT_EQ(
      Error(
          g +
          R"(forward { proto: TCP external_port: 70000 namespace: "lan" inside_address: "10.77.0.2" inside_port: 80 })"),
      "forward[0].external_port: 70000 is out of range 1..65535");
  EXPECT_EQ(
      Error(
          g +
          R"(forward { proto: TCP external_port: 80 namespace: "x" inside_address: "10.77.0.2" inside_port: 80 })"),
      "forward[0].namespace: \"x\" is not the name of an inside network");
  EXPECT_EQ(
      Error(
          g +
          R"(forward { proto: TCP external_port: 80 namespace: "lan" inside_address: "10.77.0.1" inside_port: 80 })"),
      "forward[0].inside_address: \"10.77.0.1\" is not a host of inside "
      "network lan (10.77.0.1/24)");
  EXPECT_EQ(Error(g + "ports { min: 9 max: 8 }"),
            "ports.min: 9 is above ports.max 8");
  EXPECT_EQ(Error(g + "timeouts { icmp_s: 1 }"),
            "timeouts.icmp_s: 1 is out of range 60..604800");
  EXPECT_EQ(Error(g + "limits { max_flows: 0 }"),
            "limits.max_flows: 0 is out of range 1..67108864");
  EXPECT_EQ(Error(g + "limits { max_expectations: 0 }"),
            "limits.max_expectations: 0 is out of range 1..1048576");
  EXPECT_EQ(Error(g + "state_file: \"relative\""),
            "state_file: \"relative\" is not an absolute path");
  EXPECT_EQ(Error(R"(outside { device: "w" external_address: "1.2.3.4" })"),
            "inside: at least one is required");
  EXPECT_EQ(Error(R"(inside { name: "a" device: "d" address: "10.0.0.0/24" }
outside { device: "w" external_address: "1.2.3.4" })"),
            "inside[0].address: \"10.0.0.0/24\" is the network or broadcast "
            "address");
  EXPECT_EQ(Error(R"(inside { name: "a" device: "w" address: "10.0.0.1/24" }
outside { device: "w" external_address: "1.2.3.4" })"),
            "inside[0].device: \"w\" is used twice");
  EXPECT_EQ(
      Error(
          R"(inside { name: "a" device: "a_very_long_device" address: "10.0.0.1/24" }
outside { device: "w" external_address: "1.2.3.4" })"),
      "inside[0].device: \"a_very_long_device\" is longer than 15 "
      "characters");
}

TEST(ConfigTest, AlgHelpersAndTheirPorts) {
  std::string g = kGood;
  auto off = Build(g);
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off->alg.enabled("ftp") || off->alg.enabled("tftp") ||
               off->alg.enabled("irc"));
  auto on = Build(g +
                  "helpers { ftp: true tftp: true irc: true "
                  "ftp_ports: [21, 2121] irc_ports: 6697 }");
  ASSERT_TRUE(on.ok()) << on.status();
  EXPECT_TRUE(on->alg.enabled("ftp") && on->alg.enabled("tftp") &&
              on->alg.enabled("irc"));
  EXPECT_EQ(on->alg.ports("ftp"), (std::vector<uint16_t>{21, 2121}));
  EXPECT_EQ(on->alg.ports("tftp"), std::vector<uint16_t>{69});
  EXPECT_EQ(on->alg.ports("irc"), std::vector<uint16_t>{6697});
  EXPECT_EQ(Error(g + "helpers { ftp: true ftp_ports: 0 }"),
            "helpers.ftp_ports: 0 is not a port (1..65535)");
  EXPECT_EQ(Error(g + "helpers { tftp_ports: [69, 69] }"),
            "helpers.tftp_ports: port 69 listed twice");
  EXPECT_EQ(Error(g + "helpers { ftp: true irc: true irc_ports: 21 }"),
            "helpers.irc_ports: TCP port 21 is also an FTP port");
  EXPECT_EQ(Error(g + "helpers { h323: true h323_media_timeout_s: 5 }"),
            "helpers.h323_media_timeout_s: 5 is out of range 10..3600");
  EXPECT_EQ(Error(g + "helpers { sip: true tftp: true sip_ports: 69 }"),
            "helpers.sip_ports: UDP port 69 is also a TFTP port");
  EXPECT_EQ(Error(g + "helpers { sip: true pptp: true pptp_ports: 5060 }"),
            "helpers.sip_ports: TCP port 5060 is also a PPTP port")
      << "SIP has its ports on TCP too";
  // A helper's own options, by name through the registry.
  EXPECT_EQ(Error(g + "helpers { sip: true sip_media_timeout_s: 5 }"),
            "helpers.sip_media_timeout_s: 5 is out of range 10..3600");
  EXPECT_EQ(Error(g + "helpers { sip_max_registration_s: 100000 }"),
            "helpers.sip_max_registration_s: 100000 is out of range 60..86400");
  auto sip = Build(g + "helpers { sip: true sip_media_timeout_s: 1200 }");
  ASSERT_TRUE(sip.ok()) << sip.status();
  EXPECT_EQ(sip->alg.option("sip", "media_timeout_s"), 1200u);
  EXPECT_EQ(sip->alg.option("sip", "max_registration_s"), 7200u) << "default";
  EXPECT_EQ(sip->alg.option("sip", "dialog_hold_s"), 3600u);
  {
    helpers::HelperSet set(sip->alg);
    const auto* h = set.Find("sip");
    ASSERT_NE(h, nullptr);
    // The longest expectation: a registered phone's listening port (7200
    // s + 32 of grace), or the media's when that is longer.
    EXPECT_EQ(h->expectation_policy().max_timeout_s, 7232u);
  }
  sip = Build(g +
              "helpers { sip: true sip_media_timeout_s: 1200 "
              "sip_max_registration_s: 600 }");
  ASSERT_TRUE(sip.ok()) << sip.status();
  helpers::HelperSet set(sip->alg);
  const auto* h = set.Find("sip");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->expectation_policy().max_timeout_s, 1200u) << "given to it";
}

// Every registered ALG is configured by its own two fields, read through
// the registry; the checks are the same for each.
TEST(ConfigTest, AlgHelpersThroughTheRegistry) {
  const std::string g = kGood;
  for (const helpers::HelperEntry* e : helpers::Registered()) {
    const std::string name(e->name);
    SCOPED_TRACE(name);
    auto on = Build(g + "helpers { " + name + ": true }");
    ASSERT_TRUE(on.ok()) << on.status();
    EXPECT_TRUE(on->alg.enabled(name));
    EXPECT_EQ(on->alg.ports(name), e->default_ports);
    auto moved = Build(g + "helpers { " + name + ": true " + name +
                       "_ports: [4000, 4001] }");
    ASSERT_TRUE(moved.ok()) << moved.status();
    EXPECT_EQ(moved->alg.ports(name), (std::vector<uint16_t>{4000, 4001}));
    EXPECT_EQ(Error(g + "helpers { " + name + "_ports: 70000 }"),
              "helpers." + name + "_ports: 70000 is not a port (1..65535)");
    EXPECT_EQ(Error(g + "helpers { " + name + "_ports: [7, 8, 7] }"),
              "helpers." + name + "_ports: port 7 listed twice");
  }
  // Every ALG of config.proto is built in, and so are the local ones.
  EXPECT_EQ(Error(g + "helpers { h323: true }"), "ok");
  EXPECT_EQ(Error(g + "helpers { natpmp: true pcp: true upnp: true }"), "ok");
  // Two helpers of the same protocol on one port: the later one is named.
  EXPECT_EQ(Error(g + "helpers { ftp: true irc: true ftp_ports: [21, 6667] }"),
            "helpers.irc_ports: TCP port 6667 is also an FTP port");
  EXPECT_EQ(Error(g + "helpers { ftp: true irc: true ftp_ports: 7000 "
                      "irc_ports: [6667, 7000] }"),
            "helpers.irc_ports: TCP port 7000 is also an FTP port");
  // Not a clash: one of them off, or another protocol.
  EXPECT_EQ(Error(g + "helpers { ftp: true irc_ports: 21 }"), "ok");
  EXPECT_EQ(Error(g + "helpers { ftp: true tftp: true tftp_ports: 21 }"), "ok");
}

TEST(ConfigTest, ParseErrorsAreOneLineWithPosition) {
  auto c = ParseConfigText("inside {\n  nam: \"x\"\n}\n", "f.conf");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(),
            "f.conf:2:6: Message type \"unat.config.Inside\" has no field "
            "named \"nam\".");
  c = ParseConfigText("inside {", "f.conf");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(std::string(c.status().message()).find('\n'), std::string::npos);
}

TEST(ConfigTest, BadValuesNameTheFieldPathAndTheValue) {
  // Issue 13: protobuf's own words named neither (`Expected integer, got:
  // -`). Every message names the field by its path and shows the value.
  auto err = [](const std::string& extra) {
    auto c = ParseConfigText(std::string(kGood) + extra, "f.conf");
    return c.ok() ? std::string("ok") : std::string(c.status().message());
  };
  EXPECT_EQ(err("timeouts { udp_s: \"fast\" }"),
            "f.conf:5:19: timeouts.udp_s: \"fast\" is not an unsigned integer "
            "(uint32)");
  EXPECT_EQ(err("timeouts { udp_s: fast }"),
            "f.conf:5:19: timeouts.udp_s: fast is not an unsigned integer "
            "(uint32)");
  EXPECT_EQ(err("inside { name: \"b\" device: \"u\" mtu: -1 }"),
            "f.conf:5:37: inside[1].mtu: -1 is not an unsigned integer "
            "(uint32)");
  EXPECT_EQ(err("limits { max_flows: 99999999999 }"),
            "f.conf:5:21: limits.max_flows: 99999999999 is out of range for "
            "an unsigned integer (uint32)");
  EXPECT_EQ(err("fragments { mode: HALF }"),
            "f.conf:5:19: fragments.mode: HALF is not one of VIRTUAL, FULL");
  EXPECT_EQ(err("filtering: SOMETIMES"),
            "f.conf:5:12: filtering: SOMETIMES is not one of "
            "ADDRESS_AND_PORT_DEPENDENT, ADDRESS_DEPENDENT, "
            "ENDPOINT_INDEPENDENT");
  EXPECT_EQ(err("helpers { natpmp: maybe }"),
            "f.conf:5:19: helpers.natpmp: maybe is not true or false");
  EXPECT_EQ(
      err("forward { inside_address: 10 }"),
      "f.conf:5:27: forward[0].inside_address: 10 is not a quoted string");
  EXPECT_EQ(err("forward { external_port: 1 }\n# two\nforward [{ "
                "external_port: 2 }, { external_port: \"x\" }]"),
            "f.conf:7:49: forward[2].external_port: \"x\" is not an unsigned "
            "integer (uint32)");
  EXPECT_EQ(err("outside { mtu: 1 }"),
            "f.conf:5:9: Non-repeated field \"outside\" is specified multiple "
            "times.");
}

TEST(ConfigTest, NatPmpAndPcpAreOptInAndTheTenantShareIsAFairShare) {
  auto c = Build(kGood);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->natpmp);
  EXPECT_FALSE(c->pcp);
  EXPECT_FALSE(c->upnp);
  EXPECT_EQ(c->portmap_policy.max_per_namespace, 0u);  // max_total / inside
  auto on = Build(std::string(kGood) +
                  "helpers { natpmp: true pcp: true }\n"
                  "portmap { max_per_namespace: 100 }");
  ASSERT_TRUE(on.ok()) << on.status();
  EXPECT_TRUE(on->natpmp);
  EXPECT_TRUE(on->pcp);
  EXPECT_EQ(on->portmap_policy.max_per_namespace, 100u);
  EXPECT_EQ(
      Error(std::string(kGood) + "portmap { max_per_namespace: 2000000 }"),
      "portmap.max_per_namespace: 2000000 is out of range 0..1048576");
}

TEST(FlagsTest, ErrorsFromFlagValuesNameTheFlag) {
  auto line = [](std::vector<const char*> args) {
    args.insert(args.begin(), "unatd");
    auto f = ParseFlags(static_cast<int>(args.size()),
                        const_cast<char**>(args.data()));
    EXPECT_TRUE(f.ok()) << f.status();
    auto parsed = ParseConfigText(kGood, "t");
    EXPECT_TRUE(parsed.ok());
    ApplyFlags(*f, &*parsed);
    auto c = BuildDaemonConfig(*parsed);
    return c.ok() ? std::string("ok") : ConfigErrorLine(*f, c.status());
  };
  EXPECT_EQ(line({"--external-address", "300.1.1.1"}),
            "flags: --external-address: \"300.1.1.1\" is not an IPv4 address");
  EXPECT_EQ(line({"--external-address", "198.51.100.1", "--external-address",
                  "127.0.0.1"}),
            "flags: --external-address: \"127.0.0.1\" is not a usable "
            "unicast address");
  EXPECT_EQ(line({"--external-address", "198.51.100.1"}), "ok");
  // Not set by a flag: the config field.
  auto parsed = ParseConfigText(
      std::string(kGood) + "ports { min: 5000 max: 4000 }", "t");
  ASSERT_TRUE(parsed.ok());
  auto c = BuildDaemonConfig(*parsed);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(ConfigErrorLine(Flags{}, c.status()),
            "config: ports.min: 5000 is above ports.max 4000");
}

TEST(FlagsTest, ParsesAndOverrides) {
  const char* argv[] = {
      "unatd",        "--config=/x.conf",   "--port-range",
      "2000-3000",    "--filtering",        "endpoint-independent",
      "--foreground", "--external-address", "198.51.100.1"};
  auto f = ParseFlags(9, const_cast<char**>(argv));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->config, "/x.conf");
  EXPECT_TRUE(f->foreground);
  auto parsed = ParseConfigText(kGood, "t");
  ASSERT_TRUE(parsed.ok());
  ApplyFlags(*f, &*parsed);
  auto c = BuildDaemonConfig(*parsed);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->nat.port_min, 2000);
  EXPECT_EQ(c->nat.port_max, 3000);
  EXPECT_EQ(c->nat.filtering, FilteringMode::kEndpointIndependent);
  EXPECT_EQ(c->nat.external_addresses, std::vector<uint32_t>{0xc6336401u});
}

TEST(FlagsTest, Errors) {
  auto err = [](std::vector<const char*> args) {
    args.insert(args.begin(), "unatd");
    auto f = ParseFlags(static_cast<int>(args.size()),
                        const_cast<char**>(args.data()));
    return f.ok() ? std::string("ok") : std::string(f.status().message());
  };
  EXPECT_EQ(err({"--nope"}), "--nope: unknown flag (see --help)");
  EXPECT_EQ(err({"--config"}), "--config: needs a value");
  EXPECT_EQ(err({"--foreground=yes"}), "--foreground: takes no value");
  EXPECT_EQ(err({"--port-range", "9-8"}),
            "--port-range: \"9-8\": MIN is above MAX");
  EXPECT_EQ(err({"--max-flows", "0"}),
            "--max-flows: \"0\" is not a positive number");
  EXPECT_EQ(err({"stray"}),
            "stray: unexpected argument (flags start with --; see --help)");
}

TEST(PrivilegesTest, UserAndGroupAreCheckedAndResolved) {
  std::string g = kGood;
  EXPECT_EQ(Error(g + R"(user: "unat-no-such-user")"),
            "user: \"unat-no-such-user\" is not a user");
  EXPECT_EQ(Error(g + R"(user: "root")"),
            "user: \"root\" is uid 0; name an unprivileged user to drop to");
  EXPECT_EQ(Error(g + R"(group: "nogroup")"),
            "group: \"nogroup\" needs user (the user unatd drops to when "
            "started as root)");
  EXPECT_EQ(Error(g + R"(user: "nobody" group: "unat-no-such-group")"),
            "group: \"unat-no-such-group\" is not a group");
  EXPECT_EQ(Error(g + R"(user: "nobody" group: "root")"),
            "group: \"root\" is gid 0; name an unprivileged group");
  auto c = Build(g + R"(user: "nobody")");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->run_as.user, "nobody");
  EXPECT_EQ(c->run_as.uid, 65534u);
  EXPECT_NE(c->run_as.gid, 0u);
  EXPECT_FALSE(c->run_as.group.empty());
  auto none = Build(g);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->run_as.user.empty());
}

TEST(PrivilegesTest, FlagsOverrideUserAndGroup) {
  const char* argv[] = {"unatd", "--user", "nobody", "--group=nogroup"};
  auto f = ParseFlags(4, const_cast<char**>(argv));
  ASSERT_TRUE(f.ok()) << f.status();
  auto parsed = ParseConfigText(std::string(kGood) + R"(user: "root")", "t");
  ASSERT_TRUE(parsed.ok());
  ApplyFlags(*f, &*parsed);
  auto c = BuildDaemonConfig(*parsed);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->run_as.user, "nobody");
  EXPECT_EQ(c->run_as.group, "nogroup");
  const char* bad[] = {"unatd", "--user="};
  EXPECT_EQ(ParseFlags(2, const_cast<char**>(bad)).status().message(),
            "--user: \"\" is not a name");
}

TEST(PrivilegesTest, ReadsCapabilitySets) {
  auto caps = ReadCapabilitySets();
  ASSERT_TRUE(caps.ok()) << caps.status();
  // Whoever runs this: the effective set is part of the permitted one.
  EXPECT_EQ(caps->effective & ~caps->permitted, 0u);
  EXPECT_EQ(DescribeUid(0), "uid 0 (root)");
  EXPECT_EQ(UserName(65534), "nobody");
}

TEST(FramingTest, RoundTripAndPartial) {
  control::Request a, b;
  a.mutable_list_flows()->set_ns("lan");
  b.mutable_get_stats();
  std::string wire;
  AppendDelimited(a, &wire);
  AppendDelimited(b, &wire);
  std::string buf;
  control::Request got;
  // Byte by byte: nothing until the whole first message is there.
  size_t i = 0;
  Extract r = Extract::kNeedMore;
  while (r == Extract::kNeedMore) {
    buf.push_back(wire[i++]);
    r = ExtractDelimited(&buf, &got);
  }
  ASSERT_EQ(r, Extract::kOk);
  EXPECT_EQ(got.list_flows().ns(), "lan");
  buf.append(wire.substr(i));
  ASSERT_EQ(ExtractDelimited(&buf, &got), Extract::kOk);
  EXPECT_TRUE(got.has_get_stats());
  EXPECT_TRUE(buf.empty());
}

TEST(FramingTest, RefusesOversizeAndGarbage) {
  std::string buf = "\xff\xff\xff\xff\x7f";  // 34 GB
  control::Request got;
  EXPECT_EQ(ExtractDelimited(&buf, &got, 1024), Extract::kBad);
  buf = std::string("\x03\xff\xff\xff", 4);
  EXPECT_EQ(ExtractDelimited(&buf, &got), Extract::kBad);
}

class StateFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/unat-state-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/state.pb";
  }
  void TearDown() override {
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
  std::string dir_, path_;
};

TEST_F(StateFileTest, MissingIsEmpty) {
  auto s = LoadState(path_);
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->has_value());
}

TEST_F(StateFileTest, RoundTrip) {
  state::State st;
  state::Forward* f = st.add_forwards();
  f->set_proto(6);
  f->set_external_port(8080);
  f->set_ns("lan");
  f->set_expires_unix_ms(12345);
  ASSERT_TRUE(SaveState(path_, st).ok());
  auto s = LoadState(path_);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE(s->has_value());
  ASSERT_EQ((*s)->forwards_size(), 1);
  EXPECT_EQ((*s)->forwards(0).external_port(), 8080u);
  EXPECT_EQ((*s)->forwards(0).expires_unix_ms(), 12345);
}

TEST_F(StateFileTest, CorruptionIsDetected) {
  state::State st;
  st.add_forwards()->set_ns("lan");
  ASSERT_TRUE(SaveState(path_, st).ok());
  std::string bytes;
  {
    std::ifstream in(path_, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  // Every truncation and every single-byte flip is refused or harmless.
  for (size_t len = 0; len < bytes.size(); ++len) {
    std::ofstream(path_, std::ios::binary | std::ios::trunc)
        << bytes.substr(0, len);
    EXPECT_FALSE(LoadState(path_).ok()) << "truncated to " << len;
  }
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string flipped = bytes;
    flipped[i] ^= 0x20;
    std::ofstream(path_, std::ios::binary | std::ios::trunc) << flipped;
    auto s = LoadState(path_);
    if (s.ok() && s->has_value()) {
      EXPECT_EQ((*s)->forwards(0).ns(), "lan") << "flip at " << i;
    }
  }
}

// The Prometheus text format of `unatctl metrics` (tun/metrics.h).
TEST(MetricsTest, PrometheusTextNamesTypesAndLabels) {
  control::Stats s;
  auto* d = s.add_drops();
  d->set_name("no_flow");
  d->set_value(7);
  auto* f = s.add_flows();
  f->set_name("tcp/established");
  f->set_value(3);
  auto* h = s.add_helpers();
  h->set_name("sip/tcp_held");
  h->set_value(2);
  s.set_packets_out(11);
  s.set_uptime_ms(1500);
  control::Response ns;
  auto* n = ns.add_namespaces();
  n->set_name("te\"n\\ant");
  n->set_flows(4);
  const std::string t = PrometheusText(s, ns);
  EXPECT_NE(t.find("# TYPE unat_drops_total counter\n"
                   "unat_drops_total{reason=\"no_flow\"} 7\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("unat_flows{protocol=\"tcp\",state=\"established\"} 3\n"),
            std::string::npos);
  EXPECT_NE(t.find("unat_helper_events_total{helper=\"sip\",counter=\"tcp_"
                   "held\"} 2\n"),
            std::string::npos);
  EXPECT_NE(t.find("unat_packets_total{direction=\"out\"} 11\n"),
            std::string::npos);
  EXPECT_NE(t.find("unat_uptime_seconds 1.500000\n"), std::string::npos);
  EXPECT_NE(t.find("unat_namespace_flows{namespace=\"te\\\"n\\\\ant\"} 4\n"),
            std::string::npos)
      << "label values escaped";
  // Every sample's family was announced with HELP and TYPE first, and every
  // counter's name ends in _total.
  std::string family;
  for (absl::string_view line : absl::StrSplit(t, '\n')) {
    if (line.empty()) continue;
    if (absl::StartsWith(line, "# TYPE ")) {
      std::vector<std::string> w = absl::StrSplit(line, ' ');
      ASSERT_EQ(w.size(), 4u) << line;
      family = w[2];
      if (w[3] == "counter") {
        EXPECT_TRUE(absl::EndsWith(family, "_total")) << line;
      }
      continue;
    }
    if (absl::StartsWith(line, "#")) continue;
    EXPECT_TRUE(absl::StartsWith(line, family)) << line;
    EXPECT_TRUE(absl::StartsWith(line, "unat_")) << line;
  }
}

}  // namespace
}  // namespace unat::tun
