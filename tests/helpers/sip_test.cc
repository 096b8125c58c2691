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

TEST_F(SipTest, AnotherHostsAddressIsLeftAlone) {
  const std::string sdp = Sdp("10.77.0.20");
  Result r = Send(Invite(sdp));
  EXPECT_NE(r.data().find(sdp), std::string::npos) << "SDP untouched";
  EXPECT_EQ(Expectations(), 0u);
}

}  // namespace
}  // namespace unat::helpers::testing
