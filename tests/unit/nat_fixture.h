// The engine fixture the unit tests share: a Nat with one external address
// (203.0.113.1) and two tenants with the same inside network (10.77.0.0/24),
// a sink that keeps what the engine emits, and one-packet helpers.
#pragma once

#include <gtest/gtest.h>
#include <tins/tins.h>

#include <functional>
#include <memory>
#include <vector>

#include "engine/nat.h"
#include "tests/unit/test_util.h"

namespace unat::testing {

class NatTest : public ::testing::Test {
 protected:
  void SetUp() override { Make(); }

  void Make(const std::function<void(NatConfig&)>& tweak = {}) {
    NatConfig c;
    c.external_addresses = {A("203.0.113.1")};
    c.random_seed = 42;
    if (tweak) tweak(c);
    auto n = Nat::Create(c);
    ASSERT_TRUE(n.ok()) << n.status();
    nat = std::move(*n);
    nat->SetSink(&sink);
    lan = *nat->AddNamespace({"lan", A("10.77.0.1"), 24});
    lan2 = *nat->AddNamespace({"lan2", A("10.77.0.1"), 24});
  }

  // Runs one packet; on forward, `out` gets the bytes.
  Verdict In(NamespaceId ns, const std::vector<uint8_t>& bytes,
             std::vector<uint8_t>* out = nullptr) {
    Buf b(bytes);
    Verdict v = nat->ProcessInside(ns, b.pkt, now);
    if (out) *out = b.out();
    return v;
  }
  Verdict Out(const std::vector<uint8_t>& bytes,
              std::vector<uint8_t>* out = nullptr) {
    Buf b(bytes);
    Verdict v = nat->ProcessOutside(b.pkt, now);
    if (out) *out = b.out();
    return v;
  }
  uint64_t Drops(DropReason r) {
    return nat->GetStats().drops[static_cast<int>(r)];
  }
  std::vector<FlowInfo> Flows() {
    std::vector<FlowInfo> v;
    nat->ForEachFlow([&](const FlowInfo& f) { v.push_back(f); });
    return v;
  }
  // Sends a UDP packet out and returns the external port it got.
  uint16_t UdpOut(NamespaceId ns, const char* src, uint16_t sport,
                  const char* dst, uint16_t dport) {
    std::vector<uint8_t> out;
    Verdict v = In(ns, Udp(src, sport, dst, dport), &out);
    EXPECT_EQ(v.action, Verdict::kForward) << DropReasonName(v.reason);
    if (v.action != Verdict::kForward) return 0;
    Tins::IP ip(out.data(), static_cast<uint32_t>(out.size()));
    return ip.rfind_pdu<Tins::UDP>().sport();
  }

  TimeMs now = 1'000'000;
  std::unique_ptr<Nat> nat;
  NamespaceId lan = 0, lan2 = 0;
  CapturingSink sink;
};

}  // namespace unat::testing
