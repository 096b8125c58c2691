// GSO super-packets (Packet::offload, TUN with IFF_VNET_HDR): translated once
// on the fast path with the MTU and DF checks judging their segments; cut
// into real segments in software where the full path must see segments (a
// helper's flow, one too big for the egress).
#include <gtest/gtest.h>
#include <tins/tins.h>

#include <string>
#include <vector>

#include "engine/checksum.h"
#include "engine/nat.h"
#include "tests/unit/nat_fixture.h"
#include "tests/unit/test_util.h"

namespace unat {
namespace {

using testing::A;
using testing::Buf;
using testing::ChecksumsValid;
using testing::NatTest;
using testing::Tcp;
using Tins::TCP;

// A TCP segment from 10.77.0.2:40000 to 203.0.113.2:PORT with DF, as a
// stack with TSO hands it to a TUN device (checksum complete: the adapter
// completes a partial one).
std::vector<uint8_t> Big(uint16_t port, uint32_t seq, size_t payload,
                         uint8_t flags = TCP::ACK | TCP::PSH) {
  Tins::IP ip("203.0.113.2", "10.77.0.2");
  ip.flags(Tins::IP::DONT_FRAGMENT);
  ip.id(100);
  TCP tcp(port, 40000);
  tcp.flags(flags);
  tcp.seq(seq);
  tcp.ack_seq(9001);
  tcp.window(65535);
  std::string data(payload, 'x');
  for (size_t i = 0; i < payload; ++i)
    data[i] = static_cast<char>('a' + i % 26);
  ip /= tcp / Tins::RawPDU(data);
  return ip.serialize();
}

class OffloadTest : public NatTest {
 protected:
  // The handshake of 10.77.0.2:40000 -> 203.0.113.2:port; returns the
  // external port.
  uint16_t Connect(uint16_t port) {
    std::vector<uint8_t> out;
    EXPECT_EQ(
        In(lan, Tcp("10.77.0.2", 40000, "203.0.113.2", port, TCP::SYN, 1000),
           &out)
            .action,
        Verdict::kForward);
    const uint16_t ext = Tins::IP(out.data(), static_cast<uint32_t>(out.size()))
                             .rfind_pdu<TCP>()
                             .sport();
    EXPECT_EQ(Out(Tcp("203.0.113.2", port, "203.0.113.1", ext,
                      TCP::SYN | TCP::ACK, 9000, 1001))
                  .action,
              Verdict::kForward);
    EXPECT_EQ(In(lan, Tcp("10.77.0.2", 40000, "203.0.113.2", port, TCP::ACK,
                          1001, 9001))
                  .action,
              Verdict::kForward);
    return ext;
  }
  Verdict InGso(const std::vector<uint8_t>& bytes, uint16_t gso_size,
                std::vector<uint8_t>* out = nullptr) {
    Buf b(bytes);
    b.pkt.offload.needs_csum = true;
    b.pkt.offload.gso_type = 1;  // VIRTIO_NET_HDR_GSO_TCPV4
    b.pkt.offload.gso_size = gso_size;
    Verdict v = nat->ProcessInside(lan, b.pkt, now);
    if (out) *out = b.out();
    return v;
  }
};

TEST_F(OffloadTest, ASuperPacketIsTranslatedWholeAndJudgedByItsSegments) {
  const uint16_t ext = Connect(80);
  std::vector<uint8_t> out;
  const uint64_t packets_before = nat->GetStats().packets[0];
  // 20000 payload bytes, DF: far past the 1500-byte egress, but its
  // segments (40 + 1448) fit: forwarded as it is, translated once.
  ASSERT_EQ(InGso(Big(80, 1001, 20000), 1448, &out).action, Verdict::kForward);
  // Counted as the 14 packets it becomes on the wire (UPnP's
  // TotalPacketsSent, unatctl, the metrics).
  EXPECT_EQ(nat->GetStats().packets[0] - packets_before, 14u);
  ASSERT_EQ(out.size(), 20040u);
  Tins::IP ip(out.data(), static_cast<uint32_t>(out.size()));
  EXPECT_EQ(ip.src_addr(), Tins::IPv4Address("203.0.113.1"));
  EXPECT_EQ(ip.rfind_pdu<TCP>().sport(), ext);
  EXPECT_TRUE(ChecksumsValid(out));
  EXPECT_EQ(nat->GetStats().super_packets_segmented, 0u);
  EXPECT_TRUE(sink.packets.empty());

  // The same bytes without the offload info: a 20040-byte packet with DF
  // cannot leave through a 1500-byte egress.
  const Verdict plain = In(lan, Big(80, 21001, 20000));
  EXPECT_EQ(plain.action, Verdict::kDrop);
  EXPECT_EQ(plain.reason, DropReason::kNeedFragDf);
  ASSERT_EQ(sink.packets.size(), 1u);  // ICMP fragmentation needed
  Tins::IP icmp(sink.packets[0].bytes.data(),
                static_cast<uint32_t>(sink.packets[0].bytes.size()));
  EXPECT_EQ(icmp.rfind_pdu<Tins::ICMP>().mtu(), 1500);
}

TEST_F(OffloadTest, SegmentsWiderThanTheEgressAreCutAndRefusedWithTheMtu) {
  Connect(80);
  // Segments of 40 + 1480 bytes do not fit 1500: the full path cuts the
  // super-packet and each segment is answered "fragmentation needed, MTU
  // 1500"; nothing is forwarded.
  const Verdict v = InGso(Big(80, 1001, 4440), 1480);
  EXPECT_EQ(v.action, Verdict::kConsumed);
  EXPECT_EQ(nat->GetStats().super_packets_segmented, 1u);
  EXPECT_EQ(Drops(DropReason::kNeedFragDf), 3u);
  ASSERT_FALSE(sink.packets.empty());
  for (const auto& e : sink.packets) {
    Tins::IP ip(e.bytes.data(), static_cast<uint32_t>(e.bytes.size()));
    ASSERT_NE(ip.find_pdu<Tins::ICMP>(), nullptr);
    EXPECT_EQ(ip.rfind_pdu<Tins::ICMP>().mtu(), 1500);
    EXPECT_EQ(e.side, Side::kInside);
  }
}

// Counts what it sees of each packet.
class SizesHelper : public PacketHelper {
 public:
  std::string_view name() const override { return "sizes"; }
  bool OnPacket(HelperContext& ctx, const FlowInfo&, Side from, Ipv4View&,
                L4View&) override {
    if (from == Side::kInside && !ctx.Payload().empty()) {
      sizes.push_back(ctx.Payload().size());
    }
    return true;
  }
  std::vector<size_t> sizes;
};

TEST_F(OffloadTest, AHelperSeesASuperPacketAsTheSegmentsTheKernelMakes) {
  SizesHelper helper;
  ASSERT_TRUE(nat->RegisterPacketHelper(kProtoTcp, 21, &helper).ok());
  const uint16_t ext = Connect(21);
  // 3 x 1000 + 500 bytes, FIN with the last byte.
  const Verdict v =
      InGso(Big(21, 1001, 3500, TCP::ACK | TCP::PSH | TCP::FIN), 1000);
  EXPECT_EQ(v.action, Verdict::kConsumed);
  EXPECT_EQ(helper.sizes, (std::vector<size_t>{1000, 1000, 1000, 500}));
  ASSERT_EQ(sink.packets.size(), 4u);
  uint32_t seq = 1001;
  for (size_t i = 0; i < sink.packets.size(); ++i) {
    const auto& e = sink.packets[i];
    EXPECT_EQ(e.side, Side::kOutside);
    EXPECT_TRUE(ChecksumsValid(e.bytes)) << i;
    Tins::IP ip(e.bytes.data(), static_cast<uint32_t>(e.bytes.size()));
    const TCP& t = ip.rfind_pdu<TCP>();
    EXPECT_EQ(ip.src_addr(), Tins::IPv4Address("203.0.113.1"));
    EXPECT_EQ(t.sport(), ext);
    EXPECT_EQ(t.seq(), seq) << i;
    EXPECT_EQ(ip.id(), 100 + i);
    const bool last = i + 1 == sink.packets.size();
    EXPECT_EQ(t.get_flag(TCP::FIN), last ? 1 : 0) << i;
    EXPECT_EQ(t.get_flag(TCP::PSH), last ? 1 : 0) << i;
    seq += static_cast<uint32_t>(ip.rfind_pdu<Tins::RawPDU>().payload_size());
  }
  EXPECT_EQ(seq, 1001u + 3500u);
  EXPECT_EQ(nat->GetStats().super_packets_segmented, 1u);
}

// As a TUN device hands it over when the stack offloads the checksum: the
// L4 field holds the pseudo-header sum (CHECKSUM_PARTIAL), not completed.
void MakePartial(std::vector<uint8_t>* b, OffloadInfo* o) {
  uint8_t* p = b->data();
  const uint32_t hl = uint32_t{p[0] & 0x0fu} * 4;
  const uint32_t field = hl + (p[9] == kProtoTcp ? 16 : 6);
  StoreBe16(p + field,
            Fold(PseudoHeaderSum(LoadBe32(p + 12), LoadBe32(p + 16), p[9],
                                 static_cast<uint32_t>(b->size() - hl))));
  o->needs_csum = true;
  o->csum_partial = true;
  o->csum_start = static_cast<uint16_t>(hl);
  o->csum_offset = static_cast<uint16_t>(field - hl);
}

TEST_F(OffloadTest, APartialChecksumIsCompletedWhereTheFullPathReadsIt) {
  // A SYN (a first packet: the full path) handed over partial.
  Buf b(Tcp("10.77.0.2", 40000, "203.0.113.2", 80, TCP::SYN, 1000));
  std::vector<uint8_t> bytes = b.out();
  OffloadInfo o;
  MakePartial(&bytes, &o);
  Buf partial(bytes);
  partial.pkt.offload = o;
  ASSERT_EQ(nat->ProcessInside(lan, partial.pkt, now).action,
            Verdict::kForward);
  EXPECT_FALSE(partial.pkt.offload.csum_partial);
  EXPECT_TRUE(partial.pkt.offload.needs_csum);  // leaves partial again
  EXPECT_TRUE(ChecksumsValid(partial.out()));   // complete, translated
}

TEST_F(OffloadTest, APartialChecksumIsLeftToTheAdapterOnTheFastPath) {
  Connect(80);
  std::vector<uint8_t> bytes = Big(80, 1001, 1000);
  OffloadInfo o;
  MakePartial(&bytes, &o);
  Buf b(bytes);
  b.pkt.offload = o;
  ASSERT_EQ(nat->ProcessInside(lan, b.pkt, now).action, Verdict::kForward);
  // Still partial: no pass over the payload was made.
  EXPECT_TRUE(b.pkt.offload.csum_partial);
  // What the adapter then does (the seed of the translated packet, then
  // the kernel's sum) gives the right checksum.
  std::vector<uint8_t> out = b.out();
  OffloadInfo again;
  MakePartial(&out, &again);
  const uint32_t field = again.csum_start + again.csum_offset;
  StoreBe16(out.data() + field,
            InternetChecksum({out.data() + again.csum_start,
                              out.size() - again.csum_start}));
  EXPECT_TRUE(ChecksumsValid(out));
  Tins::IP ip(out.data(), static_cast<uint32_t>(out.size()));
  EXPECT_EQ(ip.src_addr(), Tins::IPv4Address("203.0.113.1"));
}

}  // namespace
}  // namespace unat
