// libFuzzer target: the PPTP ALG (helpers/pptp.h) on its own, as the engine
// drives it (tests/fuzz/alg_fuzz.h has the input format): control messages
// both ways, split anywhere, with the calls' GRE flows opened and closed in
// the real engine.
#include "tests/fuzz/alg_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return unat::fuzz::RunAlg(unat::fuzz::AlgKind::kPptp, data, size);
}
