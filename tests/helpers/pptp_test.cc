// PPTP helper and GRE: Call IDs translated in every control message that
// names the inside host's, the call's GRE flow opened when the reply says
// the call is up and closed with it, two inside hosts with one Call ID kept
// apart, split, retransmitted and malformed messages.
#include "helpers/pptp.h"

#include "engine/gre.h"
#include "tests/helpers/fixture.h"

namespace unat::helpers::testing {
namespace {

using namespace pptp;

constexpr const char* kServer = "198.51.100.2";
constexpr uint16_t kClientCid = 0x1234;
constexpr uint16_t kServerCid = 0x0077;

// A control message of `type` (its RFC length), with 16-bit fields set.
std::string Msg(uint16_t type,
                std::initializer_list<std::pair<uint16_t, uint16_t>> fields,
                int result = -1) {
  std::string m(MessageLength(type), '\0');
  auto put16 = [&](size_t at, uint16_t v) {
    m[at] = static_cast<char>(v >> 8);
    m[at + 1] = static_cast<char>(v);
  };
  put16(0, static_cast<uint16_t>(m.size()));
  put16(2, kControlMessage);
  put16(4, kMagicCookie >> 16);
  put16(6, kMagicCookie & 0xffff);
  put16(8, type);
  for (auto [at, v] : fields) put16(at, v);
  if (result >= 0) m[16] = static_cast<char>(result);
  return m;
}
uint16_t Field(const std::string& m, size_t at) {
  return static_cast<uint16_t>(static_cast<uint8_t>(m[at]) << 8 |
                               static_cast<uint8_t>(m[at + 1]));
}

// An enhanced GRE packet with key `call_id` (and sequence/ack numbers if
// asked), carrying a PPP payload.
std::vector<uint8_t> Gre(const char* src, const char* dst, uint16_t call_id,
                         bool seq = true, bool ack = false,
                         const std::string& ppp = "\xff\x03\xc0\x21ppp") {
  std::string h;
  h += static_cast<char>(0x20 | (seq ? 0x10 : 0));
  h += static_cast<char>(0x01 | (ack ? 0x80 : 0));
  h += "\x88\x0b";
  h += static_cast<char>(ppp.size() >> 8);
  h += static_cast<char>(ppp.size());
  h += static_cast<char>(call_id >> 8);
  h += static_cast<char>(call_id);
  if (seq) h += std::string("\x00\x00\x00\x05", 4);
  if (ack) h += std::string("\x00\x00\x00\x03", 4);
  Tins::IP ip(dst, src);
  ip.protocol(kProtoGre);
  ip /= Tins::RawPDU(h + ppp);
  return ip.serialize();
}
// Plain GRE (version 0) carrying IPv4.
std::vector<uint8_t> Gre0(const char* src, const char* dst) {
  Tins::IP ip(dst, src);
  ip.protocol(kProtoGre);
  ip /= Tins::RawPDU(std::string("\x00\x00\x08\x00payload", 11));
  return ip.serialize();
}
uint16_t GreKey(const std::vector<uint8_t>& b) {
  const size_t hl = (b[0] & 0xf) * 4u;
  return static_cast<uint16_t>(b[hl + 6] << 8 | b[hl + 7]);
}
std::string Addr(const std::vector<uint8_t>& b, size_t at) {
  return Tins::IPv4Address(static_cast<uint32_t>(b[at] | b[at + 1] << 8 |
                                                 b[at + 2] << 16 |
                                                 b[at + 3] << 24))
      .to_string();
}

// One control connection from an inside host to the server.
struct Control {
  std::string client;
  NamespaceId ns;
  uint16_t sport;
  uint16_t ext = 0;
  uint32_t cseq = 1001, sseq = 9001;
};

class PptpTest : public HelperFixture {
 protected:
  void SetUp() override {
    HelperFixture::SetUp();
    lan2 = *nat->AddNamespace({"lan2", A("10.77.0.1"), 24});
    ASSERT_TRUE(nat->RegisterPacketHelper(kProtoTcp, kPort, &pptp).ok());
  }
  Control Connect(const std::string& client, NamespaceId ns,
                  uint16_t sport = 50000) {
    Control c{client, ns, sport};
    auto syn =
        In(Tcp(client.c_str(), sport, kServer, kPort, TCP::SYN, 1000), ns);
    c.ext = syn.sport();
    Out(Tcp(kServer, kPort, "203.0.113.1", c.ext, TCP::SYN | TCP::ACK, 9000,
            1001));
    In(Tcp(client.c_str(), sport, kServer, kPort, TCP::ACK, 1001, 9001), ns);
    return c;
  }
  // The client sends bytes (one segment); the server sends bytes.
  Result Say(Control& c, const std::string& bytes, bool advance = true) {
    Result r = RunIn(Tcp(c.client.c_str(), c.sport, kServer, kPort,
                         TCP::ACK | TCP::PSH, c.cseq, c.sseq, bytes),
                     c.ns);
    if (r.forwarded() && advance) c.cseq += static_cast<uint32_t>(bytes.size());
    return r;
  }
  Result Hear(Control& c, const std::string& bytes) {
    Result r = RunOut(Tcp(kServer, kPort, "203.0.113.1", c.ext,
                          TCP::ACK | TCP::PSH, c.sseq, c.cseq, bytes));
    if (r.forwarded()) c.sseq += static_cast<uint32_t>(bytes.size());
    return r;
  }
  // An outgoing call set up: the Call ID the server saw for the client's.
  uint16_t Call(Control& c, uint16_t client_cid, uint16_t server_cid) {
    auto rq = Say(c, Msg(kOutgoingCallRequest, {{12, client_cid}}));
    EXPECT_TRUE(rq.forwarded());
    const uint16_t ext_cid = Field(rq.data(), 12);
    auto rp = Hear(c, Msg(kOutgoingCallReply, {{12, server_cid}, {14, ext_cid}},
                          kOutgoingConnected));
    EXPECT_TRUE(rp.forwarded());
    EXPECT_EQ(Field(rp.data(), 14), client_cid);
    EXPECT_EQ(Field(rp.data(), 12), server_cid);
    return ext_cid;
  }
  std::vector<FlowInfo> GreFlows() {
    std::vector<FlowInfo> out;
    nat->ForEachFlow([&](const FlowInfo& f) {
      if (f.proto == kProtoGre) out.push_back(f);
    });
    return out;
  }
  PptpHelper pptp;
  NamespaceId lan2 = 0;
};

TEST_F(PptpTest, AnOutgoingCallOpensItsGreFlowBothWays) {
  Control c = Connect("10.77.0.2", lan);
  const std::string sccrq = Msg(kStartControlConnectionRequest, {});
  EXPECT_EQ(Say(c, sccrq).data(), sccrq) << "nothing to translate";
  Hear(c, Msg(kStartControlConnectionReply, {}));
  const uint16_t ext_cid = Call(c, kClientCid, kServerCid);
  auto flows = GreFlows();
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].inside_port, kClientCid);
  EXPECT_EQ(flows[0].external_port, ext_cid);
  EXPECT_EQ(flows[0].remote_port, kServerCid);
  EXPECT_EQ(nat->GetStats().related_flows, 1u);
  // Client to server: the server's Call ID, untouched; our address.
  for (bool seq : {true, false}) {
    for (bool ack : {false, true}) {
      Buf out(Gre("10.77.0.2", kServer, kServerCid, seq, ack));
      ASSERT_EQ(nat->ProcessInside(lan, out.pkt, now).action,
                Verdict::kForward);
      auto b = out.out();
      EXPECT_EQ(Addr(b, 12), "203.0.113.1");
      EXPECT_EQ(GreKey(b), kServerCid);
      EXPECT_TRUE(ChecksumsValid(b));
      // Server to client: our Call ID becomes the client's own.
      Buf in(Gre(kServer, "203.0.113.1", ext_cid, seq, ack));
      ASSERT_EQ(nat->ProcessOutside(in.pkt, now).action, Verdict::kForward);
      b = in.out();
      EXPECT_EQ(Addr(b, 16), "10.77.0.2");
      EXPECT_EQ(GreKey(b), kClientCid);
      EXPECT_TRUE(ChecksumsValid(b));
    }
  }
  EXPECT_EQ(pptp.stats().calls_opened, 1u);
  EXPECT_EQ(pptp.stats().call_id_rewrites, ext_cid == kClientCid ? 0u : 2u);
  // Another key from the server is nobody's.
  Buf stray(Gre(kServer, "203.0.113.1", ext_cid + 1));
  EXPECT_EQ(nat->ProcessOutside(stray.pkt, now).reason, DropReason::kNoFlow);
  Buf stray_out(Gre("10.77.0.2", kServer, kServerCid + 1));
  EXPECT_EQ(nat->ProcessInside(lan, stray_out.pkt, now).reason,
            DropReason::kGreNoCall);
}

// Two tenants with the same inside address, and a second host of one of
// them, all use Call ID 0x1234 towards one server at once.
TEST_F(PptpTest, SameCallIdFromThreeInsideHostsNeverCollides) {
  Control a = Connect("10.77.0.2", lan);
  Control b = Connect("10.77.0.2", lan2);
  Control d = Connect("10.77.0.3", lan);
  const uint16_t xa = Call(a, kClientCid, 0x0101);
  const uint16_t xb = Call(b, kClientCid, 0x0102);
  const uint16_t xd = Call(d, kClientCid, 0x0103);
  EXPECT_NE(xa, xb);
  EXPECT_NE(xa, xd);
  EXPECT_NE(xb, xd);
  ASSERT_EQ(GreFlows().size(), 3u);
  struct Want {
    uint16_t ext;
    NamespaceId ns;
    const char* addr;
  };
  for (const Want& w : {Want{xa, lan, "10.77.0.2"}, Want{xb, lan2, "10.77.0.2"},
                        Want{xd, lan, "10.77.0.3"}}) {
    Buf in(Gre(kServer, "203.0.113.1", w.ext));
    const Verdict v = nat->ProcessOutside(in.pkt, now);
    ASSERT_EQ(v.action, Verdict::kForward);
    EXPECT_EQ(v.out_ns, w.ns);
    EXPECT_EQ(Addr(in.out(), 16), w.addr);
    EXPECT_EQ(GreKey(in.out()), kClientCid);
  }
  // And the way out: each by its own server Call ID.
  for (auto [addr, ns, scid] :
       {std::tuple{"10.77.0.2", lan, uint16_t{0x0101}},
        std::tuple{"10.77.0.2", lan2, uint16_t{0x0102}},
        std::tuple{"10.77.0.3", lan, uint16_t{0x0103}}}) {
    Buf out(Gre(addr, kServer, scid));
    EXPECT_EQ(nat->ProcessInside(ns, out.pkt, now).action, Verdict::kForward);
    EXPECT_EQ(GreKey(out.out()), scid);
  }
}

TEST_F(PptpTest, EveryMessageNamingTheInsideCallIdIsTranslated) {
  Control c = Connect("10.77.0.2", lan);
  const uint16_t x = Call(c, kClientCid, kServerCid);
  ASSERT_NE(x, 0);
  // From outside, the Peer's Call ID names ours.
  for (uint16_t type :
       {kIncomingCallConnected, kWanErrorNotify, kSetLinkInfo}) {
    auto r = Hear(c, Msg(type, {{12, x}}));
    ASSERT_TRUE(r.forwarded());
    EXPECT_EQ(Field(r.data(), 12), kClientCid) << type;
  }
  // From inside, a Set-Link-Info names the server's: untouched; a
  // Call-Clear-Request names the client's own.
  EXPECT_EQ(Field(Say(c, Msg(kSetLinkInfo, {{12, kServerCid}})).data(), 12),
            kServerCid);
  auto clear = Say(c, Msg(kCallClearRequest, {{12, kClientCid}}));
  EXPECT_EQ(Field(clear.data(), 12), x);
  EXPECT_EQ(GreFlows().size(), 1u) << "open until the disconnect notify";
  // The server's Call-Disconnect-Notify (its own Call ID) ends the call.
  auto cdn = Hear(c, Msg(kCallDisconnectNotify, {{12, kServerCid}}));
  EXPECT_EQ(Field(cdn.data(), 12), kServerCid);
  EXPECT_TRUE(GreFlows().empty());
  EXPECT_EQ(nat->GetStats().related_flows, 0u);
  EXPECT_EQ(pptp.stats().calls_closed, 1u);
  Buf late(Gre(kServer, "203.0.113.1", x));
  EXPECT_EQ(nat->ProcessOutside(late.pkt, now).reason, DropReason::kNoFlow);
  // Echo and Stop-Control-Connection pass as they are.
  const std::string echo = Msg(kEchoRequest, {{12, 0xabcd}});
  EXPECT_EQ(Say(c, echo).data(), echo);
  EXPECT_EQ(pptp.stats().malformed, 0u);
}

// The inside host answers a call the server offers (it is the PNS of an
// incoming call): its Incoming-Call-Reply names both Call IDs.
TEST_F(PptpTest, AnIncomingCallOpensOnTheInsideReply) {
  Control c = Connect("10.77.0.2", lan);
  auto icrq = Hear(c, Msg(kIncomingCallRequest, {{12, kServerCid}}));
  EXPECT_EQ(Field(icrq.data(), 12), kServerCid);
  EXPECT_TRUE(GreFlows().empty());
  auto icrp =
      Say(c, Msg(kIncomingCallReply, {{12, kClientCid}, {14, kServerCid}},
                 kIncomingConnect));
  const uint16_t x = Field(icrp.data(), 12);
  EXPECT_EQ(Field(icrp.data(), 14), kServerCid);
  auto flows = GreFlows();
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].external_port, x);
  EXPECT_EQ(flows[0].remote_port, kServerCid);
  auto iccn = Hear(c, Msg(kIncomingCallConnected, {{12, x}}));
  EXPECT_EQ(Field(iccn.data(), 12), kClientCid);
}

// A PPTP server (PAC) inside, behind a forward: the outside client's
// Outgoing-Call-Request names its own Call ID (untouched); the inside
// server's reply, Set-Link-Info, WAN-Error-Notify, Incoming-Call-Connected
// and Call-Disconnect-Notify are the other side of each message.
TEST_F(PptpTest, AnInsideServerBehindAForwardHasItsCallIdsTranslated) {
  ASSERT_TRUE(
      nat->AddForward({kProtoTcp, 0, kPort, lan, A("10.77.0.2"), kPort}, now)
          .ok());
  Control other = Connect("10.77.0.2", lan);  // takes the server's 0x1234
  Call(other, kClientCid, 0x0999);
  const char* client = "198.51.100.7";
  uint32_t cseq = 5001, sseq = 7001;
  auto from_client = [&](const std::string& m) {
    Result r = Out(Tcp(client, 40000, "203.0.113.1", kPort, TCP::ACK | TCP::PSH,
                       cseq, sseq, m));
    cseq += static_cast<uint32_t>(m.size());
    return r;
  };
  auto from_server = [&](const std::string& m) {
    Result r = In(Tcp("10.77.0.2", kPort, client, 40000, TCP::ACK | TCP::PSH,
                      sseq, cseq, m));
    sseq += static_cast<uint32_t>(m.size());
    return r;
  };
  Out(Tcp(client, 40000, "203.0.113.1", kPort, TCP::SYN, cseq - 1));
  In(Tcp("10.77.0.2", kPort, client, 40000, TCP::SYN | TCP::ACK, sseq - 1,
         cseq));
  Out(Tcp(client, 40000, "203.0.113.1", kPort, TCP::ACK, cseq, sseq));
  const uint16_t kOutsideCid = 0x4242;
  auto rq = from_client(Msg(kOutgoingCallRequest, {{12, kOutsideCid}}));
  EXPECT_EQ(Field(rq.data(), 12), kOutsideCid);
  auto rp =
      from_server(Msg(kOutgoingCallReply, {{12, kClientCid}, {14, kOutsideCid}},
                      kOutgoingConnected));
  const uint16_t x = Field(rp.data(), 12);
  EXPECT_NE(x, kClientCid) << "the other call has it on the wire";
  EXPECT_EQ(Field(rp.data(), 14), kOutsideCid);
  ASSERT_EQ(GreFlows().size(), 2u);
  // From the server, the Peer's Call ID fields name the client: untouched.
  for (uint16_t type :
       {kSetLinkInfo, kWanErrorNotify, kIncomingCallConnected}) {
    EXPECT_EQ(Field(from_server(Msg(type, {{12, kOutsideCid}})).data(), 12),
              kOutsideCid)
        << type;
  }
  // From the client, they name the server: translated back.
  EXPECT_EQ(Field(from_client(Msg(kSetLinkInfo, {{12, x}})).data(), 12),
            kClientCid);
  // GRE from the client to the server's external Call ID.
  Buf in(Gre(client, "203.0.113.1", x));
  ASSERT_EQ(nat->ProcessOutside(in.pkt, now).action, Verdict::kForward);
  EXPECT_EQ(GreKey(in.out()), kClientCid);
  EXPECT_EQ(Addr(in.out(), 16), "10.77.0.2");
  // The inside server clears the call: its own Call ID, translated.
  auto cdn = from_server(Msg(kCallDisconnectNotify, {{12, kClientCid}}));
  EXPECT_EQ(Field(cdn.data(), 12), x);
  EXPECT_EQ(GreFlows().size(), 1u) << "only the other call is left";
}

TEST_F(PptpTest, ARefusedCallOpensNothingAndFreesItsCallId) {
  Control c = Connect("10.77.0.2", lan);
  auto rq = Say(c, Msg(kOutgoingCallRequest, {{12, kClientCid}}));
  EXPECT_EQ(nat->GetStats().related_flows, 1u) << "reserved";
  Hear(c,
       Msg(kOutgoingCallReply, {{12, kServerCid}, {14, Field(rq.data(), 12)}},
           /*result=*/2));
  EXPECT_TRUE(GreFlows().empty());
  EXPECT_EQ(nat->GetStats().related_flows, 0u);
  EXPECT_EQ(pptp.stats().calls_refused, 1u);
}

TEST_F(PptpTest, TheCallsEndWithTheControlConnection) {
  Control c = Connect("10.77.0.2", lan);
  Call(c, kClientCid, kServerCid);
  Call(c, kClientCid + 1, kServerCid + 1);
  ASSERT_EQ(GreFlows().size(), 2u);
  // Idle far past the GRE timeouts: the calls are up, their flows stay.
  for (int i = 0; i < 10; ++i) {
    now += 100'000;
    nat->Advance(now);
    Say(c, Msg(kEchoRequest, {}));  // the control connection stays alive
  }
  EXPECT_EQ(GreFlows().size(), 2u);
  // The control connection is reset and expires: its calls go with it.
  RunIn(Tcp("10.77.0.2", c.sport, kServer, kPort, TCP::RST, c.cseq));
  now += 3600'000;
  nat->Advance(now);
  EXPECT_TRUE(GreFlows().empty());
  EXPECT_EQ(nat->GetStats().related_flows, 0u);
  EXPECT_EQ(nat->GetStats().flows_total, 0u);
}

TEST_F(PptpTest, FinsBothWaysOrAnRstCloseTheCalls) {
  Control c = Connect("10.77.0.2", lan);
  Call(c, kClientCid, kServerCid);
  In(Tcp("10.77.0.2", c.sport, kServer, kPort, TCP::FIN | TCP::ACK, c.cseq,
         c.sseq));
  EXPECT_EQ(GreFlows().size(), 1u) << "half closed: the calls may go on";
  Out(Tcp(kServer, kPort, "203.0.113.1", c.ext, TCP::FIN | TCP::ACK, c.sseq,
          c.cseq + 1));
  EXPECT_TRUE(GreFlows().empty());
  EXPECT_EQ(nat->GetStats().related_flows, 0u);
  Control d = Connect("10.77.0.2", lan2);
  Call(d, kClientCid, kServerCid);
  ASSERT_EQ(GreFlows().size(), 1u);
  Out(Tcp(kServer, kPort, "203.0.113.1", d.ext, TCP::RST | TCP::ACK, d.sseq,
          d.cseq));
  EXPECT_TRUE(GreFlows().empty());
}

TEST_F(PptpTest, StopControlConnectionReplyClosesEveryCall) {
  Control c = Connect("10.77.0.2", lan);
  Call(c, kClientCid, kServerCid);
  Say(c, Msg(kStopControlConnectionRequest, {}));
  EXPECT_EQ(GreFlows().size(), 1u);
  Hear(c, Msg(kStopControlConnectionReply, {}));
  EXPECT_TRUE(GreFlows().empty());
}

// A message cut anywhere but inside its Call ID is translated; one cut in
// the Call ID is dropped until the sender sends the field whole.
TEST_F(PptpTest, SplitMessagesAreFollowed) {
  Control c = Connect("10.77.0.2", lan);
  Control other = Connect("10.77.0.3", lan);
  Call(other, kClientCid, 0x0999);  // so c's 0x1234 cannot be kept as it is
  const std::string rq = Msg(kOutgoingCallRequest, {{12, kClientCid}});
  for (size_t cut : {1u, 5u, 12u, 14u, 40u}) {
    SCOPED_TRACE(cut);
    Control k = Connect("10.77.0.4", lan, static_cast<uint16_t>(40000 + cut));
    auto first = Say(k, rq.substr(0, cut));
    ASSERT_TRUE(first.forwarded());
    auto second = Say(k, rq.substr(cut));
    ASSERT_TRUE(second.forwarded());
    const std::string seen = first.data() + second.data();
    ASSERT_EQ(seen.size(), rq.size());
    EXPECT_NE(Field(seen, 12), kClientCid);
    EXPECT_EQ(seen.substr(14), rq.substr(14));
  }
  // Cut between the Call ID's two bytes: dropped, then sent whole.
  auto cut = Say(c, rq.substr(0, 13), /*advance=*/false);
  EXPECT_EQ(cut.v.reason, DropReason::kHelperDrop);
  EXPECT_EQ(pptp.stats().split_drops, 1u);
  auto whole = Say(c, rq);
  ASSERT_TRUE(whole.forwarded());
  EXPECT_NE(Field(whole.data(), 12), kClientCid);
}

TEST_F(PptpTest, ACallIdCutForeverPassesUntranslatedAndCounted) {
  Control c = Connect("10.77.0.2", lan);
  const std::string rq = Msg(kOutgoingCallRequest, {{12, kClientCid}});
  for (int i = 0; i < PptpHelper::kMaxSplitTries; ++i) {
    EXPECT_FALSE(Say(c, rq.substr(0, 13), false).forwarded());
  }
  auto first = Say(c, rq.substr(0, 13));
  ASSERT_TRUE(first.forwarded());
  auto rest = Say(c, rq.substr(13));
  ASSERT_TRUE(rest.forwarded());
  EXPECT_EQ(first.data() + rest.data(), rq);
  EXPECT_EQ(pptp.stats().split_passed, 1u);
  EXPECT_EQ(pptp.stats().call_id_rewrites, 0u);
}

TEST_F(PptpTest, ARetransmissionIsTranslatedTheSameWay) {
  Control c = Connect("10.77.0.2", lan);
  Control other = Connect("10.77.0.3", lan);
  Call(other, kClientCid, 0x0999);
  const std::string rq = Msg(kOutgoingCallRequest, {{12, kClientCid}});
  const uint32_t seq = c.cseq;
  auto r1 = Say(c, rq);
  c.cseq = seq;
  auto r2 = Say(c, rq);
  EXPECT_EQ(r1.data(), r2.data());
  EXPECT_NE(Field(r2.data(), 12), kClientCid);
  EXPECT_EQ(pptp.stats().retransmits_reedited, 1u);
  // A segment ahead of the stream (a gap) is dropped.
  c.cseq += 100;
  EXPECT_FALSE(Say(c, Msg(kEchoRequest, {})).forwarded());
  EXPECT_EQ(pptp.stats().gap_drops, 1u);
}

TEST_F(PptpTest, MalformedMessagesPassUntouchedAndStopTheParsing) {
  Control c = Connect("10.77.0.2", lan);
  std::string bad = Msg(kOutgoingCallRequest, {{12, kClientCid}});
  bad[4] = 0x00;  // not the magic cookie
  EXPECT_EQ(Say(c, bad).data(), bad);
  const std::string rq = Msg(kOutgoingCallRequest, {{12, kClientCid}});
  EXPECT_EQ(Say(c, rq).data(), rq) << "the direction is not parsed any more";
  EXPECT_EQ(pptp.stats().malformed, 1u);
  EXPECT_TRUE(GreFlows().empty());
  // Too short for its type, and an unknown type, from the server side.
  for (auto mut : {+[](std::string& m) { m[1] = 20; },
                   +[](std::string& m) { m[9] = 99; }}) {
    Control k = Connect("10.77.0.3", lan, static_cast<uint16_t>(c.sport + 1));
    std::string m = Msg(kOutgoingCallReply, {{12, 1}, {14, 2}}, 1);
    mut(m);
    EXPECT_EQ(Hear(k, m).data(), m);
    c.sport++;
  }
  EXPECT_EQ(pptp.stats().malformed, 3u);
}

TEST_F(PptpTest, IcmpErrorsQuotingGreAreTranslatedBothWays) {
  Control c = Connect("10.77.0.2", lan);
  const uint16_t x = Call(c, kClientCid, kServerCid);
  // The server's host says our GRE to it could not be delivered.
  Buf sent(Gre("10.77.0.2", kServer, kServerCid));
  ASSERT_EQ(nat->ProcessInside(lan, sent.pkt, now).action, Verdict::kForward);
  auto quoted = sent.out();
  Tins::IP err(std::string("203.0.113.1"), kServer);
  err /=
      Tins::ICMP(Tins::ICMP::DEST_UNREACHABLE) /
      Tins::RawPDU(std::vector<uint8_t>(quoted.begin(), quoted.begin() + 28));
  Buf e(err.serialize());
  Verdict v = nat->ProcessOutside(e.pkt, now);
  ASSERT_EQ(v.action, Verdict::kForward) << DropReasonName(v.reason);
  auto b = e.out();
  EXPECT_EQ(Addr(b, 16), "10.77.0.2");
  EXPECT_EQ(Addr(b, 28 + 12), "10.77.0.2") << "the quoted source";
  EXPECT_EQ(GreKey(std::vector<uint8_t>(b.begin() + 28, b.end())), kServerCid);
  EXPECT_TRUE(ChecksumsValid(b));
  // The client says the server's GRE could not be delivered.
  Buf got(Gre(kServer, "203.0.113.1", x));
  ASSERT_EQ(nat->ProcessOutside(got.pkt, now).action, Verdict::kForward);
  auto q2 = got.out();
  Tins::IP err2(kServer, "10.77.0.2");
  err2 /= Tins::ICMP(Tins::ICMP::DEST_UNREACHABLE) /
          Tins::RawPDU(std::vector<uint8_t>(q2.begin(), q2.begin() + 28));
  Buf e2(err2.serialize());
  v = nat->ProcessInside(lan, e2.pkt, now);
  ASSERT_EQ(v.action, Verdict::kForward) << DropReasonName(v.reason);
  b = e2.out();
  EXPECT_EQ(Addr(b, 12), "203.0.113.1");
  EXPECT_EQ(Addr(b, 28 + 16), "203.0.113.1") << "the quoted destination";
  EXPECT_EQ(GreKey(std::vector<uint8_t>(b.begin() + 28, b.end())), x);
}

TEST_F(PptpTest, PlainGreIsOneInsideHostPerRemote) {
  Buf out(Gre0("10.77.0.2", kServer));
  ASSERT_EQ(nat->ProcessInside(lan, out.pkt, now).action, Verdict::kForward);
  EXPECT_EQ(Addr(out.out(), 12), "203.0.113.1");
  Buf back(Gre0(kServer, "203.0.113.1"));
  const Verdict v = nat->ProcessOutside(back.pkt, now);
  ASSERT_EQ(v.action, Verdict::kForward);
  EXPECT_EQ(Addr(back.out(), 16), "10.77.0.2");
  Buf other(Gre0("10.77.0.3", kServer));
  EXPECT_EQ(nat->ProcessInside(lan, other.pkt, now).reason,
            DropReason::kGrePairBusy);
  Buf elsewhere(Gre0("10.77.0.3", "198.51.100.9"));
  EXPECT_EQ(nat->ProcessInside(lan, elsewhere.pkt, now).action,
            Verdict::kForward);
  // Unreplied 30 s, then gone; replied ones have 180 s.
  now += 31'000;
  nat->Advance(now);
  EXPECT_EQ(GreFlows().size(), 1u);
  now += 150'000;
  nat->Advance(now);
  EXPECT_TRUE(GreFlows().empty());
  Buf unsolicited(Gre0(kServer, "203.0.113.1"));
  EXPECT_EQ(nat->ProcessOutside(unsolicited.pkt, now).reason,
            DropReason::kNoFlow);
}

TEST_F(PptpTest, BadGreHeadersAreDropped) {
  auto v1 = Gre("10.77.0.2", kServer, 1);
  struct Case {
    size_t at;
    uint8_t value;
  };
  for (Case k : {Case{20 + 1, 0x02},     // version 2
                 Case{20 + 0, 0x10},     // v1 without the key bit
                 Case{20 + 2, 0x08},     // v1, not PPP
                 Case{20 + 0, 0x60},     // routing present
                 Case{20 + 5, 0xff}}) {  // payload length past the end
    auto b = v1;
    b[k.at] = k.value;
    Tins::IP ip(b.data(), static_cast<uint32_t>(b.size()));
    Buf buf(ip.serialize());
    EXPECT_EQ(nat->ProcessInside(lan, buf.pkt, now).reason,
              DropReason::kBadL4Header)
        << k.at << " " << int(k.value);
  }
  auto shortv1 = v1;
  shortv1.resize(20 + 6);
  Tins::IP ip(shortv1.data(), static_cast<uint32_t>(shortv1.size()));
  Buf buf(ip.serialize());
  EXPECT_EQ(nat->ProcessInside(lan, buf.pkt, now).reason,
            DropReason::kTruncated);
}

}  // namespace
}  // namespace unat::helpers::testing
