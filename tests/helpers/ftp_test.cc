// FTP helper through a real Nat: every rewrite, the address check, split
// commands, retransmissions, sequence numbers, expectations, tenants.
#include "helpers/ftp.h"

#include "tests/helpers/fixture.h"

namespace unat::helpers::testing {
namespace {

constexpr const char* kClient = "10.77.0.2";
constexpr const char* kServer = "198.51.100.2";

std::string PortArgs(uint32_t addr, uint16_t port) {
  return std::to_string(addr >> 24) + "," + std::to_string((addr >> 16) & 255) +
         "," + std::to_string((addr >> 8) & 255) + "," +
         std::to_string(addr & 255) + "," + std::to_string(port >> 8) + "," +
         std::to_string(port & 255);
}

class FtpTest : public HelperFixture {
 protected:
  void SetUp() override {
    HelperFixture::SetUp();
    ASSERT_TRUE(nat->RegisterPacketHelper(kProtoTcp, 21, &ftp).ok());
  }
  // Outbound control connection; returns the external port.
  uint16_t Connect(uint16_t cport, NamespaceId ns = 0xffff,
                   const char* client = kClient) {
    auto syn = In(Tcp(client, cport, kServer, 21, TCP::SYN, 1000), ns);
    const uint16_t ext = syn.sport();
    Out(Tcp(kServer, 21, "203.0.113.1", ext, TCP::SYN | TCP::ACK, 9000, 1001));
    In(Tcp(client, cport, kServer, 21, TCP::ACK, 1001, 9001), ns);
    return ext;
  }
  Result Send(uint16_t cport, uint32_t seq, const std::string& data,
              NamespaceId ns = 0xffff, const char* client = kClient) {
    return RunIn(
        Tcp(client, cport, kServer, 21, TCP::ACK | TCP::PSH, seq, 9001, data),
        ns);
  }
  FtpHelper ftp;
};

TEST_F(FtpTest, PortRewrittenGrowsAndDataConnectionIsAdmitted) {
  const uint16_t ext = Connect(40000);
  EXPECT_EQ(FlowOf(40000).helper, "ftp");
  const std::string cmd = "PORT 10,77,0,2,156,64\r\n";  // port 40000
  auto r = Send(40000, 1001, cmd);
  ASSERT_TRUE(r.forwarded());
  // The client's data port shares the control connection's mapping.
  const std::string want = "PORT " + PortArgs(A("203.0.113.1"), ext) + "\r\n";
  EXPECT_EQ(r.data(), want);
  EXPECT_GT(want.size(), cmd.size());
  EXPECT_EQ(r.seq(), 1001u);
  EXPECT_EQ(ftp.stats().port_rewrites, 1u);
  EXPECT_EQ(FlowOf(40000).expectations, 1u);

  // The server acknowledges the longer command; the client sees its own.
  const int32_t delta = static_cast<int32_t>(want.size() - cmd.size());
  auto ack = Out(Tcp(kServer, 21, "203.0.113.1", ext, TCP::ACK, 9001,
                     1001 + static_cast<uint32_t>(want.size())));
  EXPECT_EQ(ack.ack(), 1001u + cmd.size());
  // Later client data is shifted.
  auto next =
      Send(40000, 1001 + static_cast<uint32_t>(cmd.size()), "RETR f\r\n");
  EXPECT_EQ(next.seq(), 1001u + cmd.size() + delta);
  // A SACK block for the RETR segment (server's space) comes back in the
  // client's space; the ACK of the command itself too.
  {
    Tins::IP ip("203.0.113.1", kServer);
    TCP t(ext, 21);
    t.flags(TCP::ACK);
    t.seq(9001);
    const uint32_t s = 1001 + static_cast<uint32_t>(want.size());
    t.ack_seq(s);
    t.sack({s, s + 8});
    ip /= t;
    auto r2 = Out(ip.serialize());
    const auto sack = r2.ip().rfind_pdu<TCP>().sack();
    ASSERT_EQ(sack.size(), 2u);
    EXPECT_EQ(sack[0], 1001u + cmd.size());
    EXPECT_EQ(sack[1], 1001u + cmd.size() + 8);
    EXPECT_EQ(r2.ack(), 1001u + cmd.size());
  }

  // The server's data connection from port 20 reaches the client.
  auto data = Out(Tcp(kServer, 20, "203.0.113.1", ext, TCP::SYN, 5000));
  EXPECT_EQ(data.dport(), 40000);
  EXPECT_EQ(data.ip().dst_addr().to_string(), kClient);
  EXPECT_EQ(Expectations(), 0u);  // matched once
}

TEST_F(FtpTest, PortFromALongerInsideAddressShrinks) {
  const NamespaceId big = *nat->AddNamespace({"big", A("192.168.100.1"), 24});
  const char* client = "192.168.100.200";
  const uint16_t ext = Connect(41000, big, client);
  const std::string cmd = "PORT 192,168,100,200,160,40\r\n";
  auto r = Send(41000, 1001, cmd, big, client);
  const std::string want = "PORT " + PortArgs(A("203.0.113.1"), ext) + "\r\n";
  EXPECT_EQ(r.data(), want);
  EXPECT_LT(want.size(), cmd.size());
  auto next = Send(41000, 1001 + static_cast<uint32_t>(cmd.size()), "NOOP\r\n",
                   big, client);
  EXPECT_EQ(next.seq(), 1001u + want.size());
}

TEST_F(FtpTest, EprtRewritten) {
  const uint16_t ext = Connect(40002);
  auto r = Send(40002, 1001, "EPRT |1|10.77.0.2|40002|\r\n");
  EXPECT_EQ(r.data(), "EPRT |1|203.0.113.1|" + std::to_string(ext) + "|\r\n");
  EXPECT_EQ(ftp.stats().eprt_rewrites, 1u);
  // Another delimiter (RFC 2428 allows 33..126) and lower case.
  auto r2 = Send(40002, 1001 + 26, "eprt !1!10.77.0.2!40002!\r\n");
  EXPECT_EQ(r2.data(), "eprt !1!203.0.113.1!" + std::to_string(ext) + "!\r\n");
  // IPv6 is not ours.
  auto r3 = Send(40002, 1001 + 52, "EPRT |2|::1|5000|\r\n");
  EXPECT_EQ(r3.data(), "EPRT |2|::1|5000|\r\n");
  EXPECT_EQ(ftp.stats().other_family, 1u);
}

TEST_F(FtpTest, ForeignAddressIsNotRewrittenAndCounted) {
  Connect(40003);
  // 10.77.0.20 and 10.77.0.22 begin with the client's 10.77.0.2: a
  // substring match would take them.
  const std::string port = "PORT 10,77,0,20,156,67\r\n";
  EXPECT_EQ(Send(40003, 1001, port).data(), port);
  const std::string eprt = "EPRT |1|10.77.0.22|40003|\r\n";
  EXPECT_EQ(Send(40003, 1001 + port.size(), eprt).data(), eprt);
  EXPECT_EQ(ftp.stats().foreign_address, 2u);
  EXPECT_EQ(ftp.stats().port_rewrites, 0u);
  EXPECT_EQ(Expectations(), 0u);
}

TEST_F(FtpTest, MalformedPortCounted) {
  Connect(40004);
  const std::string bad = "PORT 10,77,0,2,300,1\r\n";
  EXPECT_EQ(Send(40004, 1001, bad).data(), bad);
  const std::string bad2 = "PORT 10,77,0,2,1\r\n";
  EXPECT_EQ(Send(40004, 1001 + bad.size(), bad2).data(), bad2);
  EXPECT_EQ(ftp.stats().malformed, 2u);
}

TEST_F(FtpTest, SplitCommandIsDroppedUntilWhole) {
  const uint16_t ext = Connect(40005);
  // An unrelated command cut in two passes untouched.
  EXPECT_TRUE(Send(40005, 1001, "NO").forwarded());
  EXPECT_TRUE(Send(40005, 1003, "OP\r\n").forwarded());
  // "PORT ..." cut in two: the first part is held back (dropped) so the
  // sender retransmits; the following segment is beyond the gap and
  // dropped too.
  auto first = Send(40005, 1007, "PORT 10,77,0");
  EXPECT_EQ(first.v.action, Verdict::kDrop);
  EXPECT_EQ(first.v.reason, DropReason::kHelperDrop);
  auto second = Send(40005, 1007 + 12, ",2,156,69\r\n");
  EXPECT_EQ(second.v.action, Verdict::kDrop);
  EXPECT_EQ(ftp.stream_stats().split_drops, 1u);
  EXPECT_EQ(ftp.stream_stats().gap_drops, 1u);
  EXPECT_EQ(Expectations(), 0u);
  // The retransmission coalesces both: rewritten.
  auto whole = Send(40005, 1007, "PORT 10,77,0,2,156,69\r\n");
  EXPECT_EQ(whole.data(), "PORT " + PortArgs(A("203.0.113.1"), ext) + "\r\n");
  EXPECT_EQ(Expectations(), 1u);
}

TEST_F(FtpTest, SplitCommandPassedUneditedAfterRetries) {
  Connect(40006);
  for (int i = 0; i < FtpHelper::kMaxSplitTries; ++i) {
    EXPECT_EQ(Send(40006, 1001, "PORT 10,77,").v.action, Verdict::kDrop);
  }
  auto r = Send(40006, 1001, "PORT 10,77,");
  ASSERT_TRUE(r.forwarded());
  EXPECT_EQ(r.data(), "PORT 10,77,");
  EXPECT_EQ(ftp.stream_stats().split_passed, 1u);
  // The rest of that line is not parsed; the next line is.
  EXPECT_EQ(Send(40006, 1012, "0,2,156,70\r\n").data(), "0,2,156,70\r\n");
  EXPECT_NE(Send(40006, 1024, "PORT 10,77,0,2,156,70\r\n").data(),
            "PORT 10,77,0,2,156,70\r\n");
}

TEST_F(FtpTest, TwoCommandsInOneSegmentAndPortAfterOthers) {
  const uint16_t ext = Connect(40007);
  auto r = Send(40007, 1001, "TYPE I\r\nPORT 10,77,0,2,156,71\r\nLIST\r\n");
  EXPECT_EQ(r.data(), "TYPE I\r\nPORT " + PortArgs(A("203.0.113.1"), ext) +
                          "\r\nLIST\r\n");
}

TEST_F(FtpTest, RetransmissionRewrittenIdenticallyWithoutSecondExpectation) {
  Connect(40008);
  const std::string cmd = "PORT 10,77,0,2,156,72\r\n";
  auto a = Send(40008, 1001, cmd);
  auto b = Send(40008, 1001, cmd);
  EXPECT_EQ(a.data(), b.data());
  EXPECT_EQ(a.seq(), b.seq());
  EXPECT_EQ(ftp.stats().port_rewrites, 1u);
  EXPECT_EQ(ftp.stream_stats().retransmits_reedited, 1u);
  EXPECT_EQ(FlowOf(40008).expectations, 1u);
  // Retransmission coalesced with earlier and later data: still the same.
  const uint32_t after = 1001 + static_cast<uint32_t>(cmd.size());
  auto c = Send(40008, after, "NOOP\r\n");
  const int32_t delta =
      static_cast<int32_t>(a.data().size()) - static_cast<int32_t>(cmd.size());
  EXPECT_EQ(c.seq(), after + delta);
  auto d = Send(40008, 1001, cmd + "NOOP\r\n");
  EXPECT_EQ(d.data(), a.data() + "NOOP\r\n");
  EXPECT_EQ(d.seq(), 1001u);
  EXPECT_EQ(FlowOf(40008).expectations, 1u);
}

TEST_F(FtpTest, GapAheadIsDropped) {
  Connect(40009);
  auto r = Send(40009, 1101, "NOOP\r\n");
  EXPECT_EQ(r.v.action, Verdict::kDrop);
  EXPECT_EQ(ftp.stream_stats().gap_drops, 1u);
}

TEST_F(FtpTest, CorruptSegmentPassedUnparsed) {
  Connect(40010);
  auto pkt = Tcp(kClient, 40010, kServer, 21, TCP::ACK | TCP::PSH, 1001, 9001,
                 "PORT 10,77,0,2,156,74\r\n");
  pkt[pkt.size() - 3] ^= 0x01;  // a digit changes: checksum now wrong
  Buf b(pkt);
  ASSERT_EQ(nat->ProcessInside(lan, b.pkt, now).action, Verdict::kForward);
  EXPECT_EQ(ftp.stream_stats().corrupt, 1u);
  EXPECT_EQ(Expectations(), 0u);
  // The good retransmission is parsed.
  auto r = Send(40010, 1001, "PORT 10,77,0,2,156,74\r\n");
  EXPECT_EQ(ftp.stats().port_rewrites, 1u);
}

TEST_F(FtpTest, OnlyTheNamedServerMayUseTheExpectation) {
  const uint16_t ext = Connect(40011);
  Send(40011, 1001, "PORT 10,77,0,2,156,75\r\n");
  auto other = RunOut(Tcp("198.51.100.3", 20, "203.0.113.1", ext, TCP::SYN));
  EXPECT_EQ(other.v.action, Verdict::kDrop);
  EXPECT_EQ(Expectations(), 1u);
  Out(Tcp(kServer, 2020, "203.0.113.1", ext, TCP::SYN));  // any server port
  EXPECT_EQ(Expectations(), 0u);
}

TEST_F(FtpTest, ExpectationExpires) {
  Connect(40012);
  Send(40012, 1001, "PORT 10,77,0,2,156,76\r\n");
  EXPECT_EQ(Expectations(), 1u);
  now += 121 * 1000;
  nat->Advance(now);
  EXPECT_EQ(Expectations(), 0u);
}

TEST_F(FtpTest, TenantsWithTheSameAddressAreSeparate) {
  const NamespaceId other = *nat->AddNamespace({"other", A("10.77.0.1"), 24});
  const uint16_t ext_a = Connect(40013);
  const uint16_t ext_b = Connect(40013, other);
  ASSERT_NE(ext_a, ext_b);
  auto a = Send(40013, 1001, "PORT 10,77,0,2,156,77\r\n");
  auto b = Send(40013, 1001, "PORT 10,77,0,2,156,77\r\n", other);
  EXPECT_EQ(a.data(), "PORT " + PortArgs(A("203.0.113.1"), ext_a) + "\r\n");
  EXPECT_EQ(b.data(), "PORT " + PortArgs(A("203.0.113.1"), ext_b) + "\r\n");
  auto to_b = Out(Tcp(kServer, 20, "203.0.113.1", ext_b, TCP::SYN));
  EXPECT_EQ(to_b.v.out_ns, other);
  auto to_a = Out(Tcp(kServer, 20, "203.0.113.1", ext_a, TCP::SYN));
  EXPECT_EQ(to_a.v.out_ns, lan);
}

class FtpServerInsideTest : public FtpTest {
 protected:
  // A client outside reaches the inside server 10.77.0.5:21 through a
  // static forward of port 21.
  void SetUp() override {
    FtpTest::SetUp();
    ForwardSpec f;
    f.proto = kProtoTcp;
    f.external_port = 21;
    f.ns = lan;
    f.inside_addr = A("10.77.0.5");
    f.inside_port = 21;
    ASSERT_TRUE(nat->AddForward(f, now).ok());
    Out(Tcp("198.51.100.7", 5000, "203.0.113.1", 21, TCP::SYN, 7000));
    In(Tcp("10.77.0.5", 21, "198.51.100.7", 5000, TCP::SYN | TCP::ACK, 3000,
           7001));
    Out(Tcp("198.51.100.7", 5000, "203.0.113.1", 21, TCP::ACK, 7001, 3001));
  }
  Result Reply(uint32_t seq, const std::string& text) {
    return RunIn(Tcp("10.77.0.5", 21, "198.51.100.7", 5000, TCP::ACK | TCP::PSH,
                     seq, 7001, text));
  }
};

TEST_F(FtpServerInsideTest, Reply227Rewritten) {
  EXPECT_EQ(FlowOf(21).helper, "ftp");
  EXPECT_TRUE(FlowOf(21).inbound_origin);
  const std::string text = "227 Entering Passive Mode (10,77,0,5,195,80).\r\n";
  auto r = Reply(3001, text);
  const std::string d = r.data();
  ASSERT_EQ(d.rfind("227 Entering Passive Mode (203,0,113,1,", 0), 0u) << d;
  EXPECT_EQ(ftp.stats().pasv_rewrites, 1u);
  // Parse the port back out of the rewritten reply.
  unsigned a, b, c, e, p1, p2;
  ASSERT_EQ(sscanf(d.c_str(), "227 Entering Passive Mode (%u,%u,%u,%u,%u,%u)",
                   &a, &b, &c, &e, &p1, &p2),
            6);
  const uint16_t ext = static_cast<uint16_t>(p1 * 256 + p2);
  // Someone else may not use it; the client may, from any port.
  EXPECT_EQ(
      RunOut(Tcp("198.51.100.8", 6000, "203.0.113.1", ext, TCP::SYN)).v.action,
      Verdict::kDrop);
  auto data = Out(Tcp("198.51.100.7", 6001, "203.0.113.1", ext, TCP::SYN));
  EXPECT_EQ(data.dport(), 50000);
  EXPECT_EQ(data.ip().dst_addr().to_string(), "10.77.0.5");
  // The reply grew: the server's next segment is shifted.
  auto next = Reply(3001 + static_cast<uint32_t>(text.size()), "150 ok\r\n");
  EXPECT_EQ(next.seq(), 3001u + d.size());
}

TEST_F(FtpServerInsideTest, Reply229Rewritten) {
  auto r = Reply(3001, "229 Entering Extended Passive Mode (|||50001|)\r\n");
  unsigned port = 0;
  ASSERT_EQ(sscanf(r.data().c_str(),
                   "229 Entering Extended Passive Mode (|||%u|)", &port),
            1)
      << r.data();
  EXPECT_EQ(ftp.stats().epsv_rewrites, 1u);
  auto data = Out(Tcp("198.51.100.7", 6002, "203.0.113.1",
                      static_cast<uint16_t>(port), TCP::SYN));
  EXPECT_EQ(data.dport(), 50001);
}

TEST_F(FtpServerInsideTest, Reply227WithAnotherAddressIsLeftAlone) {
  const std::string text = "227 Entering Passive Mode (10,77,0,50,195,80).\r\n";
  EXPECT_EQ(Reply(3001, text).data(), text);
  EXPECT_EQ(ftp.stats().foreign_address, 1u);
}

TEST_F(FtpServerInsideTest, ExpectationsDieWithTheMaster) {
  Reply(3001, "229 Entering Extended Passive Mode (|||50002|)\r\n");
  EXPECT_EQ(Expectations(), 1u);
  ASSERT_TRUE(nat->RemoveForward(kProtoTcp, 0, 21).ok());
  EXPECT_EQ(Expectations(), 0u);
}

TEST_F(FtpTest, PassiveFromAnOutsideServerIsOnlyCounted) {
  const uint16_t ext = Connect(40014);
  const std::string text =
      "227 Entering Passive Mode (198,51,100,2,200,10).\r\n";
  auto r = Out(Tcp(kServer, 21, "203.0.113.1", ext, TCP::ACK | TCP::PSH, 9001,
                   1001, text));
  EXPECT_EQ(r.data(), text);
  EXPECT_EQ(ftp.stats().passive_outside, 1u);
  EXPECT_EQ(Expectations(), 0u);
}

TEST_F(FtpTest, NotAttachedToOtherPorts) {
  In(Tcp(kClient, 40015, kServer, 2121, TCP::SYN, 1000));
  EXPECT_EQ(FlowOf(40015).helper, "");
}

}  // namespace
}  // namespace unat::helpers::testing
