// libFuzzer target: the H.225.0 and H.245 decoders (helpers/h323/) on their
// own. The first input octet picks the decoder (Q.931 then its
// User-user contents, RAS, an H.245 message, a fastStart
// OpenLogicalChannel); the rest is the message. Every address a decode
// reports must lie in the input, whatever the result, and a message with
// an address over kMaxAddresses ends as kTooMany, never past the array.
#include <cstdlib>
#include <span>

#include "helpers/h323/messages.h"

namespace {

namespace h323 = unat::helpers::h323;

void Check(const h323::Found& f, const uint8_t* data, size_t size) {
  if (f.count < 0 || f.count > h323::kMaxAddresses) abort();
  for (int i = 0; i < f.count; ++i) {
    if (size < 6 || f.refs[i].offset > size - 6) abort();
    const uint8_t* p = data + f.refs[i].offset;
    const uint32_t a = uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 |
                       uint32_t{p[2]} << 8 | p[3];
    if (a != f.refs[i].addr || (p[4] << 8 | p[5]) != f.refs[i].port) abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::span<const uint8_t> msg(data + 1, size - 1);
  h323::Found f;
  switch (data[0] & 3) {
    case 0: {
      h323::Q931View q;
      if (h323::ParseQ931(msg, q)) {
        if (q.user_information.data() != nullptr &&
            (q.user_information.data() < msg.data() ||
             q.user_information.data() + q.user_information.size() >
                 msg.data() + msg.size())) {
          abort();
        }
        h323::DecodeUserInformation(q.user_information, data, f);
      }
      break;
    }
    case 1:
      h323::DecodeRas(msg, data, f);
      break;
    case 2:
      h323::DecodeH245(msg, data, f);
      break;
    case 3:
      h323::DecodeOpenLogicalChannel(msg, data, f);
      break;
  }
  Check(f, data, size);
  return 0;
}
