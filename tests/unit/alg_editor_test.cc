// The ALG payload editor on its own (engine/alg.h): replacement with length
// changes, checksums, and the sequence adjustment later segments get.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/alg.h"
#include "engine/wire.h"
#include "tests/unit/test_util.h"

namespace unat::internal {
namespace {

using unat::testing::ChecksumsValid;

constexpr uint32_t kFlow = 7;
constexpr uint8_t kPshAck = Tins::TCP::PSH | Tins::TCP::ACK;

// A packet in a buffer with room to grow.
struct Buffer {
  explicit Buffer(std::vector<uint8_t> b) : bytes(std::move(b)) {
    len = static_cast<uint32_t>(bytes.size());
    bytes.resize(2048);
    pkt = Packet{bytes.data(), len, static_cast<uint32_t>(bytes.size()), {}};
  }
  std::vector<uint8_t> Out() const {
    return {bytes.begin(), bytes.begin() + pkt.len};
  }
  std::vector<uint8_t> bytes;
  uint32_t len;
  Packet pkt;
};

class AlgEditorTest : public ::testing::Test {
 protected:
  // One TCP segment from `from` through the editor; `edit` runs in between.
  template <typename Edit>
  std::vector<uint8_t> Segment(Side from, uint32_t seq, uint32_t ack,
                               const std::string& payload, Edit&& edit) {
    Buffer b(from == Side::kInside
                 ? unat::testing::Tcp("10.0.0.2", 5000, "198.51.100.1", 21,
                                      kPshAck, seq, ack, payload)
                 : unat::testing::Tcp("198.51.100.1", 21, "10.0.0.2", 5000,
                                      kPshAck, seq, ack, payload));
    editor.Begin(kFlow, b.pkt, from, kProtoTcp, 20, 20);
    edit();
    cut_to = editor.End(true);
    return b.Out();
  }
  std::string PayloadOf(const std::vector<uint8_t>& pkt) {
    return std::string(pkt.begin() + 40, pkt.end());
  }
  AlgEditor editor;
  uint16_t cut_to = 0;  // what End() returned
};

TEST_F(AlgEditorTest, GrowingAPayloadFixesLengthsChecksumAndLaterSequence) {
  std::vector<uint8_t> out =
      Segment(Side::kInside, 1000, 5000, "PORT 1,2\r\n", [&] {
        EXPECT_EQ(
            std::string(reinterpret_cast<const char*>(editor.Payload().data()),
                        editor.Payload().size()),
            "PORT 1,2\r\n");
        ASSERT_TRUE(editor.Replace(5, 3, "10,20,30").ok());
      });
  EXPECT_EQ(PayloadOf(out), "PORT 10,20,30\r\n");
  EXPECT_EQ(LoadBe16(out.data() + 2), 40 + 15);
  EXPECT_TRUE(ChecksumsValid(out));
  const AlgEditor::SeqAdjDir d = editor.Adjustment(kFlow, Side::kInside);
  EXPECT_TRUE(d.set);
  EXPECT_EQ(d.offset_after, 5);
  EXPECT_EQ(d.correction_pos, 1000u);
  // The next segment from inside moves by 5; the answer's ACK moves back.
  out = Segment(Side::kInside, 1010, 5000, "NOOP\r\n", [] {});
  EXPECT_EQ(LoadBe32(out.data() + 24), 1015u);
  EXPECT_TRUE(ChecksumsValid(out));
  out = Segment(Side::kOutside, 5000, 1021, "200 ok\r\n", [] {});
  EXPECT_EQ(LoadBe32(out.data() + 28), 1016u);
  EXPECT_TRUE(ChecksumsValid(out));
  // A retransmission of the edited segment keeps the offset it had.
  out = Segment(Side::kInside, 1000, 5000, "PORT 1,2\r\n",
                [&] { ASSERT_TRUE(editor.Replace(5, 3, "10,20,30").ok()); });
  EXPECT_EQ(LoadBe32(out.data() + 24), 1000u);
  EXPECT_EQ(editor.Adjustment(kFlow, Side::kInside).offset_after, 5);
  editor.Forget(kFlow);
  EXPECT_FALSE(editor.Adjustment(kFlow, Side::kInside).set);
}

// Each of the last kHistory edited segments keeps the offset its position
// had: a retransmission of an older one, and an ACK of data before a later
// edit, map as they did (one correction point mapped both by the newest).
TEST_F(AlgEditorTest, OlderEditedSegmentsKeepTheirOwnOffsets) {
  auto seq_of = [](const std::vector<uint8_t>& p) {
    return LoadBe32(p.data() + 24);
  };
  auto ack_of = [](const std::vector<uint8_t>& p) {
    return LoadBe32(p.data() + 28);
  };
  // [1000, 1010) grows by 5, [1010, 1020) shrinks by 8 (a held tail),
  // [1020, 1030) grows by 8 (the tail given back) and 2.
  Segment(Side::kInside, 1000, 1, "0123456789",
          [&] { ASSERT_TRUE(editor.Replace(0, 0, "abcde").ok()); });
  Segment(Side::kInside, 1010, 1, "0123456789",
          [&] { ASSERT_TRUE(editor.Replace(2, 8, "").ok()); });
  std::vector<uint8_t> out = Segment(Side::kInside, 1020, 1, "0123456789", [&] {
    ASSERT_TRUE(editor.Replace(0, 0, "2345678901").ok());
  });
  EXPECT_EQ(seq_of(out), 1020u + 5 - 8);
  EXPECT_EQ(editor.Adjustment(kFlow, Side::kInside).offset_after, 5 - 8 + 10);
  // Retransmissions of each, unedited: each with its own offset before.
  EXPECT_EQ(seq_of(Segment(Side::kInside, 1000, 1, "0123456789", [] {})),
            1000u);
  EXPECT_EQ(seq_of(Segment(Side::kInside, 1010, 1, "0123456789", [] {})),
            1015u);
  EXPECT_EQ(seq_of(Segment(Side::kInside, 1020, 1, "0123456789", [] {})),
            1017u);
  EXPECT_EQ(seq_of(Segment(Side::kInside, 1030, 1, "x", [] {})), 1037u);
  // ACKs from the other side, in the adjusted space: the end of each
  // output segment maps to the end of its input.
  auto ack = [&](uint32_t a) {
    return ack_of(Segment(Side::kOutside, 1, a, "", [] {}));
  };
  EXPECT_EQ(ack(1000), 1000u);
  EXPECT_EQ(ack(1015), 1010u);  // the first segment's 15 bytes
  EXPECT_EQ(ack(1017), 1020u);  // the second's 2 (8 held)
  EXPECT_EQ(ack(1037), 1030u);  // the third's 20
  // Past kHistory edited segments the oldest offsets go: the oldest kept
  // point's offset before stands for all before it.
  for (int i = 0; i < AlgEditor::kHistory; ++i) {
    Segment(Side::kInside, 2000 + 10 * i, 1, "0123456789",
            [&] { ASSERT_TRUE(editor.Replace(0, 0, "z").ok()); });
  }
  EXPECT_EQ(seq_of(Segment(Side::kInside, 1000, 1, "0123456789", [] {})),
            1007u);
}

// A segment all of whose bytes a helper takes out (held for the next): its
// point sits a byte before it (an ACK of what came before covers them), and
// the same segment again, with or without more bytes, is a retransmission:
// its edits are not recorded a second time.
TEST_F(AlgEditorTest, AnEmptiedSegmentSentAgainIsARetransmission) {
  auto seq_of = [](const std::vector<uint8_t>& p) {
    return LoadBe32(p.data() + 24);
  };
  auto empty = [&] { ASSERT_TRUE(editor.Replace(0, 4, "").ok()); };
  EXPECT_EQ(seq_of(Segment(Side::kInside, 1000, 1, "0123", empty)), 996u);
  EXPECT_EQ(editor.Adjustment(kFlow, Side::kInside).offset_after, -4);
  EXPECT_EQ(seq_of(Segment(Side::kInside, 1000, 1, "0123", empty)), 996u);
  EXPECT_EQ(
      seq_of(Segment(Side::kInside, 1000, 1, "01234567",
                     [&] { ASSERT_TRUE(editor.Replace(0, 8, "").ok()); })),
      996u);
  EXPECT_EQ(editor.Adjustment(kFlow, Side::kInside).offset_after, -4)
      << "recorded once";
  // The held bytes given back in front of the next segment: in step again.
  EXPECT_EQ(
      seq_of(Segment(Side::kInside, 1004, 1, "4567",
                     [&] { ASSERT_TRUE(editor.Replace(0, 0, "0123").ok()); })),
      1000u);
  EXPECT_EQ(editor.Adjustment(kFlow, Side::kInside).offset_after, 0);
}

// A segment an edit grows past the sender's largest (and past 536 bytes)
// by more than kGrowthSlack is to be cut back to that size; one still
// within it is not.
TEST_F(AlgEditorTest, GrownSegmentsAreCutToTheSendersSize) {
  Segment(Side::kInside, 1000, 1, std::string(600, 'a'), [] {});
  EXPECT_EQ(cut_to, 0);
  Segment(Side::kInside, 1600, 1, std::string(500, 'b'), [&] {
    ASSERT_TRUE(editor.Replace(0, 0, std::string(90, 'c')).ok());
  });
  EXPECT_EQ(cut_to, 0);  // 590 bytes: within the 600 seen
  Segment(Side::kInside, 2100, 1, std::string(500, 'b'), [&] {
    ASSERT_TRUE(editor.Replace(0, 0, std::string(164, 'c')).ok());
  });
  EXPECT_EQ(cut_to, 0);  // 664: within the slack
  Segment(Side::kInside, 2600, 1, std::string(500, 'b'), [&] {
    ASSERT_TRUE(editor.Replace(0, 0, std::string(165, 'c')).ok());
  });
  EXPECT_EQ(cut_to, 600);
  // Small segments are cut no smaller than 536 bytes.
  Segment(Side::kOutside, 1, 1000, "x", [&] {
    ASSERT_TRUE(editor.Replace(0, 0, std::string(535 + 64, 'c')).ok());
  });
  EXPECT_EQ(cut_to, 0);
  Segment(Side::kOutside, 2, 1000, "x", [&] {
    ASSERT_TRUE(editor.Replace(0, 0, std::string(536 + 64, 'c')).ok());
  });
  EXPECT_EQ(cut_to, 536);
}

TEST_F(AlgEditorTest, UdpEditKeepsItsLengthAndChecksumRight) {
  Buffer b(unat::testing::Udp("10.0.0.2", 5000, "198.51.100.1", 69, "abc"));
  editor.Begin(kFlow, b.pkt, Side::kInside, kProtoUdp, 20, 8);
  ASSERT_TRUE(editor.Replace(1, 1, "BBBB").ok());
  editor.End(true);
  const std::vector<uint8_t> out = b.Out();
  EXPECT_EQ(std::string(out.begin() + 28, out.end()), "aBBBBc");
  EXPECT_EQ(LoadBe16(out.data() + 24), 8 + 6);
  EXPECT_TRUE(ChecksumsValid(out));
}

TEST_F(AlgEditorTest, RefusesWhatItCannotVouchFor) {
  // Outside a packet: nothing to edit.
  EXPECT_EQ(editor.Replace(0, 0, "x").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(editor.Payload().empty());
  Buffer b(unat::testing::Udp("10.0.0.2", 5000, "198.51.100.1", 69, "abc"));
  b.bytes[27] ^= 0xff;  // a payload byte: the UDP checksum is now wrong
  editor.Begin(kFlow, b.pkt, Side::kInside, kProtoUdp, 20, 8);
  EXPECT_EQ(editor.Replace(0, 1, "z").code(), absl::StatusCode::kDataLoss);
  editor.End(true);
  Buffer c(unat::testing::Udp("10.0.0.2", 5000, "198.51.100.1", 69, "abc"));
  editor.Begin(kFlow, c.pkt, Side::kInside, kProtoUdp, 20, 8);
  EXPECT_EQ(editor.Replace(2, 5, "z").code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(editor.Replace(0, 0, std::string(3000, 'x')).code(),
            absl::StatusCode::kResourceExhausted);
  editor.End(true);
  EXPECT_EQ(c.Out(),
            unat::testing::Udp("10.0.0.2", 5000, "198.51.100.1", 69, "abc"));
}

TEST_F(AlgEditorTest, FlowStateLivesWithTheFlow) {
  Buffer b(unat::testing::Udp("10.0.0.2", 5000, "198.51.100.1", 69));
  editor.Begin(kFlow, b.pkt, Side::kInside, kProtoUdp, 20, 8);
  editor.FlowState() = "partial line";
  editor.End(true);
  editor.Begin(kFlow, b.pkt, Side::kOutside, kProtoUdp, 20, 8);
  EXPECT_EQ(editor.FlowState(), "partial line");
  editor.End(true);
  editor.Forget(kFlow);
  editor.Begin(kFlow, b.pkt, Side::kInside, kProtoUdp, 20, 8);
  EXPECT_EQ(editor.FlowState(), "");
  editor.End(true);
}

}  // namespace
}  // namespace unat::internal
