// A real Nat with two tenants (lan, lan2: both 10.77.0.1/24), the shared
// registry and the NAT-PMP/PCP server registered on UDP 5351, both on a
// NatTable over the Nat. Requests are
// built with libtins and go through Nat::ProcessInside(); answers come back
// through a capturing PacketSink and are parsed with libtins.
#pragma once

#include <gtest/gtest.h>
#include <tins/tins.h>

#include <memory>
#include <optional>
#include <vector>

#include "engine/checksum.h"
#include "engine/nat.h"
#include "portmap/nat_table.h"
#include "portmap/registry.h"
#include "portmap/server.h"
#include "tests/unit/test_util.h"

namespace unat::portmap::test {

using unat::testing::A;
using unat::testing::Buf;
using unat::testing::CapturingSink;
using unat::testing::ChecksumsValid;
using unat::testing::Emitted;

using Bytes = std::vector<uint8_t>;

inline void Put16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
inline void Put32(Bytes& b, uint32_t v) {
  Put16(b, static_cast<uint16_t>(v >> 16));
  Put16(b, static_cast<uint16_t>(v));
}
inline uint16_t Get16(const Bytes& b, size_t at) { return LoadBe16(&b[at]); }
inline uint32_t Get32(const Bytes& b, size_t at) { return LoadBe32(&b[at]); }

class PortmapTest : public ::testing::Test {
 protected:
  static constexpr const char* kExt = "203.0.113.1";
  static constexpr const char* kGw = "10.77.0.1";
  static constexpr const char* kHost = "10.77.0.5";
  static constexpr const char* kRemote = "198.51.100.7";

  void SetUp() override { Make(); }

  void Make(MappingPolicy policy = {}, PortMapConfig config = {},
            const std::function<void(NatConfig&)>& tweak = {}) {
    server.reset();
    registry.reset();
    table.reset();
    NatConfig c;
    c.external_addresses = {A(kExt)};
    c.random_seed = 42;
    if (tweak) tweak(c);
    auto n = Nat::Create(c);
    ASSERT_TRUE(n.ok()) << n.status();
    nat = std::move(*n);
    nat->SetSink(&sink);
    lan = *nat->AddNamespace({"lan", A(kGw), 24});
    lan2 = *nat->AddNamespace({"lan2", A(kGw), 24});
    table = std::make_unique<NatTable>(*nat);
    registry = std::make_unique<MappingRegistry>(table.get(), policy, 7);
    server = std::make_unique<PortMapServer>(table.get(), registry.get(),
                                             config, now);
    ASSERT_TRUE(server->Register().ok());
  }

  // Sends `payload` from src:sport in `ns` to the gateway's port 5351 and
  // returns the answer's UDP payload, or nullopt if nothing was sent. Checks
  // the answer's framing: gateway:5351 -> src:sport, checksums right.
  std::optional<Bytes> Ask(const Bytes& payload, const char* src = kHost,
                           uint16_t sport = 40001, NamespaceId ns = 0xfffe,
                           uint16_t dport = kServerPort) {
    if (ns == 0xfffe) ns = lan;
    Tins::IP ip(kGw, src);
    ip /= Tins::UDP(dport, sport) /
          Tins::RawPDU(payload.data(), static_cast<uint32_t>(payload.size()));
    Buf b(ip.serialize());
    sink.packets.clear();
    Verdict v = nat->ProcessInside(ns, b.pkt, now);
    EXPECT_EQ(v.action, Verdict::kConsumed) << DropReasonName(v.reason);
    if (sink.packets.empty()) return std::nullopt;
    EXPECT_EQ(sink.packets.size(), 1u);
    const Emitted& e = sink.packets.back();
    EXPECT_EQ(e.side, Side::kInside);
    EXPECT_EQ(e.ns, ns);
    EXPECT_TRUE(ChecksumsValid(e.bytes));
    Tins::IP out(e.bytes.data(), static_cast<uint32_t>(e.bytes.size()));
    EXPECT_EQ(out.src_addr(), Tins::IPv4Address(kGw));
    EXPECT_EQ(out.dst_addr(), Tins::IPv4Address(src));
    const auto& udp = out.rfind_pdu<Tins::UDP>();
    EXPECT_EQ(udp.sport(), dport);
    EXPECT_EQ(udp.dport(), sport);
    const auto* raw = out.find_pdu<Tins::RawPDU>();
    if (raw == nullptr) return Bytes{};
    return raw->payload();
  }

  // An inbound packet from the wan side. Returns the verdict; `out` gets
  // the translated bytes on forward.
  Verdict Inbound(const Bytes& bytes, Bytes* out = nullptr) {
    Buf b(bytes);
    Verdict v = nat->ProcessOutside(b.pkt, now);
    if (out) *out = b.out();
    return v;
  }

  // True if a TCP SYN (or UDP datagram) from remote to kExt:ext_port
  // reaches inside:in_port in `ns`.
  bool Reaches(uint8_t proto, uint16_t ext_port, const char* inside,
               uint16_t in_port, NamespaceId ns, const char* remote = kRemote,
               uint16_t rport = 45000) {
    Bytes pkt = proto == kProtoTcp
                    ? unat::testing::Tcp(remote, rport, kExt, ext_port)
                    : unat::testing::Udp(remote, rport, kExt, ext_port);
    Bytes out;
    Verdict v = Inbound(pkt, &out);
    if (v.action != Verdict::kForward) return false;
    if (v.out_side != Side::kInside || v.out_ns != ns) return false;
    Tins::IP ip(out.data(), static_cast<uint32_t>(out.size()));
    if (ip.dst_addr() != Tins::IPv4Address(inside)) return false;
    const uint16_t dport = proto == kProtoTcp
                               ? ip.rfind_pdu<Tins::TCP>().dport()
                               : ip.rfind_pdu<Tins::UDP>().dport();
    return dport == in_port && ChecksumsValid(out);
  }

  void AdvanceTo(TimeMs t) {
    now = t;
    server->Tick(now, &sink);
    nat->Advance(now);
  }

  TimeMs now = 1'000'000;
  CapturingSink sink;
  std::unique_ptr<Nat> nat;
  NamespaceId lan = 0, lan2 = 0;
  std::unique_ptr<NatTable> table;  // what the servers see of `nat`
  std::unique_ptr<MappingRegistry> registry;
  std::unique_ptr<PortMapServer> server;
};

}  // namespace unat::portmap::test
