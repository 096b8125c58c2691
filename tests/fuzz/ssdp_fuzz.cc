// libFuzzer target: SSDP datagrams (M-SEARCH and whatever else arrives on
// UDP 1900) into one UpnpServer, a sequence of them: each straight to
// HandleSsdp() (as a unicast or a multicast search) or as a UDP datagram
// through the engine to 239.255.255.250:1900, with the clock moving now and
// then so delayed answers go out.
//
// Input: records of flags(1) length(2) payload(length); flags bit 0: via
// the engine, bit 1: multicast (MX applies), bit 2: advance the clock.
#include "tests/fuzz/portmap_world.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace unat;        // NOLINT
  using namespace unat::fuzz;  // NOLINT
  PortmapWorld& w = World();
  Reader r(data, size);
  for (int i = 0; i < 32 && !r.empty(); ++i) {
    const uint8_t flags = r.U8();
    auto rec = r.Record(2048);
    if (flags & 4) w.Tick(1500);
    if (flags & 1) {
      Feed(*w.nat, true, w.ns,
           UdpPacket(kPmClient, 40000, portmap::kSsdpGroup, portmap::kSsdpPort,
                     rec),
           w.now);
      continue;
    }
    uint32_t mx = 0;
    const std::string_view text(reinterpret_cast<const char*>(rec.data()),
                                rec.size());
    auto answers = w.upnp->HandleSsdp(w.ns, kPmClient, kPmGateway, text, w.now,
                                      (flags & 2) ? &mx : nullptr);
    if ((flags & 2) && !answers.empty() && (mx < 1 || mx > 5)) abort();
    for (const std::string& a : answers) {
      if (!a.starts_with("HTTP/1.1 200 OK\r\n")) abort();
    }
  }
  return 0;
}
