// libFuzzer target: the FTP ALG (helpers/ftp.h) on its own, as the engine
// drives it (tests/fuzz/alg_fuzz.h has the input format).
#include "tests/fuzz/alg_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return unat::fuzz::RunAlg(unat::fuzz::AlgKind::kFtp, data, size);
}
