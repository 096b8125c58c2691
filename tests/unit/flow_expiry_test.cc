// How the engine uses the flow table's timer wheel (engine/flow_table.h):
// the wheel refiles lazily only a flow whose expiry moved later, so a flow
// whose timeout shrinks (an established TCP connection closing: 7440 s ->
// 240 s) must be refiled, or it stays until the wheel next reaches the slot
// of its old expiry, up to a wheel turn (4096 s) late, holding its mapping,
// its port and its host's flow budget.
#include <gtest/gtest.h>

#include "tests/unit/nat_fixture.h"

namespace unat::testing {
namespace {

class FlowExpiryTest : public NatTest {
 protected:
  // An established connection 10.77.0.2:40000 -> 198.51.100.1:80, then
  // idle long enough for the wheel to file it at its established expiry.
  void EstablishAndIdle() {
    std::vector<uint8_t> out;
    ASSERT_EQ(
        In(lan, Tcp(kIn, 40000, kRemote, 80, Tins::TCP::SYN, 100), &out).action,
        Verdict::kForward);
    Tins::IP ip(out.data(), static_cast<uint32_t>(out.size()));
    ext_port = ip.rfind_pdu<Tins::TCP>().sport();
    ASSERT_EQ(Out(Tcp(kRemote, 80, kExt, ext_port,
                      Tins::TCP::SYN | Tins::TCP::ACK, 500, 101))
                  .action,
              Verdict::kForward);
    ASSERT_EQ(
        In(lan, Tcp(kIn, 40000, kRemote, 80, Tins::TCP::ACK, 101, 501)).action,
        Verdict::kForward);
    for (int s = 0; s < 1000; ++s) {
      now += 1000;
      nat->Advance(now);
    }
    ASSERT_EQ(nat->GetStats().flows_total, 1u);
  }
  // Seconds (a step a second) until the flow table is empty, at most
  // `limit`.
  int SecondsUntilGone(int limit) {
    for (int s = 1; s <= limit; ++s) {
      now += 1000;
      nat->Advance(now);
      if (nat->GetStats().flows_total == 0) return s;
    }
    return -1;
  }

  static constexpr const char* kIn = "10.77.0.2";
  static constexpr const char* kRemote = "198.51.100.1";
  static constexpr const char* kExt = "203.0.113.1";
  uint16_t ext_port = 0;
};

TEST_F(FlowExpiryTest, AClosedConnectionGoesAtTheTransitoryTimeout) {
  EstablishAndIdle();
  ASSERT_EQ(In(lan, Tcp(kIn, 40000, kRemote, 80,
                        Tins::TCP::FIN | Tins::TCP::ACK, 101, 501))
                .action,
            Verdict::kForward);
  ASSERT_EQ(Out(Tcp(kRemote, 80, kExt, ext_port,
                    Tins::TCP::FIN | Tins::TCP::ACK, 501, 102))
                .action,
            Verdict::kForward);
  // tcp_transitory_s: 240 s (the wheel may take the second after).
  const int gone = SecondsUntilGone(4200);
  EXPECT_GE(gone, 240);
  EXPECT_LE(gone, 241);
}

TEST_F(FlowExpiryTest, AResetConnectionGoesAtTheTransitoryTimeout) {
  EstablishAndIdle();
  ASSERT_EQ(In(lan, Tcp(kIn, 40000, kRemote, 80, Tins::TCP::RST, 101)).action,
            Verdict::kForward);
  const int gone = SecondsUntilGone(4200);
  EXPECT_GE(gone, 240);
  EXPECT_LE(gone, 241);
}

}  // namespace
}  // namespace unat::testing
