// The NAT-PMP/PCP and UPnP servers on one engine, as unatd sets them up:
// shared by the portmap libFuzzer targets. Started over every so many
// inputs so state stays bounded.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "portmap/nat_table.h"
#include "portmap/registry.h"
#include "portmap/server.h"
#include "portmap/upnp.h"
#include "tests/fuzz/fuzz_common.h"

namespace unat::fuzz {

inline constexpr uint32_t kPmExt = 0xcb007101;      // 203.0.113.1
inline constexpr uint32_t kPmGateway = 0x0a4d0001;  // 10.77.0.1
inline constexpr uint32_t kPmClient = 0x0a4d0002;   // 10.77.0.2

struct PortmapWorld {
  CheckingSink sink;
  std::unique_ptr<Nat> nat;
  std::unique_ptr<portmap::NatTable> table;
  std::unique_ptr<portmap::MappingRegistry> registry;
  std::unique_ptr<portmap::PortMapServer> portmap;
  std::unique_ptr<portmap::UpnpServer> upnp;
  NamespaceId ns = 0;
  TimeMs now = 1'000'000;

  PortmapWorld() {
    NatConfig c;
    c.external_addresses = {kPmExt};
    c.random_seed = 3;
    c.limits.max_flows = 4096;
    nat = *Nat::Create(c);
    nat->SetSink(&sink);
    ns = *nat->AddNamespace({"lan", kPmGateway, 24, 1500});
    portmap::MappingPolicy policy;
    table = std::make_unique<portmap::NatTable>(*nat);
    registry =
        std::make_unique<portmap::MappingRegistry>(table.get(), policy, 1);
    portmap::PortMapConfig pc;
    pc.rate.per_second = 1'000'000;  // the fuzzer is one very busy client
    pc.rate.burst = 1'000'000;
    portmap = std::make_unique<portmap::PortMapServer>(table.get(),
                                                       registry.get(), pc, now);
    (void)portmap->Register();
    upnp = std::make_unique<portmap::UpnpServer>(table.get(), registry.get(),
                                                 portmap::UpnpConfig{}, now);
    (void)upnp->Register();
    upnp->Start(now);
  }
  void Tick(TimeMs step_ms) {
    now += step_ms;
    nat->Advance(now);
    portmap->Tick(now, &sink);
    upnp->Tick(now, &sink);
  }
};

// The world for this input: a fresh one every `every` inputs.
inline PortmapWorld& World(int every = 5000) {
  static PortmapWorld* w = nullptr;
  static int n = 0;
  if (w == nullptr || ++n % every == 0) {
    delete w;
    w = new PortmapWorld();
  }
  return *w;
}

// The NAT-PMP and PCP targets' shared loop: records of flags(1) length(2)
// request(length), at most 64, into one PortMapServer. `fix` adjusts a
// request before it is sent (forces the version byte, ...); flags bit 0
// sends it through the engine as a UDP datagram to the gateway's port
// 5351, else straight to Handle(), whose answer `check` judges; bits 1-2
// pick one of four clients, bit 3 advances the clock by 30 s.
template <typename Fix, typename Check>
void RunPortmapRecords(const uint8_t* data, size_t size, size_t max_len,
                       Fix fix, Check check) {
  PortmapWorld& w = World();
  Reader r(data, size);
  for (int i = 0; i < 64 && !r.empty(); ++i) {
    const uint8_t flags = r.U8();
    auto rec = r.Record(max_len);
    std::vector<uint8_t> req(rec.begin(), rec.end());
    if (req.empty()) req.push_back(0);
    fix(req, flags);
    const uint32_t client = kPmClient + ((flags >> 1) & 3);
    if (flags & 8) w.Tick(30'000);
    if (flags & 1) {
      Feed(*w.nat, true, w.ns,
           UdpPacket(client, 5350, kPmGateway, portmap::kServerPort, req),
           w.now);
    } else {
      check(w.portmap->Handle(w.ns, client, req, w.now));
    }
  }
}

}  // namespace unat::fuzz
