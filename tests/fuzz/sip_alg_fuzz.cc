// libFuzzer target: the SIP ALG (helpers/sip.h) on its own, as the engine
// drives it (tests/fuzz/alg_fuzz.h has the input format): SIP datagrams
// both ways, rewritten with media expectation pairs in the real engine.
#include "tests/fuzz/alg_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return unat::fuzz::RunAlg(unat::fuzz::AlgKind::kSip, data, size);
}
