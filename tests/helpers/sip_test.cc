// SIP helper over UDP: an inside phone's INVITE and its SDP rewritten to
// the external endpoint, an RTP/RTCP expectation pair per m= line, the
// response's Via given back, whole-token matching, malformed messages.
#include "helpers/sip.h"

#include "helpers/sip_message.h"
#include "tests/helpers/fixture.h"

namespace unat::helpers::testing {
namespace {

constexpr const char* kPhone = "10.77.0.2";
constexpr const char* kProxy = "198.51.100.2";

std::string Sdp(const std::string& addr = kPhone) {
  return "v=0\r\n"
         "o=alice 1 1 IN IP4 " +
         addr +
         "\r\n"
         "s=-\r\n"
         "c=IN IP4 " +
         addr +
         "\r\n"
         "t=0 0\r\n"
         "m=audio 49170 RTP/AVP 0\r\n"
         "a=rtcp:49171 IN IP4 " +
         addr +
         "\r\n"
         "m=video 0 RTP/AVP 31\r\n";
}

std::string Invite(const std::string& body, uint16_t port = 5060) {
  const std::string p = std::to_string(port);
  return "INVITE sip:bob@198.51.100.2 SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 10.77.0.2:" +
         p +
         ";branch=z9hG4bK1;rport\r\n"
         "Max-Forwards: 70\r\n"
         "From: \"Alice\" <sip:alice@10.77.0.2>;tag=1\r\n"
         "To: <sip:bob@198.51.100.2>\r\n"
         "Call-ID: c1@10.77.0.20\r\n"
         "CSeq: 1 INVITE\r\n"
         "Contact: <sip:alice@10.77.0.2:" +
         p +
         ">\r\n"
         "Content-Type: application/sdp\r\n"
         "Content-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

class SipTest : public HelperFixture {
 protected:
  void SetUp() override {
    HelperFixture::SetUp();
    ASSERT_TRUE(nat->RegisterPacketHelper(kProtoUdp, 5060, &helper).ok());
  }
  Result Send(const std::string& msg, uint16_t sport = 5060) {
    Result r = In(Udp(kPhone, sport, kProxy, 5060, msg));
    ext = r.sport();
    return r;
  }
  SipHelper helper;
  uint16_t ext = 0;
};

TEST_F(SipTest, AnInviteAndItsSdpNameTheExternalEndpoint) {
  Result r = Send(Invite(Sdp(), 40000), 40000);
  const std::string out = r.data();
  sip::ParseError why;
  auto m = sip::Parse(out, false, &why);
  ASSERT_TRUE(m) << sip::ParseErrorName(why) << "\n" << out;
  const std::string e = "203.0.113.1:" + std::to_string(ext);
  EXPECT_NE(out.find("Via: SIP/2.0/UDP " + e + ";branch=z9hG4bK1;rport"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("Contact: <sip:alice@" + e + ">"), std::string::npos);
  EXPECT_NE(out.find("From: \"Alice\" <sip:alice@203.0.113.1>;tag=1"),
            std::string::npos)
      << "From: the host only";
  EXPECT_NE(out.find("Call-ID: c1@10.77.0.20"), std::string::npos)
      << "not a whole-token match: left alone";
  EXPECT_EQ(out.find("10.77.0.2\r"), std::string::npos) << out;
  // The SDP: addresses, and an even RTP port with RTCP on the next.
  auto sdp = sip::ParseSdp(out, m->body);
  ASSERT_TRUE(sdp);
  EXPECT_EQ(sdp->origin_addr.of(out), "203.0.113.1");
  EXPECT_EQ(sdp->connection_addr.of(out), "203.0.113.1");
  ASSERT_EQ(sdp->media.size(), 2u);
  const uint16_t rtp = sdp->media[0].port_value;
  EXPECT_EQ(rtp % 2, 0);
  EXPECT_EQ(sdp->media[0].rtcp_port_value, rtp + 1);
  EXPECT_EQ(sdp->media[0].rtcp_addr.of(out), "203.0.113.1");
  EXPECT_EQ(sdp->media[1].port_value, 0) << "a disabled stream stays so";
  EXPECT_EQ(m->body.length, m->body.of(out).size());
  EXPECT_EQ(m->length, out.size()) << "Content-Length fixed";
  EXPECT_EQ(Expectations(), 2u);
  EXPECT_EQ(helper.stats().media, 1u);
  // RTP and RTCP from the proxy's address reach the phone's ports.
  for (uint16_t k : {uint16_t{0}, uint16_t{1}}) {
    Result media =
        Out(Udp(kProxy, static_cast<uint16_t>(20000 + k), "203.0.113.1",
                static_cast<uint16_t>(rtp + k), "rtp"));
    EXPECT_EQ(media.dport(), 49170 + k);
  }
  // The answer's Via names us: the phone gets its own back.
  const std::string ok =
      "SIP/2.0 200 OK\r\n"
      "Via: SIP/2.0/UDP " +
      e + ";branch=z9hG4bK1;rport=" + std::to_string(ext) +
      ";received=203.0.113.1\r\n"
      "To: <sip:bob@198.51.100.2>;tag=2\r\n"
      "Content-Length: 0\r\n\r\n";
  Result back = Out(Udp(kProxy, 5060, "203.0.113.1", ext, ok));
  EXPECT_NE(back.data().find("Via: SIP/2.0/UDP 10.77.0.2:40000;branch"),
            std::string::npos)
      << back.data();
}

TEST_F(SipTest, TheDefaultPortIsAddedWhenTheExternalOneDiffers) {
  // Without a port the phone means 5060; the external port is not.
  // Another phone holds external port 5060 (kept as its own), so this
  // one's is another.
  In(Udp("10.77.0.3", 5060, kProxy, 5060, "\r\n"));
  std::string inv = Invite(Sdp());
  inv.replace(inv.find("10.77.0.2:5060;branch"), 14, "10.77.0.2;branch");
  Result r = Send(inv);
  ASSERT_NE(ext, 5060);
  EXPECT_NE(r.data().find("Via: SIP/2.0/UDP 203.0.113.1:" +
                          std::to_string(ext) + ";branch"),
            std::string::npos)
      << r.data();
}

TEST_F(SipTest, MessagesThatDoNotParsePassUntouched) {
  const std::string junk = "HELLO 10.77.0.2\r\n\r\n";
  EXPECT_EQ(Send(junk).data(), junk);
  EXPECT_EQ(helper.stats().parse_failures, 1u);
  EXPECT_EQ(Send("\r\n\r\n").data(), "\r\n\r\n") << "a keep-alive";
  EXPECT_EQ(helper.stats().parse_failures, 1u);
}

TEST_F(SipTest, AMessageIsRewrittenWhollyOrNotAtAll) {
  // A packet with room for one longer address but not for all of them:
  // the rewrite fails, and not one field of it is changed.
  const std::vector<uint8_t> in =
      Udp(kPhone, 5060, kProxy, 5060, Invite(Sdp()));
  Buf buf(in);
  buf.pkt.capacity = buf.pkt.len + 2;  // 203.0.113.1 is 10.77.0.2 + 2
  const Verdict v = nat->ProcessInside(lan, buf.pkt, now);
  ASSERT_EQ(v.action, Verdict::kForward);
  Result r;
  r.bytes = buf.out();
  EXPECT_EQ(r.data(), Invite(Sdp())) << "untouched";
  EXPECT_TRUE(ChecksumsValid(r.bytes));
  EXPECT_EQ(helper.stats().edit_errors, 1u);
  EXPECT_EQ(helper.stats().rewritten, 0u);
}

TEST_F(SipTest, AnotherHostsAddressIsLeftAlone) {
  const std::string sdp = Sdp("10.77.0.20");
  Result r = Send(Invite(sdp));
  EXPECT_NE(r.data().find(sdp), std::string::npos) << "SDP untouched";
  EXPECT_EQ(Expectations(), 0u);
}

// A message from outside to the phone's external endpoint.
std::string Register(const std::string& contact_params,
                     const std::string& extra = "") {
  return "REGISTER sip:198.51.100.2 SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 10.77.0.2:5060;branch=z9hG4bKr1;rport\r\n"
         "Max-Forwards: 70\r\n"
         "From: <sip:alice@198.51.100.2>;tag=r1\r\n"
         "To: <sip:alice@198.51.100.2>\r\n"
         "Call-ID: reg1@10.77.0.2\r\n"
         "CSeq: 2 REGISTER\r\n"
         "Contact: <sip:alice@10.77.0.2:5060>" +
         contact_params + "\r\n" + extra + "Content-Length: 0\r\n\r\n";
}

class SipDialogTest : public SipTest {
 protected:
  // The registrar's 200 OK listing `contacts` (each a full Contact value).
  std::string RegisterOk(const std::vector<std::string>& contacts,
                         const std::string& extra = "") {
    std::string r =
        "SIP/2.0 200 OK\r\n"
        "Via: SIP/2.0/UDP 203.0.113.1:" +
        std::to_string(ext) + ";branch=z9hG4bKr1;rport=" + std::to_string(ext) +
        "\r\n"
        "From: <sip:alice@198.51.100.2>;tag=r1\r\n"
        "To: <sip:alice@198.51.100.2>;tag=r2\r\n"
        "Call-ID: reg1@10.77.0.2\r\n"
        "CSeq: 2 REGISTER\r\n";
    for (const std::string& c : contacts) r += "Contact: " + c + "\r\n";
    return r + extra + "Content-Length: 0\r\n\r\n";
  }
  std::string Ours(const std::string& params) {
    return "<sip:alice@203.0.113.1:" + std::to_string(ext) + ">" + params;
  }
  // An INVITE from the proxy to the phone as registered.
  Result InviteFromProxy() {
    const std::string inv =
        "INVITE sip:alice@203.0.113.1:" + std::to_string(ext) +
        " SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 198.51.100.2;branch=z9hG4bKp1\r\n"
        "From: <sip:bob@198.51.100.2>;tag=b1\r\n"
        "To: <sip:alice@198.51.100.2>\r\n"
        "Call-ID: in1@198.51.100.2\r\n"
        "CSeq: 1 INVITE\r\n"
        "Content-Length: 0\r\n\r\n";
    return RunOut(Udp(kProxy, 5060, "203.0.113.1", ext, inv));
  }
  // The peer's SDP (an answer or an offer) with its media at `addr`.
  static std::string PeerSdp(const std::string& addr, uint16_t port = 30000) {
    return "v=0\r\no=bob 2 2 IN IP4 " + addr + "\r\ns=-\r\nc=IN IP4 " + addr +
           "\r\nt=0 0\r\nm=audio " + std::to_string(port) + " RTP/AVP 0\r\n";
  }
  static std::string Response(int code, const std::string& method,
                              const std::string& call_id,
                              const std::string& body = "") {
    return "SIP/2.0 " + std::to_string(code) +
           " X\r\n"
           "Via: SIP/2.0/UDP 203.0.113.1;branch=z9hG4bK1\r\n"
           "Call-ID: " +
           call_id +
           "\r\n"
           "CSeq: 1 " +
           method + "\r\n" +
           (body.empty() ? "" : "Content-Type: application/sdp\r\n") +
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  }
  // RTP from `src` to our external port `port` reaches the phone.
  bool MediaReaches(const std::string& src, uint16_t port) {
    Result r = RunOut(Udp(src.c_str(), 30000, "203.0.113.1", port, "rtp"));
    return r.forwarded() && r.dport() >= 49170;
  }
  uint16_t OfferedPort(const Result& r) {
    const std::string out = r.data();
    sip::ParseError why;
    auto m = sip::Parse(out, false, &why);
    auto sdp = sip::ParseSdp(out, m->body);
    return sdp->media[0].port_value;
  }
};

TEST_F(SipDialogTest, ARegistrationHoldsThePathInForItsGrantedExpiry) {
  Send(Register(";expires=3600"));
  // The registrar grants less than asked, and lists another binding too.
  Result ok = Out(Udp(
      kProxy, 5060, "203.0.113.1", ext,
      RegisterOk({"<sip:alice@192.0.2.9>;expires=90", Ours(";expires=1800")})));
  EXPECT_NE(ok.data().find("Contact: <sip:alice@10.77.0.2:5060>;expires=1800"),
            std::string::npos)
      << "the phone sees its own binding: " << ok.data();
  EXPECT_EQ(helper.stats().registrations, 1u);
  const FlowInfo f = FlowOf(5060, kProtoUdp);
  EXPECT_EQ(f.held_until, now + (1800 + SipHelper::kRegistrationGraceS) * 1000);
  // Idle far past the UDP timeout (300 s), the proxy's INVITE still
  // reaches the phone.
  now += 1500 * 1000;
  Result inv = InviteFromProxy();
  ASSERT_TRUE(inv.forwarded()) << DropReasonName(inv.v.reason);
  EXPECT_EQ(inv.dport(), 5060);
  EXPECT_NE(inv.data().find("INVITE sip:alice@10.77.0.2:5060 SIP/2.0"),
            std::string::npos)
      << inv.data();
  // Past the registration (and then the flow's own timeout) it is gone.
  now += (1800 + SipHelper::kRegistrationGraceS + 301) * 1000;
  EXPECT_FALSE(InviteFromProxy().forwarded());
}

TEST_F(SipDialogTest, OneContactFieldListingEveryBindingOfTheAor) {
  // Another phone of the same user registered first: the registrar lists
  // both bindings in one field, ours second.
  Send(Register(""));
  Result ok = Out(Udp(kProxy, 5060, "203.0.113.1", ext,
                      RegisterOk({"<sip:alice@192.0.2.9>;expires=90, " +
                                  Ours(";expires=900")})));
  EXPECT_EQ(helper.stats().registrations, 1u);
  EXPECT_EQ(FlowOf(5060, kProtoUdp).held_until,
            now + (900 + SipHelper::kRegistrationGraceS) * 1000);
  EXPECT_NE(ok.data().find("<sip:alice@192.0.2.9>;expires=90, "
                           "<sip:alice@10.77.0.2:5060>;expires=900"),
            std::string::npos)
      << ok.data();
}

TEST_F(SipDialogTest, WithoutARegistrationTheIdlePathCloses) {
  Send(Register(""));
  Out(Udp(kProxy, 5060, "203.0.113.1", ext,
          RegisterOk({"<sip:alice@192.0.2.9>;expires=600"})));
  EXPECT_EQ(helper.stats().registrations, 0u) << "no binding names us";
  EXPECT_EQ(helper.stats().unregistrations, 0u) << "nothing was held";
  EXPECT_EQ(FlowOf(5060, kProtoUdp).held_until, 0u);
  now += 400 * 1000;
  EXPECT_FALSE(InviteFromProxy().forwarded());
}

TEST_F(SipDialogTest, TheExpiresHeaderAndADeRegister) {
  Send(Register("", "Expires: 120\r\n"));
  Out(Udp(kProxy, 5060, "203.0.113.1", ext,
          RegisterOk({Ours("")}, "Expires: 900\r\n")));
  EXPECT_EQ(FlowOf(5060, kProtoUdp).held_until,
            now + (900 + SipHelper::kRegistrationGraceS) * 1000);
  // A registrar granting more than unat allows is capped.
  Out(Udp(kProxy, 5060, "203.0.113.1", ext,
          RegisterOk({Ours(";expires=999999")})));
  EXPECT_EQ(FlowOf(5060, kProtoUdp).held_until,
            now + (7200 + SipHelper::kRegistrationGraceS) * 1000);
  // "Contact: *" with Expires: 0 releases the hold at once.
  std::string dereg = Register("", "Expires: 0\r\n");
  dereg.replace(dereg.find("<sip:alice@10.77.0.2:5060>"), 26, "*");
  Send(dereg);
  EXPECT_EQ(FlowOf(5060, kProtoUdp).held_until, 0u);
  EXPECT_EQ(helper.stats().unregistrations, 1u);
  now += 400 * 1000;
  EXPECT_FALSE(InviteFromProxy().forwarded());
  // expires=0 on the contact is a de-REGISTER too.
  Send(Register(""));
  Out(Udp(kProxy, 5060, "203.0.113.1", ext, RegisterOk({Ours(";expires=60")})));
  EXPECT_NE(FlowOf(5060, kProtoUdp).held_until, 0u);
  Send(Register(";expires=0"));
  EXPECT_EQ(FlowOf(5060, kProtoUdp).held_until, 0u);
  EXPECT_EQ(helper.stats().unregistrations, 2u);
}

TEST_F(SipDialogTest, AByeWithdrawsTheCallsMediaExpectations) {
  Result r = Send(Invite(Sdp()));
  const uint16_t rtp = OfferedPort(r);
  EXPECT_EQ(Expectations(), 2u);
  // A retransmitted INVITE expects nothing more and names the same ports.
  EXPECT_EQ(OfferedPort(Send(Invite(Sdp()))), rtp);
  EXPECT_EQ(Expectations(), 2u);
  EXPECT_EQ(helper.stats().dialogs, 1u);
  const std::string bye = "BYE sip:alice@203.0.113.1:" + std::to_string(ext) +
                          " SIP/2.0\r\n"
                          "Via: SIP/2.0/UDP 198.51.100.2;branch=z9hG4bKb\r\n"
                          "Call-ID: c1@10.77.0.20\r\n"
                          "CSeq: 2 BYE\r\n"
                          "Content-Length: 0\r\n\r\n";
  Out(Udp(kProxy, 5060, "203.0.113.1", ext, bye));
  EXPECT_EQ(Expectations(), 0u);
  EXPECT_EQ(helper.stats().dialogs_ended, 1u);
  EXPECT_EQ(helper.stats().media_withdrawn, 2u);
  EXPECT_FALSE(MediaReaches(kProxy, rtp)) << "the call is over";
}

TEST_F(SipDialogTest, AnAnsweredCallHoldsItsPathUntilItsBye) {
  // No registration: the call's own signalling flow. Answered, it stays
  // open through any silence (the hold is renewed by each message), so the
  // far end's BYE an hour later still reaches the phone.
  Send(Invite(Sdp()));
  EXPECT_EQ(FlowOf(5060, kProtoUdp).held_until, 0u) << "not answered yet";
  Out(Udp(kProxy, 5060, "203.0.113.1", ext,
          Response(200, "INVITE", "c1@10.77.0.20", PeerSdp(kProxy))));
  EXPECT_EQ(FlowOf(5060, kProtoUdp).held_until, now + 3600 * 1000);
  now += 3000 * 1000;
  const std::string bye = "BYE sip:alice@203.0.113.1:" + std::to_string(ext) +
                          " SIP/2.0\r\n"
                          "Via: SIP/2.0/UDP 198.51.100.2;branch=z9hG4bKb\r\n"
                          "Call-ID: c1@10.77.0.20\r\n"
                          "CSeq: 2 BYE\r\n"
                          "Content-Length: 0\r\n\r\n";
  Result r = RunOut(Udp(kProxy, 5060, "203.0.113.1", ext, bye));
  ASSERT_TRUE(r.forwarded()) << DropReasonName(r.v.reason);
  EXPECT_EQ(r.dport(), 5060);
  EXPECT_EQ(FlowOf(5060, kProtoUdp).held_until, 0u) << "the call is over";
  // A registration's hold outlives a call on the same path.
  Send(Register(""));
  Out(Udp(kProxy, 5060, "203.0.113.1", ext,
          RegisterOk({Ours(";expires=600")})));
  Send(Invite(Sdp()));
  Out(Udp(kProxy, 5060, "203.0.113.1", ext,
          Response(200, "INVITE", "c1@10.77.0.20", PeerSdp(kProxy))));
  EXPECT_EQ(FlowOf(5060, kProtoUdp).held_until, now + 3600 * 1000);
  Out(Udp(kProxy, 5060, "203.0.113.1", ext, bye));
  EXPECT_EQ(FlowOf(5060, kProtoUdp).held_until,
            now + (600 + SipHelper::kRegistrationGraceS) * 1000);
}

TEST_F(SipDialogTest, ARefusedInviteWithdrawsItsOffer) {
  Send(Invite(Sdp()));
  EXPECT_EQ(Expectations(), 2u);
  Out(Udp(kProxy, 5060, "203.0.113.1", ext,
          Response(180, "INVITE", "c1@10.77.0.20")));
  EXPECT_EQ(Expectations(), 2u) << "ringing";
  Out(Udp(kProxy, 5060, "203.0.113.1", ext,
          Response(486, "INVITE", "c1@10.77.0.20")));
  EXPECT_EQ(Expectations(), 0u) << "busy: no call";
}

TEST_F(SipDialogTest, TheAnswersMediaAddressIsAdmittedToo) {
  Result r = Send(Invite(Sdp()));
  const uint16_t rtp = OfferedPort(r);
  // The far end answers with media from a media server, not the proxy.
  Out(Udp(kProxy, 5060, "203.0.113.1", ext,
          Response(200, "INVITE", "c1@10.77.0.20", PeerSdp("192.0.2.50"))));
  EXPECT_EQ(helper.stats().media_remote, 1u);
  EXPECT_TRUE(MediaReaches("192.0.2.50", rtp));
  EXPECT_TRUE(MediaReaches("192.0.2.50", rtp + 1)) << "RTCP";
  EXPECT_FALSE(MediaReaches("192.0.2.51", rtp)) << "only the named address";
  // The confirmed call ends with its BYE, from the phone this time.
  std::string bye =
      "BYE sip:bob@198.51.100.2 SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 10.77.0.2:5060;branch=z9hG4bKb2\r\n"
      "Call-ID: c1@10.77.0.20\r\n"
      "CSeq: 2 BYE\r\n"
      "Content-Length: 0\r\n\r\n";
  Send(bye);
  EXPECT_EQ(helper.stats().dialogs_ended, 1u);
}

TEST_F(SipDialogTest, AnInboundCallsMediaComesFromTheCallersAddress) {
  // Registered; the proxy relays a call whose offer names the caller's
  // own media address. The phone's answer opens for it before the phone
  // sends a packet of media.
  Send(Register(""));
  const std::string offer = PeerSdp("192.0.2.60", 40000);
  const std::string inv =
      "INVITE sip:alice@203.0.113.1:" + std::to_string(ext) +
      " SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 198.51.100.2;branch=z9hG4bKp9\r\n"
      "Call-ID: in9@198.51.100.2\r\n"
      "CSeq: 1 INVITE\r\n"
      "Content-Type: application/sdp\r\n"
      "Content-Length: " +
      std::to_string(offer.size()) + "\r\n\r\n" + offer;
  Out(Udp(kProxy, 5060, "203.0.113.1", ext, inv));
  std::string answer = Response(200, "INVITE", "in9@198.51.100.2", Sdp());
  answer.replace(answer.find("203.0.113.1;branch"), 11, "198.51.100.2");
  Result r = Send(answer);
  const uint16_t rtp = OfferedPort(r);
  EXPECT_NE(rtp, 0);
  EXPECT_EQ(helper.stats().media_remote, 1u);
  EXPECT_TRUE(MediaReaches("192.0.2.60", rtp));
  EXPECT_TRUE(MediaReaches(kProxy, rtp + 1)) << "and the signalling peer";
}

TEST_F(SipDialogTest, AReInviteMovesTheMedia) {
  const uint16_t first = OfferedPort(Send(Invite(Sdp())));
  std::string sdp2 = Sdp();
  sdp2.replace(sdp2.find("49170"), 5, "49180");
  sdp2.replace(sdp2.find("49171"), 5, "49181");
  const uint16_t second = OfferedPort(Send(Invite(sdp2)));
  EXPECT_NE(first, second);
  EXPECT_EQ(Expectations(), 2u) << "the old stream's withdrawn";
  EXPECT_EQ(helper.stats().media_withdrawn, 2u);
  EXPECT_FALSE(MediaReaches(kProxy, first));
  EXPECT_TRUE(MediaReaches(kProxy, second));
}

TEST_F(SipDialogTest, TheDialogTableIsBounded) {
  for (size_t i = 0; i < SipHelper::kMaxDialogs + 3; ++i) {
    std::string inv = Invite(Sdp());
    inv.replace(inv.find("c1@"), 3, "c" + std::to_string(i + 10) + "@");
    std::string sdp = Sdp();
    const std::string port = std::to_string(20000 + 2 * i);
    const std::string rtcp = std::to_string(20001 + 2 * i);
    inv.replace(inv.find("49170"), 5, port);
    inv.replace(inv.find("49171"), 5, rtcp);
    Send(inv);
  }
  EXPECT_EQ(helper.stats().dialogs, SipHelper::kMaxDialogs + 3);
  EXPECT_EQ(helper.stats().dialogs_evicted, 3u);
  EXPECT_EQ(Expectations(), 2 * SipHelper::kMaxDialogs)
      << "the forgotten calls' expectations went with them";
}

// SIP over TCP: the phone's connection to its proxy, messages framed by
// Content-Length, several in a segment or one cut by a segment's end.
class SipTcpTest : public SipTest {
 protected:
  void SetUp() override {
    SipTest::SetUp();
    ASSERT_TRUE(nat->RegisterPacketHelper(kProtoTcp, 5060, &helper).ok());
    Result syn = In(Tcp(kPhone, 40000, kProxy, 5060, TCP::SYN, pseq - 1));
    ext = syn.sport();
    Out(Tcp(kProxy, 5060, "203.0.113.1", ext, TCP::SYN | TCP::ACK, xseq - 1,
            pseq));
    In(Tcp(kPhone, 40000, kProxy, 5060, TCP::ACK, pseq, xseq));
  }
  // The phone sends one segment at its next sequence number (or `seq`);
  // what reaches the proxy (the segment, or those the engine cut it into,
  // or nothing while a message's start is held) is added to `out`.
  Result Say(const std::string& bytes, std::optional<uint32_t> seq = {}) {
    sink.packets.clear();
    Result r = RunIn(Tcp(kPhone, 40000, kProxy, 5060, TCP::ACK | TCP::PSH,
                         seq.value_or(pseq), xseq, bytes));
    if (!seq) {
      pseq += static_cast<uint32_t>(bytes.size());
      if (r.forwarded()) out += r.data();
      for (const auto& [side, p] : sink.packets) {
        Result piece{Verdict::Forward(side, 0), p};
        EXPECT_TRUE(ChecksumsValid(p));
        out += piece.data();
      }
    }
    return r;
  }
  // Whether a message still names the phone where it should name us (the
  // Call-ID may keep it).
  static bool NamesThePhone(const std::string& m) {
    for (const char* f :
         {"IP4 10.77.0.2", "TCP 10.77.0.2", "@10.77.0.2>", "<sip:10.77.0.2"}) {
      if (m.find(f) != std::string::npos) return true;
    }
    return false;
  }
  // The segment went on (as it was, or cut into several by the engine).
  // Bytes went on (whole, or cut into segments by the engine).
  static bool Went(const Result& r) {
    return (r.forwarded() && !r.data().empty()) ||
           r.v.action == Verdict::kConsumed;
  }
  // All its bytes held: it went on empty, before the proxy's next byte
  // (so the proxy answers it with an ACK covering them).
  bool Held(const Result& r) {
    return r.forwarded() && r.data().empty() &&
           static_cast<int32_t>(r.seq() - (1000 + out.size())) < 0;
  }
  // The proxy sends one segment on the connection, acknowledging what it
  // has received of the phone's.
  Result Hear(const std::string& msg) {
    Result r = Out(Tcp(kProxy, 5060, "203.0.113.1", ext, TCP::ACK | TCP::PSH,
                       xseq, 1000 + static_cast<uint32_t>(out.size()), msg));
    xseq += static_cast<uint32_t>(msg.size());
    return r;
  }
  // The registrar's 200 OK over TCP to the REGISTER (Register()), its Via
  // and the phone's binding at our port `port`, the binding's parameters
  // after the URI's host:port.
  static std::string RegisterOkAt(uint16_t port, const std::string& uri_params,
                                  const std::string& expires) {
    const std::string at = "203.0.113.1:" + std::to_string(port);
    return "SIP/2.0 200 OK\r\n"
           "Via: SIP/2.0/TCP " +
           at +
           ";branch=z9hG4bKr1\r\n"
           "Call-ID: reg1@10.77.0.2\r\n"
           "CSeq: 2 REGISTER\r\n"
           "Contact: <sip:alice@" +
           at + uri_params + ">;expires=" + expires +
           "\r\n"
           "Content-Length: 0\r\n\r\n";
  }
  static std::string Tcpify(std::string msg) {
    msg.replace(msg.find("SIP/2.0/UDP"), 11, "SIP/2.0/TCP");
    return msg;
  }
  // Every message the proxy got, parsed in order; false if the stream
  // does not frame.
  bool Messages(std::vector<std::string>* got) {
    size_t pos = 0;
    while (pos < out.size()) {
      if (out[pos] == '\r' || out[pos] == '\n') {
        ++pos;  // keep-alives
        continue;
      }
      sip::ParseError why;
      auto m = sip::Parse(std::string_view(out).substr(pos), true, &why);
      if (!m) return false;
      got->push_back(out.substr(pos, m->length));
      pos += m->length;
    }
    return true;
  }
  uint32_t pseq = 1000, xseq = 9000;
  std::string out;  // the stream as the proxy received it
};

TEST_F(SipTcpTest, MessagesInOneSegmentAreEachRewritten) {
  const std::string inv = Tcpify(Invite(Sdp(), 40000));
  Result r = Say(inv + "\r\n\r\n" + inv);
  ASSERT_TRUE(r.forwarded());
  std::vector<std::string> got;
  ASSERT_TRUE(Messages(&got)) << out;
  ASSERT_EQ(got.size(), 2u) << out;
  const std::string e = "203.0.113.1:" + std::to_string(ext);
  for (const std::string& m : got) {
    EXPECT_NE(m.find("Via: SIP/2.0/TCP " + e + ";branch"), std::string::npos)
        << m;
    EXPECT_NE(m.find("Contact: <sip:alice@" + e + ">"), std::string::npos);
    EXPECT_EQ(m.find("10.77.0.2\r"), std::string::npos) << m;
  }
  EXPECT_EQ(helper.stats().messages, 2u);
  EXPECT_EQ(Expectations(), 2u) << "one call, the same media";
  // The proxy's answer on the same connection: its Via goes back, and the
  // ACK the engine gives the phone covers what it sent.
  const std::string ok =
      "SIP/2.0 200 OK\r\n"
      "Via: SIP/2.0/TCP " +
      e +
      ";branch=z9hG4bK1\r\n"
      "Call-ID: c1@10.77.0.20\r\n"
      "CSeq: 1 INVITE\r\n"
      "Content-Length: 0\r\n\r\n";
  Result back = Hear(ok);
  EXPECT_NE(back.data().find("Via: SIP/2.0/TCP 10.77.0.2:40000;branch"),
            std::string::npos)
      << back.data();
  EXPECT_EQ(back.ack(), pseq) << "the phone's own sequence space";
}

// A message a segment's end cuts is held until its rest comes and then
// rewritten whole: in the header section and in the body, over two segments
// and over three, with messages before and after it.
TEST_F(SipTcpTest, AMessageCutBySegmentsIsReassembledAndRewrittenWhole) {
  const std::string inv = Tcpify(Invite(Sdp(), 40000));
  const std::string reg = Tcpify(Register(""));
  // [INVITE][first half of a REGISTER] then [its rest][INVITE].
  const size_t cut = reg.size() / 2;
  ASSERT_TRUE(Say(inv + reg.substr(0, cut)).forwarded());
  EXPECT_EQ(helper.stats().tcp.held, 1u);
  ASSERT_TRUE(Went(Say(reg.substr(cut) + inv)));
  // A cut in the header section, and an INVITE over three segments (the
  // first two carry nothing on, its body cut too).
  EXPECT_TRUE(Held(Say(inv.substr(0, 40))));
  EXPECT_TRUE(Held(Say(inv.substr(40, inv.size() - 100))));
  ASSERT_TRUE(Say(inv.substr(inv.size() - 60)).forwarded());
  EXPECT_EQ(helper.stats().tcp.held, 3u);
  EXPECT_EQ(helper.stats().tcp.reassembled, 2u);
  EXPECT_EQ(helper.stats().tcp.split_unedited, 0u);
  std::vector<std::string> got;
  ASSERT_TRUE(Messages(&got)) << out;
  ASSERT_EQ(got.size(), 4u);
  for (const std::string& m : got) EXPECT_FALSE(NamesThePhone(m)) << m;
  EXPECT_EQ(got[0], got[2]) << "INVITEs rewritten alike";
  EXPECT_EQ(got[0], got[3]) << "the reassembled INVITE as a whole one";
  EXPECT_NE(got[1].find("Via: SIP/2.0/TCP 203.0.113.1:"), std::string::npos)
      << got[1];
  // The proxy's ACK of all it got acknowledges all the phone sent: the
  // held bytes went on with the segments after them.
  EXPECT_EQ(Hear("").ack(), pseq);
  // And while a start is held, the ACK of what the proxy has covers it:
  // the helper, not the phone, now owes it.
  EXPECT_TRUE(Held(Say(inv.substr(0, 100))));
  EXPECT_EQ(Hear("").ack(), pseq);
  ASSERT_TRUE(Say(inv.substr(100)).forwarded());
  EXPECT_EQ(Hear("").ack(), pseq);
}

// Retransmissions of a recent segment that held bytes or gave them back go
// out as they did, at the same place.
TEST_F(SipTcpTest, RecentSegmentsSentAgainGoOutAsTheyDid) {
  const std::string inv = Tcpify(Invite(Sdp(), 40000));
  const std::string reg = Tcpify(Register(""));
  const uint32_t first_at = pseq;
  Result first = Say(inv + reg.substr(0, 30));
  const uint32_t second_at = pseq;
  const std::string second = reg.substr(30) + inv.substr(0, 50);
  Result completes = Say(second);
  ASSERT_TRUE(completes.forwarded());
  const uint32_t third_at = pseq;
  Result last = Say(inv.substr(50));
  ASSERT_TRUE(last.forwarded());
  // The call's RTP and RTCP, the REGISTER's listening port.
  const uint32_t expected = Expectations();
  EXPECT_EQ(expected, 3u);
  const uint64_t retransmits = helper.stats().tcp.retransmits;
  for (int round = 0; round < 2; ++round) {
    Result again = Say(inv + reg.substr(0, 30), first_at);
    EXPECT_EQ(again.data(), first.data());
    EXPECT_EQ(again.seq(), first.seq());
    again = Say(second, second_at);
    ASSERT_TRUE(again.forwarded());
    EXPECT_EQ(again.data(), completes.data());
    EXPECT_EQ(again.seq(), completes.seq());
    again = Say(inv.substr(50), third_at);
    EXPECT_EQ(again.data(), last.data());
    EXPECT_EQ(again.seq(), last.seq());
  }
  EXPECT_EQ(helper.stats().tcp.retransmits, retransmits + 6);
  EXPECT_EQ(Expectations(), expected) << "the same offers expect no more";
  std::vector<std::string> got;
  ASSERT_TRUE(Messages(&got)) << out;
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], got[2]);
  // The stream goes on in step.
  ASSERT_TRUE(Say(reg).forwarded());
  got.clear();
  ASSERT_TRUE(Messages(&got)) << out;
  EXPECT_EQ(got.size(), 4u);
}

// A reassembled message longer than its sender's segments goes out cut
// back to their size, in order; one longer than kMaxHeld passes unedited
// with the stream kept in step.
TEST_F(SipTcpTest, LongMessagesAreCutToTheSendersSegmentsOrPassed) {
  std::string inv = Tcpify(Invite(Sdp(), 40000));
  // Headers that name the phone make the message grow when rewritten.
  std::string extra;
  while (extra.size() < 1200) {
    extra += "Record-Route: <sip:10.77.0.2;lr>\r\n";
  }
  inv.insert(inv.find("Call-ID:"), extra);
  ASSERT_GT(inv.size(), 1400u);
  const uint32_t start = pseq;
  EXPECT_TRUE(Held(Say(inv.substr(0, 1000))));
  Result r = Say(inv.substr(1000));
  EXPECT_EQ(r.v.action, Verdict::kConsumed);
  ASSERT_GE(sink.packets.size(), 2u);
  uint32_t next = 0;
  for (const auto& [side, p] : sink.packets) {
    EXPECT_EQ(side, Side::kOutside);
    Result piece{Verdict::Forward(side, 0), p};
    EXPECT_LE(piece.data().size(), 1000u);
    if (next != 0) {
      EXPECT_EQ(piece.seq(), next);
    } else {
      EXPECT_EQ(piece.seq(), start);
    }
    next = piece.seq() + static_cast<uint32_t>(piece.data().size());
  }
  EXPECT_GE(nat->GetStats().segments_created, 2u);
  std::vector<std::string> got;
  ASSERT_TRUE(Messages(&got)) << out;
  ASSERT_EQ(got.size(), 1u);
  EXPECT_FALSE(NamesThePhone(got[0])) << got[0];
  EXPECT_EQ(Hear("").ack(), pseq);
  // Past kMaxHeld: passed as it is.
  std::string big = Tcpify(Invite(Sdp(), 40000));
  big.insert(big.find("Call-ID:"),
             "X-Pad: " + std::string(2 * SipHelper::kMaxHeld, 'p') + "\r\n");
  // Its start is held until its header section outgrows kMaxHeld.
  for (size_t at = 0; at < big.size(); at += 1000) {
    const bool went = Went(Say(big.substr(at, 1000)));
    EXPECT_EQ(went, at + 1000 > SipHelper::kMaxHeld) << at;
  }
  ASSERT_TRUE(Went(Say(inv)));
  EXPECT_EQ(helper.stats().tcp.split_unedited, 1u);
  got.clear();
  ASSERT_TRUE(Messages(&got)) << out;
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[1], big);
  EXPECT_EQ(got[2], got[0]);
}

TEST_F(SipTcpTest, RetransmissionsGapsAndOverlaps) {
  const std::string inv = Tcpify(Invite(Sdp(), 40000));
  const uint32_t at = pseq;
  Result first = Say(inv);
  // The same segment again: the same bytes at the same place.
  Result again = Say(inv, at);
  ASSERT_TRUE(again.forwarded());
  EXPECT_EQ(again.data(), first.data());
  EXPECT_EQ(again.seq(), first.seq());
  EXPECT_EQ(helper.stats().tcp.retransmits, 1u);
  EXPECT_EQ(Expectations(), 2u);
  // Ahead of the stream: dropped until the gap is filled.
  Result ahead = RunIn(Tcp(kPhone, 40000, kProxy, 5060, TCP::ACK | TCP::PSH,
                           pseq + 10, xseq, inv));
  EXPECT_FALSE(ahead.forwarded());
  EXPECT_EQ(helper.stats().tcp.gap_drops, 1u);
  // Old bytes with new ones after them from mid-message: on empty, before
  // the proxy's next byte (its ACK moves the phone on to send the new
  // bytes again, alone).
  Say(inv);
  Result mixed = RunIn(Tcp(kPhone, 40000, kProxy, 5060, TCP::ACK | TCP::PSH,
                           pseq - 10, xseq, inv.substr(0, 30)));
  EXPECT_TRUE(Held(mixed));
  EXPECT_EQ(helper.stats().tcp.unsafe_drops, 1u);
  // Only old bytes: passed as they are.
  Result old = Say(inv.substr(0, 20), at + 5);
  EXPECT_TRUE(old.forwarded());
  EXPECT_EQ(helper.stats().tcp.old_passed, 1u);
}

TEST_F(SipTcpTest, ARegistrationOverTcpHoldsTheConnection) {
  Say(Tcpify(Register(";expires=600")));
  Hear(RegisterOkAt(ext, "", "600"));
  EXPECT_EQ(helper.stats().registrations, 1u);
  EXPECT_NE(FlowOf(40000, kProtoTcp).held_until, 0u);
}

TEST_F(SipTcpTest, TheListeningPortAPhoneNamesGetsAPortOfItsOwn) {
  // The phone connects from 40000 but listens on 5060, as its Via and
  // Contact say: the peer's own connections (a BYE, an INVITE) go there.
  Result r = Say(Tcpify(Invite(Sdp())));
  const std::string data = r.data();
  const size_t at = data.find("Contact: <sip:alice@203.0.113.1:");
  ASSERT_NE(at, std::string::npos) << data;
  const uint16_t listen = static_cast<uint16_t>(std::stoi(data.substr(
      at + std::string_view("Contact: <sip:alice@203.0.113.1:").size())));
  EXPECT_NE(listen, ext);
  EXPECT_NE(data.find("Via: SIP/2.0/TCP 203.0.113.1:" + std::to_string(listen)),
            std::string::npos)
      << data;
  EXPECT_EQ(helper.stats().listening_ports, 1u);
  EXPECT_EQ(Expectations(), 3u) << "RTP, RTCP and the listening port";
  // A second message reuses it.
  Say(Tcpify(Register("")));
  EXPECT_EQ(helper.stats().listening_ports, 1u);
  // The proxy connects to it: the phone's port 5060, with the helper on.
  Result syn = Out(Tcp(kProxy, 41000, "203.0.113.1", listen, TCP::SYN, 77));
  EXPECT_EQ(syn.dport(), 5060);
  EXPECT_EQ(FlowOf(5060, kProtoTcp).helper, "sip");
  // The registrar's answer names the listening port: back to 5060.
  Result back = Hear(RegisterOkAt(listen, ";transport=tcp", "300"));
  EXPECT_NE(back.data().find("Contact: <sip:alice@10.77.0.2:5060;transport"),
            std::string::npos)
      << back.data();
  EXPECT_NE(back.data().find("Via: SIP/2.0/TCP 10.77.0.2:5060;branch"),
            std::string::npos);
  EXPECT_EQ(helper.stats().registrations, 1u);
  // Registered, the phone's listening port is expected anew for the
  // registration (300 s + 32), past the media timeout: the registrar's
  // next connection, after the first took the last expectation, gets in.
  EXPECT_EQ(helper.stats().listening_ports, 2u);
  now += 320 * 1000;
  Result again =
      RunOut(Tcp(kProxy, 41001, "203.0.113.1", listen, TCP::SYN, 99));
  ASSERT_TRUE(again.forwarded()) << DropReasonName(again.v.reason);
  EXPECT_EQ(again.dport(), 5060);
}

}  // namespace
}  // namespace unat::helpers::testing
