// MappingTable on its own: endpoint-independent mappings, the port
// allocator (preservation, parity, exhaustion), hold times, paired pooling
// and the per-host and per-namespace port quotas (engine/mappings.h).
#include "engine/mappings.h"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <set>
#include <string>

#include "tests/unit/test_util.h"

namespace unat::internal {
namespace {

using unat::testing::A;

constexpr uint32_t kNoQuota = 0xffffffff;
constexpr uint32_t kTaken = kPortForwardBit | 7;  // a forward's port

class MappingTableTest : public ::testing::Test {
 protected:
  void SetUp() override { Make(); }

  // A table over 203.0.113.1 and ports 1024..1123, no hold time unless
  // `tweak` says otherwise.
  void Make(const std::function<void(NatConfig&)>& tweak = {},
            uint64_t rng_seed = 1) {
    table.reset();
    config = NatConfig{};
    config.external_addresses = {A("203.0.113.1")};
    config.port_min = 1024;
    config.port_max = 1123;
    config.port_parity = false;
    config.timeouts.port_hold_s = 0;
    if (tweak) tweak(config);
    table = std::make_unique<MappingTable>(config, 0xabcdef, rng_seed);
  }

  // A mapping for ns:addr:port (TCP unless told), expected to succeed.
  uint32_t Get(NamespaceId ns, uint32_t addr, uint16_t port,
               uint8_t proto = kProtoTcp, uint32_t quota = kNoQuota) {
    why = DropReason::kNone;
    const uint32_t m = table->GetOrCreate(ns, proto, addr, port, quota, &why);
    EXPECT_NE(m, kNone) << DropReasonName(why);
    EXPECT_EQ(why, DropReason::kNone);
    return m;
  }
  // The reason a mapping for ns:addr:port is refused (kNone: it was not).
  DropReason Refused(NamespaceId ns, uint32_t addr, uint16_t port,
                     uint8_t proto = kProtoTcp, uint32_t quota = kNoQuota) {
    DropReason r = DropReason::kNone;
    const uint32_t m = table->GetOrCreate(ns, proto, addr, port, quota, &r);
    EXPECT_EQ(m, kNone);
    return r;
  }
  const Mapping& M(uint32_t m) const { return (*table)[m]; }
  uint32_t Owner(uint32_t m) const {
    return table->PortOwner(table->ExternalIndex(M(m).ext_addr), M(m).proto,
                            M(m).ext_port);
  }
  // Marks ports as a forward's.
  void Take(std::initializer_list<uint16_t> ports, uint8_t proto = kProtoTcp) {
    for (uint16_t p : ports) table->SetPortOwner(0, proto, p, kTaken);
  }

  NatConfig config;
  std::unique_ptr<MappingTable> table;
  DropReason why = DropReason::kNone;
  const uint32_t host = A("10.0.0.2");
  const uint32_t host2 = A("10.0.0.3");
};

TEST_F(MappingTableTest, TheSameInsideEndpointGetsTheSameMapping) {
  const uint32_t m = Get(1, host, 5000);
  EXPECT_EQ(Get(1, host, 5000), m);
  EXPECT_EQ(M(m).refs, 2u);
  EXPECT_EQ(M(m).state, MappingState::kLive);
  EXPECT_EQ(M(m).in_addr, host);
  EXPECT_EQ(M(m).in_port, 5000);
  EXPECT_EQ(M(m).ns, 1);
  EXPECT_EQ(M(m).proto, kProtoTcp);
  EXPECT_EQ(M(m).ext_addr, A("203.0.113.1"));
  EXPECT_GE(M(m).ext_port, 1024);
  EXPECT_LE(M(m).ext_port, 1123);
  EXPECT_EQ(Owner(m), m);
  EXPECT_EQ(table->live_and_held(), 1u);
  EXPECT_EQ(table->Host(1, host).ports[ProtoIndex(kProtoTcp)], 1u);
  EXPECT_EQ(table->NamespacePorts(1, kProtoTcp), 1u);

  // Any field of the inside endpoint that differs makes another mapping,
  // with another external port (same protocol) or in another port table.
  const uint32_t other_port = Get(1, host, 5001);
  const uint32_t other_host = Get(1, host2, 5000);
  const uint32_t other_ns = Get(2, host, 5000);
  const uint32_t other_proto = Get(1, host, 5000, kProtoUdp);
  std::set<uint32_t> ids = {m, other_port, other_host, other_ns, other_proto};
  EXPECT_EQ(ids.size(), 5u);
  std::set<uint16_t> tcp_ports = {M(m).ext_port, M(other_port).ext_port,
                                  M(other_host).ext_port, M(other_ns).ext_port};
  EXPECT_EQ(tcp_ports.size(), 4u);
  EXPECT_EQ(M(other_proto).proto, kProtoUdp);
  EXPECT_EQ(Owner(other_proto), other_proto);
  EXPECT_EQ(table->live_and_held(), 5u);
  EXPECT_EQ(table->NamespacePorts(1, kProtoTcp), 3u);
  EXPECT_EQ(table->NamespacePorts(1, kProtoUdp), 1u);
  EXPECT_EQ(table->NamespacePorts(2, kProtoTcp), 1u);
}

TEST_F(MappingTableTest, TheLastReleaseWithoutHoldFreesThePort) {
  const uint32_t m = Get(1, host, 5000);
  table->Retain(m);
  EXPECT_EQ(M(m).refs, 2u);
  table->Release(m, 10);
  EXPECT_EQ(M(m).state, MappingState::kLive);
  EXPECT_EQ(Owner(m), m);
  const uint16_t port = M(m).ext_port;
  table->Release(m, 10);
  EXPECT_EQ(M(m).state, MappingState::kFree);
  EXPECT_EQ(table->PortOwner(0, kProtoTcp, port), kPortFree);
  EXPECT_EQ(table->live_and_held(), 0u);
  EXPECT_EQ(table->held(), 0u);
  EXPECT_EQ(table->NamespacePorts(1, kProtoTcp), 0u);
  EXPECT_EQ(table->Host(1, host).ports[ProtoIndex(kProtoTcp)], 0u);
  // The endpoint asks again: a fresh mapping (the slot reused).
  const uint32_t again = Get(1, host, 5000);
  EXPECT_EQ(again, m);
  EXPECT_EQ(M(again).refs, 1u);
}

TEST_F(MappingTableTest, PortPreservationKeepsTheInsidePortWhenFree) {
  Make([](NatConfig& c) { c.port_preservation = true; });
  EXPECT_EQ(M(Get(1, host, 1100)).ext_port, 1100);
  EXPECT_EQ(M(Get(1, host, 1100, kProtoUdp)).ext_port, 1100)
      << "each protocol has its own ports";
  // Taken by the first host: the second gets another port.
  const uint32_t second = Get(1, host2, 1100);
  EXPECT_NE(M(second).ext_port, 1100);
  EXPECT_GE(M(second).ext_port, 1024);
  EXPECT_LE(M(second).ext_port, 1123);
  // Outside the pool: a pool port.
  const uint32_t low = Get(1, host, 80);
  EXPECT_GE(M(low).ext_port, 1024);
  EXPECT_LE(M(low).ext_port, 1123);
  // A forward's port is not preserved either.
  Take({1050});
  EXPECT_NE(M(Get(1, host, 1050)).ext_port, 1050);
}

TEST_F(MappingTableTest, PortParityFollowsTheInsidePort) {
  Make([](NatConfig& c) { c.port_parity = true; });
  for (uint16_t i = 0; i < 40; ++i) {
    const uint16_t in_port = static_cast<uint16_t>(3000 + i);
    const uint32_t m = Get(1, host, in_port);
    EXPECT_EQ(M(m).ext_port % 2, in_port % 2) << "inside port " << in_port;
  }
  // Only odd ports left: an even inside port still gets one.
  Make([](NatConfig& c) { c.port_parity = true; });
  for (uint16_t p = 1024; p <= 1123; p += 2) Take({p});
  const uint32_t m = Get(1, host, 4000);
  EXPECT_EQ(M(m).ext_port % 2, 1);
}

// With an odd number of ports in the pool, a free port of the inside port's
// parity must still be found wherever the random start falls.
TEST_F(MappingTableTest, PortParityHoldsInAnOddSizedPool) {
  std::string wrong;  // seed:port of each odd port handed out
  for (uint64_t seed = 1; seed <= 32; ++seed) {
    Make(
        [](NatConfig& c) {
          c.port_parity = true;
          c.port_min = 1024;
          c.port_max = 1028;  // five ports
        },
        seed);
    Take({1026, 1028});  // free: 1024 (even), 1025, 1027
    const uint16_t port = M(Get(1, host, 2000)).ext_port;
    if (port != 1024) {
      wrong += " " + std::to_string(seed) + ":" + std::to_string(port);
    }
  }
  EXPECT_EQ(wrong, "") << "(rng seed:port) an odd port for an even inside "
                          "port while 1024 was free";
}

TEST_F(MappingTableTest, AnExhaustedPoolSaysNoPorts) {
  Make([](NatConfig& c) {
    c.port_max = 1031;  // eight ports
    c.icmp_id_min = 100;
    c.icmp_id_max = 103;  // four ids
  });
  std::set<uint16_t> ports;
  std::vector<uint32_t> ms;
  for (uint16_t i = 0; i < 8; ++i) {
    ms.push_back(Get(1, host + i, 5000));
    ports.insert(M(ms.back()).ext_port);
  }
  EXPECT_EQ(ports, (std::set<uint16_t>{1024, 1025, 1026, 1027, 1028, 1029, 1030,
                                       1031}));
  EXPECT_EQ(Refused(1, host + 8, 5000), DropReason::kNoPorts);
  EXPECT_EQ(table->live_and_held(), 8u);
  // A port freed is the one handed out next.
  const uint16_t freed = M(ms[3]).ext_port;
  table->Free(ms[3]);
  EXPECT_EQ(M(Get(1, host + 8, 5000)).ext_port, freed);
  // ICMP ids come from their own range.
  std::set<uint16_t> ids;
  for (uint16_t i = 0; i < 4; ++i) {
    ids.insert(
        M(Get(1, host, static_cast<uint16_t>(i + 1), kProtoIcmp)).ext_port);
  }
  EXPECT_EQ(ids, (std::set<uint16_t>{100, 101, 102, 103}));
  EXPECT_EQ(Refused(1, host, 9, kProtoIcmp), DropReason::kNoPorts);
}

// RTP and RTCP (RFC 3550): an inside port and the next one on an even
// external port and the next one.
TEST_F(MappingTableTest, APairIsAnEvenPortAndTheNext) {
  for (uint16_t in : {uint16_t{40000}, uint16_t{40003}}) {
    uint32_t a = kNone, b = kNone;
    ASSERT_TRUE(
        table->GetOrCreatePair(1, kProtoUdp, host, in, kNoQuota, &a, &b, &why))
        << DropReasonName(why);
    EXPECT_EQ(M(a).in_port, in);
    EXPECT_EQ(M(b).in_port, in + 1);
    EXPECT_EQ(M(a).ext_port % 2, 0) << in;
    EXPECT_EQ(M(b).ext_port, M(a).ext_port + 1);
    EXPECT_EQ(M(a).ext_addr, M(b).ext_addr);
    EXPECT_EQ(Owner(a), a);
    EXPECT_EQ(Owner(b), b);
    // Asked again: the same pair, one more reference each.
    uint32_t a2 = kNone, b2 = kNone;
    ASSERT_TRUE(table->GetOrCreatePair(1, kProtoUdp, host, in, kNoQuota, &a2,
                                       &b2, &why));
    EXPECT_EQ(a2, a);
    EXPECT_EQ(b2, b);
    EXPECT_EQ(M(a).refs, 2u);
  }
}

TEST_F(MappingTableTest, APairFollowsAnExistingMappingOrIsRefused) {
  // The RTP port already mapped on an even port (kept as it is): its RTCP
  // joins it.
  Make([](NatConfig& c) { c.port_preservation = true; });
  const uint32_t rtp = Get(1, host, 1030, kProtoTcp);
  ASSERT_EQ(M(rtp).ext_port, 1030);
  uint32_t a = kNone, b = kNone;
  ASSERT_TRUE(
      table->GetOrCreatePair(1, kProtoTcp, host, 1030, kNoQuota, &a, &b, &why))
      << DropReasonName(why);
  EXPECT_EQ(a, rtp);
  EXPECT_EQ(M(b).ext_port, 1031);
  // An inside port mapped on an odd external port cannot start a pair.
  Make([](NatConfig& c) { c.port_preservation = true; });
  Get(1, host, 1041);
  EXPECT_FALSE(
      table->GetOrCreatePair(1, kProtoTcp, host, 1041, kNoQuota, &a, &b, &why));
  EXPECT_EQ(why, DropReason::kNoPorts);
  EXPECT_EQ(table->live_and_held(), 1u) << "nothing taken";
}

TEST_F(MappingTableTest, APairNeedsTwoAdjacentFreePortsAndTwoOfTheQuota) {
  Make([](NatConfig& c) { c.port_max = 1027; });  // 1024..1027
  Take({1024, 1027}, kProtoUdp);  // free: 1025, 1026 (1025 is odd)
  uint32_t a = kNone, b = kNone;
  EXPECT_FALSE(
      table->GetOrCreatePair(1, kProtoUdp, host, 5000, kNoQuota, &a, &b, &why));
  EXPECT_EQ(why, DropReason::kNoPorts);
  EXPECT_EQ(table->live_and_held(), 0u);
  Make([](NatConfig& c) { c.limits.max_ports_per_host = 3; });
  Get(1, host, 100, kProtoUdp);
  Get(1, host, 101, kProtoUdp);
  EXPECT_FALSE(
      table->GetOrCreatePair(1, kProtoUdp, host, 5000, kNoQuota, &a, &b, &why));
  EXPECT_EQ(why, DropReason::kHostPortLimit) << "two more ports than it may";
  EXPECT_FALSE(
      table->GetOrCreatePair(2, kProtoUdp, host, 5000, 1, &a, &b, &why));
  EXPECT_EQ(why, DropReason::kNamespacePortLimit);
  EXPECT_FALSE(
      table->GetOrCreatePair(2, kProtoUdp, host, 65535, kNoQuota, &a, &b, &why))
      << "no port after 65535";
}

TEST_F(MappingTableTest, MaxPortsPerHostSaysHostPortLimit) {
  Make([](NatConfig& c) { c.limits.max_ports_per_host = 3; });
  const uint32_t first = Get(1, host, 5000);
  Get(1, host, 5001);
  Get(1, host, 5002);
  EXPECT_EQ(Refused(1, host, 5003), DropReason::kHostPortLimit);
  // Reusing a mapping it has is no new port.
  EXPECT_EQ(Get(1, host, 5000), first);
  // Per host and per protocol.
  Get(1, host2, 5003);
  Get(2, host, 5003);
  Get(1, host, 5003, kProtoUdp);
  // A port given back makes room.
  table->Free(first);
  Get(1, host, 5003);
  EXPECT_EQ(Refused(1, host, 5004), DropReason::kHostPortLimit);
}

TEST_F(MappingTableTest, TheNamespaceQuotaSaysNamespacePortLimit) {
  Make([](NatConfig& c) { c.timeouts.port_hold_s = 60; });
  const uint32_t a = Get(1, host, 5000, kProtoTcp, 2);
  Get(1, host2, 5000, kProtoTcp, 2);
  EXPECT_EQ(Refused(1, A("10.0.0.9"), 5000, kProtoTcp, 2),
            DropReason::kNamespacePortLimit);
  Get(2, A("10.0.0.9"), 5000, kProtoTcp, 2);  // another namespace
  Get(1, A("10.0.0.9"), 5000, kProtoUdp, 2);  // another protocol
  EXPECT_EQ(table->NamespacePorts(1, kProtoTcp), 2u);
  // A held port still counts against the share until its hold ends.
  table->Release(a, 100);
  EXPECT_EQ(table->NamespacePorts(1, kProtoTcp), 2u);
  EXPECT_EQ(Refused(1, A("10.0.0.9"), 5000, kProtoTcp, 2),
            DropReason::kNamespacePortLimit);
  table->ExpireHeld(160);
  EXPECT_EQ(table->NamespacePorts(1, kProtoTcp), 1u);
  Get(1, A("10.0.0.9"), 5000, kProtoTcp, 2);
}

TEST_F(MappingTableTest, AReleasedPortIsHeldUntilTheHoldEnds) {
  Make([](NatConfig& c) {
    c.port_max = 1025;  // two ports
    c.timeouts.port_hold_s = 120;
  });
  const uint32_t m = Get(1, host, 5000);
  const uint16_t port = M(m).ext_port;
  table->Release(m, 1000);
  EXPECT_EQ(M(m).state, MappingState::kHeld);
  EXPECT_EQ(table->held(), 1u);
  EXPECT_EQ(table->live_and_held(), 1u);
  EXPECT_EQ(table->PortOwner(0, kProtoTcp, port), m);
  // Another host gets the other port, then none.
  const uint32_t other = Get(1, host2, 5000);
  EXPECT_NE(M(other).ext_port, port);
  EXPECT_EQ(Refused(1, host2, 5001), DropReason::kNoPorts);
  table->ExpireHeld(1119);
  EXPECT_EQ(M(m).state, MappingState::kHeld);
  EXPECT_EQ(table->PortOwner(0, kProtoTcp, port), m);
  table->ExpireHeld(1120);
  EXPECT_EQ(M(m).state, MappingState::kFree);
  EXPECT_EQ(table->held(), 0u);
  EXPECT_EQ(table->live_and_held(), 1u);
  EXPECT_EQ(table->PortOwner(0, kProtoTcp, port), kPortFree);
  EXPECT_EQ(M(Get(1, host2, 5001)).ext_port, port);
}

TEST_F(MappingTableTest, AHeldMappingIsRevivedByItsOwnEndpoint) {
  Make([](NatConfig& c) { c.timeouts.port_hold_s = 120; });
  const uint32_t m = Get(1, host, 5000);
  const uint16_t port = M(m).ext_port;
  table->Release(m, 1000);
  ASSERT_EQ(M(m).state, MappingState::kHeld);
  EXPECT_EQ(Get(1, host, 5000), m);
  EXPECT_EQ(M(m).state, MappingState::kLive);
  EXPECT_EQ(M(m).ext_port, port);
  EXPECT_EQ(M(m).refs, 1u);
  EXPECT_EQ(table->held(), 0u);
  // The old hold is void: its time frees nothing.
  table->ExpireHeld(1120);
  EXPECT_EQ(M(m).state, MappingState::kLive);
  // Released again later: held from then on.
  table->Release(m, 2000);
  EXPECT_EQ(table->held(), 1u);
  table->ExpireHeld(2119);
  EXPECT_EQ(M(m).state, MappingState::kHeld);
  table->ExpireHeld(2120);
  EXPECT_EQ(M(m).state, MappingState::kFree);
  EXPECT_EQ(table->held(), 0u);
  EXPECT_EQ(table->live_and_held(), 0u);
}

TEST_F(MappingTableTest, PairedPoolingGivesEachHostOneExternalAddress) {
  Make([](NatConfig& c) {
    c.external_addresses = {A("203.0.113.1"), A("203.0.113.2"),
                            A("203.0.113.3"), A("203.0.113.4")};
    c.port_max = 65535;
  });
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(table->ExternalIndex(config.external_addresses[i]), i);
  }
  EXPECT_EQ(table->ExternalIndex(A("203.0.113.5")), -1);
  EXPECT_EQ(table->ExternalIndex(A("10.0.0.2")), -1);
  std::set<uint32_t> used;
  for (uint32_t h = 0; h < 20; ++h) {
    const uint32_t addr = A("10.0.0.10") + h;
    uint32_t ext = 0;
    for (uint16_t p = 0; p < 5; ++p) {
      const uint8_t proto = p % 2 ? kProtoUdp : kProtoTcp;
      const uint32_t m = Get(1, addr, static_cast<uint16_t>(6000 + p), proto);
      if (p == 0) ext = M(m).ext_addr;
      EXPECT_EQ(M(m).ext_addr, ext) << "host " << h << " port " << p;
      EXPECT_EQ(Owner(m), m);
      EXPECT_EQ(table->Host(1, addr).ext_index,
                table->ExternalIndex(M(m).ext_addr));
    }
    used.insert(ext);
  }
  EXPECT_GT(used.size(), 1u) << "hosts spread over the addresses";
}

TEST_F(MappingTableTest, RemoveNamespaceFreesOnlyThatNamespace) {
  Make([](NatConfig& c) { c.timeouts.port_hold_s = 120; });
  const uint32_t a1 = Get(1, host, 5000);
  const uint32_t a2 = Get(1, host2, 5000, kProtoUdp);
  const uint32_t held = Get(1, host, 5001);
  table->Release(held, 10);
  const uint32_t b1 = Get(2, host, 5000);
  const uint32_t b2 = Get(2, host2, 5001, kProtoUdp);
  const uint16_t a1_port = M(a1).ext_port;
  ASSERT_EQ(table->held(), 1u);

  table->RemoveNamespace(1);
  for (uint32_t m : {a1, a2, held}) {
    EXPECT_EQ(M(m).state, MappingState::kFree) << m;
  }
  EXPECT_EQ(table->PortOwner(0, kProtoTcp, a1_port), kPortFree);
  EXPECT_EQ(table->held(), 0u);
  EXPECT_EQ(table->live_and_held(), 2u);
  EXPECT_EQ(table->NamespacePorts(1, kProtoTcp), 0u);
  EXPECT_EQ(table->NamespacePorts(1, kProtoUdp), 0u);
  for (uint32_t m : {b1, b2}) {
    EXPECT_EQ(M(m).state, MappingState::kLive) << m;
    EXPECT_EQ(Owner(m), m);
  }
  EXPECT_EQ(table->NamespacePorts(2, kProtoTcp), 1u);
  EXPECT_EQ(table->NamespacePorts(2, kProtoUdp), 1u);
  EXPECT_EQ(Get(2, host, 5000), b1);
}

TEST_F(MappingTableTest, MaybeDropHostForgetsOnlyAHostThatHoldsNothing) {
  // Host() makes a record; ext_index (not part of empty()) marks it.
  HostState& h = table->Host(1, host);
  h.ext_index = 7;
  h.flows = 1;
  table->MaybeDropHost(1, host);
  EXPECT_EQ(table->Host(1, host).ext_index, 7) << "it has a flow";
  table->Host(1, host).flows = 0;
  table->Host(1, host).ports[ProtoIndex(kProtoUdp)] = 1;
  table->MaybeDropHost(1, host);
  EXPECT_EQ(table->Host(1, host).ext_index, 7) << "it has a port";
  table->Host(1, host).ports[ProtoIndex(kProtoUdp)] = 0;
  table->MaybeDropHost(1, host);
  EXPECT_EQ(table->Host(1, host).ext_index, 0) << "forgotten: a new record";

  // Freeing a host's last mapping keeps a host with flows.
  const uint32_t m = Get(1, host2, 5000);
  table->Host(1, host2).flows = 2;
  table->Free(m);
  EXPECT_EQ(table->Host(1, host2).flows, 2u);
  EXPECT_EQ(table->Host(1, host2).ports[ProtoIndex(kProtoTcp)], 0u);
}

}  // namespace
}  // namespace unat::internal
