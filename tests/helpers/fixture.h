// A real Nat with helpers attached, driven by libtins-built packets.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/nat.h"
#include "engine/wire.h"
#include "tests/unit/test_util.h"

namespace unat::helpers::testing {

using Tins::TCP;
using ::unat::testing::A;
using ::unat::testing::Buf;
using ::unat::testing::ChecksumsValid;
using ::unat::testing::Tcp;
using ::unat::testing::Udp;

class HelperFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    NatConfig c;
    c.external_addresses = {A("203.0.113.1")};
    c.random_seed = 7;
    nat = *Nat::Create(c);
    nat->SetSink(&sink);
    lan = *nat->AddNamespace({"lan", A("10.77.0.1"), 24});
  }
  // What the engine sent itself (segments it cut, ICMP errors).
  struct Sink : PacketSink {
    void Emit(Side side, NamespaceId, std::span<const uint8_t> p) override {
      packets.push_back({side, {p.begin(), p.end()}});
    }
    std::vector<std::pair<Side, std::vector<uint8_t>>> packets;
  };
  struct Result {
    Verdict v;
    std::vector<uint8_t> bytes;
    Tins::IP ip() const {
      return Tins::IP(bytes.data(), static_cast<uint32_t>(bytes.size()));
    }
    std::string data() const {
      Tins::IP p = ip();
      auto* raw = p.find_pdu<Tins::RawPDU>();
      if (!raw) return "";
      return std::string(raw->payload().begin(), raw->payload().end());
    }
    uint32_t seq() const { return ip().rfind_pdu<TCP>().seq(); }
    uint32_t ack() const { return ip().rfind_pdu<TCP>().ack_seq(); }
    uint16_t sport() const {
      Tins::IP p = ip();
      if (auto* t = p.find_pdu<TCP>()) return t->sport();
      return p.rfind_pdu<Tins::UDP>().sport();
    }
    uint16_t dport() const {
      Tins::IP p = ip();
      if (auto* t = p.find_pdu<TCP>()) return t->dport();
      return p.rfind_pdu<Tins::UDP>().dport();
    }
    bool forwarded() const { return v.action == Verdict::kForward; }
  };
  Result RunIn(const std::vector<uint8_t>& b, NamespaceId ns = 0xffff) {
    Buf buf(b);
    Result r;
    r.v = nat->ProcessInside(ns == 0xffff ? lan : ns, buf.pkt, now);
    r.bytes = buf.out();
    if (r.forwarded()) {
      EXPECT_TRUE(ChecksumsValid(r.bytes));
    }
    return r;
  }
  Result RunOut(const std::vector<uint8_t>& b) {
    Buf buf(b);
    Result r;
    r.v = nat->ProcessOutside(buf.pkt, now);
    r.bytes = buf.out();
    if (r.forwarded()) {
      EXPECT_TRUE(ChecksumsValid(r.bytes));
    }
    return r;
  }
  Result In(const std::vector<uint8_t>& b, NamespaceId ns = 0xffff) {
    Result r = RunIn(b, ns);
    EXPECT_EQ(r.v.action, Verdict::kForward) << DropReasonName(r.v.reason);
    return r;
  }
  Result Out(const std::vector<uint8_t>& b) {
    Result r = RunOut(b);
    EXPECT_EQ(r.v.action, Verdict::kForward) << DropReasonName(r.v.reason);
    return r;
  }
  // Helper name and expectation count of the flow with this inside port.
  FlowInfo FlowOf(uint16_t inside_port, uint8_t proto = kProtoTcp) {
    FlowInfo out;
    nat->ForEachFlow([&](const FlowInfo& f) {
      if (f.inside_port == inside_port && f.proto == proto) out = f;
    });
    return out;
  }
  uint32_t Expectations() { return nat->GetStats().expectations; }

  Sink sink;
  std::unique_ptr<Nat> nat;
  NamespaceId lan = 0;
  TimeMs now = 1000;
};

}  // namespace unat::helpers::testing
