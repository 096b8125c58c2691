// GENA publisher (UDA 1.1 section 4): SUBSCRIBE / renewal / UNSUBSCRIBE
// answers, callback rules, the initial and later events (SEQ, changed
// variables only, coalescing while one is in flight), failover to the next
// callback URL, limits and expiry.
#include "portmap/gena.h"

#include <gtest/gtest.h>
#include <tinyxml2.h>

#include <set>

#include "engine/nat.h"

namespace unat::portmap {
namespace {

constexpr NamespaceId kNs = 0;
constexpr char kPath[] = "/evt/IPConn";

uint32_t A(const char* s) { return *ParseIpv4(s); }

HttpRequest Req(const std::string& method,
                std::vector<std::pair<std::string, std::string>> headers) {
  HttpRequest q;
  q.method = method;
  q.target = kPath;
  q.version = "HTTP/1.1";
  q.headers = std::move(headers);
  return q;
}

int Status(const std::string& resp) {
  return resp.size() > 12 ? std::atoi(resp.substr(9, 3).c_str()) : 0;
}

std::string HeaderOf(const std::string& resp, const std::string& name) {
  const size_t at = resp.find("\r\n" + name + ": ");
  if (at == std::string::npos) return "";
  const size_t start = at + 4 + name.size();
  return resp.substr(start, resp.find("\r\n", start) - start);
}

// The variables of a NOTIFY's propertyset.
GenaValues Props(const std::string& request) {
  GenaValues out;
  const size_t body = request.find("\r\n\r\n");
  tinyxml2::XMLDocument doc;
  if (body == std::string::npos ||
      doc.Parse(request.c_str() + body + 4) != tinyxml2::XML_SUCCESS) {
    return out;
  }
  for (auto* p = doc.RootElement()->FirstChildElement("e:property"); p;
       p = p->NextSiblingElement("e:property")) {
    auto* v = p->FirstChildElement();
    out[v->Name()] = v->GetText() ? v->GetText() : "";
  }
  return out;
}

class GenaTest : public ::testing::Test {
 protected:
  std::string Subscribe(
      const char* client = "10.77.0.2",
      const std::string& callback = "<http://10.77.0.2:49000/cb>",
      const std::string& timeout = "") {
    std::vector<std::pair<std::string, std::string>> h = {
        {"nt", "upnp:event"}, {"callback", callback}};
    if (!timeout.empty()) h.push_back({"timeout", timeout});
    return gena.Handle(kNs, A(client), A("10.77.0.1"), kPath,
                       Req("SUBSCRIBE", h), values, now);
  }

  GenaPublisher gena{GenaConfig{}, 7};
  GenaValues values = {{"ConnectionStatus", "Connected"},
                       {"ExternalIPAddress", "203.0.113.1"},
                       {"PortMappingNumberOfEntries", "0"},
                       {"PossibleConnectionTypes", "IP_Routed"}};
  TimeMs now = 1'000'000;
};

TEST_F(GenaTest, SubscribeAnswersSidAndTimeoutThenTheInitialEvent) {
  const std::string r = Subscribe();
  ASSERT_EQ(Status(r), 200) << r;
  const std::string sid = HeaderOf(r, "SID");
  EXPECT_EQ(sid.rfind("uuid:", 0), 0u) << r;
  EXPECT_EQ(HeaderOf(r, "TIMEOUT"), "Second-1800");
  auto due = gena.Due(now);
  ASSERT_EQ(due.size(), 1u);
  const auto& d = due[0];
  EXPECT_EQ(d.sid, sid);
  EXPECT_EQ(d.addr, A("10.77.0.2"));
  EXPECT_EQ(d.port, 49000);
  EXPECT_EQ(d.gateway, A("10.77.0.1"));
  EXPECT_EQ(d.request.rfind("NOTIFY /cb HTTP/1.1\r\n", 0), 0u) << d.request;
  EXPECT_NE(d.request.find("\r\nHOST: 10.77.0.2:49000\r\n"), std::string::npos);
  EXPECT_NE(d.request.find("\r\nNT: upnp:event\r\nNTS: upnp:propchange\r\n"),
            std::string::npos);
  EXPECT_NE(d.request.find("\r\nSID: " + sid + "\r\nSEQ: 0\r\n"),
            std::string::npos);
  const size_t body = d.request.find("\r\n\r\n") + 4;
  EXPECT_NE(d.request.find("CONTENT-LENGTH: " +
                           std::to_string(d.request.size() - body)),
            std::string::npos);
  EXPECT_EQ(Props(d.request), values);
  // Nothing more until it is answered.
  EXPECT_TRUE(gena.Due(now).empty());
  gena.Delivered(sid, true);
  EXPECT_TRUE(gena.Due(now).empty());
  EXPECT_EQ(gena.stats().events_sent, 1u);
}

TEST_F(GenaTest, LaterEventsCarryWhatChangedWithTheNextSeq) {
  const std::string sid = HeaderOf(Subscribe(), "SID");
  gena.Delivered(gena.Due(now).at(0).sid, true);
  gena.Update(kNs, kPath, values);  // no change
  EXPECT_TRUE(gena.Due(now).empty());
  values["PortMappingNumberOfEntries"] = "1";
  gena.Update(kNs, kPath, values);
  gena.Update(kNs + 1, kPath, {{"PortMappingNumberOfEntries", "9"}});
  gena.Update(kNs, "/evt/Other", {{"PortMappingNumberOfEntries", "9"}});
  auto due = gena.Due(now);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_NE(due[0].request.find("\r\nSEQ: 1\r\n"), std::string::npos);
  EXPECT_EQ(Props(due[0].request),
            (GenaValues{{"PortMappingNumberOfEntries", "1"}}));
  // Two changes while that one is in flight: one event, the latest value;
  values["PortMappingNumberOfEntries"] = "2";
  gena.Update(kNs, kPath, values);
  values["PortMappingNumberOfEntries"] = "3";
  gena.Update(kNs, kPath, values);
  EXPECT_TRUE(gena.Due(now).empty());
  gena.Delivered(sid, true);
  due = gena.Due(now);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_NE(due[0].request.find("\r\nSEQ: 2\r\n"), std::string::npos);
  EXPECT_EQ(Props(due[0].request),
            (GenaValues{{"PortMappingNumberOfEntries", "3"}}));
}

TEST_F(GenaTest, FailedDeliveryTriesTheNextCallbackThenDropsTheEvent) {
  const std::string sid = HeaderOf(
      Subscribe("10.77.0.2",
                "<http://10.77.0.2:49000/a><http://10.77.0.9/x><http://"
                "10.77.0.2/b>"),
      "SID");
  auto due = gena.Due(now);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].port, 49000);
  gena.Delivered(sid, false);
  due = gena.Due(now);
  ASSERT_EQ(due.size(), 1u);  // the same message (SEQ 0) to the next URL
  EXPECT_EQ(due[0].port, 80);
  EXPECT_EQ(due[0].request.rfind("NOTIFY /b HTTP/1.1", 0), 0u);
  EXPECT_NE(due[0].request.find("\r\nSEQ: 0\r\n"), std::string::npos);
  gena.Delivered(sid, false);
  EXPECT_TRUE(gena.Due(now).empty());
  EXPECT_EQ(gena.stats().events_failed, 1u);
  // The subscription stays; the next event has the next SEQ.
  values["ExternalIPAddress"] = "203.0.113.5";
  gena.Update(kNs, kPath, values);
  due = gena.Due(now);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_NE(due[0].request.find("\r\nSEQ: 1\r\n"), std::string::npos);
  EXPECT_EQ(due[0].port, 49000);
}

TEST_F(GenaTest, BadSubscriptionsAreRefused) {
  // A callback to another host, or none usable: 412.
  EXPECT_EQ(Status(Subscribe("10.77.0.2", "<http://10.77.0.9:49000/>")), 412);
  EXPECT_EQ(Status(Subscribe("10.77.0.2", "<https://10.77.0.2/>")), 412);
  EXPECT_EQ(Status(Subscribe("10.77.0.2", "<http://host.lan/>")), 412);
  EXPECT_EQ(Status(Subscribe("10.77.0.2", "http://10.77.0.2/")), 412);
  EXPECT_EQ(Status(Subscribe("10.77.0.2", "<http://10.77.0.2:0/>")), 412);
  EXPECT_EQ(Status(Subscribe("10.77.0.2", "<http://10.77.0.2:70000/>")), 412);
  EXPECT_EQ(Status(Subscribe("10.77.0.2", "<http://10.77.0.2/a b>")), 412);
  // NT missing or wrong: 412.
  auto q = Req("SUBSCRIBE", {{"callback", "<http://10.77.0.2/>"}});
  EXPECT_EQ(Status(gena.Handle(kNs, A("10.77.0.2"), A("10.77.0.1"), kPath, q,
                               values, now)),
            412);
  q.headers.push_back({"nt", "upnp:other"});
  EXPECT_EQ(Status(gena.Handle(kNs, A("10.77.0.2"), A("10.77.0.1"), kPath, q,
                               values, now)),
            412);
  // SID with NT or CALLBACK: 400.
  q = Req("SUBSCRIBE", {{"sid", "uuid:x"}, {"nt", "upnp:event"}});
  EXPECT_EQ(Status(gena.Handle(kNs, A("10.77.0.2"), A("10.77.0.1"), kPath, q,
                               values, now)),
            400);
  q.method = "UNSUBSCRIBE";
  EXPECT_EQ(Status(gena.Handle(kNs, A("10.77.0.2"), A("10.77.0.1"), kPath, q,
                               values, now)),
            400);
  EXPECT_EQ(gena.size(), 0u);
  EXPECT_EQ(gena.stats().refused, 11u);
}

TEST_F(GenaTest, RenewalAndUnsubscribeNeedTheSubscribersOwnSid) {
  const std::string sid = HeaderOf(Subscribe(), "SID");
  auto renew = [&](const char* client, const std::string& s,
                   const char* path = kPath) {
    return gena.Handle(
        kNs, A(client), A("10.77.0.1"), path,
        Req("SUBSCRIBE", {{"sid", s}, {"timeout", "Second-300"}}), values, now);
  };
  std::string r = renew("10.77.0.2", sid);
  EXPECT_EQ(Status(r), 200);
  EXPECT_EQ(HeaderOf(r, "SID"), sid);
  EXPECT_EQ(HeaderOf(r, "TIMEOUT"), "Second-300");
  EXPECT_EQ(Status(renew("10.77.0.3", sid)), 412);  // not its subscription
  EXPECT_EQ(Status(renew("10.77.0.2", "uuid:nope")), 412);
  EXPECT_EQ(Status(renew("10.77.0.2", sid, "/evt/CmnIfCfg")), 412);
  auto unsub = [&](const char* client) {
    return Status(gena.Handle(kNs, A(client), A("10.77.0.1"), kPath,
                              Req("UNSUBSCRIBE", {{"sid", sid}}), values, now));
  };
  EXPECT_EQ(unsub("10.77.0.3"), 412);
  EXPECT_TRUE(gena.Watched(kNs, kPath));
  EXPECT_EQ(unsub("10.77.0.2"), 200);
  EXPECT_FALSE(gena.Watched(kNs, kPath));
  EXPECT_EQ(unsub("10.77.0.2"), 412);
  // A renewal after expiry is too late.
  const std::string sid2 = HeaderOf(Subscribe(), "SID");
  now += 1801 * 1000;
  EXPECT_EQ(Status(renew("10.77.0.2", sid2)), 412);
}

TEST_F(GenaTest, TimeoutsAreClampedAndSubscriptionsExpire) {
  EXPECT_EQ(
      HeaderOf(Subscribe("10.77.0.2", "<http://10.77.0.2/>", "Second-300"),
               "TIMEOUT"),
      "Second-300");
  EXPECT_EQ(HeaderOf(Subscribe("10.77.0.3", "<http://10.77.0.3/>", "Second-5"),
                     "TIMEOUT"),
            "Second-60");
  EXPECT_EQ(
      HeaderOf(Subscribe("10.77.0.4", "<http://10.77.0.4/>", "Second-infinite"),
               "TIMEOUT"),
      "Second-1800");
  EXPECT_EQ(
      HeaderOf(Subscribe("10.77.0.5", "<http://10.77.0.5/>", "Second-99999"),
               "TIMEOUT"),
      "Second-1800");
  for (const auto& d : gena.Due(now)) gena.Delivered(d.sid, true);
  EXPECT_EQ(gena.size(), 4u);
  gena.Due(now + 60'000);
  EXPECT_EQ(gena.size(), 3u);
  gena.Due(now + 300'000);
  EXPECT_EQ(gena.size(), 2u);
  gena.Due(now + 1'800'000);
  EXPECT_EQ(gena.size(), 0u);
  EXPECT_EQ(gena.stats().expired, 4u);
}

TEST_F(GenaTest, LimitsPerClientAndInTotal) {
  GenaConfig c;
  c.max_per_client = 2;
  c.max_subscriptions = 3;
  gena = GenaPublisher(c, 3);
  EXPECT_EQ(Status(Subscribe()), 200);
  EXPECT_EQ(Status(Subscribe()), 200);
  EXPECT_EQ(Status(Subscribe()), 503);
  EXPECT_EQ(Status(Subscribe("10.77.0.3", "<http://10.77.0.3/>")), 200);
  EXPECT_EQ(Status(Subscribe("10.77.0.4", "<http://10.77.0.4/>")), 503);
  // Expired subscriptions make room.
  now += 1'800'000;
  EXPECT_EQ(Status(Subscribe("10.77.0.4", "<http://10.77.0.4/>")), 200);
}

TEST_F(GenaTest, DueHandsOutAtMostMaxAndTakesTurns) {
  std::set<std::string> sids;
  for (const char* c : {"10.77.0.2", "10.77.0.3", "10.77.0.4"}) {
    sids.insert(HeaderOf(Subscribe(c, std::string("<http://") + c + ":49000/>"),
                         "SID"));
  }
  std::set<std::string> got;
  for (int i = 0; i < 3; ++i) {
    auto due = gena.Due(now, 1);
    ASSERT_EQ(due.size(), 1u);
    got.insert(due[0].sid);
  }
  EXPECT_EQ(got, sids);  // each in turn, none twice
  EXPECT_TRUE(gena.Due(now, 1).empty());
  // Answered: the next change goes to all three, still one per call.
  for (const std::string& sid : sids) gena.Delivered(sid, true);
  values["PortMappingNumberOfEntries"] = "5";
  gena.Update(kNs, kPath, values);
  EXPECT_EQ(gena.Due(now, 2).size(), 2u);
  EXPECT_EQ(gena.Due(now, 2).size(), 1u);
  EXPECT_EQ(gena.Due(now, 0).size(), 0u);
}

TEST(GenaCallbacks, Parsing) {
  const uint32_t me = A("10.77.0.2");
  auto cbs = ParseGenaCallbacks(
      "<http://10.77.0.2:5555/path/x?y=1> <http://10.77.0.2> "
      "<HTTP://10.77.0.2:1/>",
      me, 8);
  ASSERT_EQ(cbs.size(), 3u);
  EXPECT_EQ(cbs[0].port, 5555);
  EXPECT_EQ(cbs[0].path, "/path/x?y=1");
  EXPECT_EQ(cbs[1].port, 80);
  EXPECT_EQ(cbs[1].path, "/");
  EXPECT_EQ(cbs[2].port, 1);
  EXPECT_EQ(ParseGenaCallbacks("<http://10.77.0.2/><http://10.77.0.2/>", me, 1)
                .size(),
            1u);
  EXPECT_TRUE(ParseGenaCallbacks("<http://10.77.0.2:/>", me, 8).empty());
  EXPECT_TRUE(ParseGenaCallbacks("<http://10.77.0.22/>", me, 8).empty());
  EXPECT_TRUE(ParseGenaCallbacks("<http://10.77.0.2", me, 8).empty());
}

TEST(GenaPropertySet, EscapesValues) {
  const std::string x = GenaPropertySet({{"Var", "a<b&c"}});
  EXPECT_NE(
      x.find("<e:propertyset xmlns:e=\"urn:schemas-upnp-org:event-1-0\">"),
      std::string::npos);
  EXPECT_NE(x.find("<Var>a&lt;b&amp;c</Var>"), std::string::npos) << x;
}

}  // namespace
}  // namespace unat::portmap
