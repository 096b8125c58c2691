// The NAT-PMP/PCP and UPnP servers on one engine, as unatd sets them up:
// shared by the portmap libFuzzer targets. Started over every so many
// inputs so state stays bounded.
#pragma once

#include <memory>

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
    registry = std::make_unique<portmap::MappingRegistry>(nat.get(), policy, 1);
    portmap::PortMapConfig pc;
    pc.rate.per_second = 1'000'000;  // the fuzzer is one very busy client
    pc.rate.burst = 1'000'000;
    portmap = std::make_unique<portmap::PortMapServer>(nat.get(),
                                                       registry.get(), pc, now);
    (void)portmap->Register();
    upnp = std::make_unique<portmap::UpnpServer>(nat.get(), registry.get(),
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

}  // namespace unat::fuzz
