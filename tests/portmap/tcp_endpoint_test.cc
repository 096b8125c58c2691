// The TCP endpoint on its own (a trivial line-answering application, not
// UPnP) through a real Nat. Who gets a place when the connection table is
// full: a SYN finding the table full displaces the stalest connection of
// the biggest holder (namespaces first, then clients) instead of being
// refused, so a flood of half-finished requests from many addresses cannot
// lock out another client or another tenant; the displaced connection gets
// a RST and counts as `evicted`, and its client is on probation for a while
// (its SYNs take no one's place, `probation`), so a flood settles instead
// of churning. And the lingering close after the answer is bounded in time
// (`linger`), however much the peer sends on.
#include "portmap/tcp_endpoint.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "tests/portmap/portmap_fixture.h"

namespace unat::portmap::test {
namespace {

constexpr uint16_t kPort = 6000;

// Registers a TcpEndpoint on TCP kPort. The application answers
// "hello ADDR\n" and closes once it has a whole line ending in "\n\n".
class EndpointHelper : public LocalHelper {
 public:
  explicit EndpointHelper(TcpEndpointConfig config)
      : tcp(
            config,
            [this](const TcpConnInfo& info, std::string& rx, bool peer_fin,
                   bool timed_out, TimeMs) {
              TcpAppAction a;
              if (info.active) saw_active = true;
              if (rx.find("\n\n") != std::string::npos) {
                a.send = "hello " + std::to_string(info.peer_addr) + "\n";
                a.close = true;
                answered++;
              } else if (timed_out || peer_fin) {
                a.send = "timeout\n";
                a.close = true;
              }
              return a;
            },
            1234) {}
  std::string_view name() const override { return "tcp-test"; }
  void OnPacket(const LocalContext& ctx, const Ipv4View& ip,
                const L4View& l4) override {
    tcp.OnSegment(ctx, ip, l4);
  }
  TcpEndpoint tcp;
  int answered = 0;
  bool saw_active = false;
};

struct Seg {
  NamespaceId ns;
  std::string dst;
  uint16_t dport;
  bool syn, ack, rst, fin;
  uint32_t seq, ackno;
  std::string payload;
};

class TcpEndpointTest : public PortmapTest {
 protected:
  void SetUp() override {
    PortmapTest::SetUp();
    MakeEndpoint({});
  }
  void MakeEndpoint(TcpEndpointConfig c) {
    // A fresh Nat: the old one still points at the old helper.
    Make();
    helper = std::make_unique<EndpointHelper>(c);
    ASSERT_TRUE(nat->RegisterLocalHelper(kProtoTcp, kPort, helper.get()).ok());
  }
  void TearDown() override {
    nat.reset();
    helper.reset();
  }
  const TcpEndpoint& ep() const { return helper->tcp; }
  uint64_t Drops(TcpEndpointDrop d) const {
    return ep().stats().drops[static_cast<int>(d)];
  }

  // Sends one client segment at `now`; returns what the endpoint emitted.
  std::vector<Seg> Send(NamespaceId ns, const char* src, uint16_t sport,
                        uint8_t flags, uint32_t seq, uint32_t ack,
                        const std::string& data = "") {
    sink.packets.clear();
    Buf b(unat::testing::Tcp(src, sport, kGw, kPort, flags, seq, ack, data));
    Verdict v = nat->ProcessInside(ns, b.pkt, now);
    EXPECT_EQ(v.action, Verdict::kConsumed) << DropReasonName(v.reason);
    return Collect();
  }
  std::vector<Seg> Collect(uint16_t sport = kPort) {
    std::vector<Seg> out;
    for (const Emitted& e : sink.packets) {
      EXPECT_EQ(e.side, Side::kInside);
      EXPECT_TRUE(ChecksumsValid(e.bytes));
      Tins::IP ip(e.bytes.data(), static_cast<uint32_t>(e.bytes.size()));
      EXPECT_EQ(ip.src_addr(), Tins::IPv4Address(kGw));
      const auto& t = ip.rfind_pdu<Tins::TCP>();
      EXPECT_EQ(t.sport(), sport);
      Seg s{e.ns,
            ip.dst_addr().to_string(),
            t.dport(),
            t.get_flag(Tins::TCP::SYN) != 0,
            t.get_flag(Tins::TCP::ACK) != 0,
            t.get_flag(Tins::TCP::RST) != 0,
            t.get_flag(Tins::TCP::FIN) != 0,
            t.seq(),
            t.ack_seq(),
            {}};
      if (const auto* raw = ip.find_pdu<Tins::RawPDU>()) {
        s.payload.assign(raw->payload().begin(), raw->payload().end());
      }
      out.push_back(s);
    }
    sink.packets.clear();
    return out;
  }

  // A simulated client connection (client ISS 1000).
  struct Client {
    NamespaceId ns;
    const char* src;
    uint16_t sport;
    uint32_t server_iss = 0;
    uint32_t next = 1001;  // client's next sequence number
  };

  // SYN, then the handshake's ACK and `data`. Returns the segments the
  // endpoint sent in answer to the SYN (a SYN-ACK, maybe preceded by the
  // RST of a displaced connection) and fills c.server_iss; empty
  // server_iss (0) when refused.
  std::vector<Seg> Open(Client& c, const std::string& data = "") {
    std::vector<Seg> got = Send(c.ns, c.src, c.sport, Tins::TCP::SYN, 1000, 0);
    for (const Seg& s : got) {
      if (s.syn && s.ack && s.dst == c.src && s.dport == c.sport &&
          s.ns == c.ns) {
        c.server_iss = s.seq;
        EXPECT_EQ(s.ackno, 1001u);
      }
    }
    if (c.server_iss == 0) return got;
    Send(c.ns, c.src, c.sport, Tins::TCP::ACK, 1001, c.server_iss + 1);
    if (!data.empty()) Write(c, data);
    return got;
  }
  std::vector<Seg> Write(Client& c, const std::string& data) {
    auto got = Send(c.ns, c.src, c.sport, Tins::TCP::ACK | Tins::TCP::PSH,
                    c.next, c.server_iss + 1, data);
    c.next += static_cast<uint32_t>(data.size());
    return got;
  }
  // The RST among `segs`, if one went to `c`.
  static std::optional<Seg> RstTo(const std::vector<Seg>& segs,
                                  const Client& c) {
    for (const Seg& s : segs) {
      if (s.rst && s.dst == c.src && s.dport == c.sport && s.ns == c.ns) {
        return s;
      }
    }
    return std::nullopt;
  }
  // The end of what the server sent (its FIN included) among `segs`.
  static uint32_t SentEnd(const std::vector<Seg>& segs) {
    uint32_t end = 0;
    for (const Seg& s : segs) {
      const uint32_t e =
          s.seq + static_cast<uint32_t>(s.payload.size()) + (s.fin ? 1 : 0);
      if (end == 0 || static_cast<int32_t>(e - end) > 0) end = e;
    }
    return end;
  }
  static bool Refused(const std::vector<Seg>& segs, const Client& c) {
    return segs.size() == 1 && segs[0].rst && segs[0].ack &&
           segs[0].dst == c.src && segs[0].dport == c.sport &&
           segs[0].ackno == 1001u;
  }

  std::unique_ptr<EndpointHelper> helper;
};

TcpEndpointConfig Small(uint32_t total, uint32_t per_client) {
  TcpEndpointConfig c;
  c.max_connections = total;
  c.max_per_client = per_client;
  return c;
}

TEST_F(TcpEndpointTest, FullTableDisplacesTheBiggestHoldersStalestConnection) {
  MakeEndpoint(Small(4, 3));
  // A holds 3 (opened at t, t+1, t+2), B holds 1 (t+3): full.
  Client a1{lan, "10.77.0.5", 1}, a2{lan, "10.77.0.5", 2},
      a3{lan, "10.77.0.5", 3}, b1{lan, "10.77.0.6", 1};
  for (Client* c : {&a1, &a2, &a3, &b1}) {
    ASSERT_EQ(Open(*c, "GET /").size(), 1u);
    ASSERT_NE(c->server_iss, 0u);
    now += 1000;
  }
  EXPECT_EQ(ep().size(), 4u);
  // C (none yet) arrives: A's connection idle the longest (a1) is reset,
  // with the sequence numbers of that connection, and C gets its SYN-ACK.
  Client c1{lan, "10.77.0.7", 1};
  auto got = Open(c1);
  ASSERT_EQ(got.size(), 2u);
  auto rst = RstTo(got, a1);
  ASSERT_TRUE(rst.has_value());
  EXPECT_EQ(rst->seq, a1.server_iss + 1);
  EXPECT_EQ(rst->ackno, a1.next);  // everything A sent was taken
  EXPECT_NE(c1.server_iss, 0u);
  EXPECT_EQ(Drops(TcpEndpointDrop::kEvicted), 1u);
  EXPECT_EQ(ep().size(), 4u);
  // a1 is gone: its next segment gets the RST of an unknown connection.
  got = Write(a1, " more");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].rst);
  now += 1000;
  // A's connection was displaced: A is on probation. D: A also holds the
  // most (2): a2 goes.
  Client d1{lan, "10.77.0.8", 1};
  got = Open(d1);
  EXPECT_TRUE(RstTo(got, a2).has_value());
  EXPECT_NE(d1.server_iss, 0u);
  now += 1000;
  // Everyone holds one now; A's a3 goes first because A is on probation
  // (it is also the stalest: t+2 against B's t+3, C's t+4, D's t+5).
  Client e1{lan, "10.77.0.9", 1};
  got = Open(e1);
  EXPECT_TRUE(RstTo(got, a3).has_value());
  now += 1000;
  // A comes back with none, but on probation: it takes no one's place.
  Client a4{lan, "10.77.0.5", 4};
  got = Open(a4);
  EXPECT_TRUE(Refused(got, a4));
  EXPECT_EQ(Drops(TcpEndpointDrop::kProbation), 1u);
  // Once its probation is over (10 s after its last displacement) it does:
  // B's (t+3) is the stalest.
  now += 10'000;
  got = Open(a4);
  EXPECT_TRUE(RstTo(got, b1).has_value());
  EXPECT_NE(a4.server_iss, 0u);
  EXPECT_EQ(Drops(TcpEndpointDrop::kEvicted), 4u);
  EXPECT_EQ(Drops(TcpEndpointDrop::kLimitTotal), 0u);
  // Now B is on probation.
  Client b2{lan, "10.77.0.6", 2};
  EXPECT_TRUE(Refused(Open(b2), b2));
  EXPECT_EQ(Drops(TcpEndpointDrop::kProbation), 2u);
  // A client that already holds as many as anyone is refused (RST to its
  // SYN, nobody displaced).
  Client c2{lan, "10.77.0.7", 2};
  got = Open(c2);
  EXPECT_TRUE(Refused(got, c2));
  EXPECT_EQ(c2.server_iss, 0u);
  EXPECT_EQ(Drops(TcpEndpointDrop::kLimitTotal), 1u);
  EXPECT_EQ(Drops(TcpEndpointDrop::kEvicted), 4u);
  EXPECT_EQ(ep().size(), 4u);
  // The survivors still get their answers.
  for (Client* c : {&c1, &d1, &e1, &a4}) {
    got = Write(*c, "x\n\n");
    std::string answer;
    for (const Seg& s : got) answer += s.payload;
    EXPECT_EQ(answer.rfind("hello ", 0), 0u) << c->src;
  }
  EXPECT_EQ(helper->answered, 4);
}

TEST_F(TcpEndpointTest, ActivityKeepsAConnectionFromBeingTheStalest) {
  MakeEndpoint(Small(2, 2));
  Client a1{lan, "10.77.0.5", 1}, a2{lan, "10.77.0.5", 2};
  Open(a1, "GET");
  now += 1000;
  Open(a2, "GET");
  now += 1000;
  Write(a1, " /");  // a1 heard from last: a2 is now idle the longest
  now += 1000;
  Client b{lan, "10.77.0.6", 1};
  auto got = Open(b);
  EXPECT_TRUE(RstTo(got, a2).has_value());
  EXPECT_FALSE(RstTo(got, a1).has_value());
  EXPECT_NE(b.server_iss, 0u);
}

TEST_F(TcpEndpointTest, PerClientLimitComesFirst) {
  MakeEndpoint(Small(3, 2));
  Client a1{lan, "10.77.0.5", 1}, a2{lan, "10.77.0.5", 2},
      b1{lan, "10.77.0.6", 1};
  Open(a1);
  Open(a2);
  Open(b1);
  // A at its own limit is refused before anything is displaced.
  Client a3{lan, "10.77.0.5", 3};
  auto got = Open(a3);
  EXPECT_TRUE(Refused(got, a3));
  EXPECT_EQ(Drops(TcpEndpointDrop::kLimitClient), 1u);
  EXPECT_EQ(Drops(TcpEndpointDrop::kEvicted), 0u);
  EXPECT_EQ(ep().size(), 3u);
}

TEST_F(TcpEndpointTest, AnotherTenantIsNeverLockedOut) {
  MakeEndpoint(Small(4, 4));
  // lan holds the whole table (two clients).
  std::vector<Client> flood;
  for (uint16_t p = 1; p <= 4; ++p) {
    flood.push_back({lan, p <= 2 ? "10.77.0.5" : "10.77.0.6", p});
  }
  for (Client& c : flood) {
    Open(c, "GET / HTTP/1.1\r\n");
    now += 100;
  }
  // lan2's host with the same address as one of lan's flooders gets in; a
  // lan connection (the stalest) makes room.
  Client t2{lan2, "10.77.0.5", 1};
  auto got = Open(t2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(RstTo(got, flood[0]).has_value());
  EXPECT_NE(t2.server_iss, 0u);
  // lan's newcomers now compete inside lan (lan 3 > lan2 1): lan2's
  // connection is never the one displaced.
  for (uint16_t i = 0; i < 20; ++i) {
    now += 100;
    Client n{lan, i % 2 ? "10.77.0.7" : "10.77.0.8",
             static_cast<uint16_t>(100 + i)};
    got = Open(n, "GET");
    EXPECT_FALSE(RstTo(got, t2).has_value()) << i;
  }
  now += 100;
  got = Write(t2, "x\n\n");
  std::string answer;
  for (const Seg& s : got) answer += s.payload;
  EXPECT_EQ(answer.rfind("hello ", 0), 0u);
  // lan2 holding 2 of 4 against lan's 2: a new lan2 client competes
  // inside lan2 (ties stay at home).
  MakeEndpoint(Small(4, 4));
  Client l1{lan, "10.77.0.5", 1}, l2{lan, "10.77.0.5", 2};
  Client m1{lan2, "10.77.0.5", 1}, m2{lan2, "10.77.0.5", 2};
  for (Client* c : {&l1, &m1, &l2, &m2}) {
    Open(*c);
    now += 100;
  }
  Client m3{lan2, "10.77.0.6", 1};
  got = Open(m3);
  EXPECT_TRUE(RstTo(got, m1).has_value());
  EXPECT_FALSE(RstTo(got, l1).has_value());
}

TEST_F(TcpEndpointTest, FloodOfHalfRequestsFromManyAddresses) {
  // The defaults (64 in total, 8 per client, 10 s probation); 100
  // addresses in lan try to hold 5 connections each with half a request,
  // again and again, and 50 more send bare SYNs. The table fills, each
  // address is displaced at most once, then they are on probation and the
  // table stops churning. A client in lan and one in lan2 still complete
  // their exchanges, however many more SYNs come meanwhile.
  MakeEndpoint({});
  int accepted = 0, refused = 0;
  for (int round = 0; round < 4; ++round) {
    for (int k = 0; k < 5; ++k) {
      for (int h = 0; h < 100; ++h) {
        const std::string src = "10.77.1." + std::to_string(h);
        Client c{lan, src.c_str(),
                 static_cast<uint16_t>(1000 + round * 10 + k)};
        Open(c, "POST /ctl HTTP/1.1\r\nHost: x\r\n");
        (c.server_iss == 0 ? refused : accepted)++;
        now += 1;
      }
    }
    for (int h = 0; h < 50; ++h) {
      const std::string src = "10.77.2." + std::to_string(h);
      Send(lan, src.c_str(), static_cast<uint16_t>(2000 + round),
           Tins::TCP::SYN, 1000, 0);
      now += 1;
    }
  }
  EXPECT_EQ(ep().size(), 64u);
  // 64 places, 150 addresses: at most one displacement per address.
  EXPECT_LE(Drops(TcpEndpointDrop::kEvicted), 150u);
  EXPECT_GE(Drops(TcpEndpointDrop::kEvicted), 86u);
  EXPECT_GT(Drops(TcpEndpointDrop::kProbation), 1000u);
  EXPECT_LE(accepted, 64 + 150);
  EXPECT_GT(refused, 1500);
  const uint64_t evicted = Drops(TcpEndpointDrop::kEvicted);
  for (NamespaceId ns : {lan, lan2}) {
    Client legit{ns, "10.77.0.2", 50000};
    Open(legit, "GET /rootDesc.xml HTTP/1.1\r\n");
    ASSERT_NE(legit.server_iss, 0u);
    // The flood goes on while the request is under way, and 30 addresses
    // never seen before join it: the legitimate connection is the
    // freshest, never the one displaced.
    for (int h = 0; h < 100; ++h) {
      const std::string src = "10.77.1." + std::to_string(h);
      Client c{lan, src.c_str(),
               static_cast<uint16_t>(ns == lan ? 3000 : 3001)};
      EXPECT_FALSE(RstTo(Open(c, "GET"), legit).has_value());
    }
    for (int h = 0; h < 30; ++h) {
      const std::string src =
          (ns == lan ? "10.77.3." : "10.77.4.") + std::to_string(h);
      Client c{lan, src.c_str(), 3000};
      auto got = Open(c, "GET");
      EXPECT_EQ(got.size(), 2u);  // a displaced connection's RST, a SYN-ACK
      EXPECT_FALSE(RstTo(got, legit).has_value());
    }
    auto got = Write(legit, "\n\n");
    std::string answer;
    for (const Seg& s : got) answer += s.payload;
    EXPECT_EQ(answer, "hello " + std::to_string(A("10.77.0.2")) + "\n");
  }
  // One displacement for each legitimate client and each new address.
  EXPECT_EQ(Drops(TcpEndpointDrop::kEvicted), evicted + 2 + 60);
  // A newcomer that already holds as many as anyone (the last one in) is
  // refused a second connection.
  Client again{lan, "10.77.4.29", 3001};
  EXPECT_TRUE(Refused(Open(again), again));
  // The endpoint stays bounded: the table never grew past its limit, every
  // displaced connection was reset, the probation table is bounded too.
  EXPECT_EQ(ep().size(), 64u);
  EXPECT_GE(ep().stats().resets_sent, Drops(TcpEndpointDrop::kEvicted));
  EXPECT_LE(ep().probation_size(), 1024u);
}

// A client on probation loses its connections first, even holding fewer;
// timing out (408) also puts a client on probation; the probation table is
// bounded and forgets those who served their time.
TEST_F(TcpEndpointTest, Probation) {
  TcpEndpointConfig cfg = Small(3, 3);
  cfg.max_probation = 2;
  cfg.probation_ms = 3000;
  MakeEndpoint(cfg);
  // P's request times out: P is on probation (its connection closes with
  // the application's answer).
  Client p1{lan, "10.77.0.5", 1};
  Open(p1, "GET");
  for (int i = 0; i < 101; ++i) {
    now += 100;
    helper->tcp.Tick(now, &sink);
  }
  std::vector<Seg> got = Collect();
  std::string answer;
  for (const Seg& s : got) answer += s.payload;
  EXPECT_EQ(answer, "timeout\n");
  EXPECT_EQ(ep().probation_size(), 1u);
  // P acknowledges and closes: gone (TIME-WAIT does not count).
  Send(lan, p1.src, p1.sport, Tins::TCP::ACK | Tins::TCP::FIN, p1.next,
       SentEnd(got));
  EXPECT_EQ(ep().size(), 0u);
  // P holds 1, Q holds 2 (older): a newcomer displaces P's.
  Client q1{lan, "10.77.0.6", 1}, q2{lan, "10.77.0.6", 2};
  Open(q1);
  Open(q2);
  now += 100;
  Client p2{lan, "10.77.0.5", 2};
  Open(p2);  // the table has room: probation does not matter then
  ASSERT_NE(p2.server_iss, 0u);
  now += 100;
  Client r1{lan, "10.77.0.7", 1};
  got = Open(r1);
  EXPECT_TRUE(RstTo(got, p2).has_value());
  EXPECT_NE(r1.server_iss, 0u);
  // More clients on probation than it remembers (2): the one due first is
  // forgotten.
  // .8 displaces q1 (Q holds the most), .9 q2 (Q on probation), .10 r1
  // (the stalest; R joins Q on probation and P, due first, is forgotten).
  Client x8{lan, "10.77.0.8", 9}, x9{lan, "10.77.0.9", 9},
      x10{lan, "10.77.0.10", 9};
  now += 100;
  EXPECT_TRUE(RstTo(Open(x8), q1).has_value());
  now += 100;
  EXPECT_TRUE(RstTo(Open(x9), q2).has_value());
  now += 100;
  EXPECT_TRUE(RstTo(Open(x10), r1).has_value());
  EXPECT_EQ(ep().probation_size(), 2u);
  // Q is still on probation; P, forgotten, takes a place again.
  Client q3{lan, "10.77.0.6", 3}, p3{lan, "10.77.0.5", 3};
  EXPECT_TRUE(Refused(Open(q3), q3));
  EXPECT_TRUE(RstTo(Open(p3), x8).has_value());
  // Served time is forgotten at the next tick.
  now += 3001;
  helper->tcp.Tick(now, &sink);
  EXPECT_EQ(ep().probation_size(), 0u);
}

// After the answer and our FIN are acknowledged the peer has linger_ms to
// close; what it sends meanwhile is acknowledged and discarded; then RST.
TEST_F(TcpEndpointTest, LingeringCloseIsBounded) {
  MakeEndpoint({});
  auto advance = [&](TimeMs by) {
    for (TimeMs t = 0; t < by; t += 100) {
      now += 100;
      helper->tcp.Tick(now, &sink);
    }
    return Collect();
  };
  // A client that keeps sending after its answer (a huge body after a 413,
  // say): it acknowledges the answer and our FIN, and sends on.
  Client c{lan, kHost, 7000};
  Open(c);
  std::vector<Seg> got = Write(c, "big\n\n");
  std::string answer;
  bool fin = false;
  for (const Seg& s : got) {
    answer += s.payload;
    fin = fin || s.fin;
  }
  EXPECT_EQ(answer, "hello " + std::to_string(A(kHost)) + "\n");
  EXPECT_TRUE(fin);
  const uint32_t fin_end = SentEnd(got);
  EXPECT_TRUE(Send(lan, kHost, 7000, Tins::TCP::ACK, c.next, fin_end).empty());
  // 4.9 s of body: every segment acknowledged (and discarded), no RST.
  for (int i = 0; i < 49; ++i) {
    EXPECT_TRUE(advance(100).empty()) << i;
    got = Write(c, std::string(1000, 'a'));
    ASSERT_EQ(got.size(), 1u);
    EXPECT_FALSE(got[0].rst);
    EXPECT_EQ(got[0].ackno, c.next);
  }
  EXPECT_EQ(ep().size(), 1u);
  // Past the linger time: RST, forgotten, counted.
  got = advance(200);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].rst);
  EXPECT_EQ(got[0].seq, fin_end);
  EXPECT_EQ(ep().size(), 0u);
  EXPECT_EQ(Drops(TcpEndpointDrop::kLinger), 1u);
  // A client that closes within the linger time is closed cleanly, not
  // counted.
  Client d{lan, kHost, 7001};
  Open(d);
  const uint32_t d_end = SentEnd(Write(d, "hi\n\n"));
  Send(lan, kHost, 7001, Tins::TCP::ACK, d.next, d_end);
  EXPECT_TRUE(advance(2000).empty());
  got = Send(lan, kHost, 7001, Tins::TCP::ACK | Tins::TCP::FIN, d.next, d_end);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_FALSE(got[0].rst);
  EXPECT_EQ(got[0].ackno, d.next + 1);
  EXPECT_EQ(ep().size(), 0u);
  EXPECT_EQ(ep().stats().closed, 1u);
  EXPECT_EQ(Drops(TcpEndpointDrop::kLinger), 1u);
}

TEST_F(TcpEndpointTest, DropReasonsHaveNames) {
  EXPECT_STREQ(TcpEndpointDropName(TcpEndpointDrop::kEvicted), "evicted");
  EXPECT_STREQ(TcpEndpointDropName(TcpEndpointDrop::kLinger), "linger");
  EXPECT_STREQ(TcpEndpointDropName(TcpEndpointDrop::kProbation), "probation");
  EXPECT_STREQ(TcpEndpointDropName(TcpEndpointDrop::kLimitTotal),
               "limit_total");
  for (int d = 0; d < static_cast<int>(TcpEndpointDrop::kCount); ++d) {
    EXPECT_STRNE(TcpEndpointDropName(static_cast<TcpEndpointDrop>(d)), "?")
        << d;
  }
}

}  // namespace
}  // namespace unat::portmap::test

namespace unat::portmap::test {
namespace {

// Active opens (GENA event delivery): SYN from an owned port, the request
// once established, the answer to the application (info.active), the end
// reported once to the closed handler whatever it was; refused and
// unanswered opens; SYNs to a port that only makes connections get a RST.
TEST_F(TcpEndpointTest, ActiveOpenSendsReadsAndReportsTheEnd) {
  constexpr uint16_t kLocal = 7000;
  ASSERT_TRUE(nat->RegisterLocalHelper(kProtoTcp, kLocal, helper.get()).ok());
  helper->tcp.Listen(kPort);
  std::vector<TcpConnInfo> closed;
  helper->tcp.SetClosedHandler(
      [&](const TcpConnInfo& info) { closed.push_back(info); });
  auto from_peer = [&](uint16_t peer_port, uint8_t flags, uint32_t seq,
                       uint32_t ack, const std::string& data = "") {
    sink.packets.clear();
    Buf b(unat::testing::Tcp(kHost, peer_port, kGw, kLocal, flags, seq, ack,
                             data));
    EXPECT_EQ(nat->ProcessInside(lan, b.pkt, now).action, Verdict::kConsumed);
    return Collect(kLocal);
  };
  const TcpConnInfo to{lan, A(kGw), kLocal, A(kHost), 8000, true};
  const std::string request = "NOTIFY /cb HTTP/1.1\r\n\r\n";
  sink.packets.clear();
  ASSERT_TRUE(helper->tcp.Connect(to, request, now, &sink));
  EXPECT_FALSE(helper->tcp.Connect(to, request, now, &sink));  // exists
  auto segs = Collect(kLocal);
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_TRUE(segs[0].syn && !segs[0].ack);
  EXPECT_EQ(segs[0].dst, kHost);
  EXPECT_EQ(segs[0].dport, 8000);
  const uint32_t iss = segs[0].seq;
  // SYN-ACK: our ACK, then the request.
  segs = from_peer(8000, Tins::TCP::SYN | Tins::TCP::ACK, 5000, iss + 1);
  ASSERT_EQ(segs.size(), 2u);
  EXPECT_TRUE(segs[0].ack && !segs[0].syn && segs[0].payload.empty());
  EXPECT_EQ(segs[0].ackno, 5001u);
  EXPECT_EQ(segs[1].payload, request);
  EXPECT_EQ(segs[1].seq, iss + 1);
  EXPECT_TRUE(closed.empty());
  // The answer and the peer's FIN: the application sees it (active) and
  // closes; our FIN acknowledged ends it.
  segs = from_peer(8000, Tins::TCP::ACK | Tins::TCP::PSH | Tins::TCP::FIN, 5001,
                   iss + 1 + static_cast<uint32_t>(request.size()),
                   "HTTP/1.1 200 OK\r\n\n\n");
  EXPECT_TRUE(helper->saw_active);
  ASSERT_TRUE(std::any_of(segs.begin(), segs.end(),
                          [](const Seg& g) { return g.fin; }));
  EXPECT_TRUE(closed.empty());
  from_peer(8000, Tins::TCP::ACK, 5001 + 20, SentEnd(segs));
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_TRUE(closed[0].active);
  EXPECT_EQ(closed[0].peer_port, 8000);
  EXPECT_EQ(closed[0].local_port, kLocal);

  // Refused: RST acknowledging our SYN.
  const TcpConnInfo refused{lan, A(kGw), kLocal, A(kHost), 8001, true};
  sink.packets.clear();
  ASSERT_TRUE(helper->tcp.Connect(refused, request, now, &sink));
  const uint32_t iss2 = Collect(kLocal).at(0).seq;
  from_peer(8001, Tins::TCP::RST | Tins::TCP::ACK, 0, iss2 + 7);  // wrong ack
  EXPECT_EQ(closed.size(), 1u);
  from_peer(8001, Tins::TCP::RST | Tins::TCP::ACK, 0, iss2 + 1);
  ASSERT_EQ(closed.size(), 2u);
  EXPECT_EQ(closed[1].peer_port, 8001);
  EXPECT_EQ(ep().stats().open_failed, 1u);

  // Unanswered: three SYN retransmissions (400, 800, 1600 ms), then given
  // up and reported.
  const TcpConnInfo silent{lan, A(kGw), kLocal, A(kHost), 8002, true};
  sink.packets.clear();
  ASSERT_TRUE(helper->tcp.Connect(silent, request, now, &sink));
  Collect(kLocal);
  int syns = 0;
  for (int i = 0; i < 100 && closed.size() == 2; ++i) {
    now += 100;
    helper->tcp.Tick(now, &sink);
    for (const Seg& s : Collect(kLocal)) syns += s.syn ? 1 : 0;
  }
  EXPECT_EQ(syns, 3);
  ASSERT_EQ(closed.size(), 3u);
  EXPECT_EQ(closed[2].peer_port, 8002);
  EXPECT_EQ(ep().stats().open_failed, 2u);
  EXPECT_EQ(ep().size(), 0u);

  // A SYN to the port that only makes connections: RST.
  segs = from_peer(9999, Tins::TCP::SYN, 100, 0);
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_TRUE(segs[0].rst);
  EXPECT_EQ(ep().size(), 0u);
}

}  // namespace
}  // namespace unat::portmap::test
