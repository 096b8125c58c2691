// IRC DCC helper: SEND/CHAT offers from inside rewritten to the external
// endpoint, RESUME/ACCEPT ports translated, the peer admitted once.
#include "helpers/irc.h"

#include "tests/helpers/fixture.h"

namespace unat::helpers::testing {
namespace {

constexpr const char* kClient = "10.77.0.2";
constexpr const char* kServer = "198.51.100.2";
const std::string kClientDec = std::to_string(0x0A4D0002u);  // 10.77.0.2
const std::string kExtDec = std::to_string(0xCB007101u);     // 203.0.113.1

class IrcTest : public HelperFixture {
 protected:
  void SetUp() override {
    HelperFixture::SetUp();
    ASSERT_TRUE(nat->RegisterPacketHelper(kProtoTcp, 6667, &irc).ok());
    auto syn = In(Tcp(kClient, 50000, kServer, 6667, TCP::SYN, 1000));
    ext = syn.sport();
    Out(Tcp(kServer, 6667, "203.0.113.1", ext, TCP::SYN | TCP::ACK, 9000,
            1001));
    In(Tcp(kClient, 50000, kServer, 6667, TCP::ACK, 1001, 9001));
  }
  Result Say(const std::string& line) {
    Result r = RunIn(Tcp(kClient, 50000, kServer, 6667, TCP::ACK | TCP::PSH,
                         cseq, 9001, line));
    if (r.forwarded()) cseq += static_cast<uint32_t>(line.size());
    return r;
  }
  Result Hear(const std::string& line) {
    Result r = RunOut(Tcp(kServer, 6667, "203.0.113.1", ext,
                          TCP::ACK | TCP::PSH, sseq, 1001, line));
    if (r.forwarded()) sseq += static_cast<uint32_t>(line.size());
    return r;
  }
  IrcHelper irc;
  uint16_t ext = 0;
  uint32_t cseq = 1001;
  uint32_t sseq = 9001;
};

// The port a rewritten "... <addr> <port>..." offer names.
uint16_t OfferedPort(const std::string& line, const std::string& addr) {
  const size_t at = line.find(addr + " ");
  if (at == std::string::npos) return 0;
  return static_cast<uint16_t>(std::stoul(line.substr(at + addr.size() + 1)));
}

TEST_F(IrcTest, DccSendRewrittenAndPeerAdmittedOnce) {
  const std::string line =
      "PRIVMSG bob :\x01"
      "DCC SEND file.bin " +
      kClientDec + " 5000 1048576\x01\r\n";
  auto r = Say(line);
  ASSERT_TRUE(r.forwarded());
  const uint16_t port = OfferedPort(r.data(), kExtDec);
  ASSERT_NE(port, 0) << r.data();
  EXPECT_EQ(r.data(),
            "PRIVMSG bob :\x01"
            "DCC SEND file.bin " +
                kExtDec + " " + std::to_string(port) + " 1048576\x01\r\n");
  EXPECT_EQ(irc.stats().send_rewrites, 1u);
  EXPECT_EQ(FlowOf(50000).expectations, 1u);
  // Any peer (its address is unknown to the NAT) connects, once.
  auto peer = Out(Tcp("192.0.2.50", 40000, "203.0.113.1", port, TCP::SYN));
  EXPECT_EQ(peer.dport(), 5000);
  EXPECT_EQ(
      RunOut(Tcp("192.0.2.51", 40000, "203.0.113.1", port, TCP::SYN)).v.action,
      Verdict::kDrop);
  // Later lines are shifted by the length change.
  const int32_t delta = static_cast<int32_t>(r.data().size() - line.size());
  auto next = Say("PING x\r\n");
  EXPECT_EQ(next.seq(), cseq - 8 + delta);
}

TEST_F(IrcTest, QuotedFilenameChatAndNotice) {
  auto r =
      Say("PRIVMSG bob :\x01"
          "DCC SEND \"my file.txt\" " +
          kClientDec + " 5001 10\x01\r\n");
  EXPECT_NE(OfferedPort(r.data(), kExtDec), 0) << r.data();
  auto c =
      Say("NOTICE bob :\x01"
          "DCC CHAT chat " +
          kClientDec + " 5002\x01\r\n");
  EXPECT_NE(OfferedPort(c.data(), kExtDec), 0) << c.data();
  EXPECT_EQ(irc.stats().chat_rewrites, 1u);
}

TEST_F(IrcTest, ResumeAndAcceptTranslatePorts) {
  auto r =
      Say("PRIVMSG bob :\x01"
          "DCC SEND f " +
          kClientDec + " 5003 4096\x01\r\n");
  const uint16_t port = OfferedPort(r.data(), kExtDec);
  ASSERT_NE(port, 0);
  // The peer asks to resume at the port it was told (the external one).
  auto resume = Hear(
      ":bob!b@h PRIVMSG alice :\x01"
      "DCC RESUME f " +
      std::to_string(port) + " 1024\x01\r\n");
  EXPECT_EQ(resume.data(),
            ":bob!b@h PRIVMSG alice :\x01"
            "DCC RESUME f 5003 1024\x01\r\n");
  // The inside sender accepts naming its own port.
  auto accept =
      Say("PRIVMSG bob :\x01"
          "DCC ACCEPT f 5003 1024\x01\r\n");
  EXPECT_EQ(accept.data(),
            "PRIVMSG bob :\x01"
            "DCC ACCEPT f " +
                std::to_string(port) + " 1024\x01\r\n");
  EXPECT_EQ(irc.stats().resume_rewrites, 1u);
  EXPECT_EQ(irc.stats().accept_rewrites, 1u);
}

TEST_F(IrcTest, ForeignAddressAndPlainTextLeftAlone) {
  const std::string foreign =
      "PRIVMSG bob :\x01"
      "DCC SEND f " +
      std::to_string(0x0A4D0014u) + " 5004 1\x01\r\n";
  EXPECT_EQ(Say(foreign).data(), foreign);
  EXPECT_EQ(irc.stats().foreign_address, 1u);
  const std::string plain = "PRIVMSG #c :I said DCC SEND once\r\n";
  EXPECT_EQ(Say(plain).data(), plain);
  const std::string join = "JOIN #c\r\n";
  EXPECT_EQ(Say(join).data(), join);
  EXPECT_EQ(Expectations(), 0u);
}

TEST_F(IrcTest, OffersFromOutsideAreNotRewritten) {
  const std::string offer =
      ":bob!b@h PRIVMSG alice :\x01"
      "DCC SEND f 3221226034 6000 10\x01\r\n";
  EXPECT_EQ(Hear(offer).data(), offer);
  EXPECT_EQ(Expectations(), 0u);
}

TEST_F(IrcTest, SplitOfferHeldUntilWhole) {
  const std::string line =
      "PRIVMSG bob :\x01"
      "DCC SEND f " +
      kClientDec + " 5005 1\x01\r\n";
  auto first = Say(line.substr(0, 20));
  EXPECT_EQ(first.v.action, Verdict::kDrop);
  EXPECT_EQ(irc.stream_stats().split_drops, 1u);
  // A plain chat line cut in two passes.
  auto a = Say("PRIVMSG #c :hello ");
  EXPECT_TRUE(a.forwarded());
  EXPECT_TRUE(Say("world\r\n").forwarded());
  EXPECT_EQ(irc.stream_stats().split_drops, 1u);
}

TEST_F(IrcTest, AnyRemoteExpectationIsShortLived) {
  Say("PRIVMSG bob :\x01"
      "DCC SEND f " +
      kClientDec + " 5006 1\x01\r\n");
  EXPECT_EQ(Expectations(), 1u);
  now += 121 * 1000;  // the engine caps any-remote expectations at 120 s
  nat->Advance(now);
  EXPECT_EQ(Expectations(), 0u);
}

TEST_F(IrcTest, ReverseDccRewritesTheAddressOnly) {
  auto r =
      Say("PRIVMSG bob :\x01"
          "DCC SEND f " +
          kClientDec + " 0 100 7\x01\r\n");
  EXPECT_EQ(r.data(),
            "PRIVMSG bob :\x01"
            "DCC SEND f " +
                kExtDec + " 0 100 7\x01\r\n");
  EXPECT_EQ(irc.stats().reverse_offers, 1u);
  EXPECT_EQ(Expectations(), 0u);
}

}  // namespace
}  // namespace unat::helpers::testing
