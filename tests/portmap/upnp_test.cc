// UPnP IGD through a real Nat: the TCP endpoint (handshake, segmentation,
// retransmission over a lossy link, RST for unknown segments, limits and
// timeouts), HTTP (descriptions, SCPDs, bounds), SOAP actions on the shared
// registry (error codes, ownership, tenants, lease 0 per IGD version), and
// SSDP (multicast and unicast M-SEARCH, NOTIFY).
#include "portmap/upnp.h"

#include <gtest/gtest.h>
#include <tinyxml2.h>

#include <map>
#include <string>

#include "portmap/http.h"
#include "tests/portmap/portmap_fixture.h"

namespace unat::portmap::test {
namespace {

constexpr uint16_t kHttp = 5000;

class UpnpTest : public PortmapTest {
 protected:
  void SetUp() override {
    PortmapTest::SetUp();
    MakeUpnp({});
  }
  void MakeUpnp(UpnpConfig c) {
    c.seed = 99;
    upnp = std::make_unique<UpnpServer>(table.get(), registry.get(), c, now);
    ASSERT_TRUE(upnp->Register().ok());
  }
  void TearDown() override { upnp.reset(); }

  // Sends a multicast M-SEARCH with the given MX header line ("" for none)
  // and ticks every 10 ms for `span_ms`: the emission times of the answers
  // (relative to the search).
  std::vector<TimeMs> MulticastAnswerTimes(const std::string& st,
                                           const std::string& mx_line,
                                           TimeMs span_ms) {
    std::string m =
        "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n"
        "MAN: \"ssdp:discover\"\r\n" +
        mx_line + "ST: " + st + "\r\n\r\n";
    Bytes pkt = unat::testing::Udp(kHost, 50000, "239.255.255.250", 1900, m);
    sink.packets.clear();
    Buf b(pkt);
    EXPECT_EQ(nat->ProcessInside(lan, b.pkt, now).action, Verdict::kConsumed);
    std::vector<TimeMs> times;
    const TimeMs start = now;
    for (TimeMs at = start; at <= start + span_ms; at += 10) {
      const size_t before = sink.packets.size();
      upnp->Tick(at, &sink);
      for (size_t i = before; i < sink.packets.size(); ++i) {
        times.push_back(at - start);
      }
    }
    now = start + span_ms + 10;
    return times;
  }

  // Sends one segment from the client; returns false when "lost".
  Verdict SendSeg(const Bytes& seg, NamespaceId ns) {
    Buf b(seg);
    return nat->ProcessInside(ns, b.pkt, now);
  }

  // A whole HTTP exchange over TCP with a simulated client. Every
  // `drop_every`-th packet (either direction) is lost; the client
  // retransmits what is unacknowledged every step, the server from its
  // Tick(). Returns what the client received before the server's FIN.
  std::string Exchange(const std::string& request, int drop_every = 0,
                       const char* src = kHost, uint16_t sport = 40100,
                       NamespaceId ns = 0xfffe, bool* closed = nullptr) {
    if (ns == 0xfffe) ns = lan;
    uint32_t count = 0;
    auto lost = [&] { return drop_every > 0 && ++count % drop_every == 0; };
    const uint32_t iss = 1000;
    uint32_t una = iss;  // client's oldest unacked
    bool established = false, got_fin = false, fin_acked = false;
    uint32_t rcv_nxt = 0;
    std::string got;
    sink.packets.clear();
    for (int step = 0; step < 3000; ++step) {
      // Client output.
      std::vector<Bytes> out;
      if (!established) {
        out.push_back(
            unat::testing::Tcp(src, sport, kGw, kHttp, Tins::TCP::SYN, iss, 0));
      } else {
        const uint32_t sent = una - (iss + 1);
        if (sent < request.size()) {
          const std::string chunk = request.substr(sent, 700);
          out.push_back(unat::testing::Tcp(src, sport, kGw, kHttp,
                                           Tins::TCP::ACK | Tins::TCP::PSH, una,
                                           rcv_nxt, chunk));
        } else if (got_fin && !fin_acked) {
          out.push_back(unat::testing::Tcp(src, sport, kGw, kHttp,
                                           Tins::TCP::ACK | Tins::TCP::FIN, una,
                                           rcv_nxt));
        } else {
          out.push_back(unat::testing::Tcp(src, sport, kGw, kHttp,
                                           Tins::TCP::ACK, una, rcv_nxt));
        }
      }
      for (const Bytes& seg : out) {
        if (!lost()) SendSeg(seg, ns);
      }
      // Server output (answers and retransmissions).
      std::vector<Emitted> in = std::move(sink.packets);
      sink.packets.clear();
      for (const Emitted& e : in) {
        if (lost()) continue;
        EXPECT_TRUE(ChecksumsValid(e.bytes));
        Tins::IP ip(e.bytes.data(), static_cast<uint32_t>(e.bytes.size()));
        const auto& tcp = ip.rfind_pdu<Tins::TCP>();
        if (tcp.get_flag(Tins::TCP::RST)) {
          if (closed) *closed = false;
          return got;
        }
        if (tcp.get_flag(Tins::TCP::SYN)) {
          if (!established) {
            established = true;
            rcv_nxt = tcp.seq() + 1;
            una = iss + 1;
          }
          continue;
        }
        if (tcp.get_flag(Tins::TCP::ACK)) {
          const uint32_t ack = tcp.ack_seq();
          if (static_cast<int32_t>(ack - una) > 0) una = ack;
          if (got_fin && ack == iss + 1 + request.size() + 1) fin_acked = true;
        }
        const auto* raw = ip.find_pdu<Tins::RawPDU>();
        const uint32_t len = raw ? raw->payload_size() : 0;
        if (tcp.seq() == rcv_nxt && len > 0) {
          got.append(raw->payload().begin(), raw->payload().end());
          rcv_nxt += len;
        }
        if (tcp.get_flag(Tins::TCP::FIN) && tcp.seq() + len == rcv_nxt &&
            !got_fin) {
          got_fin = true;
          rcv_nxt++;
        }
      }
      if (got_fin && fin_acked) break;
      if (got_fin && una == iss + 1 + request.size() + 1) fin_acked = true;
      now += 50;
      upnp->Tick(now, &sink);
    }
    if (closed) *closed = got_fin;
    return got;
  }

  // Status code and body of an HTTP response.
  static std::pair<int, std::string> Split(const std::string& resp) {
    int code = 0;
    if (resp.size() > 12) code = std::atoi(resp.substr(9, 3).c_str());
    const size_t b = resp.find("\r\n\r\n");
    return {code, b == std::string::npos ? "" : resp.substr(b + 4)};
  }

  std::string Soap(const std::string& action,
                   const std::map<std::string, std::string>& args,
                   int version = 2,
                   const std::string& service = "WANIPConnection") {
    std::string body =
        "<?xml version=\"1.0\"?>\r\n<s:Envelope "
        "xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" "
        "s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\">"
        "<s:Body><u:" +
        action + " xmlns:u=\"urn:schemas-upnp-org:service:" + service + ":" +
        std::to_string(version) + "\">";
    for (const auto& [k, v] : args) body += "<" + k + ">" + v + "</" + k + ">";
    body += "</u:" + action + "></s:Body></s:Envelope>\r\n";
    return body;
  }

  // A SOAP call through HandleHttp (no TCP): status and the response's
  // arguments (or the UPnP error code under "errorCode").
  std::pair<int, std::map<std::string, std::string>> Call(
      const std::string& action, const std::map<std::string, std::string>& args,
      int version = 2, const char* client = kHost, NamespaceId ns = 0xfffe,
      const std::string& service = "WANIPConnection") {
    if (ns == 0xfffe) ns = lan;
    HttpRequest q;
    q.method = "POST";
    q.target = service == "WANIPConnection"    ? "/ctl/IPConn"
               : service == "Layer3Forwarding" ? "/ctl/L3F"
                                               : "/ctl/CmnIfCfg";
    q.version = "HTTP/1.1";
    q.headers.push_back(
        {"soapaction", "\"urn:schemas-upnp-org:service:" + service + ":" +
                           std::to_string(version) + "#" + action + "\""});
    q.body = Soap(action, args, version, service);
    auto [code, body] = Split(upnp->HandleHttp(ns, A(client), A(kGw), q, now));
    std::map<std::string, std::string> out;
    tinyxml2::XMLDocument doc;
    if (doc.Parse(body.c_str()) != tinyxml2::XML_SUCCESS) return {code, out};
    auto* env = doc.RootElement();
    auto* b = env ? env->FirstChildElement("s:Body") : nullptr;
    auto* resp = b ? b->FirstChildElement() : nullptr;
    if (resp && std::string(resp->Name()) == "s:Fault") {
      auto* e = resp->FirstChildElement("detail")
                    ->FirstChildElement("UPnPError")
                    ->FirstChildElement("errorCode");
      out["errorCode"] = e->GetText();
      return {code, out};
    }
    if (resp) {
      EXPECT_EQ(std::string(resp->Name()), "u:" + action + "Response");
      for (auto* e = resp->FirstChildElement(); e;
           e = e->NextSiblingElement()) {
        out[e->Name()] = e->GetText() ? e->GetText() : "";
      }
    }
    return {code, out};
  }

  std::map<std::string, std::string> AddArgs(const std::string& ext,
                                             const std::string& in,
                                             const char* client = kHost,
                                             const std::string& lease = "3600",
                                             const std::string& proto = "TCP") {
    return {{"NewRemoteHost", ""},
            {"NewExternalPort", ext},
            {"NewProtocol", proto},
            {"NewInternalPort", in},
            {"NewInternalClient", client},
            {"NewEnabled", "1"},
            {"NewPortMappingDescription", "test &lt;&amp;&gt; map"},
            {"NewLeaseDuration", lease}};
  }

  std::string Get(const std::string& path) {
    return "GET " + path + " HTTP/1.1\r\nHost: 10.77.0.1:5000\r\n\r\n";
  }

  std::unique_ptr<UpnpServer> upnp;
};

// ---------------------------------------------------------------- HTTP/TCP

TEST_F(UpnpTest, HttpParser) {
  HttpLimits lim;
  auto r = ParseHttpRequest("GET / HTTP/1.1\r\nHost: x\r\n", lim);
  EXPECT_EQ(r.state, HttpParseResult::kIncomplete);
  r = ParseHttpRequest("GET /a HTTP/1.1\r\nHost: x\r\n\r\n", lim);
  ASSERT_EQ(r.state, HttpParseResult::kComplete);
  EXPECT_EQ(r.request.target, "/a");
  EXPECT_EQ(*r.request.Header("host"), "x");
  r = ParseHttpRequest("POST /c HTTP/1.1\r\nContent-Length: 5\r\n\r\nab", lim);
  EXPECT_EQ(r.state, HttpParseResult::kIncomplete);
  r = ParseHttpRequest("POST /c HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcde",
                       lim);
  ASSERT_EQ(r.state, HttpParseResult::kComplete);
  EXPECT_EQ(r.request.body, "abcde");
  auto err = [&](const std::string& s) {
    auto x = ParseHttpRequest(s, lim);
    return x.state == HttpParseResult::kError ? x.status : 0;
  };
  EXPECT_EQ(err("POST /c HTTP/1.1\r\nContent-Length: 65537\r\n\r\n"), 413);
  EXPECT_EQ(err("POST /c HTTP/1.1\r\n\r\n"), 411);
  EXPECT_EQ(err("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), 501);
  EXPECT_EQ(err("POST /c HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: "
                "2\r\n\r\n"),
            400);
  EXPECT_EQ(err("POST /c HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400);
  EXPECT_EQ(err("GET / HTTP/2.0\r\n\r\n"), 505);
  EXPECT_EQ(err("GET /\r\n\r\n"), 400);
  EXPECT_EQ(err("GET / HTTP/1.1\r\nno colon\r\n\r\n"), 400);
  EXPECT_EQ(err(std::string(9000, 'a')), 431);
}

TEST_F(UpnpTest, DescriptionOverTcp) {
  bool closed = false;
  const std::string resp =
      Exchange(Get("/rootDesc.xml"), 0, kHost, 40100, lan, &closed);
  EXPECT_TRUE(closed);
  auto [code, body] = Split(resp);
  ASSERT_EQ(code, 200) << resp;
  EXPECT_NE(resp.find("Content-Length: " + std::to_string(body.size())),
            std::string::npos);
  tinyxml2::XMLDocument doc;
  ASSERT_EQ(doc.Parse(body.c_str()), tinyxml2::XML_SUCCESS);
  EXPECT_NE(body.find("urn:schemas-upnp-org:device:InternetGatewayDevice:2"),
            std::string::npos);
  EXPECT_NE(body.find("urn:schemas-upnp-org:service:WANIPConnection:2"),
            std::string::npos);
  EXPECT_NE(body.find("http://10.77.0.1:5000/"), std::string::npos);
  EXPECT_EQ(upnp->tcp().size(), 0u);  // closed both ways, forgotten
  EXPECT_EQ(upnp->tcp().stats().closed, 1u);
}

TEST_F(UpnpTest, EveryAdvertisedDocumentIsServed) {
  for (const char* path : {"/rootDesc.xml", "/rootDesc1.xml", "/WANIPCn.xml",
                           "/WANIPCn1.xml", "/WANCfg.xml"}) {
    auto [code, body] = Split(Exchange(Get(path)));
    EXPECT_EQ(code, 200) << path;
    tinyxml2::XMLDocument doc;
    EXPECT_EQ(doc.Parse(body.c_str()), tinyxml2::XML_SUCCESS) << path;
  }
  // Every SCPDURL in both descriptions is one of them.
  for (int v : {1, 2}) {
    const std::string d = upnp->Description(v, A(kGw));
    for (size_t p = d.find("<SCPDURL>"); p != std::string::npos;
         p = d.find("<SCPDURL>", p + 1)) {
      const size_t e = d.find("</SCPDURL>", p);
      const std::string url = d.substr(p + 9, e - p - 9);
      EXPECT_EQ(Split(Exchange(Get(url))).first, 200) << url;
    }
  }
  const std::string v1 = upnp->WanIpScpd(1);
  EXPECT_EQ(v1.find("AddAnyPortMapping"), std::string::npos);
  EXPECT_NE(upnp->WanIpScpd(2).find("GetListOfPortMappings"),
            std::string::npos);
  EXPECT_EQ(Split(Exchange(Get("/nope"))).first, 404);
  EXPECT_EQ(Split(Exchange("DELETE /rootDesc.xml HTTP/1.1\r\n\r\n")).first,
            405);
}

TEST_F(UpnpTest, LossyLinkResponseStillWhole) {
  const std::string want = upnp->WanIpScpd(2);  // several segments
  ASSERT_GT(want.size(), 3000u);
  for (int n : {3, 4, 5, 7}) {
    bool closed = false;
    auto [code, body] =
        Split(Exchange(Get("/WANIPCn.xml"), n, kHost,
                       static_cast<uint16_t>(41000 + n), lan, &closed));
    EXPECT_EQ(code, 200) << "drop every " << n;
    EXPECT_EQ(body, want) << "drop every " << n;
    EXPECT_TRUE(closed) << "drop every " << n;
  }
  EXPECT_GT(upnp->tcp().stats().retransmissions, 0u);
}

TEST_F(UpnpTest, UnknownSegmentsAndOtherPortsGetRst) {
  // An ACK for no connection on the control port: RST with seq = its ack.
  sink.packets.clear();
  SendSeg(unat::testing::Tcp(kHost, 40200, kGw, kHttp, Tins::TCP::ACK, 5, 777),
          lan);
  ASSERT_EQ(sink.packets.size(), 1u);
  Tins::IP ip(sink.packets[0].bytes.data(),
              static_cast<uint32_t>(sink.packets[0].bytes.size()));
  const auto& t = ip.rfind_pdu<Tins::TCP>();
  EXPECT_TRUE(t.get_flag(Tins::TCP::RST));
  EXPECT_EQ(t.seq(), 777u);
  EXPECT_TRUE(ChecksumsValid(sink.packets[0].bytes));
  // A RST is never answered.
  sink.packets.clear();
  SendSeg(unat::testing::Tcp(kHost, 40200, kGw, kHttp, Tins::TCP::RST, 5, 0),
          lan);
  EXPECT_TRUE(sink.packets.empty());
  // A bad checksum is dropped and counted.
  Bytes bad =
      unat::testing::Tcp(kHost, 40201, kGw, kHttp, Tins::TCP::SYN, 5, 0);
  bad[36] ^= 0x55;
  sink.packets.clear();
  SendSeg(bad, lan);
  EXPECT_TRUE(sink.packets.empty());
  EXPECT_EQ(upnp->tcp()
                .stats()
                .drops[static_cast<int>(TcpEndpointDrop::kBadChecksum)],
            1u);
}

TEST_F(UpnpTest, ConnectionLimitsRefuseWithRst) {
  UpnpConfig c;
  c.tcp.max_per_client = 2;
  c.tcp.max_connections = 3;
  upnp.reset();
  Make();
  MakeUpnp(c);
  auto syn = [&](const char* src, uint16_t sport) {
    sink.packets.clear();
    SendSeg(unat::testing::Tcp(src, sport, kGw, kHttp, Tins::TCP::SYN, 9, 0),
            lan);
    // What the SYN's sender got; "evict+synack" when another connection
    // was reset to make room.
    std::string out;
    for (const Emitted& e : sink.packets) {
      Tins::IP ip(e.bytes.data(), static_cast<uint32_t>(e.bytes.size()));
      const auto& tcp = ip.rfind_pdu<Tins::TCP>();
      if (ip.dst_addr() != Tins::IPv4Address(src) || tcp.dport() != sport) {
        out = "evict+" + out;
      } else {
        out += tcp.get_flag(Tins::TCP::RST) ? "rst" : "synack";
      }
    }
    return out;
  };
  EXPECT_EQ(syn(kHost, 1), "synack");
  EXPECT_EQ(syn(kHost, 2), "synack");
  EXPECT_EQ(syn(kHost, 3), "rst");  // per client
  EXPECT_EQ(syn("10.77.0.6", 1), "synack");
  // The table is full: a newcomer takes the place of a connection of the
  // client holding the most (kHost), not refused.
  EXPECT_EQ(syn("10.77.0.7", 1), "evict+synack");
  EXPECT_EQ(
      upnp->tcp().stats().drops[static_cast<int>(TcpEndpointDrop::kEvicted)],
      1u);
  // kHost, evicted once, is on probation: its last connection goes next.
  EXPECT_EQ(syn("10.77.0.8", 1), "evict+synack");
  // A newcomer with none takes a place from a holder of one; a client
  // that already holds as many as everyone else is refused.
  EXPECT_EQ(syn("10.77.0.9", 1), "evict+synack");
  EXPECT_EQ(syn("10.77.0.9", 2), "rst");  // total
  EXPECT_EQ(
      upnp->tcp().stats().drops[static_cast<int>(TcpEndpointDrop::kLimitTotal)],
      1u);
  // Idle connections are reset and forgotten.
  AdvanceTo(now + 31'000);
  upnp->Tick(now, &sink);
  EXPECT_EQ(upnp->tcp().size(), 0u);
  EXPECT_EQ(syn("10.77.0.7", 1), "synack");
}

TEST_F(UpnpTest, SlowRequestGets408AndHugeBody413) {
  // Headers never finished: 408 after the request timeout.
  sink.packets.clear();
  SendSeg(unat::testing::Tcp(kHost, 40300, kGw, kHttp, Tins::TCP::SYN, 100, 0),
          lan);
  Tins::IP sa(sink.packets[0].bytes.data(),
              static_cast<uint32_t>(sink.packets[0].bytes.size()));
  const uint32_t s_iss = sa.rfind_pdu<Tins::TCP>().seq();
  SendSeg(unat::testing::Tcp(kHost, 40300, kGw, kHttp,
                             Tins::TCP::ACK | Tins::TCP::PSH, 101, s_iss + 1,
                             "GET / HTTP/1.1\r\n"),
          lan);
  sink.packets.clear();
  now += 10'001;
  upnp->Tick(now, &sink);
  std::string got;
  for (const Emitted& e : sink.packets) {
    Tins::IP ip(e.bytes.data(), static_cast<uint32_t>(e.bytes.size()));
    if (auto* raw = ip.find_pdu<Tins::RawPDU>()) {
      got.append(raw->payload().begin(), raw->payload().end());
    }
  }
  EXPECT_EQ(Split(got).first, 408) << got;
  // A 64 KiB + 1 body is refused as soon as the headers say so.
  auto [code, body] = Split(
      Exchange("POST /ctl/IPConn HTTP/1.1\r\nContent-Length: 65537\r\n\r\n"));
  EXPECT_EQ(code, 413);
  // Headers that never end: 431 once past the header bound.
  std::string big = "GET /" + std::string(80 * 1024, 'a');
  EXPECT_EQ(Split(Exchange(big, 0, kHost, 40301)).first, 431);
}

// ---------------------------------------------------------------- SOAP

TEST_F(UpnpTest, SoapOverTcp) {
  const std::string body = Soap("GetExternalIPAddress", {});
  const std::string req =
      "POST /ctl/IPConn HTTP/1.1\r\nHost: 10.77.0.1:5000\r\n"
      "Content-Type: text/xml; charset=\"utf-8\"\r\n"
      "SOAPAction: \"urn:schemas-upnp-org:service:WANIPConnection:2#"
      "GetExternalIPAddress\"\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  auto [code, resp] = Split(Exchange(req, 4));
  EXPECT_EQ(code, 200);
  EXPECT_NE(
      resp.find("<NewExternalIPAddress>203.0.113.1</NewExternalIPAddress>"),
      std::string::npos)
      << resp;
}

TEST_F(UpnpTest, InfoActions) {
  auto [c1, r1] = Call("GetStatusInfo", {});
  EXPECT_EQ(c1, 200);
  EXPECT_EQ(r1["NewConnectionStatus"], "Connected");
  auto [c2, r2] = Call("GetConnectionTypeInfo", {}, 1);
  EXPECT_EQ(r2["NewConnectionType"], "IP_Routed");
  auto [c3, r3] = Call("GetNATRSIPStatus", {});
  EXPECT_EQ(r3["NewNATEnabled"], "1");
  auto [c4, r4] = Call("GetCommonLinkProperties", {}, 1, kHost, lan,
                       "WANCommonInterfaceConfig");
  EXPECT_EQ(c4, 200);
  EXPECT_EQ(r4["NewPhysicalLinkStatus"], "Up");
  auto [c5, r5] =
      Call("GetTotalBytesSent", {}, 1, kHost, lan, "WANCommonInterfaceConfig");
  EXPECT_EQ(c5, 200);
  EXPECT_TRUE(r5.count("NewTotalBytesSent"));
  auto [c6, r6] = Call("NoSuchAction", {});
  EXPECT_EQ(c6, 500);
  EXPECT_EQ(r6["errorCode"], "401");
  // A v2 action asked through the v1 service type does not exist.
  auto [c7, r7] = Call("AddAnyPortMapping", AddArgs("0", "80"), 1);
  EXPECT_EQ(r7["errorCode"], "401");
}

TEST_F(UpnpTest, AddPortMappingForwardsAndLists) {
  auto [c, r] = Call("AddPortMapping", AddArgs("8081", "8081"));
  ASSERT_EQ(c, 200) << r["errorCode"];
  EXPECT_TRUE(Reaches(kProtoTcp, 8081, kHost, 8081, lan));
  auto fw = nat->Forwards();
  ASSERT_EQ(fw.size(), 1u);
  EXPECT_EQ(fw[0].spec.owner, ForwardOwner::kUpnp);
  EXPECT_EQ(fw[0].spec.owner_client, A(kHost));
  EXPECT_EQ(fw[0].spec.expires, now + 3'600'000);
  auto [cs, rs] =
      Call("GetSpecificPortMappingEntry", {{"NewRemoteHost", ""},
                                           {"NewExternalPort", "8081"},
                                           {"NewProtocol", "TCP"}});
  EXPECT_EQ(cs, 200);
  EXPECT_EQ(rs["NewInternalClient"], kHost);
  EXPECT_EQ(rs["NewInternalPort"], "8081");
  EXPECT_EQ(rs["NewLeaseDuration"], "3600");
  EXPECT_EQ(rs["NewPortMappingDescription"], "test <&> map");  // escaped
  auto [cg, rg] =
      Call("GetGenericPortMappingEntry", {{"NewPortMappingIndex", "0"}});
  EXPECT_EQ(cg, 200);
  EXPECT_EQ(rg["NewExternalPort"], "8081");
  EXPECT_EQ(rg["NewProtocol"], "TCP");
  auto [cg1, rg1] =
      Call("GetGenericPortMappingEntry", {{"NewPortMappingIndex", "1"}});
  EXPECT_EQ(cg1, 500);
  EXPECT_EQ(rg1["errorCode"], "713");
  auto [cl, rl] = Call("GetListOfPortMappings", {{"NewStartPort", "0"},
                                                 {"NewEndPort", "65535"},
                                                 {"NewProtocol", "TCP"},
                                                 {"NewManage", "1"},
                                                 {"NewNumberOfPorts", "0"}});
  EXPECT_EQ(cl, 200);
  tinyxml2::XMLDocument list;
  ASSERT_EQ(list.Parse(rl["NewPortListing"].c_str()), tinyxml2::XML_SUCCESS);
  auto* e = list.RootElement()->FirstChildElement("p:PortMappingEntry");
  ASSERT_NE(e, nullptr);
  EXPECT_STREQ(e->FirstChildElement("p:NewExternalPort")->GetText(), "8081");
  // The same request again refreshes.
  now += 5000;
  EXPECT_EQ(Call("AddPortMapping", AddArgs("8081", "8081")).first, 200);
  EXPECT_EQ(nat->Forwards().size(), 1u);
  EXPECT_EQ(nat->Forwards()[0].spec.expires, now + 3'600'000);
}

TEST_F(UpnpTest, AddPortMappingErrors) {
  auto code = [&](const std::map<std::string, std::string>& args,
                  int version = 2) {
    auto [c, r] = Call("AddPortMapping", args, version);
    EXPECT_EQ(c, r.count("errorCode") ? 500 : 200);
    return r.count("errorCode") ? std::stoi(r["errorCode"]) : 0;
  };
  EXPECT_EQ(code(AddArgs("0", "80")), 716);
  EXPECT_EQ(code(AddArgs("0", "80"), 1), 716);
  EXPECT_EQ(code(AddArgs("8080", "80", "10.77.0.9")), 606);  // third party
  EXPECT_EQ(code(AddArgs("8080", "0")), 732);                // IGD:2
  EXPECT_EQ(code(AddArgs("8080", "0"), 1), 402);             // IGD:1
  EXPECT_EQ(code(AddArgs("8080", "80", kHost, "3600", "ICMP")), 402);
  EXPECT_EQ(code(AddArgs("70000", "80")), 402);
  EXPECT_EQ(code(AddArgs("8080", "80", kHost, "-5")), 402);
  auto bad_remote = AddArgs("8080", "80");
  for (const char* r : {"example.com", "198.51.100", "239.1.1.1", "0.0.0.0",
                        "255.255.255.255", "198.51.100.1/32"}) {
    bad_remote["NewRemoteHost"] = r;
    EXPECT_EQ(code(bad_remote), 402) << r;
  }
  auto bad_enabled = AddArgs("8080", "80");
  bad_enabled["NewEnabled"] = "2";
  EXPECT_EQ(code(bad_enabled), 402);
  auto missing = AddArgs("8080", "80");
  missing.erase("NewLeaseDuration");
  EXPECT_EQ(code(missing), 402);
  // Another host holds 8080: 718 for us.
  EXPECT_EQ(code(AddArgs("8080", "80", "10.77.0.6"), 2), 606);
  auto [c, r] = Call("AddPortMapping", AddArgs("8080", "80", "10.77.0.6"), 2,
                     "10.77.0.6");
  ASSERT_EQ(c, 200);
  EXPECT_EQ(code(AddArgs("8080", "81")), 718);
  // A static forward on 9000, and a port outside the policy range.
  ForwardSpec s;
  s.proto = kProtoTcp;
  s.external_port = 9000;
  s.ns = lan;
  s.inside_addr = A("10.77.0.50");
  s.inside_port = 22;
  ASSERT_TRUE(nat->AddForward(s, now).ok());
  // Another mechanism's port: 729 for IGD:2, 718 for IGD:1; and
  // AddAnyPortMapping picks another.
  EXPECT_EQ(code(AddArgs("9000", "82")), 729);
  EXPECT_EQ(code(AddArgs("9000", "82"), 1), 718);
  // So is the NAT's own mapping of an outbound flow.
  Bytes out_pkt = unat::testing::Udp(kHost, 5555, kRemote, 53);
  Buf ob(out_pkt);
  ASSERT_EQ(nat->ProcessInside(lan, ob.pkt, now).action, Verdict::kForward);
  Tins::IP sent(ob.pkt.data, static_cast<uint32_t>(ob.pkt.len));
  const std::string mapped =
      std::to_string(sent.rfind_pdu<Tins::UDP>().sport());
  EXPECT_EQ(code(AddArgs(mapped, "84", kHost, "3600", "UDP")), 729);
  auto [ca, ra] = Call("AddAnyPortMapping", AddArgs("9000", "82"));
  ASSERT_EQ(ca, 200);
  EXPECT_NE(ra["NewReservedPort"], "9000");
  EXPECT_EQ(code(AddArgs("80", "83")), 718);
}

TEST_F(UpnpTest, ConflictWithNatPmpIs718) {
  // NAT-PMP maps TCP 80 -> 8082 for the same host.
  Bytes req = {0, 2, 0, 0};
  Put16(req, 80);
  Put16(req, 8082);
  Put32(req, 3600);
  auto a = Ask(req);
  ASSERT_TRUE(a);
  ASSERT_EQ(Get16(*a, 10), 8082);
  auto [c, r] = Call("AddPortMapping", AddArgs("8082", "8082"));
  EXPECT_EQ(c, 500);
  EXPECT_EQ(r["errorCode"], "718");
  // The same inside endpoint is NAT-PMP's too.
  auto [c2, r2] = Call("AddPortMapping", AddArgs("8083", "80"));
  EXPECT_EQ(r2["errorCode"], "718");
  // And UPnP cannot delete it.
  auto [c3, r3] = Call("DeletePortMapping", {{"NewRemoteHost", ""},
                                             {"NewExternalPort", "8082"},
                                             {"NewProtocol", "TCP"}});
  EXPECT_EQ(r3["errorCode"], "606");
  // AddAnyPortMapping picks another port instead.
  auto [c4, r4] = Call("AddAnyPortMapping", AddArgs("8082", "8084"));
  ASSERT_EQ(c4, 200) << r4["errorCode"];
  EXPECT_NE(r4["NewReservedPort"], "8082");
  const uint16_t got = static_cast<uint16_t>(std::stoi(r4["NewReservedPort"]));
  EXPECT_TRUE(Reaches(kProtoTcp, got, kHost, 8084, lan));
}

TEST_F(UpnpTest, DeleteOwnershipAndTenants) {
  ASSERT_EQ(Call("AddPortMapping", AddArgs("8085", "85")).first, 200);
  auto del = [&](const char* client, NamespaceId ns, const char* port) {
    auto [c, r] = Call("DeletePortMapping",
                       {{"NewRemoteHost", ""},
                        {"NewExternalPort", port},
                        {"NewProtocol", "TCP"}},
                       2, client, ns);
    return r.count("errorCode") ? std::stoi(r["errorCode"]) : c;
  };
  EXPECT_EQ(del("10.77.0.6", lan, "8085"), 606);  // not the owner
  EXPECT_EQ(del(kHost, lan2, "8085"), 714);       // another tenant sees nothing
  EXPECT_EQ(del(kHost, lan, "8086"), 714);
  EXPECT_EQ(del(kHost, lan, "0"), 716);
  // The other tenant's listing is empty.
  auto [cg, rg] = Call("GetGenericPortMappingEntry",
                       {{"NewPortMappingIndex", "0"}}, 2, kHost, lan2);
  EXPECT_EQ(rg["errorCode"], "713");
  // The same inside address in lan2 cannot take 8085 either.
  auto [c2, r2] = Call("AddPortMapping", AddArgs("8085", "85"), 2, kHost, lan2);
  EXPECT_EQ(r2["errorCode"], "718");
  EXPECT_EQ(del(kHost, lan, "8085"), 200);
  EXPECT_TRUE(nat->Forwards().empty());
}

TEST_F(UpnpTest, NamespaceShareIs728AndTheOtherTenantIsServed) {
  MappingPolicy p;
  p.max_total = 4;  // 2 per namespace
  registry->set_policy(p);
  ASSERT_EQ(
      Call("AddPortMapping", AddArgs("8201", "81", "10.77.0.5"), 2, "10.77.0.5")
          .first,
      200);
  ASSERT_EQ(
      Call("AddPortMapping", AddArgs("8202", "82", "10.77.0.6"), 2, "10.77.0.6")
          .first,
      200);
  auto [c, r] = Call("AddPortMapping", AddArgs("8203", "83", "10.77.0.7"), 2,
                     "10.77.0.7");
  EXPECT_EQ(c, 500);
  EXPECT_EQ(r["errorCode"], "728");
  auto [c2, r2] = Call("AddPortMapping", AddArgs("8203", "83"), 2, kHost, lan2);
  EXPECT_EQ(c2, 200);
}

TEST_F(UpnpTest, DeleteRange) {
  for (const char* p : {"8101", "8102", "8103"}) {
    ASSERT_EQ(
        Call("AddPortMapping", AddArgs(p, std::to_string(std::stoi(p) - 8000)))
            .first,
        200);
  }
  auto range = [&](const char* lo, const char* hi) {
    auto [c, r] = Call("DeletePortMappingRange", {{"NewStartPort", lo},
                                                  {"NewEndPort", hi},
                                                  {"NewProtocol", "TCP"},
                                                  {"NewManage", "0"}});
    return r.count("errorCode") ? std::stoi(r["errorCode"]) : c;
  };
  EXPECT_EQ(range("8200", "8100"), 733);
  EXPECT_EQ(range("9000", "9100"), 730);
  EXPECT_EQ(range("8101", "8102"), 200);
  EXPECT_EQ(nat->Forwards().size(), 1u);
  EXPECT_EQ(nat->Forwards()[0].spec.external_port, 8103);
}

TEST_F(UpnpTest, LeaseZeroPerVersion) {
  MappingPolicy p;
  p.max_lifetime_s = 30 * 86400;
  registry->set_policy(p);
  // IGD:2: 0 means the maximum, 604800 s.
  ASSERT_EQ(Call("AddPortMapping", AddArgs("8201", "201", kHost, "0"), 2).first,
            200);
  // IGD:1: 0 means as long as the policy allows.
  ASSERT_EQ(Call("AddPortMapping", AddArgs("8202", "202", kHost, "0"), 1).first,
            200);
  // IGD:2: more than 604800 is capped.
  ASSERT_EQ(
      Call("AddPortMapping", AddArgs("8203", "203", kHost, "999999"), 2).first,
      200);
  std::map<uint16_t, TimeMs> exp;
  for (const auto& f : nat->Forwards())
    exp[f.spec.external_port] = f.spec.expires;
  EXPECT_EQ(exp[8201], now + 604'800'000);
  EXPECT_EQ(exp[8202], now + 30ull * 86400 * 1000);
  EXPECT_EQ(exp[8203], now + 604'800'000);
  // Leases expire through the registry.
  AdvanceTo(now + 604'800'000 + 1);
  EXPECT_EQ(nat->Forwards().size(), 1u);
}

TEST_F(UpnpTest, SoapRejectsBadXmlAndDoctype) {
  HttpRequest q;
  q.method = "POST";
  q.target = "/ctl/IPConn";
  q.version = "HTTP/1.1";
  q.headers.push_back({"soapaction",
                       "\"urn:schemas-upnp-org:service:WANIPConnection:2#"
                       "GetExternalIPAddress\""});
  q.body =
      "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaa\">]>"
      "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\">"
      "<s:Body><u:GetExternalIPAddress/></s:Body></s:Envelope>";
  EXPECT_EQ(Split(upnp->HandleHttp(lan, A(kHost), A(kGw), q, now)).first, 400);
  q.body = "<s:Envelope><s:Body><u:GetExternalIPAddress>";
  EXPECT_EQ(Split(upnp->HandleHttp(lan, A(kHost), A(kGw), q, now)).first, 400);
  // The body's action must be the SOAPAction's.
  q.body = Soap("GetStatusInfo", {});
  EXPECT_EQ(Split(upnp->HandleHttp(lan, A(kHost), A(kGw), q, now)).first, 400);
  q.headers.clear();
  q.body = Soap("GetExternalIPAddress", {});
  EXPECT_EQ(Split(upnp->HandleHttp(lan, A(kHost), A(kGw), q, now)).first, 500);
  q.method = "GET";
  EXPECT_EQ(Split(upnp->HandleHttp(lan, A(kHost), A(kGw), q, now)).first, 405);
}

// ---------------------------------------------------------------- SSDP

std::string MSearch(const std::string& st) {
  return "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n"
         "MAN: \"ssdp:discover\"\r\nMX: 2\r\nST: " +
         st + "\r\n\r\n";
}

TEST_F(UpnpTest, SsdpMulticastSearchIsAnsweredAndNeverForwarded) {
  Bytes pkt = unat::testing::Udp(
      kHost, 50000, "239.255.255.250", 1900,
      MSearch("urn:schemas-upnp-org:device:InternetGatewayDevice:1"));
  sink.packets.clear();
  Buf b(pkt);
  Verdict v = nat->ProcessInside(lan, b.pkt, now);
  EXPECT_EQ(v.action, Verdict::kConsumed);
  // MX 2: the answer waits a random 0..2 s.
  EXPECT_TRUE(sink.packets.empty());
  EXPECT_EQ(upnp->pending_ssdp_answers(), 1u);
  const TimeMs asked = now;
  while (sink.packets.empty() && now < asked + 2000) {
    upnp->Tick(now, &sink);
    if (sink.packets.empty()) now += 10;
  }
  EXPECT_LT(now - asked, 2000u);
  ASSERT_EQ(sink.packets.size(), 1u);
  const Emitted& e = sink.packets[0];
  EXPECT_EQ(e.side, Side::kInside);
  EXPECT_EQ(e.ns, lan);
  EXPECT_TRUE(ChecksumsValid(e.bytes));
  Tins::IP ip(e.bytes.data(), static_cast<uint32_t>(e.bytes.size()));
  EXPECT_EQ(ip.src_addr(), Tins::IPv4Address(kGw));
  EXPECT_EQ(ip.dst_addr(), Tins::IPv4Address(kHost));
  EXPECT_EQ(ip.rfind_pdu<Tins::UDP>().sport(), 1900);
  EXPECT_EQ(ip.rfind_pdu<Tins::UDP>().dport(), 50000);
  const auto& raw = ip.rfind_pdu<Tins::RawPDU>().payload();
  const std::string s(raw.begin(), raw.end());
  EXPECT_EQ(s.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_NE(s.find("LOCATION: http://10.77.0.1:5000/rootDesc.xml\r\n"),
            std::string::npos)
      << s;
  EXPECT_NE(
      s.find("ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n"),
      std::string::npos);
  EXPECT_NE(s.find("USN: uuid:" + upnp->uuid() +
                   "::urn:schemas-upnp-org:device:InternetGatewayDevice:1"),
            std::string::npos);
  EXPECT_NE(s.find("CACHE-CONTROL: max-age=1800"), std::string::npos);
  EXPECT_NE(s.find("BOOTID.UPNP.ORG: "), std::string::npos);
}

TEST_F(UpnpTest, SsdpMulticastAnswersAreSpreadOverMx) {
  // ssdp:all, MX 3: ten answers, each within 3 s, not all at once.
  auto times = MulticastAnswerTimes("ssdp:all", "MX: 3\r\n", 6000);
  ASSERT_EQ(times.size(), 10u);
  EXPECT_LT(*std::max_element(times.begin(), times.end()), 3000u);
  EXPECT_NE(*std::min_element(times.begin(), times.end()),
            *std::max_element(times.begin(), times.end()));
  // MX above 5 counts as 5.
  times = MulticastAnswerTimes("ssdp:all", "MX: 120\r\n", 8000);
  ASSERT_EQ(times.size(), 10u);
  EXPECT_LT(*std::max_element(times.begin(), times.end()), 5000u);
  // A multicast search without a valid MX is discarded (UDA 1.1 1.3.2).
  const uint64_t malformed = upnp->stats().ssdp_malformed;
  EXPECT_TRUE(MulticastAnswerTimes("upnp:rootdevice", "", 6000).empty());
  EXPECT_TRUE(
      MulticastAnswerTimes("upnp:rootdevice", "MX: 0\r\n", 6000).empty());
  EXPECT_TRUE(
      MulticastAnswerTimes("upnp:rootdevice", "MX: x\r\n", 6000).empty());
  EXPECT_EQ(upnp->stats().ssdp_malformed, malformed + 3);
  EXPECT_EQ(upnp->pending_ssdp_answers(), 0u);
}

TEST_F(UpnpTest, SsdpPendingAnswersAreBounded) {
  UpnpConfig c;
  c.ssdp_max_pending = 10;
  upnp.reset();
  Make();
  MakeUpnp(c);
  MulticastAnswerTimes("ssdp:all", "MX: 1\r\n", 0);
  const std::string m = MSearch("ssdp:all");
  Bytes pkt = unat::testing::Udp(kHost, 50000, "239.255.255.250", 1900, m);
  Buf b(pkt);
  nat->ProcessInside(lan, b.pkt, now);
  EXPECT_LE(upnp->pending_ssdp_answers(), 10u);
  EXPECT_GE(upnp->stats().ssdp_queue_full, 8u);
}

TEST_F(UpnpTest, SsdpSearchTargets) {
  auto answers = [&](const std::string& st) {
    return upnp->HandleSsdp(lan, A(kHost), A(kGw), MSearch(st), now).size();
  };
  EXPECT_EQ(answers("ssdp:all"), 10u);
  EXPECT_EQ(answers("urn:schemas-upnp-org:service:Layer3Forwarding:1"), 1u);
  EXPECT_EQ(answers("upnp:rootdevice"), 1u);
  EXPECT_EQ(answers("uuid:" + upnp->uuid()), 1u);
  EXPECT_EQ(answers("urn:schemas-upnp-org:device:InternetGatewayDevice:2"), 1u);
  EXPECT_EQ(answers("urn:schemas-upnp-org:device:InternetGatewayDevice:3"), 0u);
  EXPECT_EQ(answers("urn:schemas-upnp-org:service:WANIPConnection:1"), 1u);
  EXPECT_EQ(answers("urn:schemas-upnp-org:service:WANIPConnection:2"), 1u);
  EXPECT_EQ(answers("urn:schemas-upnp-org:service:WANPPPConnection:1"), 0u);
  EXPECT_EQ(answers("urn:schemas-upnp-org:device:MediaServer:1"), 0u);
  // Not a discovery: ignored.
  EXPECT_TRUE(upnp->HandleSsdp(lan, A(kHost), A(kGw),
                               "M-SEARCH * HTTP/1.1\r\nST: ssdp:all\r\n\r\n",
                               now)
                  .empty());
  EXPECT_TRUE(upnp->HandleSsdp(lan, A(kHost), A(kGw), "garbage", now).empty());
  EXPECT_GE(upnp->stats().ssdp_malformed, 2u);
}

TEST_F(UpnpTest, SsdpUnicastSearchAndRateLimit) {
  int answered = 0;
  const std::string m = MSearch("upnp:rootdevice");
  for (int i = 0; i < 40; ++i) {
    auto r = Ask(Bytes(m.begin(), m.end()), kHost, 50001, lan, 1900);
    if (r) ++answered;
  }
  EXPECT_EQ(answered, 20);  // the burst
  EXPECT_EQ(upnp->stats().ssdp_rate_limited, 20u);
}

TEST_F(UpnpTest, NotifyAliveIntoEveryTenant) {
  upnp->Start(now);
  // The first announcement three times, 500 ms apart, then every 900 s.
  for (TimeMs at : {now, now + 500, now + 1000}) {
    sink.packets.clear();
    upnp->Tick(at, &sink);
    ASSERT_EQ(sink.packets.size(), 20u);  // 10 per tenant, two tenants
    int per_ns[2] = {0, 0};
    for (const Emitted& e : sink.packets) {
      Tins::IP ip(e.bytes.data(), static_cast<uint32_t>(e.bytes.size()));
      EXPECT_EQ(ip.dst_addr(), Tins::IPv4Address("239.255.255.250"));
      EXPECT_EQ(ip.ttl(), 2);
      EXPECT_TRUE(ChecksumsValid(e.bytes));
      const auto& raw = ip.rfind_pdu<Tins::RawPDU>().payload();
      const std::string text(raw.begin(), raw.end());
      EXPECT_NE(text.find("NTS: ssdp:alive\r\n"), std::string::npos);
      EXPECT_NE(text.find(e.ns == lan ? "LOCATION: http://10.77.0.1:5000/"
                                      : "LOCATION: http://10.77.0.1:5000/"),
                std::string::npos);
      per_ns[e.ns == lan ? 0 : 1]++;
    }
    EXPECT_EQ(per_ns[0], 10);
    EXPECT_EQ(per_ns[1], 10);
  }
  sink.packets.clear();
  upnp->Tick(now + 1500, &sink);
  upnp->Tick(now + 600'000, &sink);
  EXPECT_TRUE(sink.packets.empty());
  upnp->Tick(now + 1000 + 900'000, &sink);
  EXPECT_EQ(sink.packets.size(), 20u);
}

TEST_F(UpnpTest, ByebyeAtStopIntoEveryTenant) {
  UpnpConfig c;
  c.boot_id = 1795000000;
  upnp.reset();
  Make();
  MakeUpnp(c);
  upnp->Start(now);
  // A search waiting for its MX delay is not answered after the stop.
  MulticastAnswerTimes("ssdp:all", "MX: 5\r\n", 0);
  EXPECT_GT(upnp->pending_ssdp_answers(), 0u);
  sink.packets.clear();
  upnp->Stop(&sink);
  EXPECT_EQ(upnp->pending_ssdp_answers(), 0u);
  ASSERT_EQ(sink.packets.size(), 20u);
  std::set<std::string> nts;
  for (const Emitted& e : sink.packets) {
    Tins::IP ip(e.bytes.data(), static_cast<uint32_t>(e.bytes.size()));
    EXPECT_EQ(ip.dst_addr(), Tins::IPv4Address("239.255.255.250"));
    const auto& raw = ip.rfind_pdu<Tins::RawPDU>().payload();
    const std::string text(raw.begin(), raw.end());
    EXPECT_EQ(text.rfind("NOTIFY * HTTP/1.1\r\n", 0), 0u);
    EXPECT_NE(text.find("NTS: ssdp:byebye\r\n"), std::string::npos);
    EXPECT_EQ(text.find("LOCATION:"), std::string::npos);
    EXPECT_NE(text.find("BOOTID.UPNP.ORG: 1795000000\r\n"), std::string::npos);
    const size_t nt = text.find("NT: ");
    ASSERT_NE(nt, std::string::npos);
    if (e.ns == lan) nts.insert(text.substr(nt, text.find("\r\n", nt) - nt));
  }
  EXPECT_EQ(nts.size(), 10u);
  EXPECT_TRUE(nts.count("NT: upnp:rootdevice"));
  EXPECT_TRUE(nts.count("NT: urn:schemas-upnp-org:service:WANIPConnection:2"));
  EXPECT_EQ(upnp->stats().ssdp_byebyes, 20u);
  // Nothing more after the stop.
  sink.packets.clear();
  upnp->Tick(now + 10'000'000, &sink);
  EXPECT_TRUE(sink.packets.empty());
}

}  // namespace
}  // namespace unat::portmap::test

namespace unat::portmap::test {
namespace {

std::map<std::string, std::string> Key(const std::string& port,
                                       const std::string& remote = "") {
  return {{"NewRemoteHost", remote},
          {"NewExternalPort", port},
          {"NewProtocol", "TCP"}};
}

TEST_F(UpnpTest, RemoteHostLetsOnlyThatHostInAndNamesTheMapping) {
  auto args = AddArgs("8086", "86");
  args["NewRemoteHost"] = "198.51.100.1";
  auto [c, r] = Call("AddPortMapping", args);
  ASSERT_EQ(c, 200) << r["errorCode"];
  EXPECT_TRUE(Reaches(kProtoTcp, 8086, kHost, 86, lan, "198.51.100.1"));
  EXPECT_FALSE(Reaches(kProtoTcp, 8086, kHost, 86, lan, "198.51.100.2"));
  EXPECT_EQ(nat->GetStats().drops[static_cast<int>(DropReason::kFiltered)], 1u);
  // (RemoteHost, ExternalPort, Protocol) names it: the wildcard entry and
  // another host's do not exist.
  EXPECT_EQ(
      Call("GetSpecificPortMappingEntry", Key("8086")).second["errorCode"],
      "714");
  EXPECT_EQ(Call("GetSpecificPortMappingEntry", Key("8086", "198.51.100.3"))
                .second["errorCode"],
            "714");
  auto [cs, rs] =
      Call("GetSpecificPortMappingEntry", Key("8086", "198.51.100.1"));
  EXPECT_EQ(cs, 200);
  EXPECT_EQ(rs["NewInternalPort"], "86");
  auto [cg, rg] =
      Call("GetGenericPortMappingEntry", {{"NewPortMappingIndex", "0"}});
  EXPECT_EQ(rg["NewRemoteHost"], "198.51.100.1");
  auto [cl, rl] = Call("GetListOfPortMappings", {{"NewStartPort", "8000"},
                                                 {"NewEndPort", "9000"},
                                                 {"NewProtocol", "TCP"},
                                                 {"NewManage", "0"},
                                                 {"NewNumberOfPorts", "0"}});
  ASSERT_EQ(cl, 200);
  EXPECT_NE(rl["NewPortListing"].find(
                "<p:NewRemoteHost>198.51.100.1</p:NewRemoteHost>"),
            std::string::npos);
  // Another remote host on the same port from the same client updates it
  // (one forward per external port).
  args["NewRemoteHost"] = "198.51.100.2";
  ASSERT_EQ(Call("AddPortMapping", args).first, 200);
  EXPECT_TRUE(Reaches(kProtoTcp, 8086, kHost, 86, lan, "198.51.100.2", 45001));
  EXPECT_FALSE(Reaches(kProtoTcp, 8086, kHost, 86, lan, "198.51.100.1", 45002));
  // Delete names the remote host too.
  EXPECT_EQ(Call("DeletePortMapping", Key("8086")).second["errorCode"], "714");
  EXPECT_EQ(Call("DeletePortMapping", Key("8086", "198.51.100.2")).first, 200);
  EXPECT_TRUE(nat->Forwards().empty());
  // Back to the wildcard: anyone.
  args["NewRemoteHost"] = "";
  ASSERT_EQ(Call("AddPortMapping", args).first, 200);
  EXPECT_TRUE(Reaches(kProtoTcp, 8086, kHost, 86, lan, "198.51.100.9", 45003));
}

TEST_F(UpnpTest, DisabledMappingHoldsThePortAndLetsNothingIn) {
  auto args = AddArgs("8087", "87");
  args["NewEnabled"] = "0";
  auto [c, r] = Call("AddPortMapping", args);
  ASSERT_EQ(c, 200) << r["errorCode"];
  EXPECT_FALSE(Reaches(kProtoTcp, 8087, kHost, 87, lan));
  EXPECT_EQ(
      nat->GetStats().drops[static_cast<int>(DropReason::kForwardDisabled)],
      1u);
  auto [cs, rs] = Call("GetSpecificPortMappingEntry", Key("8087"));
  ASSERT_EQ(cs, 200);
  EXPECT_EQ(rs["NewEnabled"], "0");
  // The port stays held: another host cannot take it.
  auto [c2, r2] = Call("AddPortMapping", AddArgs("8087", "87", "10.77.0.6"), 2,
                       "10.77.0.6");
  EXPECT_EQ(r2["errorCode"], "718");
  // Enabled again by the same request with NewEnabled 1.
  args["NewEnabled"] = "1";
  ASSERT_EQ(Call("AddPortMapping", args).first, 200);
  EXPECT_TRUE(Reaches(kProtoTcp, 8087, kHost, 87, lan));
  auto [cs2, rs2] = Call("GetSpecificPortMappingEntry", Key("8087"));
  EXPECT_EQ(rs2["NewEnabled"], "1");
  // Disabling ends the connections it let in.
  size_t flows = 0;
  nat->ForEachFlow([&](const FlowInfo&) { ++flows; });
  EXPECT_EQ(flows, 1u);
  args["NewEnabled"] = "0";
  ASSERT_EQ(Call("AddPortMapping", args).first, 200);
  flows = 0;
  nat->ForEachFlow([&](const FlowInfo&) { ++flows; });
  EXPECT_EQ(flows, 0u);
  EXPECT_EQ(nat->Forwards().size(), 1u);
  EXPECT_FALSE(nat->Forwards()[0].spec.enabled);
}

TEST_F(UpnpTest, SeveralExternalPortsForOneInsideEndpoint) {
  ASSERT_EQ(Call("AddPortMapping", AddArgs("8088", "88")).first, 200);
  ASSERT_EQ(Call("AddPortMapping", AddArgs("8089", "88")).first, 200);
  EXPECT_TRUE(Reaches(kProtoTcp, 8088, kHost, 88, lan));
  EXPECT_TRUE(Reaches(kProtoTcp, 8089, kHost, 88, lan, kRemote, 45001));
  EXPECT_EQ(registry->size(), 2u);
  // Refreshing one leaves the other alone.
  now += 10'000;
  ASSERT_EQ(Call("AddPortMapping", AddArgs("8088", "88", kHost, "600")).first,
            200);
  auto [c1, r1] = Call("GetSpecificPortMappingEntry", Key("8088"));
  auto [c2, r2] = Call("GetSpecificPortMappingEntry", Key("8089"));
  EXPECT_EQ(r1["NewLeaseDuration"], "600");
  EXPECT_EQ(r2["NewLeaseDuration"], "3590");
  // AddAnyPortMapping for the endpoint with a port someone else holds: one
  // of the caller's ports for it, not a third.
  ASSERT_EQ(
      Call("AddPortMapping", AddArgs("8090", "90", "10.77.0.6"), 2, "10.77.0.6")
          .first,
      200);
  auto [ca, ra] = Call("AddAnyPortMapping", AddArgs("8090", "88"));
  ASSERT_EQ(ca, 200);
  EXPECT_TRUE(ra["NewReservedPort"] == "8088" ||
              ra["NewReservedPort"] == "8089")
      << ra["NewReservedPort"];
  EXPECT_EQ(registry->size(), 3u);
  // Deleting one keeps the other.
  ASSERT_EQ(Call("DeletePortMapping", Key("8088")).first, 200);
  EXPECT_FALSE(Reaches(kProtoTcp, 8088, kHost, 88, lan, kRemote, 45002));
  EXPECT_TRUE(Reaches(kProtoTcp, 8089, kHost, 88, lan, kRemote, 45003));
}

}  // namespace
}  // namespace unat::portmap::test

namespace unat::portmap::test {
namespace {

// GENA over the TCP endpoint: a subscription's initial event leaves from the
// first event port to the callback, carrying SEQ 0 and the variables; the
// mapping table changing gives SEQ 1 from the next event port.
TEST_F(UpnpTest, EventsAreDeliveredOverUnatsOwnConnections) {
  HttpRequest q;
  q.method = "SUBSCRIBE";
  q.target = "/evt/IPConn";
  q.version = "HTTP/1.1";
  q.headers = {{"callback", "<http://10.77.0.5:49000/ev>"},
               {"nt", "upnp:event"}};
  auto [code, body] =
      Split(upnp->HandleHttp(lan, A("10.77.0.9"), A(kGw), q, now));
  EXPECT_EQ(code, 412);  // a callback to another host than the caller
  const std::string resp =
      upnp->HandleHttp(lan, A("10.77.0.5"), A(kGw), q, now);
  ASSERT_EQ(Split(resp).first, 200) << resp;
  // Deliver one event: SYN from the gateway, SYN-ACK from the subscriber,
  // then the NOTIFY; answer it 200 and close.
  auto deliver = [&](uint16_t* local_port) {
    sink.packets.clear();
    now += 1000;
    upnp->Tick(now, &sink);
    std::string request;
    for (const Emitted& e : sink.packets) {
      Tins::IP ip(e.bytes.data(), static_cast<uint32_t>(e.bytes.size()));
      const auto& t = ip.rfind_pdu<Tins::TCP>();
      if (!t.get_flag(Tins::TCP::SYN)) continue;
      EXPECT_EQ(ip.src_addr(), Tins::IPv4Address(kGw));
      EXPECT_EQ(ip.dst_addr(), Tins::IPv4Address("10.77.0.5"));
      EXPECT_EQ(t.dport(), 49000);
      *local_port = t.sport();
      sink.packets.clear();
      SendSeg(unat::testing::Tcp("10.77.0.5", 49000, kGw, t.sport(),
                                 Tins::TCP::SYN | Tins::TCP::ACK, 7000,
                                 t.seq() + 1),
              lan);
      // The request, in MSS-sized segments (536: no MSS option here).
      uint32_t end = 0;
      for (const Emitted& d : sink.packets) {
        Tins::IP dip(d.bytes.data(), static_cast<uint32_t>(d.bytes.size()));
        if (const auto* raw = dip.find_pdu<Tins::RawPDU>()) {
          request.append(raw->payload().begin(), raw->payload().end());
          end = dip.rfind_pdu<Tins::TCP>().seq() +
                static_cast<uint32_t>(raw->payload_size());
        }
      }
      sink.packets.clear();
      SendSeg(unat::testing::Tcp(
                  "10.77.0.5", 49000, kGw, t.sport(),
                  Tins::TCP::ACK | Tins::TCP::PSH | Tins::TCP::FIN, 7001, end,
                  "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
              lan);
      // unat closes too; acknowledging its FIN ends the connection.
      for (const Emitted& d : sink.packets) {
        Tins::IP dip(d.bytes.data(), static_cast<uint32_t>(d.bytes.size()));
        const auto& dt = dip.rfind_pdu<Tins::TCP>();
        if (dt.get_flag(Tins::TCP::FIN)) {
          SendSeg(unat::testing::Tcp("10.77.0.5", 49000, kGw, t.sport(),
                                     Tins::TCP::ACK, 7001 + 39, dt.seq() + 1),
                  lan);
          break;
        }
      }
      break;
    }
    return request;
  };
  uint16_t port1 = 0, port2 = 0;
  const std::string first = deliver(&port1);
  EXPECT_EQ(port1, 49152);
  EXPECT_EQ(first.rfind("NOTIFY /ev HTTP/1.1\r\n", 0), 0u) << first;
  EXPECT_NE(first.find("\r\nSEQ: 0\r\n"), std::string::npos);
  EXPECT_NE(first.find("<PortMappingNumberOfEntries>0</"), std::string::npos);
  EXPECT_NE(first.find("<SystemUpdateID>1</SystemUpdateID>"), std::string::npos)
      << first;
  ASSERT_EQ(
      Call("AddPortMapping", AddArgs("8081", "81", "10.77.0.5"), 2, "10.77.0.5")
          .first,
      200);
  const std::string second = deliver(&port2);
  EXPECT_EQ(port2, 49153);
  EXPECT_NE(second.find("\r\nSEQ: 1\r\n"), std::string::npos) << second;
  EXPECT_NE(second.find("<PortMappingNumberOfEntries>1</"), std::string::npos);
  EXPECT_NE(second.find("<SystemUpdateID>2</SystemUpdateID>"),
            std::string::npos);
  EXPECT_EQ(second.find("ExternalIPAddress"), std::string::npos);
  EXPECT_EQ(upnp->gena().stats().events_sent, 2u);
  // A SYN to an event port is refused.
  sink.packets.clear();
  SendSeg(unat::testing::Tcp(kHost, 40000, kGw, 49160, Tins::TCP::SYN, 1, 0),
          lan);
  ASSERT_EQ(sink.packets.size(), 1u);
  Tins::IP rst(sink.packets[0].bytes.data(),
               static_cast<uint32_t>(sink.packets[0].bytes.size()));
  EXPECT_TRUE(rst.rfind_pdu<Tins::TCP>().get_flag(Tins::TCP::RST));
}

}  // namespace
}  // namespace unat::portmap::test

namespace unat::portmap::test {
namespace {

// Outside packets never reach the UPnP endpoint or SSDP: the control port,
// the event ports and UDP 1900 of the external address are nothing but
// unmapped ports there.
TEST_F(UpnpTest, OutsidePacketsNeverReachIt) {
  const uint64_t seen = upnp->tcp().stats().segments_in;
  for (uint16_t port : {kHttp, uint16_t{49152}}) {
    Bytes syn =
        unat::testing::Tcp(kRemote, 40000, kExt, port, Tins::TCP::SYN, 1, 0);
    sink.packets.clear();
    Bytes out;
    Verdict v = Inbound(syn, &out);
    EXPECT_EQ(v.action, Verdict::kDrop);
    EXPECT_EQ(v.reason, DropReason::kNoFlow);
    EXPECT_TRUE(sink.packets.empty());
  }
  const std::string m = MSearch("ssdp:all");
  Bytes search = unat::testing::Udp(kRemote, 40000, kExt, 1900, m);
  Bytes out;
  Verdict v = Inbound(search, &out);
  EXPECT_EQ(v.action, Verdict::kDrop);
  EXPECT_TRUE(sink.packets.empty());
  EXPECT_EQ(upnp->tcp().stats().segments_in, seen);
  EXPECT_EQ(upnp->stats().ssdp_searches, 0u);
}

}  // namespace
}  // namespace unat::portmap::test

namespace unat::portmap::test {
namespace {

// igd_version 1: SSDP advertises the IGD:1 description and :1 types only
// (for control points that do not understand IGD:2).
TEST_F(UpnpTest, AdvertisingIgd1) {
  UpnpConfig c;
  c.igd_version = 1;
  upnp.reset();
  Make();
  MakeUpnp(c);
  auto answers = [&](const std::string& st) {
    return upnp->HandleSsdp(lan, A(kHost), A(kGw), MSearch(st), now);
  };
  EXPECT_TRUE(
      answers("urn:schemas-upnp-org:device:InternetGatewayDevice:2").empty());
  EXPECT_TRUE(
      answers("urn:schemas-upnp-org:service:WANIPConnection:2").empty());
  auto one = answers("urn:schemas-upnp-org:device:InternetGatewayDevice:1");
  ASSERT_EQ(one.size(), 1u);
  EXPECT_NE(one[0].find("LOCATION: http://10.77.0.1:5000/rootDesc1.xml\r\n"),
            std::string::npos)
      << one[0];
  auto all = answers("ssdp:all");
  ASSERT_EQ(all.size(), 10u);
  for (const std::string& a : all) {
    EXPECT_EQ(a.find(":2\r\n"), std::string::npos) << a;
    EXPECT_NE(a.find("rootDesc1.xml"), std::string::npos) << a;
  }
  upnp->Start(now);
  sink.packets.clear();
  upnp->Tick(now, &sink);
  ASSERT_EQ(sink.packets.size(), 20u);
  for (const Emitted& e : sink.packets) {
    Tins::IP ip(e.bytes.data(), static_cast<uint32_t>(e.bytes.size()));
    const auto& raw = ip.rfind_pdu<Tins::RawPDU>().payload();
    const std::string text(raw.begin(), raw.end());
    EXPECT_NE(text.find("rootDesc1.xml"), std::string::npos);
    EXPECT_EQ(text.find("Device:2"), std::string::npos) << text;
  }
  // Both descriptions are still served.
  HttpRequest q;
  q.method = "GET";
  q.target = "/rootDesc.xml";
  q.version = "HTTP/1.1";
  EXPECT_EQ(Split(upnp->HandleHttp(lan, A(kHost), A(kGw), q, now)).first, 200);
  // A version that does not exist is refused at registration.
  c.igd_version = 3;
  upnp.reset();
  Make();
  UpnpServer bad(table.get(), registry.get(), c, now);
  EXPECT_FALSE(bad.Register().ok());
}

}  // namespace
}  // namespace unat::portmap::test

namespace unat::portmap::test {
namespace {

// Layer3Forwarding:1 on the root device: GetDefaultConnectionService names
// the WANIPConnection; Set accepts only that one (723 otherwise); it is in
// both descriptions, searchable and announced.
TEST_F(UpnpTest, Layer3ForwardingNamesTheConnectionService) {
  auto [c, r] = Call("GetDefaultConnectionService", {}, 1, kHost, 0xfffe,
                     "Layer3Forwarding");
  ASSERT_EQ(c, 200);
  const std::string dcs = r["NewDefaultConnectionService"];
  EXPECT_EQ(dcs.rfind("uuid:", 0), 0u) << dcs;
  EXPECT_NE(
      dcs.find(":WANConnectionDevice:1,urn:upnp-org:serviceId:WANIPConn1"),
      std::string::npos)
      << dcs;
  EXPECT_EQ(Call("SetDefaultConnectionService",
                 {{"NewDefaultConnectionService", dcs}}, 1, kHost, 0xfffe,
                 "Layer3Forwarding")
                .first,
            200);
  EXPECT_EQ(Call("SetDefaultConnectionService",
                 {{"NewDefaultConnectionService", "uuid:x:y,z"}}, 1, kHost,
                 0xfffe, "Layer3Forwarding")
                .second["errorCode"],
            "723");
  // A Layer3Forwarding action on the WANIPConnection URL is no action there.
  EXPECT_EQ(Call("GetDefaultConnectionService", {}, 1).second["errorCode"],
            "401");
  for (int v : {1, 2}) {
    const std::string d = upnp->Description(v, A(kGw));
    EXPECT_NE(
        d.find("<serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1"
               "</serviceType>"),
        std::string::npos);
    EXPECT_NE(d.find("<controlURL>/ctl/L3F</controlURL>"), std::string::npos);
  }
  EXPECT_NE(upnp->L3fScpd().find("<stateVariable sendEvents=\"yes\"><name>"
                                 "DefaultConnectionService</name>"),
            std::string::npos)
      << upnp->L3fScpd();
}

TEST_F(UpnpTest, HostOutsideTheTenantGets606ForEveryAction) {
  const std::map<std::string, std::string> add = {
      {"NewRemoteHost", ""},
      {"NewExternalPort", "8080"},
      {"NewProtocol", "TCP"},
      {"NewInternalPort", "80"},
      {"NewInternalClient", "10.99.0.5"},
      {"NewEnabled", "1"},
      {"NewPortMappingDescription", "x"},
      {"NewLeaseDuration", "3600"}};
  auto [code, out] = Call("AddPortMapping", add, 2, "10.99.0.5");
  EXPECT_EQ(code, 500);
  EXPECT_EQ(out["errorCode"], "606");
  auto [qcode, qout] = Call("GetGenericPortMappingEntry",
                            {{"NewPortMappingIndex", "0"}}, 2, "10.99.0.5");
  EXPECT_EQ(qout["errorCode"], "606");
  EXPECT_TRUE(nat->Forwards().empty());
  ASSERT_TRUE(nat->SetRoutedPrefixes(lan, {{A("10.99.0.0"), 24}}).ok());
  auto [ok_code, ok_out] = Call("AddPortMapping", add, 2, "10.99.0.5");
  EXPECT_EQ(ok_code, 200);
  EXPECT_EQ(nat->Forwards().size(), 1u);
}

}  // namespace
}  // namespace unat::portmap::test
