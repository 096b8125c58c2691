// TCP tracking on its own: the state machine, window scaling, RST
// validation and handshake completion, as pure functions of a flow record
// (engine/tcp_track.h).
#include "engine/tcp_track.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "tests/unit/component_util.h"
#include "tests/unit/test_util.h"

namespace unat::internal {
namespace {

using unat::testing::Views;

constexpr uint8_t kSyn = tcp_flags::kSyn, kAck = tcp_flags::kAck,
                  kFin = tcp_flags::kFin, kRst = tcp_flags::kRst;
constexpr uint32_t kIsnIn = 1000000;   // the inside host's first sequence
constexpr uint32_t kIsnOut = 7000000;  // the outside host's
constexpr int kNoWscale = -1;

// A segment between 10.0.0.2:40000 (inside) and 198.51.100.1:80.
std::vector<uint8_t> Segment(Side from, uint8_t flags, uint32_t seq,
                             uint32_t ack, uint16_t window, int wscale,
                             size_t payload) {
  const bool in = from == Side::kInside;
  Tins::IP ip(in ? "198.51.100.1" : "10.0.0.2",
              in ? "10.0.0.2" : "198.51.100.1");
  Tins::TCP tcp(in ? 80 : 40000, in ? 40000 : 80);
  tcp.flags(flags);
  tcp.seq(seq);
  tcp.ack_seq(ack);
  tcp.window(window);
  if (wscale >= 0) {
    tcp.mss(1460);
    tcp.winscale(static_cast<uint8_t>(wscale));
  }
  ip /= tcp;
  if (payload) ip /= Tins::RawPDU(std::string(payload, 'd'));
  return ip.serialize();
}

class TcpTrackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    f = Flow{};
    f.proto = kProtoTcp;
    f.flags = kFlowLive;
    f.wscale = 0xff;  // as the engine makes a flow: no scale known
    f.set_state(TcpState::kSynSent);
    t = TcpTrack{};
  }
  // An inbound flow: the outside host opened it.
  void MakeInbound() { f.flags |= kFlowInboundOrigin; }

  // Tracks one segment; `before` keeps the state it found.
  bool Send(Side from, uint8_t flags, uint32_t seq, uint32_t ack = 0,
            size_t payload = 0, uint16_t window = 65535,
            int wscale = kNoWscale) {
    Views v(Segment(from, flags, seq, ack, window, wscale, payload));
    EXPECT_TRUE(v.ok());
    EXPECT_EQ(v.tcp_payload(), payload);
    why = DropReason::kNone;
    before = f.state();
    return TrackTcp(f, t, from, v.l4(), v.tcp_payload(), &why);
  }
  // The three-way handshake of an outbound flow, the inside host opening.
  void Handshake(uint32_t isn_in = kIsnIn, uint32_t isn_out = kIsnOut) {
    ASSERT_TRUE(Send(Side::kInside, kSyn, isn_in));
    ASSERT_TRUE(Send(Side::kOutside, kSyn | kAck, isn_out, isn_in + 1));
    ASSERT_TRUE(Send(Side::kInside, kAck, isn_in + 1, isn_out + 1));
    ASSERT_EQ(state(), TcpState::kEstablished);
  }
  // An RST from `from` with sequence `seq` (and an ACK of `ack`, if any).
  bool Rst(Side from, uint32_t seq, uint32_t ack = 0) {
    return Send(from, ack ? (kRst | kAck) : kRst, seq, ack);
  }
  TcpState state() const { return static_cast<TcpState>(f.state()); }

  Flow f;
  TcpTrack t;
  DropReason why = DropReason::kNone;
  uint8_t before = 0;
};

TEST_F(TcpTrackTest, TheHandshakeMovesToEstablished) {
  ASSERT_TRUE(Send(Side::kInside, kSyn, kIsnIn));
  EXPECT_EQ(state(), TcpState::kSynSent);
  EXPECT_EQ(t.end[0], kIsnIn + 1) << "a SYN takes one sequence number";
  EXPECT_TRUE(f.flags & kFlowSeenInside);
  EXPECT_FALSE(f.flags & kFlowSeenOutside);
  // An ACK from the originator before any answer changes nothing.
  ASSERT_TRUE(Send(Side::kInside, kAck, kIsnIn + 1, 5));
  EXPECT_EQ(state(), TcpState::kSynSent);
  ASSERT_TRUE(Send(Side::kOutside, kSyn | kAck, kIsnOut, kIsnIn + 1));
  EXPECT_EQ(state(), TcpState::kSynReceived);
  EXPECT_EQ(t.end[1], kIsnOut + 1);
  EXPECT_TRUE(f.flags & kFlowSeenOutside);
  // The answerer's own ACK does not complete it; the originator's does.
  ASSERT_TRUE(Send(Side::kOutside, kAck, kIsnOut + 1, kIsnIn + 1));
  EXPECT_EQ(state(), TcpState::kSynReceived);
  ASSERT_TRUE(Send(Side::kInside, kAck, kIsnIn + 1, kIsnOut + 1, 100));
  EXPECT_EQ(state(), TcpState::kEstablished);
  EXPECT_EQ(t.end[0], kIsnIn + 101) << "data moves the end";
  // A retransmission does not move it back.
  ASSERT_TRUE(Send(Side::kInside, kAck, kIsnIn + 1, kIsnOut + 1, 10));
  EXPECT_EQ(t.end[0], kIsnIn + 101);
  EXPECT_EQ(t.win[0], 65535u);
  EXPECT_EQ(t.win[1], 65535u);
}

TEST_F(TcpTrackTest, FinsBothWaysMoveToClosing) {
  Handshake();
  ASSERT_TRUE(Send(Side::kInside, kFin | kAck, kIsnIn + 1, kIsnOut + 1));
  EXPECT_EQ(state(), TcpState::kFinWait);
  EXPECT_EQ(t.end[0], kIsnIn + 2) << "a FIN takes one sequence number";
  ASSERT_TRUE(Send(Side::kInside, kFin | kAck, kIsnIn + 1, kIsnOut + 1));
  EXPECT_EQ(state(), TcpState::kFinWait) << "a retransmitted FIN";
  ASSERT_TRUE(Send(Side::kOutside, kAck, kIsnOut + 1, kIsnIn + 2));
  EXPECT_EQ(state(), TcpState::kFinWait);
  ASSERT_TRUE(Send(Side::kOutside, kFin | kAck, kIsnOut + 1, kIsnIn + 2));
  EXPECT_EQ(state(), TcpState::kClosing);
  ASSERT_TRUE(Send(Side::kInside, kAck, kIsnIn + 2, kIsnOut + 2));
  EXPECT_EQ(state(), TcpState::kClosing);
}

TEST_F(TcpTrackTest, AFinFromTheOutsideFirstThenTheInsideMovesToClosing) {
  Handshake();
  ASSERT_TRUE(Send(Side::kOutside, kFin | kAck, kIsnOut + 1, kIsnIn + 1));
  EXPECT_EQ(state(), TcpState::kFinWait);
  EXPECT_TRUE(f.flags & kFlowFinFromOutside);
  ASSERT_TRUE(Send(Side::kOutside, kFin | kAck, kIsnOut + 1, kIsnIn + 1));
  EXPECT_EQ(state(), TcpState::kFinWait);
  ASSERT_TRUE(Send(Side::kInside, kFin | kAck, kIsnIn + 1, kIsnOut + 2));
  EXPECT_EQ(state(), TcpState::kClosing);
}

TEST_F(TcpTrackTest, AnRstOutsideTheWindowIsRefusedAndChangesNothing) {
  Handshake();
  const Flow f_before = f;
  const TcpTrack t_before = t;
  const uint32_t end = t.end[1];  // what the outside has sent
  for (uint32_t seq : {end + 65536, end - 65536, end + 1000000}) {
    EXPECT_FALSE(Rst(Side::kOutside, seq)) << seq;
    EXPECT_EQ(why, DropReason::kTcpInvalidRst);
    EXPECT_EQ(std::memcmp(&f, &f_before, sizeof f), 0);
    EXPECT_EQ(std::memcmp(&t, &t_before, sizeof t), 0);
  }
  EXPECT_EQ(state(), TcpState::kEstablished);
  // The window's edges (the inside's 65535) are in.
  EXPECT_TRUE(Rst(Side::kOutside, end + 65535));
  EXPECT_EQ(state(), TcpState::kClosed);
}

TEST_F(TcpTrackTest, AnRstInTheWindowClosesTheFlow) {
  Handshake();
  EXPECT_TRUE(Rst(Side::kInside, t.end[0] - 65535));
  EXPECT_EQ(why, DropReason::kNone);
  EXPECT_EQ(state(), TcpState::kClosed);
}

TEST_F(TcpTrackTest, BeforeItsAnswerAnRstMustAcknowledgeTheSyn) {
  ASSERT_TRUE(Send(Side::kInside, kSyn, kIsnIn));
  EXPECT_FALSE(Rst(Side::kOutside, 0, kIsnIn + 2));
  EXPECT_EQ(why, DropReason::kTcpInvalidRst);
  EXPECT_FALSE(Rst(Side::kOutside, kIsnIn + 1)) << "no ACK flag";
  EXPECT_EQ(state(), TcpState::kSynSent);
  EXPECT_TRUE(Rst(Side::kOutside, 0, kIsnIn + 1)) << "connection refused";
  EXPECT_EQ(state(), TcpState::kClosed);
}

TEST_F(TcpTrackTest, WindowScalesAreLearnedFromTheSyns) {
  ASSERT_TRUE(Send(Side::kInside, kSyn, kIsnIn, 0, 0, 1000, 7));
  EXPECT_EQ(f.wscale, 0xf7);
  ASSERT_TRUE(
      Send(Side::kOutside, kSyn | kAck, kIsnOut, kIsnIn + 1, 0, 2000, 2));
  EXPECT_EQ(f.wscale, 0x27);
  EXPECT_EQ(t.win[0], 1000u) << "a SYN's window is never scaled";
  EXPECT_EQ(t.win[1], 2000u);
  ASSERT_TRUE(Send(Side::kInside, kAck, kIsnIn + 1, kIsnOut + 1, 0, 1000));
  EXPECT_EQ(t.win[0], 1000u << 7);
  ASSERT_TRUE(Send(Side::kOutside, kAck, kIsnOut + 1, kIsnIn + 1, 0, 400));
  EXPECT_EQ(t.win[1], 2000u) << "the largest window (1600 < 2000) is kept";
  ASSERT_TRUE(Send(Side::kOutside, kAck, kIsnOut + 1, kIsnIn + 1, 0, 1001));
  EXPECT_EQ(t.win[1], 4004u);
  // The inside's scaled window (128000) lets an RST 100000 ahead in.
  EXPECT_TRUE(Rst(Side::kOutside, t.end[1] + 100000));
}

TEST_F(TcpTrackTest, NoScalingUnlessBothSidesOfferIt) {
  ASSERT_TRUE(Send(Side::kInside, kSyn, kIsnIn, 0, 0, 1000, 7));
  ASSERT_TRUE(Send(Side::kOutside, kSyn | kAck, kIsnOut, kIsnIn + 1, 0, 2000));
  EXPECT_EQ(f.wscale, 0xf7) << "15: the outside offered none";
  ASSERT_TRUE(Send(Side::kInside, kAck, kIsnIn + 1, kIsnOut + 1, 0, 1000));
  EXPECT_EQ(t.win[0], 1000u);
  EXPECT_FALSE(Rst(Side::kOutside, t.end[1] + 100000));
  EXPECT_EQ(state(), TcpState::kEstablished);
}

TEST_F(TcpTrackTest, AScaleAbove14CountsAs14) {
  MakeInbound();
  ASSERT_TRUE(Send(Side::kOutside, kSyn, kIsnOut, 0, 0, 1000, 20));
  EXPECT_EQ(f.wscale >> 4, 14);
  EXPECT_EQ(f.wscale & 0xf, 15) << "the inside's still unknown";
}

TEST_F(TcpTrackTest, ANewSynRestartsAClosedFlow) {
  Handshake();
  ASSERT_TRUE(Rst(Side::kInside, t.end[0]));
  ASSERT_EQ(state(), TcpState::kClosed);
  // Only the originator's bare SYN starts a new connection.
  ASSERT_TRUE(Send(Side::kOutside, kSyn, 42));
  EXPECT_EQ(state(), TcpState::kClosed);
  ASSERT_TRUE(Send(Side::kInside, kSyn | kAck, kIsnIn + 5000, 1));
  EXPECT_EQ(state(), TcpState::kClosed);
  ASSERT_TRUE(Send(Side::kInside, kSyn, kIsnIn + 10000));
  EXPECT_EQ(state(), TcpState::kSynSent);
  EXPECT_TRUE(f.flags & kFlowSeenInside);
  EXPECT_FALSE(f.flags & kFlowSeenOutside);
  EXPECT_EQ(t.end[1], 0u);
  EXPECT_EQ(t.win[1], 0u);
  ASSERT_TRUE(Send(Side::kOutside, kSyn | kAck, 9000, kIsnIn + 10001));
  EXPECT_EQ(state(), TcpState::kSynReceived);
  ASSERT_TRUE(Send(Side::kInside, kAck, kIsnIn + 10001, 9001));
  EXPECT_EQ(state(), TcpState::kEstablished);
}

// The new connection's SYN may start below the old one's sequence numbers
// (a new ISN is random): its answer must still be judged against it.
TEST_F(TcpTrackTest, ARestartedFlowAcceptsAnRstAnsweringTheNewSyn) {
  Handshake();
  ASSERT_TRUE(Send(Side::kInside, kFin | kAck, kIsnIn + 1, kIsnOut + 1));
  ASSERT_TRUE(Send(Side::kOutside, kFin | kAck, kIsnOut + 1, kIsnIn + 2));
  ASSERT_EQ(state(), TcpState::kClosing);
  const uint32_t new_isn = 5000;  // before kIsnIn in sequence space
  ASSERT_TRUE(Send(Side::kInside, kSyn, new_isn));
  ASSERT_EQ(state(), TcpState::kSynSent);
  EXPECT_EQ(t.end[0], new_isn + 1) << "the new connection's end";
  // The server refuses the new connection: RST|ACK of exactly the new SYN.
  EXPECT_TRUE(Rst(Side::kOutside, 0, new_isn + 1)) << DropReasonName(why);
  EXPECT_EQ(state(), TcpState::kClosed);
}

TEST_F(TcpTrackTest, HandshakeCompletedWhenTheInboundFlowIsAnswered) {
  MakeInbound();
  ASSERT_TRUE(Send(Side::kOutside, kSyn, kIsnOut));
  EXPECT_FALSE(HandshakeCompleted(f, before));
  ASSERT_TRUE(Send(Side::kInside, kSyn | kAck, kIsnIn, kIsnOut + 1));
  EXPECT_EQ(state(), TcpState::kSynReceived);
  EXPECT_FALSE(HandshakeCompleted(f, before));
  ASSERT_TRUE(Send(Side::kOutside, kAck, kIsnOut + 1, kIsnIn + 1));
  EXPECT_EQ(state(), TcpState::kEstablished);
  EXPECT_TRUE(HandshakeCompleted(f, before));
  // Once: later segments are no new completion.
  ASSERT_TRUE(Send(Side::kOutside, kAck, kIsnOut + 1, kIsnIn + 1, 10));
  EXPECT_FALSE(HandshakeCompleted(f, before));
  ASSERT_TRUE(Send(Side::kOutside, kFin | kAck, kIsnOut + 11, kIsnIn + 1));
  EXPECT_FALSE(HandshakeCompleted(f, before));
}

TEST_F(TcpTrackTest, HandshakeCompletedIsForInboundFlowsOnly) {
  ASSERT_TRUE(Send(Side::kInside, kSyn, kIsnIn));
  ASSERT_TRUE(Send(Side::kOutside, kSyn | kAck, kIsnOut, kIsnIn + 1));
  ASSERT_TRUE(Send(Side::kInside, kAck, kIsnIn + 1, kIsnOut + 1));
  ASSERT_EQ(state(), TcpState::kEstablished);
  EXPECT_FALSE(HandshakeCompleted(f, before));
}

// The inside host never answered: the originator's own FIN takes the flow
// past SYN_RECV but is no answer (else SYN+FIN pairs from outside would
// put unanswered flows on the inside host's flow budget, unevictable).
TEST_F(TcpTrackTest, TheOriginatorsOwnFinDoesNotCompleteTheHandshake) {
  MakeInbound();
  ASSERT_TRUE(Send(Side::kOutside, kSyn, kIsnOut));
  ASSERT_TRUE(Send(Side::kOutside, kFin | kAck, kIsnOut + 1, 0));
  EXPECT_FALSE(f.flags & kFlowSeenInside);
  EXPECT_FALSE(HandshakeCompleted(f, before))
      << "state " << TcpStateName(state());
}

// The third segment must acknowledge exactly the responder's SYN: a blind
// ACK or FIN guessing at the inside host's ISN neither moves the state nor
// teaches the tracker its sequence numbers.
TEST_F(TcpTrackTest, OnlyTheExactAckOfTheSynCompletesTheHandshake) {
  MakeInbound();
  ASSERT_TRUE(Send(Side::kOutside, kSyn, kIsnOut));
  ASSERT_TRUE(Send(Side::kInside, kSyn | kAck, kIsnIn, kIsnOut + 1));
  ASSERT_EQ(state(), TcpState::kSynReceived);
  const TcpTrack known = t;
  for (uint32_t guess : {0u, kIsnIn, kIsnIn + 2, kIsnIn - 1000}) {
    ASSERT_TRUE(Send(Side::kOutside, kAck, kIsnOut + 1, guess, 100));
    EXPECT_EQ(state(), TcpState::kSynReceived) << guess;
    EXPECT_FALSE(HandshakeCompleted(f, before)) << guess;
    ASSERT_TRUE(Send(Side::kOutside, kFin | kAck, kIsnOut + 1, guess));
    EXPECT_EQ(state(), TcpState::kSynReceived) << guess;
    ASSERT_TRUE(Send(Side::kOutside, kFin, kIsnOut + 1));
    EXPECT_EQ(state(), TcpState::kSynReceived) << "a FIN without ACK";
  }
  EXPECT_EQ(t.end[1], known.end[1]) << "the guesses taught nothing";
  EXPECT_EQ(t.win[1], known.win[1]);
  ASSERT_TRUE(Send(Side::kOutside, kAck, kIsnOut + 1, kIsnIn + 1));
  EXPECT_EQ(state(), TcpState::kEstablished);
  EXPECT_TRUE(HandshakeCompleted(f, before));
}

TEST_F(TcpTrackTest, AThirdSegmentCarryingFinAndTheRightAckIsBelieved) {
  MakeInbound();
  ASSERT_TRUE(Send(Side::kOutside, kSyn, kIsnOut));
  ASSERT_TRUE(Send(Side::kInside, kSyn | kAck, kIsnIn, kIsnOut + 1));
  ASSERT_TRUE(Send(Side::kOutside, kFin | kAck, kIsnOut + 1, kIsnIn + 1));
  EXPECT_EQ(state(), TcpState::kFinWait);
  EXPECT_TRUE(HandshakeCompleted(f, before));
}

TEST_F(TcpTrackTest, ASynAckThatAcknowledgesNoSynIsNotBelieved) {
  ASSERT_TRUE(Send(Side::kInside, kSyn, kIsnIn));
  ASSERT_TRUE(Send(Side::kOutside, kSyn | kAck, kIsnOut, kIsnIn + 7));
  EXPECT_EQ(state(), TcpState::kSynSent);
  EXPECT_FALSE(f.flags & kFlowSeenOutside);
  // The real answer is.
  ASSERT_TRUE(Send(Side::kOutside, kSyn | kAck, kIsnOut, kIsnIn + 1));
  EXPECT_EQ(state(), TcpState::kSynReceived);
  EXPECT_EQ(t.end[1], kIsnOut + 1);
}

// A responder may send data before the third segment (TCP Fast Open): it
// acknowledges the SYN, and the third segment then acknowledges it all.
TEST_F(TcpTrackTest, ResponderDataBeforeTheThirdSegmentIsFollowed) {
  ASSERT_TRUE(Send(Side::kInside, kSyn, kIsnIn));
  ASSERT_TRUE(Send(Side::kOutside, kSyn | kAck, kIsnOut, kIsnIn + 1));
  ASSERT_TRUE(Send(Side::kOutside, kAck, kIsnOut + 1, kIsnIn + 1, 500));
  EXPECT_EQ(state(), TcpState::kSynReceived);
  EXPECT_EQ(t.end[1], kIsnOut + 501);
  ASSERT_TRUE(Send(Side::kInside, kAck, kIsnIn + 1, kIsnOut + 501));
  EXPECT_EQ(state(), TcpState::kEstablished);
}

}  // namespace
}  // namespace unat::internal
