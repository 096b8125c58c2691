// The portmap servers over a fake TranslationTable, no engine at all: what
// they ask of the table and what they do with its answers. This is the seam
// a multi-shard embedder implements (portmap/table.h).
#include "portmap/table.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <tuple>
#include <vector>

#include "engine/checksum.h"
#include "portmap/registry.h"
#include "portmap/server.h"

namespace unat::portmap::test {
namespace {

constexpr uint32_t kExt = 0xcb007101;   // 203.0.113.1
constexpr uint32_t kGw = 0x0a4d0001;    // 10.77.0.1
constexpr uint32_t kHost = 0x0a4d0005;  // 10.77.0.5
constexpr NamespaceId kLan = 3;

// One tenant (10.77.0.0/24 behind 10.77.0.1), one external address;
// forwards in a map, ports in use as a set the test fills.
class FakeTable : public TranslationTable {
 public:
  absl::StatusOr<uint32_t> AddForward(const ForwardSpec& spec,
                                      TimeMs) override {
    if (ExternalPortInUse(spec.proto, spec.external_addr, spec.external_port)) {
      return absl::AlreadyExistsError("port in use");
    }
    forwards[next_id] = spec;
    return next_id++;
  }
  absl::Status RemoveForward(uint32_t id) override {
    return forwards.erase(id) ? absl::OkStatus()
                              : absl::NotFoundError("no such forward");
  }
  std::optional<ForwardSpec> FindForward(uint32_t id) const override {
    auto it = forwards.find(id);
    if (it == forwards.end()) return std::nullopt;
    return it->second;
  }
  std::vector<ForwardInfo> Forwards() const override {
    std::vector<ForwardInfo> out;
    for (const auto& [id, spec] : forwards) out.push_back({id, spec});
    return out;
  }
  absl::Status RenewForward(uint32_t id, TimeMs expires) override {
    auto it = forwards.find(id);
    if (it == forwards.end()) return absl::NotFoundError("no such forward");
    it->second.expires = expires;
    return absl::OkStatus();
  }
  absl::Status SetForwardFilter(uint32_t id,
                                std::vector<RemoteFilter> remotes) override {
    auto it = forwards.find(id);
    if (it == forwards.end()) return absl::NotFoundError("no such forward");
    it->second.allowed_remotes = std::move(remotes);
    return absl::OkStatus();
  }
  absl::Status SetForwardEnabled(uint32_t id, bool enabled) override {
    auto it = forwards.find(id);
    if (it == forwards.end()) return absl::NotFoundError("no such forward");
    it->second.enabled = enabled;
    return absl::OkStatus();
  }
  absl::StatusOr<ExternalEndpoint> EnsureFlow(NamespaceId, uint8_t, uint32_t,
                                              uint16_t, uint32_t, uint16_t,
                                              uint32_t, TimeMs) override {
    return absl::UnimplementedError("no flows here");
  }
  bool ExternalPortInUse(uint8_t proto, uint32_t,
                         uint16_t port) const override {
    if (in_use.contains({proto, port})) return true;
    for (const auto& [id, spec] : forwards) {
      if (spec.proto == proto && spec.external_port == port) return true;
    }
    return false;
  }
  const std::vector<uint32_t>& external_addresses() const override {
    return external;
  }
  std::vector<Tenant> Tenants() const override { return {{kLan, kGw}}; }
  bool IsInsideAddress(NamespaceId ns, uint32_t addr) const override {
    return ns == kLan && (addr & 0xffffff00) == (kGw & 0xffffff00);
  }
  absl::Status RegisterLocalHelper(uint8_t proto, uint16_t port,
                                   LocalHelper* helper) override {
    local[{proto, port}] = helper;
    return absl::OkStatus();
  }
  TrafficTotals Traffic() const override { return {}; }

  std::vector<uint32_t> external = {kExt};
  std::map<uint32_t, ForwardSpec> forwards;
  std::set<std::pair<uint8_t, uint16_t>> in_use;  // mappings, say
  std::map<std::pair<uint8_t, uint16_t>, LocalHelper*> local;
  uint32_t next_id = 1;
};

// NAT-PMP MAP: opcode 1 UDP / 2 TCP.
std::vector<uint8_t> MapRequest(uint8_t op, uint16_t inside_port,
                                uint16_t suggested, uint32_t lifetime_s) {
  std::vector<uint8_t> b(12, 0);
  b[1] = op;
  StoreBe16(&b[4], inside_port);
  StoreBe16(&b[6], suggested);
  StoreBe32(&b[8], lifetime_s);
  return b;
}

class FakeTableTest : public ::testing::Test {
 protected:
  void Make(MappingPolicy policy = {}) {
    server.reset();
    registry = std::make_unique<MappingRegistry>(&table, policy, 7);
    PortMapConfig config;
    config.natpmp = true;
    server =
        std::make_unique<PortMapServer>(&table, registry.get(), config, now);
    ASSERT_TRUE(server->Register().ok());
  }
  void SetUp() override { Make(); }

  std::vector<uint8_t> Ask(const std::vector<uint8_t>& request,
                           uint32_t client = kHost) {
    auto answer = server->Handle(kLan, client, request, now);
    return answer ? *answer : std::vector<uint8_t>{};
  }

  TimeMs now = 1'000'000;
  FakeTable table;
  std::unique_ptr<MappingRegistry> registry;
  std::unique_ptr<PortMapServer> server;
};

TEST_F(FakeTableTest, RegistersOnTheTableAndAnnouncesItsAddress) {
  EXPECT_EQ(table.local.at({kProtoUdp, kServerPort}), server.get());
  const std::vector<uint8_t> a = Ask({0, 0});
  ASSERT_EQ(a.size(), 12u);
  EXPECT_EQ(LoadBe16(&a[2]), natpmp::kSuccess);
  EXPECT_EQ(LoadBe32(&a[8]), kExt);
  table.external.clear();  // no address yet
  EXPECT_EQ(LoadBe16(&Ask({0, 0})[2]), natpmp::kNetworkFailure);
}

TEST_F(FakeTableTest, NatPmpMapCreatesAForwardOnTheTable) {
  const std::vector<uint8_t> a = Ask(MapRequest(2, 80, 8080, 3600));
  ASSERT_EQ(a.size(), 16u);
  EXPECT_EQ(LoadBe16(&a[2]), natpmp::kSuccess);
  EXPECT_EQ(LoadBe16(&a[10]), 8080);
  ASSERT_EQ(table.forwards.size(), 1u);
  const ForwardSpec& f = table.forwards.begin()->second;
  EXPECT_EQ(f.proto, kProtoTcp);
  EXPECT_EQ(f.external_port, 8080);
  EXPECT_EQ(f.ns, kLan);
  EXPECT_EQ(f.inside_addr, kHost);
  EXPECT_EQ(f.inside_port, 80);
  EXPECT_EQ(f.owner, ForwardOwner::kNatPmp);
  EXPECT_EQ(f.owner_client, kHost);
  EXPECT_EQ(f.expires, now + 3'600'000);
  // A renewal renews the table's forward; lifetime 0 removes it.
  now += 10'000;
  EXPECT_EQ(LoadBe16(&Ask(MapRequest(2, 80, 8080, 3600))[2]), natpmp::kSuccess);
  ASSERT_EQ(table.forwards.size(), 1u);
  EXPECT_EQ(table.forwards.begin()->second.expires, now + 3'600'000);
  EXPECT_EQ(LoadBe16(&Ask(MapRequest(2, 80, 0, 0))[2]), natpmp::kSuccess);
  EXPECT_TRUE(table.forwards.empty());
}

TEST_F(FakeTableTest, PortsTheTableHoldsAreNotHandedOut) {
  MappingPolicy p;
  p.port_min = 5000;
  p.port_max = 5005;
  Make(p);
  for (uint16_t port = 5000; port <= 5005; ++port) {
    if (port != 5003) table.in_use.insert({kProtoUdp, port});
  }
  // The suggestion is taken: the one free port instead.
  const std::vector<uint8_t> a = Ask(MapRequest(1, 53, 5000, 600));
  EXPECT_EQ(LoadBe16(&a[2]), natpmp::kSuccess);
  EXPECT_EQ(LoadBe16(&a[10]), 5003);
  ASSERT_EQ(table.forwards.size(), 1u);
  EXPECT_EQ(table.forwards.begin()->second.external_port, 5003);
  // Now every port is held: out of resources, nothing added.
  EXPECT_EQ(LoadBe16(&Ask(MapRequest(1, 54, 5000, 600))[2]),
            natpmp::kOutOfResources);
  EXPECT_EQ(table.forwards.size(), 1u);
  // The same port on the other protocol is free.
  EXPECT_EQ(LoadBe16(&Ask(MapRequest(2, 54, 5000, 600))[10]), 5000);
}

TEST_F(FakeTableTest, StrangersAndVanishedForwardsAsTheTableSays) {
  // Not one of the tenant's hosts (the table says): refused, nothing added.
  EXPECT_EQ(LoadBe16(&Ask(MapRequest(2, 80, 8080, 3600), 0x0a4e0005)[2]),
            natpmp::kNotAuthorized);
  EXPECT_TRUE(table.forwards.empty());
  // A forward removed behind the registry's back is a vanished lease.
  ASSERT_EQ(LoadBe16(&Ask(MapRequest(2, 80, 8080, 3600))[2]), natpmp::kSuccess);
  ASSERT_EQ(registry->size(), 1u);
  table.forwards.clear();
  registry->Reconcile();
  EXPECT_EQ(registry->size(), 0u);
  EXPECT_EQ(registry->stats().vanished, 1u);
}

}  // namespace
}  // namespace unat::portmap::test
