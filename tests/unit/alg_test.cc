// Payload replacement by a helper and TCP sequence adjustment.
#include <gtest/gtest.h>

#include "engine/nat.h"
#include "engine/wire.h"
#include "tests/unit/test_util.h"

namespace unat {
namespace {

using testing::A;
using testing::Buf;
using testing::ChecksumsValid;
using testing::Tcp;

// Replaces every "<short>" with "<a much longer text>" in inside->outside
// data, and "BIG" with "b" in outside->inside data.
class RewritingHelper : public PacketHelper {
 public:
  std::string_view name() const override { return "rewrite"; }
  bool OnPacket(HelperContext& ctx, const FlowInfo&, Side from, Ipv4View&,
                L4View&) override {
    const std::string from_text = from == Side::kInside ? "<short>" : "BIG";
    const std::string to_text =
        from == Side::kInside ? "<a much longer text>" : "b";
    for (;;) {
      auto p = ctx.Payload();
      std::string_view sv(reinterpret_cast<const char*>(p.data()), p.size());
      const size_t at = sv.find(from_text);
      if (at == std::string_view::npos) break;
      last = ctx.ReplacePayload(at, from_text.size(), to_text);
      if (!last.ok()) break;
      ++edits;
    }
    ctx.FlowState() += "x";
    return true;
  }
  int edits = 0;
  absl::Status last;
};

class AlgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NatConfig c;
    c.external_addresses = {A("203.0.113.1")};
    c.random_seed = 3;
    nat = *Nat::Create(c);
    lan = *nat->AddNamespace({"lan", A("10.77.0.1"), 24});
    ASSERT_TRUE(nat->RegisterPacketHelper(kProtoTcp, 21, &helper).ok());
  }
  Tins::IP In(const std::vector<uint8_t>& b) {
    Buf buf(b);
    Verdict v = nat->ProcessInside(lan, buf.pkt, 1000);
    EXPECT_EQ(v.action, Verdict::kForward) << DropReasonName(v.reason);
    auto out = buf.out();
    EXPECT_TRUE(ChecksumsValid(out));
    return Tins::IP(out.data(), static_cast<uint32_t>(out.size()));
  }
  Tins::IP Out(const std::vector<uint8_t>& b) {
    Buf buf(b);
    Verdict v = nat->ProcessOutside(buf.pkt, 1000);
    EXPECT_EQ(v.action, Verdict::kForward) << DropReasonName(v.reason);
    auto out = buf.out();
    EXPECT_TRUE(ChecksumsValid(out));
    return Tins::IP(out.data(), static_cast<uint32_t>(out.size()));
  }
  // 10.77.0.2:40000 -> 203.0.113.2:21, SEQ 1000 and 9000 each way; the
  // connection's external port.
  uint16_t Handshake() {
    using Tins::TCP;
    auto syn = In(Tcp("10.77.0.2", 40000, "203.0.113.2", 21, TCP::SYN, 1000));
    const uint16_t ext = syn.rfind_pdu<TCP>().sport();
    Out(Tcp("203.0.113.2", 21, "203.0.113.1", ext, TCP::SYN | TCP::ACK, 9000,
            1001));
    In(Tcp("10.77.0.2", 40000, "203.0.113.2", 21, TCP::ACK, 1001, 9001));
    return ext;
  }
  static std::string Data(const Tins::IP& ip) {
    auto* raw = ip.find_pdu<Tins::RawPDU>();
    if (!raw) return "";
    return std::string(raw->payload().begin(), raw->payload().end());
  }
  std::unique_ptr<Nat> nat;
  NamespaceId lan = 0;
  RewritingHelper helper;
};

TEST_F(AlgTest, LongerPayloadShiftsSequenceNumbersBothWays) {
  using Tins::TCP;
  const uint16_t ext = Handshake();

  // Untouched data: no shift.
  auto a = In(Tcp("10.77.0.2", 40000, "203.0.113.2", 21, TCP::ACK | TCP::PSH,
                  1001, 9001, "USER x\r\n"));
  EXPECT_EQ(a.rfind_pdu<TCP>().seq(), 1001u);
  // The edited segment: same start, longer payload.
  const std::string cmd = "CMD <short> and <short>\r\n";  // 2 edits, +26
  auto b = In(Tcp("10.77.0.2", 40000, "203.0.113.2", 21, TCP::ACK | TCP::PSH,
                  1009, 9001, cmd));
  EXPECT_EQ(b.rfind_pdu<TCP>().seq(), 1009u);
  EXPECT_EQ(Data(b), "CMD <a much longer text> and <a much longer text>\r\n");
  EXPECT_EQ(b.tot_len(), 20 + 20 + cmd.size() + 26);
  EXPECT_EQ(helper.edits, 2);
  // Later data is shifted by +26.
  const uint32_t next = 1009 + static_cast<uint32_t>(cmd.size());
  auto c = In(Tcp("10.77.0.2", 40000, "203.0.113.2", 21, TCP::ACK | TCP::PSH,
                  next, 9001, "QUIT\r\n"));
  EXPECT_EQ(c.rfind_pdu<TCP>().seq(), next + 26);
  // The server acknowledges in its (shifted) space; the client sees its own.
  Tins::IP ack_ip("203.0.113.1", "203.0.113.2");
  TCP ack(ext, 21);
  ack.flags(TCP::ACK);
  ack.seq(9001);
  ack.ack_seq(next + 26 + 6);
  // A SACK block for the QUIT segment, too.
  ack.sack({next + 26, next + 26 + 6});
  ack_ip /= ack;
  auto d = Out(ack_ip.serialize());
  EXPECT_EQ(d.rfind_pdu<TCP>().ack_seq(), next + 6);
  const auto sack = d.rfind_pdu<TCP>().sack();
  ASSERT_EQ(sack.size(), 2u);
  EXPECT_EQ(sack[0], next);
  EXPECT_EQ(sack[1], next + 6);
  // An ACK of data before the edit is not shifted.
  auto e =
      Out(Tcp("203.0.113.2", 21, "203.0.113.1", ext, TCP::ACK, 9001, 1009));
  EXPECT_EQ(e.rfind_pdu<TCP>().ack_seq(), 1009u);

  // A retransmission of the edited segment comes out exactly as before.
  auto r = In(Tcp("10.77.0.2", 40000, "203.0.113.2", 21, TCP::ACK | TCP::PSH,
                  1009, 9001, cmd));
  EXPECT_EQ(r.rfind_pdu<TCP>().seq(), 1009u);
  EXPECT_EQ(Data(r), Data(b));
  // And a retransmission of earlier data too.
  auto r2 = In(Tcp("10.77.0.2", 40000, "203.0.113.2", 21, TCP::ACK | TCP::PSH,
                   1001, 9001, "USER x\r\n"));
  EXPECT_EQ(r2.rfind_pdu<TCP>().seq(), 1001u);

  // The other direction shrinks: server data "BIG" -> "b" (-2).
  auto s1 = Out(Tcp("203.0.113.2", 21, "203.0.113.1", ext, TCP::ACK | TCP::PSH,
                    9001, next + 26 + 6, "200 BIG\r\n"));
  EXPECT_EQ(Data(s1), "200 b\r\n");
  EXPECT_EQ(s1.rfind_pdu<TCP>().ack_seq(), next + 6);
  auto s2 = Out(Tcp("203.0.113.2", 21, "203.0.113.1", ext, TCP::ACK | TCP::PSH,
                    9010, next + 26 + 6, "221\r\n"));
  EXPECT_EQ(s2.rfind_pdu<TCP>().seq(), 9008u);
  // The client's ACK of the server's data is shifted back up.
  auto ca =
      In(Tcp("10.77.0.2", 40000, "203.0.113.2", 21, TCP::ACK, next + 6, 9013));
  EXPECT_EQ(ca.rfind_pdu<TCP>().seq(), next + 6 + 26);
  EXPECT_EQ(ca.rfind_pdu<TCP>().ack_seq(), 9015u);
}

// A helper turned off in a running daemon: the connection it rewrote keeps
// its sequence adjustment (netfilter keeps seqadj when a helper goes), but
// the helper sees no packet of it again, and new flows to its port do not
// get it. Its slot serves a new helper once no flow holds it.
TEST_F(AlgTest, UnregisteredHelperLeavesItsFlowsAdjustedAndUntouched) {
  using Tins::TCP;
  const uint16_t ext = Handshake();
  const std::string cmd = "CMD <short>\r\n";  // +13
  auto a = In(Tcp("10.77.0.2", 40000, "203.0.113.2", 21, TCP::ACK | TCP::PSH,
                  1001, 9001, cmd));
  EXPECT_EQ(Data(a), "CMD <a much longer text>\r\n");
  ASSERT_EQ(helper.edits, 1);

  ASSERT_TRUE(nat->UnregisterPacketHelper(&helper).ok());
  EXPECT_EQ(nat->UnregisterPacketHelper(&helper).code(),
            absl::StatusCode::kNotFound);
  // The same connection: not edited any more, still shifted by +13.
  const uint32_t next = 1001 + static_cast<uint32_t>(cmd.size());
  auto b = In(Tcp("10.77.0.2", 40000, "203.0.113.2", 21, TCP::ACK | TCP::PSH,
                  next, 9001, "AGAIN <short>\r\n"));
  EXPECT_EQ(Data(b), "AGAIN <short>\r\n");
  EXPECT_EQ(b.rfind_pdu<TCP>().seq(), next + 13);
  EXPECT_EQ(helper.edits, 1);
  auto ack = Out(Tcp("203.0.113.2", 21, "203.0.113.1", ext, TCP::ACK, 9001,
                     next + 13 + 15));
  EXPECT_EQ(ack.rfind_pdu<TCP>().ack_seq(), next + 15);
  bool listed = false;
  nat->ForEachFlow([&](const FlowInfo& f) {
    if (f.remote_port == 21) {
      EXPECT_EQ(f.helper, "off");
      listed = true;
    }
  });
  EXPECT_TRUE(listed);

  // A new connection to port 21 gets no helper at all.
  In(Tcp("10.77.0.2", 40001, "203.0.113.2", 21, TCP::SYN, 5000));
  nat->ForEachFlow([&](const FlowInfo& f) {
    if (f.inside_port == 40001) {
      EXPECT_EQ(f.helper, "");
    }
  });

  // Registered again (a reload turning it back on): new flows get it, and
  // the old connection, which holds the old slot, stays as it was.
  RewritingHelper again;
  ASSERT_TRUE(nat->RegisterPacketHelper(kProtoTcp, 21, &again).ok());
  In(Tcp("10.77.0.2", 40002, "203.0.113.2", 21, TCP::SYN, 7000));
  int on_again = 0;
  nat->ForEachFlow([&](const FlowInfo& f) {
    if (f.inside_port == 40002) {
      EXPECT_EQ(f.helper, "rewrite");
      ++on_again;
    }
    if (f.inside_port == 40000) {
      EXPECT_EQ(f.helper, "off");
    }
  });
  EXPECT_EQ(on_again, 1);
  auto c = In(Tcp("10.77.0.2", 40000, "203.0.113.2", 21, TCP::ACK | TCP::PSH,
                  next + 15, 9001, "<short>"));
  EXPECT_EQ(Data(c), "<short>");
  EXPECT_EQ(again.edits, 0);
}

TEST_F(AlgTest, CorruptSegmentIsNotEdited) {
  using Tins::TCP;
  auto syn = In(Tcp("10.77.0.2", 40001, "203.0.113.2", 21, TCP::SYN, 1000));
  auto bad = Tcp("10.77.0.2", 40001, "203.0.113.2", 21, TCP::ACK, 1001, 1,
                 "X <short>\r\n");
  bad[40] ^= 0x20;  // corrupt the payload ('X'), not the checksum
  Buf b(bad);
  ASSERT_EQ(nat->ProcessInside(lan, b.pkt, 1000).action, Verdict::kForward);
  EXPECT_EQ(helper.last.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(b.pkt.len, bad.size());
}

}  // namespace
}  // namespace unat
