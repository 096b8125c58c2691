// SIP/SDP parsing on its own (helpers/sip_message.h): start lines, compact
// and folded headers, Content-Length over UDP and TCP, URIs and Via
// sent-by, SDP addresses and ports, whole-token address matching.
#include "helpers/sip_message.h"

#include <gtest/gtest.h>

#include <string>

namespace unat::helpers::sip {
namespace {

const std::string kSdp =
    "v=0\r\n"
    "o=alice 2890844526 2890844526 IN IP4 10.77.0.2\r\n"
    "s=-\r\n"
    "c=IN IP4 10.77.0.2\r\n"
    "t=0 0\r\n"
    "m=audio 49170 RTP/AVP 0 8\r\n"
    "a=rtcp:49171 IN IP4 10.77.0.2\r\n"
    "m=video 51372/2 RTP/AVP 31\r\n"
    "c=IN IP4 10.77.0.20/127\r\n"
    "a=sendonly\r\n";

std::string Invite(const std::string& body = kSdp, bool compact = false) {
  std::string h =
      "INVITE sip:bob@198.51.100.2 SIP/2.0\r\n" +
      std::string(compact ? "v" : "Via") +
      ": SIP/2.0/UDP 10.77.0.2:5060;branch=z9hG4bK776asdhds;rport\r\n"
      "Max-Forwards: 70\r\n" +
      std::string(compact ? "t" : "To") + ": Bob <sip:bob@198.51.100.2>\r\n" +
      std::string(compact ? "f" : "From") +
      ": Alice <sip:alice@10.77.0.2>;tag=1928301774\r\n" +
      std::string(compact ? "i" : "Call-ID") +
      ": a84b4c76e66710@10.77.0.2\r\n"
      "CSeq: 314159 INVITE\r\n" +
      std::string(compact ? "m" : "Contact") +
      ": <sip:alice@10.77.0.2:5060>\r\n" +
      std::string(compact ? "c" : "Content-Type") + ": application/sdp\r\n" +
      std::string(compact ? "l" : "Content-Length") + ": " +
      std::to_string(body.size()) + "\r\n\r\n";
  return h + body;
}

TEST(SipMessage, ARequestWithItsHeadersAndBody) {
  const std::string t = Invite();
  ParseError why;
  auto m = Parse(t, /*stream=*/false, &why);
  ASSERT_TRUE(m) << ParseErrorName(why);
  EXPECT_TRUE(m->request);
  EXPECT_EQ(m->method.of(t), "INVITE");
  EXPECT_EQ(m->request_uri.of(t), "sip:bob@198.51.100.2");
  EXPECT_EQ(m->body.of(t), kSdp);
  EXPECT_EQ(m->length, t.size());
  ASSERT_NE(m->Find(HeaderKind::kVia), nullptr);
  EXPECT_EQ(m->Find(HeaderKind::kVia)->value.of(t),
            "SIP/2.0/UDP 10.77.0.2:5060;branch=z9hG4bK776asdhds;rport");
  EXPECT_EQ(m->Find(HeaderKind::kContact)->value.of(t),
            "<sip:alice@10.77.0.2:5060>");
  EXPECT_EQ(m->Find(HeaderKind::kOther)->name.of(t), "Max-Forwards");
}

TEST(SipMessage, CompactFormsAreTheSameHeaders) {
  const std::string t = Invite(kSdp, /*compact=*/true);
  ParseError why;
  auto m = Parse(t, false, &why);
  ASSERT_TRUE(m) << ParseErrorName(why);
  for (HeaderKind k : {HeaderKind::kVia, HeaderKind::kTo, HeaderKind::kFrom,
                       HeaderKind::kCallId, HeaderKind::kContact,
                       HeaderKind::kContentType, HeaderKind::kContentLength}) {
    EXPECT_NE(m->Find(k), nullptr) << static_cast<int>(k);
  }
  EXPECT_EQ(m->Find(HeaderKind::kContact)->name.of(t), "m");
  EXPECT_EQ(m->body.of(t), kSdp);
  EXPECT_EQ(KindOf("CONTENT-length"), HeaderKind::kContentLength);
  EXPECT_EQ(KindOf("x"), HeaderKind::kOther);
}

TEST(SipMessage, AResponseAndFoldedHeaders) {
  const std::string t =
      "SIP/2.0 200 OK\r\n"
      "Via: SIP/2.0/UDP 10.77.0.2:5060\r\n"
      "  ;branch=z9hG4bK1\r\n"
      "Content-Length: 0\r\n\r\n";
  ParseError why;
  auto m = Parse(t, true, &why);
  ASSERT_TRUE(m) << ParseErrorName(why);
  EXPECT_FALSE(m->request);
  EXPECT_EQ(m->status, 200);
  const std::string_view via = m->Find(HeaderKind::kVia)->value.of(t);
  EXPECT_EQ(via.substr(0, 26), "SIP/2.0/UDP 10.77.0.2:5060");
  EXPECT_NE(via.find("branch=z9hG4bK1"), std::string_view::npos);
  EXPECT_EQ(m->length, t.size());
}

TEST(SipMessage, ContentLengthOnAStreamFramesTheMessage) {
  const std::string one = Invite();
  const std::string two = one + "OPTIONS sip:x@1.2.3.4 SIP/2.0\r\nl: 0\r\n\r\n";
  ParseError why;
  auto m = Parse(two, /*stream=*/true, &why);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->length, one.size()) << "the next message is not its body";
  auto next = Parse(std::string_view(two).substr(m->length), true, &why);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->method.of(two.substr(m->length)), "OPTIONS");
  // Cut anywhere before its end, a stream message is incomplete.
  for (size_t cut : {size_t{5}, one.find("\r\n\r\n") + 2, one.size() - 1}) {
    EXPECT_FALSE(Parse(one.substr(0, cut), true, &why)) << cut;
    EXPECT_EQ(why, ParseError::kIncomplete) << cut;
  }
  // On a stream Content-Length is required (RFC 3261 18.3).
  EXPECT_FALSE(
      Parse("BYE sip:x@1.2.3.4 SIP/2.0\r\nVia: a\r\n\r\n", true, &why));
  EXPECT_EQ(why, ParseError::kBadLength);
}

TEST(SipMessage, UdpBodyIsTheRestWithoutContentLength) {
  const std::string t = "MESSAGE sip:x@1.2.3.4 SIP/2.0\r\nVia: a\r\n\r\nhello";
  ParseError why;
  auto m = Parse(t, false, &why);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->body.of(t), "hello");
  EXPECT_FALSE(m->has_content_length);
  // A Content-Length past the datagram is an error over UDP.
  EXPECT_FALSE(
      Parse("MESSAGE sip:x@1.2.3.4 SIP/2.0\r\nl: 9\r\n\r\nhello", false, &why));
  EXPECT_EQ(why, ParseError::kBadLength);
}

TEST(SipMessage, MalformedMessagesAreRefusedWithAReason) {
  struct Case {
    std::string text;
    ParseError want;
  };
  const Case cases[] = {
      {"HELLO\r\n\r\n", ParseError::kBadStartLine},
      {"INVITE sip:x SIP/3.0\r\n\r\n", ParseError::kBadStartLine},
      {"SIP/2.0 2x0 OK\r\n\r\n", ParseError::kBadStartLine},
      {"SIP/2.0 099 Low\r\n\r\n", ParseError::kBadStartLine},
      {"INV@TE sip:x SIP/2.0\r\n\r\n", ParseError::kBadStartLine},
      {"INVITE sip:x SIP/2.0\r\nNoColon\r\n\r\n", ParseError::kBadHeader},
      {"INVITE sip:x SIP/2.0\r\n: empty\r\n\r\n", ParseError::kBadHeader},
      {"INVITE sip:x SIP/2.0\r\n folded-first\r\n\r\n", ParseError::kBadHeader},
      {"INVITE sip:x SIP/2.0\r\nl: ten\r\n\r\n", ParseError::kBadLength},
      {"INVITE sip:x SIP/2.0\r\nl: 1\r\nl: 2\r\n\r\nab",
       ParseError::kBadLength},
      {"INVITE sip:x SIP/2.0\r\nl: 99999999\r\n\r\n", ParseError::kBadLength},
      {"INVITE sip:x SIP/2.0\r\nVia: a\r\n", ParseError::kIncomplete},
  };
  for (const Case& c : cases) {
    ParseError why = ParseError::kNone;
    EXPECT_FALSE(Parse(c.text, false, &why)) << c.text;
    EXPECT_EQ(why, c.want) << c.text << ": " << ParseErrorName(why);
  }
  std::string many = "INVITE sip:x SIP/2.0\r\n";
  for (size_t i = 0; i <= kMaxHeaders; ++i) many += "X: y\r\n";
  ParseError why;
  EXPECT_FALSE(Parse(many + "\r\n", false, &why));
  EXPECT_EQ(why, ParseError::kTooLarge);
}

TEST(SipMessage, AddressesMatchAsWholeTokensOnly) {
  const std::string t =
      "a 10.0.0.1 b 10.0.0.10 c 110.0.0.1 d 10.0.0.1:5060 e @10.0.0.1> "
      "f 10.0.0.1.example.com g x10.0.0.1 h [10.0.0.1]";
  EXPECT_EQ(FindAddress(t, "10.0.0.1", 0, t.size()),
            (std::vector<size_t>{
                t.find("a 10.0.0.1") + 2, t.find("d 10.0.0.1") + 2,
                t.find("@10.0.0.1>") + 1, t.find("[10.0.0.1]") + 1}));
  EXPECT_TRUE(FindAddress(t, "10.0.0.1", 0, 8).empty()) << "range honoured";
}

TEST(SipMessage, UriAndViaHostAndPort) {
  auto check = [](const std::string& value, const char* host, const char* port,
                  bool via = false) {
    const std::string t = "X: " + value;
    const Span v{3, value.size()};
    auto hp = via ? ViaSentBy(t, v) : UriHostPort(t, v);
    ASSERT_TRUE(hp) << value;
    EXPECT_EQ(hp->host.of(t), host) << value;
    EXPECT_EQ(hp->port.of(t), port) << value;
  };
  check("<sip:alice@10.77.0.2:5060>", "10.77.0.2", "5060");
  check("Alice <sip:alice@10.77.0.2>;tag=1", "10.77.0.2", "");
  check("sip:10.77.0.2;transport=tcp", "10.77.0.2", "");
  check("<sips:bob:secret@example.com:5061;lr>", "example.com", "5061");
  check("\"a@b\" <sip:alice@10.77.0.2:5070>", "10.77.0.2", "5070");
  check("SIP/2.0/UDP 10.77.0.2:5060;branch=z9hG4bK1;rport", "10.77.0.2", "5060",
        true);
  check("SIP / 2.0 / TCP  10.77.0.2 ;branch=z9", "10.77.0.2", "", true);
  const std::string bad = "X: <tel:+1234>";
  EXPECT_FALSE(UriHostPort(bad, {3, bad.size() - 3}));
  const std::string bad_port = "X: sip:a@1.2.3.4:99999";
  EXPECT_FALSE(UriHostPort(bad_port, {3, bad_port.size() - 3}));
}

TEST(SipMessage, SdpAddressesAndPorts) {
  const std::string t = Invite();
  ParseError why;
  auto m = Parse(t, false, &why);
  ASSERT_TRUE(m);
  auto sdp = ParseSdp(t, m->body);
  ASSERT_TRUE(sdp);
  EXPECT_EQ(sdp->origin_addr.of(t), "10.77.0.2");
  EXPECT_EQ(sdp->connection_addr.of(t), "10.77.0.2");
  ASSERT_EQ(sdp->media.size(), 2u);
  EXPECT_EQ(sdp->media[0].media.of(t), "audio");
  EXPECT_EQ(sdp->media[0].port_value, 49170);
  EXPECT_EQ(sdp->media[0].rtcp_port_value, 49171);
  EXPECT_EQ(sdp->media[0].rtcp_addr.of(t), "10.77.0.2");
  EXPECT_EQ(sdp->media[1].port.of(t), "51372") << "without its /2";
  EXPECT_EQ(sdp->media[1].connection_addr.of(t), "10.77.0.20")
      << "media-level c=, without its /ttl";
  // Hold: 0.0.0.0 is an address like any other here; LF-only lines parse.
  const std::string hold = "v=0\nc=IN IP4 0.0.0.0\nm=audio 0 RTP/AVP 0\n";
  auto h = ParseSdp(hold, {0, hold.size()});
  ASSERT_TRUE(h);
  EXPECT_EQ(h->connection_addr.of(hold), "0.0.0.0");
  EXPECT_EQ(h->media[0].port_value, 0);
  EXPECT_FALSE(ParseSdp("hello", {0, 5}));
  const std::string v6 = "v=0\r\nc=IN IP6 ::1\r\nm=audio 4000 RTP/AVP 0\r\n";
  auto six = ParseSdp(v6, {0, v6.size()});
  ASSERT_TRUE(six);
  EXPECT_EQ(six->connection_addr.length, 0u) << "not IPv4: not ours";
}

TEST(SipMessage, CSeqMethodsAndExpiries) {
  auto whole = [](std::string_view t) { return Span{0, t.size()}; };
  EXPECT_EQ(CSeqMethod("314159 INVITE", whole("314159 INVITE")), "INVITE");
  EXPECT_EQ(CSeqMethod("2\tREGISTER", whole("2\tREGISTER")), "REGISTER");
  for (std::string_view bad : {"INVITE", "1", "x 1 INVITE", "1 INVITE x", ""}) {
    EXPECT_EQ(CSeqMethod(bad, whole(bad)), "") << bad;
  }
  EXPECT_EQ(DeltaSeconds("3600"), 3600u);
  EXPECT_EQ(DeltaSeconds("99999999999"), 0xffffffffu) << "capped";
  EXPECT_EQ(DeltaSeconds("-1"), std::nullopt);
  EXPECT_EQ(DeltaSeconds(""), std::nullopt);
  struct Case {
    std::string_view value;
    std::optional<uint32_t> want;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"<sip:a@10.0.0.1:5060>;expires=600", 600},
           {"\"A;expires=5\" <sip:a@h;expires=7>;q=0.5; Expires = 60", 60},
           {"sip:a@h;expires=30", 30},
           {"<sip:a@h>", std::nullopt},
           {"<sip:a@h;expires=9>", std::nullopt},
           {"<sip:a@h>, <sip:b@h>;expires=5", std::nullopt},
           {"<sip:a@h>;expires=x", std::nullopt},
           {"*", std::nullopt},
       }) {
    EXPECT_EQ(ContactExpires(c.value, whole(c.value)), c.want) << c.value;
  }
}

TEST(SipMessage, HeaderValuesSplitAtCommasOutsideQuotesAndBrackets) {
  const std::string_view v =
      "\"Doe, J\" <sip:a@h;x=1,2>;q=0.5 ,sip:b@h2, , <sip:c@h3>";
  std::vector<std::string_view> got;
  for (const Span& s : Values(v, Span{0, v.size()})) got.push_back(s.of(v));
  EXPECT_EQ(got,
            (std::vector<std::string_view>{"\"Doe, J\" <sip:a@h;x=1,2>;q=0.5",
                                           "sip:b@h2", "<sip:c@h3>"}));
  EXPECT_TRUE(Values(" ", Span{0, 1}).empty());
}

}  // namespace
}  // namespace unat::helpers::sip
