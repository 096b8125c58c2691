// libFuzzer target: the SIP ALG (helpers/sip.h) over TCP, as the engine
// drives it (tests/fuzz/alg_fuzz.h has the input format): segments both
// ways on one connection, messages framed by Content-Length, several in a
// segment or cut by one's end, rewritten with the sequence adjustment.
#include "tests/fuzz/alg_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return unat::fuzz::RunAlg(unat::fuzz::AlgKind::kSipTcp, data, size);
}
