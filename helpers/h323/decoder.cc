// The decoders' shared core (see decoder.h) and the names of messages.h.
#include "helpers/h323/decoder.h"

namespace unat::helpers::h323 {

std::string_view FieldName(Field f) {
  switch (f) {
    case Field::kH245Address:
      return "h245Address";
    case Field::kSourceCallSignal:
      return "sourceCallSignalAddress";
    case Field::kDestCallSignal:
      return "destCallSignalAddress";
    case Field::kMediaChannel:
      return "mediaChannel";
    case Field::kMediaControlChannel:
      return "mediaControlChannel";
    case Field::kCallSignal:
      return "callSignalAddress";
    case Field::kRas:
      return "rasAddress";
    case Field::kReply:
      return "replyAddress";
    case Field::kSrcCallSignal:
      return "srcCallSignalAddress";
  }
  return "?";
}

std::string_view MessageName(Message m) {
  switch (m) {
    case Message::kUnknown:
      return "unknown";
    case Message::kSetup:
      return "setup";
    case Message::kCallProceeding:
      return "callProceeding";
    case Message::kConnect:
      return "connect";
    case Message::kAlerting:
      return "alerting";
    case Message::kInformation:
      return "information";
    case Message::kReleaseComplete:
      return "releaseComplete";
    case Message::kFacility:
      return "facility";
    case Message::kProgress:
      return "progress";
    case Message::kOtherUuie:
      return "other-uuie";
    case Message::kGrq:
      return "GRQ";
    case Message::kGcf:
      return "GCF";
    case Message::kRrq:
      return "RRQ";
    case Message::kRcf:
      return "RCF";
    case Message::kUrq:
      return "URQ";
    case Message::kArq:
      return "ARQ";
    case Message::kAcf:
      return "ACF";
    case Message::kLrq:
      return "LRQ";
    case Message::kLcf:
      return "LCF";
    case Message::kIrq:
      return "IRQ";
    case Message::kOtherRas:
      return "other-ras";
    case Message::kOpenLogicalChannel:
      return "openLogicalChannel";
    case Message::kOpenLogicalChannelAck:
      return "openLogicalChannelAck";
    case Message::kOtherH245:
      return "other-h245";
  }
  return "?";
}

std::string_view ResultName(Result r) {
  switch (r) {
    case Result::kOk:
      return "ok";
    case Result::kMalformed:
      return "malformed";
    case Result::kUnsupported:
      return "unsupported";
    case Result::kTooMany:
      return "too many addresses";
  }
  return "?";
}

namespace internal {

uint32_t Dec::Choice(uint32_t root, bool extensible,
                     std::span<const uint8_t>* value) {
  const uint32_t i = r.ChoiceIndex(root, extensible);
  if (ok() && i >= root) {
    std::span<const uint8_t> v = r.OpenType(kMaxOpenType);
    if (value != nullptr) *value = v;
  }
  return i;
}

uint32_t Dec::Count(uint32_t max) {
  const uint32_t n = r.Length(0, 0xffffffffu);
  if (ok() && n > max) {
    r.Fail(per::Error::kTooLong);
    return 0;
  }
  return ok() ? n : 0;
}

std::span<const uint8_t> Dec::AnyOctets() {
  uint8_t unused[2];
  return r.OctetString(0, 0xffffffffu, unused);
}

void Dec::Ipv4(const Field* field, uint8_t channel) {
  r.Align();
  const size_t offset =
      static_cast<size_t>(start_ - c.origin) + r.bit_pos() / 8;
  std::span<const uint8_t> ip = r.Octets(4);
  const auto port = static_cast<uint16_t>(r.Constrained(0, 65535));
  if (!ok() || field == nullptr) return;
  Found& f = c.found;
  if (f.count >= kMaxAddresses) {
    c.status = Result::kTooMany;
    r.Fail(per::Error::kTooLong);
    return;
  }
  AddressRef& a = f.refs[f.count++];
  a.field = *field;
  a.channel = channel;
  a.offset = static_cast<uint32_t>(offset);
  a.addr = (uint32_t{ip[0]} << 24) | (uint32_t{ip[1]} << 16) |
           (uint32_t{ip[2]} << 8) | ip[3];
  a.port = port;
}

Result Finish(Dec& d) {
  if (d.c.status != Result::kOk) return d.c.status;
  if (!d.r.ok()) {
    d.c.found.per_error = d.r.error();
    d.c.status = Result::kMalformed;
  }
  return d.c.status;
}

}  // namespace internal
}  // namespace unat::helpers::h323
