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
  using namespace unat;  // NOLINT
  fuzz::RunPortmapRecords(
      data, size, 1100,
      [](std::vector<uint8_t>& req, uint8_t) {
        req[0] = portmap::natpmp::kVersion;
      },
      [](const std::optional<std::vector<uint8_t>>& answer) {
        // Every NAT-PMP answer is 8 bytes (external address: 12) or 16
        // (map).
        if (answer && answer->size() != 8 && answer->size() != 12 &&
            answer->size() != 16) {
          abort();
        }
      });
  return 0;
}
