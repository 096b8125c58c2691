// libFuzzer target: PCP (RFC 6887) requests with their options (THIRD_PARTY,
// PREFER_FAILURE, FILTER, unknown ones), a sequence of them into one
// PortMapServer so MAP/PEER refreshes and nonce checks meet earlier state;
// each straight to Handle() or as a UDP datagram through the engine to the
// gateway's port 5351. The version byte is forced to 2 and the request
// length rounded to a multiple of 4 half the time (so the fuzzer gets past
// MALFORMED_REQUEST and into the opcodes and options).
//
// Input: records of flags(1) length(2) request(length); flags bit 0: via
// the engine, bits 1-2: which of four clients, bit 3: advance the clock,
// bit 4: keep the length as it is.
#include "tests/fuzz/portmap_world.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace unat;  // NOLINT
  fuzz::RunPortmapRecords(
      data, size, 1200,
      [](std::vector<uint8_t>& req, uint8_t flags) {
        req[0] = portmap::pcp::kVersion;
        if (!(flags & 0x10) && req.size() % 4 != 0) {
          req.resize(req.size() + 4 - req.size() % 4, 0);
        }
      },
      [](const std::optional<std::vector<uint8_t>>& answer) {
        // A PCP answer has the 24-byte header, is a multiple of 4 and never
        // longer than the largest request.
        if (answer && (answer->size() < 24 || answer->size() % 4 != 0 ||
                       answer->size() > portmap::pcp::kMaxSize)) {
          abort();
        }
      });
  return 0;
}
