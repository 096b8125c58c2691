// libFuzzer target: the H.323 ALG (helpers/h323.h) on its call signalling
// connection, as the engine drives it (tests/fuzz/alg_fuzz.h has the input
// format): TPKT-framed Q.931 both ways, split and packed anywhere, with the
// H.245 and media expectations its rewrites make in the real engine.
#include "tests/fuzz/alg_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return unat::fuzz::RunAlg(unat::fuzz::AlgKind::kH323, data, size);
}
