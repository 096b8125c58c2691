// libFuzzer target: the TFTP ALG (helpers/tftp.h) on its own, as the engine
// drives it (tests/fuzz/alg_fuzz.h has the input format).
#include "tests/fuzz/alg_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return unat::fuzz::RunAlg(unat::fuzz::AlgKind::kTftp, data, size);
}
