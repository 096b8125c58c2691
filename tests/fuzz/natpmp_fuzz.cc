// libFuzzer target: NAT-PMP (RFC 6886) requests, a sequence of them into one
// PortMapServer (so maps, refreshes and deletes meet earlier state), each
// straight to Handle() or as a UDP datagram through the engine to the
// gateway's port 5351. The version byte is forced to 0: PCP has its own
// target (pcp_fuzz.cc).
//
// Input: records of flags(1) length(2) request(length); flags bit 0: via
// the engine, bits 1-2: which of four clients, bit 3: advance the clock.
#include "tests/fuzz/portmap_world.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace unat;        // NOLINT
  using namespace unat::fuzz;  // NOLINT
  PortmapWorld& w = World();
  Reader r(data, size);
  for (int i = 0; i < 64 && !r.empty(); ++i) {
    const uint8_t flags = r.U8();
    auto rec = r.Record(1100);
    std::vector<uint8_t> req(rec.begin(), rec.end());
    if (req.empty()) req.push_back(0);
    req[0] = portmap::natpmp::kVersion;
    const uint32_t client = kPmClient + ((flags >> 1) & 3);
    if (flags & 8) w.Tick(30'000);
    if (flags & 1) {
      Feed(*w.nat, true, w.ns,
           UdpPacket(client, 5350, kPmGateway, portmap::kServerPort, req),
           w.now);
    } else {
      auto answer = w.portmap->Handle(w.ns, client, req, w.now);
      // Every NAT-PMP answer is 8 bytes (external address: 12) or 16 (map).
      if (answer && answer->size() != 8 && answer->size() != 12 &&
          answer->size() != 16) {
        abort();
      }
    }
  }
  return 0;
}
