// H.245 (MULTIMEDIA-SYSTEM-CONTROL, aligned PER): OpenLogicalChannel and
// OpenLogicalChannelAck, far enough to find their H.225.0 logical channel
// parameters' mediaChannel (RTP) and mediaControlChannel (RTCP).
#include "helpers/h323/decoder.h"

namespace unat::helpers::h323 {
namespace internal {
namespace {

constexpr Field kRtp = Field::kMediaChannel;
constexpr Field kRtcp = Field::kMediaControlChannel;

// NonStandardParameter ::= SEQUENCE { nonStandardIdentifier CHOICE {
// object OID, h221NonStandard SEQUENCE {3 INTEGERs} }, data OCTET STRING }
// (neither extensible in H.245).
void SkipNonStandard(Dec& d) {
  if (d.Choice(2, false) == 0) {
    d.SkipOid();
  } else {
    d.r.Constrained(0, 255);
    d.r.Constrained(0, 255);
    d.r.Constrained(0, 65535);
  }
  d.AnyOctets();
}

// TransportAddress ::= CHOICE { unicastAddress UnicastAddress,
// multicastAddress MulticastAddress, ... }. Only a unicast iPAddress is
// recorded.
void TransportAddress(Dec& d, Field field, uint8_t channel) {
  const uint32_t kind = d.Choice(2, true);
  if (!d.ok() || kind >= 2) return;
  if (kind == 0) {
    // UnicastAddress ::= CHOICE { iPAddress, iPXAddress, iP6Address,
    // netBios, iPSourceRouteAddress, ..., nsap, nonStandardAddress }
    const uint32_t u = d.Choice(5, true);
    if (!d.ok() || u >= 5) return;
    uint8_t small[2];
    switch (u) {
      case 0: {  // iPAddress SEQUENCE { network, tsapIdentifier, ... }
        const bool ext = d.ExtBit();
        d.Ipv4(&field, channel);
        if (ext) d.SkipAdditions();
        break;
      }
      case 1: {  // iPXAddress { node(6), netnum(4), tsapIdentifier(2), ...}
        const bool ext = d.ExtBit();
        d.r.Octets(6);
        d.r.Octets(4);
        d.r.OctetString(2, 2, small);
        if (ext) d.SkipAdditions();
        break;
      }
      case 2: {  // iP6Address { network(16), tsapIdentifier, ... }
        const bool ext = d.ExtBit();
        d.r.Octets(16);
        d.r.Constrained(0, 65535);
        if (ext) d.SkipAdditions();
        break;
      }
      case 3:  // netBios OCTET STRING (SIZE(16))
        d.r.Octets(16);
        break;
      case 4: {  // iPSourceRouteAddress { routing, network, tsap, route }
        const bool ext = d.ExtBit();
        d.Choice(2, false);
        d.Ipv4(nullptr);
        const uint32_t n = d.Count(kMaxListItems);
        for (uint32_t i = 0; i < n && d.ok(); ++i) d.r.Octets(4);
        if (ext) d.SkipAdditions();
        break;
      }
    }
    return;
  }
  // MulticastAddress ::= CHOICE { iPAddress, iP6Address, ..., ... }: a
  // group address, not the NAT's to rewrite.
  const uint32_t m = d.Choice(2, true);
  if (!d.ok() || m >= 2) return;
  const bool ext = d.ExtBit();
  d.r.Octets(m == 0 ? 4 : 16);
  d.r.Constrained(0, 65535);
  if (ext) d.SkipAdditions();
}

// IS11172AudioCapability / IS13818AudioCapability: `bools` BOOLEANs and a
// bitRate INTEGER (1..max_rate), extensible.
void SkipMpegAudio(Dec& d, int bools, uint32_t max_rate) {
  const bool ext = d.ExtBit();
  d.r.Bits(bools);
  d.r.Constrained(1, max_rate);
  if (ext) d.SkipAdditions();
}

// AudioCapability ::= CHOICE (14 root alternatives, extensible).
void SkipAudio(Dec& d) {
  const uint32_t a = d.Choice(14, true);
  if (!d.ok() || a >= 14) return;
  switch (a) {
    case 0:
      SkipNonStandard(d);
      break;
    case 8:  // g7231 SEQUENCE { maxAl-sduAudioFrames, silenceSuppression }
      d.r.Constrained(1, 256);
      d.SkipBool();
      break;
    case 12:
      SkipMpegAudio(d, 8, 448);
      break;
    case 13:
      SkipMpegAudio(d, 20, 1130);
      break;
    default:  // g711, g722, g728, g729...: INTEGER (1..256) frames
      d.r.Constrained(1, 256);
      break;
  }
}

// VideoCapability ::= CHOICE { nonStandard, h261, h262, h263, is11172,
// ... }: H.261 and H.263 (what H.323 video uses) are decoded.
void SkipVideo(Dec& d) {
  const uint32_t v = d.Choice(5, true);
  if (!d.ok() || v >= 5) return;
  switch (v) {
    case 0:
      SkipNonStandard(d);
      break;
    case 1: {  // H261VideoCapability
      const bool ext = d.ExtBit();
      const uint32_t opt = d.Optional(2);
      if (Dec::Has(opt, 2, 0)) d.r.Constrained(1, 4);
      if (Dec::Has(opt, 2, 1)) d.r.Constrained(1, 4);
      d.SkipBool();
      d.r.Constrained(1, 19200);
      d.SkipBool();
      if (ext) d.SkipAdditions();
      break;
    }
    case 3: {  // H263VideoCapability
      const bool ext = d.ExtBit();
      const uint32_t opt = d.Optional(7);
      for (int i = 0; i < 5; ++i) {
        if (Dec::Has(opt, 7, i)) d.r.Constrained(1, 32);
      }
      d.r.Constrained(1, 192400);
      d.r.Bits(5);
      if (Dec::Has(opt, 7, 5)) d.r.Constrained(0, 524287);
      if (Dec::Has(opt, 7, 6)) d.r.Constrained(0, 65535);
      if (ext) d.SkipAdditions();
      break;
    }
    default:  // H.262, IS 11172 video
      d.Unsupported();
      break;
  }
}

// DataType ::= CHOICE { nonStandard, nullData, videoData, audioData, data,
// encryptionData, ... }.
void SkipDataType(Dec& d) {
  const uint32_t t = d.Choice(6, true);
  if (!d.ok() || t >= 6) return;
  switch (t) {
    case 0:
      SkipNonStandard(d);
      break;
    case 1:  // nullData
      break;
    case 2:
      SkipVideo(d);
      break;
    case 3:
      SkipAudio(d);
      break;
    default:  // data (T.120, T.38), encryptionData
      d.Unsupported();
      break;
  }
}

uint8_t NextChannel(Dec& d) {
  Found& f = d.c.found;
  if (f.channels < 255) ++f.channels;
  return f.channels;
}

// H2250LogicalChannelParameters: the root up to mediaControlChannel.
void H2250Parameters(Dec& d) {
  const uint8_t ch = NextChannel(d);
  d.ExtBit();
  const uint32_t opt = d.Optional(10);
  if (Dec::Has(opt, 10, 0)) {  // nonStandard SEQUENCE OF
    const uint32_t n = d.Count(kMaxListItems);
    for (uint32_t i = 0; i < n && d.ok(); ++i) SkipNonStandard(d);
  }
  d.r.Constrained(0, 255);                            // sessionID
  if (Dec::Has(opt, 10, 1)) d.r.Constrained(1, 255);  // associated
  if (Dec::Has(opt, 10, 2)) TransportAddress(d, kRtp, ch);
  if (Dec::Has(opt, 10, 3)) d.SkipBool();  // mediaGuaranteedDelivery
  if (Dec::Has(opt, 10, 4)) TransportAddress(d, kRtcp, ch);
  // The rest holds no address; the value is an open type, so it may end
  // here.
}

// H2250LogicalChannelAckParameters: the root up to mediaControlChannel.
void H2250AckParameters(Dec& d) {
  const uint8_t ch = NextChannel(d);
  d.ExtBit();
  const uint32_t opt = d.Optional(5);
  if (Dec::Has(opt, 5, 0)) {
    const uint32_t n = d.Count(kMaxListItems);
    for (uint32_t i = 0; i < n && d.ok(); ++i) SkipNonStandard(d);
  }
  if (Dec::Has(opt, 5, 1)) d.r.Constrained(1, 255);  // sessionID
  if (Dec::Has(opt, 5, 2)) TransportAddress(d, kRtp, ch);
  if (Dec::Has(opt, 5, 3)) TransportAddress(d, kRtcp, ch);
}

// A multiplexParameters CHOICE whose root alternatives are not H.225.0's
// (H.222, H.223, V.76) and whose extension alternative `h2250` is.
void MultiplexParameters(Dec& d, uint32_t root, uint32_t h2250) {
  std::span<const uint8_t> value;
  const uint32_t m = d.Choice(root, true, &value);
  if (!d.ok()) return;
  if (m < root) {
    d.Unsupported();  // not an H.323 channel
  } else if (m == h2250) {
    d.Sub(value, H2250Parameters);
  }
}

}  // namespace

// OpenLogicalChannel.
void DecodeOlc(Dec& d) {
  const bool ext = d.ExtBit();
  const uint32_t opt = d.Optional(1);
  d.r.Constrained(1, 65535);  // forwardLogicalChannelNumber
  {
    // forwardLogicalChannelParameters { portNumber OPTIONAL, dataType,
    // multiplexParameters CHOICE { h222, h223, v76, ..., h2250, none },
    // ... }
    const bool fext = d.ExtBit();
    const uint32_t fopt = d.Optional(1);
    if (Dec::Has(fopt, 1, 0)) d.r.Constrained(0, 65535);
    SkipDataType(d);
    MultiplexParameters(d, 3, 3);
    if (fext) d.SkipAdditions();
  }
  if (Dec::Has(opt, 1, 0)) {
    // reverseLogicalChannelParameters { dataType, multiplexParameters
    // CHOICE { h223, v76, ..., h2250 } OPTIONAL, ... }
    const bool rext = d.ExtBit();
    const uint32_t ropt = d.Optional(1);
    SkipDataType(d);
    if (Dec::Has(ropt, 1, 0)) MultiplexParameters(d, 2, 2);
    if (rext) d.SkipAdditions();
  }
  // Extensions (separateStack, encryptionSync, ...) hold no RTP address.
  if (ext) d.SkipAdditions();
}

namespace {

// OpenLogicalChannelAck.
void DecodeOlcAck(Dec& d) {
  const bool ext = d.ExtBit();
  const uint32_t opt = d.Optional(1);
  d.r.Constrained(1, 65535);  // forwardLogicalChannelNumber
  if (Dec::Has(opt, 1, 0)) {
    // reverseLogicalChannelParameters { reverseLogicalChannelNumber,
    // portNumber OPTIONAL, multiplexParameters CHOICE { h222, ..., h2250 }
    // OPTIONAL, ... }
    const bool rext = d.ExtBit();
    const uint32_t ropt = d.Optional(2);
    d.r.Constrained(1, 65535);
    if (Dec::Has(ropt, 2, 0)) d.r.Constrained(0, 65535);
    if (Dec::Has(ropt, 2, 1)) MultiplexParameters(d, 1, 1);
    if (rext) d.SkipAdditions();
  }
  if (!ext) return;
  // Addition 1: forwardMultiplexAckParameters CHOICE {
  // h2250LogicalChannelAckParameters, ... }.
  d.Additions([&](uint32_t i, std::span<const uint8_t> v) {
    if (i != 1) return;
    d.Sub(v, [](Dec& a) {
      std::span<const uint8_t> unused;
      if (a.Choice(1, true, &unused) == 0 && a.ok()) H2250AckParameters(a);
    });
  });
}

}  // namespace

// MultimediaSystemControlMessage ::= CHOICE { request, response, command,
// indication, ... }.
void DecodeH245Message(Dec& d) {
  // A tunnelled message leaves the carrying message's kind alone.
  Message& m = d.c.found.message;
  const bool mine = m == Message::kUnknown;
  const uint32_t kind = d.Choice(4, true);
  if (!d.ok()) return;
  if (kind == 0 && d.Choice(11, true) == 3 && d.ok()) {
    if (mine) m = Message::kOpenLogicalChannel;
    DecodeOlc(d);  // RequestMessage.openLogicalChannel
  } else if (kind == 1 && d.Choice(19, true) == 5 && d.ok()) {
    if (mine) m = Message::kOpenLogicalChannelAck;
    DecodeOlcAck(d);  // ResponseMessage.openLogicalChannelAck
  } else if (mine) {
    m = Message::kOtherH245;
  }
}

}  // namespace internal

Result DecodeH245(std::span<const uint8_t> data, const uint8_t* origin,
                  Found& found) {
  internal::Ctx c{origin, found};
  internal::Dec d(data, c);
  internal::DecodeH245Message(d);
  return internal::Finish(d);
}

Result DecodeOpenLogicalChannel(std::span<const uint8_t> data,
                                const uint8_t* origin, Found& found) {
  internal::Ctx c{origin, found};
  internal::Dec d(data, c);
  if (found.message == Message::kUnknown) {
    found.message = Message::kOpenLogicalChannel;
  }
  internal::DecodeOlc(d);
  return internal::Finish(d);
}

}  // namespace unat::helpers::h323
