// TFTP helper: an RRQ/WRQ from inside lets the server's answer from a new
// port through address-and-port-dependent filtering.
#include "helpers/tftp.h"

#include "tests/helpers/fixture.h"

namespace unat::helpers::testing {
namespace {

std::string Request(uint8_t op, const std::string& name,
                    const std::string& mode) {
  std::string s;
  s.push_back(0);
  s.push_back(static_cast<char>(op));
  s += name;
  s.push_back(0);
  s += mode;
  s.push_back(0);
  return s;
}

class TftpTest : public HelperFixture {
 protected:
  void Register() {
    ASSERT_TRUE(nat->RegisterPacketHelper(kProtoUdp, 69, &tftp).ok());
  }
  TftpHelper tftp;
};

TEST_F(TftpTest, WithoutHelperTheAnswerFromANewPortIsDropped) {
  auto rrq =
      In(Udp("10.77.0.2", 3000, "198.51.100.2", 69, Request(1, "f", "octet")));
  auto data = RunOut(Udp("198.51.100.2", 4242, "203.0.113.1", rrq.sport(),
                         std::string("\0\3\0\1x", 5)));
  EXPECT_EQ(data.v.action, Verdict::kDrop);
}

TEST_F(TftpTest, ReadRequestAdmitsTheServersNewPort) {
  Register();
  auto rrq =
      In(Udp("10.77.0.2", 3000, "198.51.100.2", 69, Request(1, "f", "octet")));
  EXPECT_EQ(FlowOf(3000, kProtoUdp).helper, "tftp");
  EXPECT_EQ(FlowOf(3000, kProtoUdp).expectations, 1u);
  EXPECT_EQ(tftp.stats().requests, 1u);
  // Another host cannot use it.
  EXPECT_EQ(RunOut(Udp("198.51.100.3", 4242, "203.0.113.1", rrq.sport(),
                       std::string("\0\3\0\1x", 5)))
                .v.action,
            Verdict::kDrop);
  auto data = Out(Udp("198.51.100.2", 4242, "203.0.113.1", rrq.sport(),
                      std::string("\0\3\0\1x", 5)));
  EXPECT_EQ(data.dport(), 3000);
  EXPECT_EQ(Expectations(), 0u);
  // The transfer continues on its own flow both ways.
  In(Udp("10.77.0.2", 3000, "198.51.100.2", 4242, std::string("\0\4\0\1", 4)));
  Out(Udp("198.51.100.2", 4242, "203.0.113.1", rrq.sport(),
          std::string("\0\3\0\2y", 5)));
}

TEST_F(TftpTest, WriteRequestToo) {
  Register();
  auto wrq = In(Udp("10.77.0.2", 3001, "198.51.100.2", 69,
                    Request(2, "up.bin", "NETASCII")));
  Out(Udp("198.51.100.2", 5555, "203.0.113.1", wrq.sport(),
          std::string("\0\4\0\0", 4)));
}

TEST_F(TftpTest, MalformedAndOtherOpcodesIgnored) {
  Register();
  In(Udp("10.77.0.2", 3002, "198.51.100.2", 69, std::string("\0\1f\0oct", 7)));
  In(Udp("10.77.0.2", 3002, "198.51.100.2", 69, Request(1, "f", "bogus")));
  In(Udp("10.77.0.2", 3002, "198.51.100.2", 69, std::string("\0\5\0\0x\0", 6)));
  EXPECT_EQ(tftp.stats().malformed, 2u);
  EXPECT_EQ(Expectations(), 0u);
}

TEST_F(TftpTest, RetransmittedRequestsAreBounded) {
  Register();
  for (int i = 0; i < 10; ++i) {
    In(Udp("10.77.0.2", 3003, "198.51.100.2", 69, Request(1, "f", "octet")));
  }
  EXPECT_EQ(FlowOf(3003, kProtoUdp).expectations, 4u);  // oldest evicted
}

TEST_F(TftpTest, TenantsSeparate) {
  Register();
  const NamespaceId other = *nat->AddNamespace({"other", A("10.77.0.1"), 24});
  auto a =
      In(Udp("10.77.0.2", 3004, "198.51.100.2", 69, Request(1, "f", "octet")));
  auto b =
      In(Udp("10.77.0.2", 3004, "198.51.100.2", 69, Request(1, "f", "octet")),
         other);
  ASSERT_NE(a.sport(), b.sport());
  EXPECT_EQ(Out(Udp("198.51.100.2", 4000, "203.0.113.1", b.sport(),
                    std::string("\0\3\0\1x", 5)))
                .v.out_ns,
            other);
  EXPECT_EQ(Out(Udp("198.51.100.2", 4001, "203.0.113.1", a.sport(),
                    std::string("\0\3\0\1x", 5)))
                .v.out_ns,
            lan);
}

}  // namespace
}  // namespace unat::helpers::testing
