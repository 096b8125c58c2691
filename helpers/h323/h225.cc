// H.225.0 (H323-MESSAGES, aligned PER): the call signalling UUIEs and the
// RAS messages, far enough to find every transport address a NAT
// rewrites; and Q.931 framing of the call signalling channel.
#include "helpers/h323/decoder.h"

namespace unat::helpers::h323 {
namespace internal {
namespace {

// H221NonStandard ::= SEQUENCE { t35CountryCode, t35Extension,
// manufacturerCode, ... }
void SkipH221(Dec& d) {
  const bool ext = d.ExtBit();
  d.r.Constrained(0, 255);
  d.r.Constrained(0, 255);
  d.r.Constrained(0, 65535);
  if (ext) d.SkipAdditions();
}

// NonStandardParameter ::= SEQUENCE { nonStandardIdentifier CHOICE {
// object, h221NonStandard, ... }, data OCTET STRING }
void SkipNonStandard(Dec& d) {
  const uint32_t id = d.Choice(2, true);
  if (id == 0) {
    d.SkipOid();
  } else if (id == 1) {
    SkipH221(d);
  }
  d.AnyOctets();
}

// TransportAddress ::= CHOICE { ipAddress SEQUENCE { ip, port },
// ipSourceRoute, ipxAddress, ip6Address, netBios, nsap,
// nonStandardAddress, ... }. An ipAddress is recorded as `field`.
void TransportAddress(Dec& d, const Field* field) {
  const uint32_t kind = d.Choice(7, true);
  if (!d.ok() || kind >= 7) return;
  uint8_t small[2];
  switch (kind) {
    case 0:
      d.Ipv4(field);
      break;
    case 1: {  // ipSourceRoute { ip, port, route, routing, ... }
      const bool ext = d.ExtBit();
      d.Ipv4(nullptr);
      const uint32_t n = d.Count(kMaxListItems);
      for (uint32_t i = 0; i < n && d.ok(); ++i) d.r.Octets(4);
      d.Choice(2, true);
      if (ext) d.SkipAdditions();
      break;
    }
    case 2:  // ipxAddress { node(6), netnum(4), port(2) }
      d.r.Octets(6);
      d.r.Octets(4);
      d.r.OctetString(2, 2, small);
      break;
    case 3: {  // ip6Address { ip(16), port, ... }
      const bool ext = d.ExtBit();
      d.r.Octets(16);
      d.r.Constrained(0, 65535);
      if (ext) d.SkipAdditions();
      break;
    }
    case 4:  // netBios
      d.r.Octets(16);
      break;
    case 5:  // nsap OCTET STRING (SIZE(1..20))
      d.r.OctetString(1, 20, small);
      break;
    case 6:
      SkipNonStandard(d);
      break;
  }
}
void TransportAddress(Dec& d, Field field) { TransportAddress(d, &field); }
void SkipTransportAddress(Dec& d) { TransportAddress(d, nullptr); }

// SEQUENCE OF TransportAddress, each recorded as `field`.
void TransportAddresses(Dec& d, Field field) {
  const uint32_t n = d.Count(kMaxListItems);
  for (uint32_t i = 0; i < n && d.ok(); ++i) TransportAddress(d, field);
}

// AliasAddress ::= CHOICE { dialledDigits IA5String (SIZE(1..128)) (FROM
// 13 characters: 4 bits each), h323-ID BMPString (SIZE(1..256)), ... }
void SkipAlias(Dec& d) {
  const uint32_t a = d.Choice(2, true);
  if (a == 0) {
    d.r.SkipCharString(1, 128, 4);
  } else if (a == 1) {
    d.r.SkipCharString(1, 256, 16);
  }
}
void SkipAliases(Dec& d) {
  const uint32_t n = d.Count(kMaxListItems);
  for (uint32_t i = 0; i < n && d.ok(); ++i) SkipAlias(d);
}

// EndpointIdentifier, GatekeeperIdentifier ::= BMPString (SIZE(1..128))
void SkipIdentifier(Dec& d) { d.r.SkipCharString(1, 128, 16); }

// A SEQUENCE { nonStandardData OPTIONAL, ... } (GatekeeperInfo,
// TerminalInfo, McuInfo, H310Caps ... T120OnlyCaps).
void SkipNonStandardOnly(Dec& d) {
  const bool ext = d.ExtBit();
  if (d.Optional(1)) SkipNonStandard(d);
  if (ext) d.SkipAdditions();
}

// SupportedProtocols ::= CHOICE { nonStandardData, h310 ... t120-only,
// ... }
void SkipSupportedProtocol(Dec& d) {
  const uint32_t p = d.Choice(9, true);
  if (!d.ok() || p >= 9) return;
  if (p == 0) {
    SkipNonStandard(d);
  } else {
    SkipNonStandardOnly(d);
  }
}

// VendorIdentifier ::= SEQUENCE { vendor H221NonStandard, productId
// OPTIONAL, versionId OPTIONAL, ... }
void SkipVendor(Dec& d) {
  const bool ext = d.ExtBit();
  const uint32_t opt = d.Optional(2);
  uint8_t small[2];
  SkipH221(d);
  if (Dec::Has(opt, 2, 0)) d.r.OctetString(1, 256, small);
  if (Dec::Has(opt, 2, 1)) d.r.OctetString(1, 256, small);
  if (ext) d.SkipAdditions();
}

// EndpointType ::= SEQUENCE { nonStandardData, vendor, gatekeeper, gateway,
// mcu, terminal (all OPTIONAL), mc, undefinedNode, ... }
void SkipEndpointType(Dec& d) {
  const bool ext = d.ExtBit();
  const uint32_t opt = d.Optional(6);
  if (Dec::Has(opt, 6, 0)) SkipNonStandard(d);
  if (Dec::Has(opt, 6, 1)) SkipVendor(d);
  if (Dec::Has(opt, 6, 2)) SkipNonStandardOnly(d);  // GatekeeperInfo
  if (Dec::Has(opt, 6, 3)) {
    // GatewayInfo ::= SEQUENCE { protocol SEQUENCE OF SupportedProtocols
    // OPTIONAL, nonStandardData OPTIONAL, ... }
    const bool gext = d.ExtBit();
    const uint32_t gopt = d.Optional(2);
    if (Dec::Has(gopt, 2, 0)) {
      const uint32_t n = d.Count(kMaxListItems);
      for (uint32_t i = 0; i < n && d.ok(); ++i) SkipSupportedProtocol(d);
    }
    if (Dec::Has(gopt, 2, 1)) SkipNonStandard(d);
    if (gext) d.SkipAdditions();
  }
  if (Dec::Has(opt, 6, 4)) SkipNonStandardOnly(d);  // McuInfo
  if (Dec::Has(opt, 6, 5)) SkipNonStandardOnly(d);  // TerminalInfo
  d.r.Bits(2);                                      // mc, undefinedNode
  if (ext) d.SkipAdditions();
}

// QseriesOptions ::= SEQUENCE { 7 BOOLEANs, q954Info Q954Details, ... }
void SkipQseries(Dec& d) {
  const bool ext = d.ExtBit();
  d.r.Bits(7);
  const bool qext = d.ExtBit();
  d.r.Bits(2);
  if (qext) d.SkipAdditions();
  if (ext) d.SkipAdditions();
}

// CallIdentifier ::= SEQUENCE { guid OCTET STRING (SIZE(16)), ... }
void SkipCallIdentifier(Dec& d) {
  const bool ext = d.ExtBit();
  d.r.Octets(16);
  if (ext) d.SkipAdditions();
}

// SecurityServiceMode ::= CHOICE { nonStandard, none, default, ... }
void SkipSecurityServiceMode(Dec& d) {
  if (d.Choice(3, true) == 0) SkipNonStandard(d);
}

// H245Security ::= CHOICE { nonStandard, noSecurity, tls, ipsec, ... }
void SkipH245Security(Dec& d) {
  const uint32_t s = d.Choice(4, true);
  if (!d.ok() || s >= 4) return;
  if (s == 0) {
    SkipNonStandard(d);
  } else if (s >= 2) {
    // SecurityCapabilities ::= SEQUENCE { nonStandard OPTIONAL,
    // encryption, authenticaton, integrity, ... }
    const bool ext = d.ExtBit();
    if (d.Optional(1)) SkipNonStandard(d);
    for (int i = 0; i < 3; ++i) SkipSecurityServiceMode(d);
    if (ext) d.SkipAdditions();
  }
}

// fastStart SEQUENCE OF OCTET STRING: each an OpenLogicalChannel.
void FastStart(Dec& d) {
  const uint32_t n = d.Count(kMaxFastStart);
  for (uint32_t i = 0; i < n && d.ok(); ++i) {
    d.Sub(d.AnyOctets(), DecodeOlc);
  }
}
// SEQUENCE OF OCTET STRING, each an H.245 message (h245Control,
// parallelH245Control).
void TunnelledH245(Dec& d) {
  const uint32_t n = d.Count(kMaxListItems);
  for (uint32_t i = 0; i < n && d.ok(); ++i) {
    d.Sub(d.AnyOctets(), DecodeH245Message);
  }
}

// The extension additions of a UUIE: `fast_start` and `h245` are the
// indices of its fastStart and h245Address additions (-1: none),
// `source` its sourceCallSignalAddress's, `parallel` its
// parallelH245Control's.
struct UuieAdditions {
  int fast_start = -1;
  int h245 = -1;
  int source = -1;
  int parallel = -1;
};
void DecodeAdditions(Dec& d, const UuieAdditions& a) {
  d.Additions([&](uint32_t i, std::span<const uint8_t> v) {
    const int idx = static_cast<int>(i);
    if (idx == a.fast_start) {
      d.Sub(v, FastStart);
    } else if (idx == a.h245) {
      d.Sub(v, [](Dec& s) { TransportAddress(s, Field::kH245Address); });
    } else if (idx == a.source) {
      d.Sub(v, [](Dec& s) { TransportAddress(s, Field::kSourceCallSignal); });
    } else if (idx == a.parallel) {
      d.Sub(v, TunnelledH245);
    }
  });
}

void DecodeSetup(Dec& d) {
  const bool ext = d.ExtBit();
  const uint32_t opt = d.Optional(7);
  d.SkipOid();  // protocolIdentifier
  if (Dec::Has(opt, 7, 0)) TransportAddress(d, Field::kH245Address);
  if (Dec::Has(opt, 7, 1)) SkipAliases(d);  // sourceAddress
  SkipEndpointType(d);                      // sourceInfo
  if (Dec::Has(opt, 7, 2)) SkipAliases(d);  // destinationAddress
  if (Dec::Has(opt, 7, 3)) TransportAddress(d, Field::kDestCallSignal);
  if (Dec::Has(opt, 7, 4)) SkipAliases(d);  // destExtraCallInfo
  if (Dec::Has(opt, 7, 5)) {                // destExtraCRV
    const uint32_t n = d.Count(kMaxListItems);
    for (uint32_t i = 0; i < n && d.ok(); ++i) d.r.Constrained(0, 65535);
  }
  d.SkipBool();                             // activeMC
  d.r.Octets(16);                           // conferenceID
  d.Choice(3, true);                        // conferenceGoal
  if (Dec::Has(opt, 7, 6)) SkipQseries(d);  // callServices
  d.Choice(4, true);                        // callType
  if (ext) {
    DecodeAdditions(d, {.fast_start = 6, .source = 0, .parallel = 24});
  }
}

// CallProceeding-UUIE and Alerting-UUIE share their root and the index of
// fastStart: { protocolIdentifier, destinationInfo, h245Address OPTIONAL,
// ..., callIdentifier, h245SecurityMode, tokens, cryptoTokens, fastStart }
void DecodeProceedingOrAlerting(Dec& d) {
  const bool ext = d.ExtBit();
  const uint32_t opt = d.Optional(1);
  d.SkipOid();
  SkipEndpointType(d);
  if (opt) TransportAddress(d, Field::kH245Address);
  if (ext) DecodeAdditions(d, {.fast_start = 4});
}

void DecodeConnect(Dec& d) {
  const bool ext = d.ExtBit();
  const uint32_t opt = d.Optional(1);
  d.SkipOid();
  if (opt) TransportAddress(d, Field::kH245Address);
  SkipEndpointType(d);  // destinationInfo
  d.r.Octets(16);       // conferenceID
  if (ext) DecodeAdditions(d, {.fast_start = 4});
}

void DecodeInformation(Dec& d) {
  const bool ext = d.ExtBit();
  d.SkipOid();
  if (ext) DecodeAdditions(d, {.fast_start = 3});
}

void DecodeReleaseComplete(Dec& d) {
  const bool ext = d.ExtBit();
  const uint32_t opt = d.Optional(1);
  d.SkipOid();
  if (opt) {
    // ReleaseCompleteReason: 12 root NULLs, extensions as open types.
    d.Choice(12, true);
  }
  if (ext) d.SkipAdditions();
}

void DecodeFacility(Dec& d) {
  const bool ext = d.ExtBit();
  const uint32_t opt = d.Optional(3);
  d.SkipOid();
  // alternativeAddress names where to call instead (a redirection): not
  // this connection's endpoint, so not rewritten.
  if (Dec::Has(opt, 3, 0)) SkipTransportAddress(d);
  if (Dec::Has(opt, 3, 1)) SkipAliases(d);
  if (Dec::Has(opt, 3, 2)) d.r.Octets(16);
  d.Choice(4, true);  // reason
  if (ext) DecodeAdditions(d, {.fast_start = 7, .h245 = 6});
}

// Progress-UUIE (an extension alternative: its own open type) has its
// h245Address and fastStart in the root, behind H.235 tokens.
void DecodeProgress(Dec& d) {
  const bool ext = d.ExtBit();
  const uint32_t opt = d.Optional(5);
  d.SkipOid();
  SkipEndpointType(d);
  if (Dec::Has(opt, 5, 0)) TransportAddress(d, Field::kH245Address);
  SkipCallIdentifier(d);
  if (Dec::Has(opt, 5, 1)) SkipH245Security(d);
  if (Dec::Has(opt, 5, 2) || Dec::Has(opt, 5, 3)) {
    d.Unsupported();  // ClearToken / CryptoH323Token (H.235)
    return;
  }
  if (Dec::Has(opt, 5, 4)) FastStart(d);
  if (ext) d.SkipAdditions();
}

// H323-UU-PDU ::= SEQUENCE { h323-message-body CHOICE { ... },
// nonStandardData OPTIONAL, ..., h4501SupplementaryService, h245Tunnelling,
// h245Control, ... }
void DecodeUuPdu(Dec& d) {
  const bool ext = d.ExtBit();
  const uint32_t opt = d.Optional(1);
  std::span<const uint8_t> value;
  const uint32_t body = d.Choice(7, true, &value);
  if (!d.ok()) return;
  Message& m = d.c.found.message;
  switch (body) {
    case 0:
      m = Message::kSetup;
      DecodeSetup(d);
      break;
    case 1:
      m = Message::kCallProceeding;
      DecodeProceedingOrAlerting(d);
      break;
    case 2:
      m = Message::kConnect;
      DecodeConnect(d);
      break;
    case 3:
      m = Message::kAlerting;
      DecodeProceedingOrAlerting(d);
      break;
    case 4:
      m = Message::kInformation;
      DecodeInformation(d);
      break;
    case 5:
      m = Message::kReleaseComplete;
      DecodeReleaseComplete(d);
      break;
    case 6:
      m = Message::kFacility;
      DecodeFacility(d);
      break;
    case 7:
      m = Message::kProgress;
      d.Sub(value, DecodeProgress);
      break;
    default:  // empty, status, statusInquiry, setupAcknowledge, notify
      m = Message::kOtherUuie;
      break;
  }
  if (opt) SkipNonStandard(d);
  if (!ext) return;
  d.Additions([&](uint32_t i, std::span<const uint8_t> v) {
    if (i == 1) {  // h245Tunnelling BOOLEAN
      d.Sub(v, [](Dec& s) { s.c.found.h245_tunnelling = s.r.Bit(); });
    } else if (i == 2) {  // h245Control SEQUENCE OF OCTET STRING
      d.Sub(v, TunnelledH245);
    }
  });
}

// ---- RAS ----

constexpr uint32_t kRasRoot = 25;

void RequestSeqNum(Dec& d) { d.r.Constrained(1, 65535); }

void DecodeGrq(Dec& d) {
  d.ExtBit();
  const uint32_t opt = d.Optional(4);
  RequestSeqNum(d);
  d.SkipOid();
  if (Dec::Has(opt, 4, 0)) SkipNonStandard(d);
  TransportAddress(d, Field::kRas);
}

// RRQ's and RCF's extension additions: the second (index 1) is the
// registration's timeToLive INTEGER (1..4294967295).
void TimeToLiveAddition(Dec& d) {
  d.Additions([&](uint32_t i, std::span<const uint8_t> v) {
    if (i != 1) return;
    d.Sub(v, [](Dec& s) {
      s.c.found.time_to_live =
          static_cast<uint32_t>(s.r.Constrained(1, 4294967295u));
    });
  });
}

void DecodeRrq(Dec& d) {
  const bool ext = d.ExtBit();
  const uint32_t opt = d.Optional(3);
  RequestSeqNum(d);
  d.SkipOid();
  if (Dec::Has(opt, 3, 0)) SkipNonStandard(d);
  d.SkipBool();  // discoveryComplete
  TransportAddresses(d, Field::kCallSignal);
  TransportAddresses(d, Field::kRas);
  SkipEndpointType(d);                      // terminalType
  if (Dec::Has(opt, 3, 1)) SkipAliases(d);  // terminalAlias
  if (Dec::Has(opt, 3, 2)) SkipIdentifier(d);
  SkipVendor(d);  // endpointVendor
  if (ext) TimeToLiveAddition(d);
}

void DecodeRcf(Dec& d) {
  const bool ext = d.ExtBit();
  const uint32_t opt = d.Optional(3);
  RequestSeqNum(d);
  d.SkipOid();
  if (Dec::Has(opt, 3, 0)) SkipNonStandard(d);
  TransportAddresses(d, Field::kCallSignal);
  if (Dec::Has(opt, 3, 1)) SkipAliases(d);
  if (Dec::Has(opt, 3, 2)) SkipIdentifier(d);
  SkipIdentifier(d);  // endpointIdentifier
  if (ext) TimeToLiveAddition(d);
}

void DecodeUrq(Dec& d) {
  d.ExtBit();
  d.Optional(3);
  RequestSeqNum(d);
  TransportAddresses(d, Field::kCallSignal);
}

void DecodeArq(Dec& d) {
  d.ExtBit();
  const uint32_t opt = d.Optional(7);
  RequestSeqNum(d);
  d.Choice(4, true);                           // callType
  if (Dec::Has(opt, 7, 0)) d.Choice(2, true);  // callModel
  SkipIdentifier(d);                           // endpointIdentifier
  if (Dec::Has(opt, 7, 1)) SkipAliases(d);     // destinationInfo
  if (Dec::Has(opt, 7, 2)) TransportAddress(d, Field::kDestCallSignal);
  if (Dec::Has(opt, 7, 3)) SkipAliases(d);  // destExtraCallInfo
  SkipAliases(d);                           // srcInfo
  if (Dec::Has(opt, 7, 4)) TransportAddress(d, Field::kSrcCallSignal);
}

void DecodeAcf(Dec& d) {
  d.ExtBit();
  d.Optional(2);
  RequestSeqNum(d);
  d.r.Constrained(0, 4294967295u);  // bandWidth
  d.Choice(2, true);                // callModel
  TransportAddress(d, Field::kDestCallSignal);
}

void DecodeLrq(Dec& d) {
  d.ExtBit();
  const uint32_t opt = d.Optional(2);
  RequestSeqNum(d);
  if (Dec::Has(opt, 2, 0)) SkipIdentifier(d);
  SkipAliases(d);  // destinationInfo
  if (Dec::Has(opt, 2, 1)) SkipNonStandard(d);
  TransportAddress(d, Field::kReply);
}

void DecodeLcf(Dec& d) {
  d.ExtBit();
  d.Optional(1);
  RequestSeqNum(d);
  TransportAddress(d, Field::kCallSignal);
  TransportAddress(d, Field::kRas);
}

void DecodeIrq(Dec& d) {
  d.ExtBit();
  const uint32_t opt = d.Optional(2);
  RequestSeqNum(d);
  d.r.Constrained(0, 65535);  // callReferenceValue
  if (Dec::Has(opt, 2, 0)) SkipNonStandard(d);
  if (Dec::Has(opt, 2, 1)) TransportAddress(d, Field::kReply);
}

void DecodeRasMessage(Dec& d) {
  const uint32_t kind = d.Choice(kRasRoot, true);
  if (!d.ok()) return;
  Message& m = d.c.found.message;
  switch (kind) {
    case 0:
      m = Message::kGrq;
      DecodeGrq(d);
      break;
    case 1:
      m = Message::kGcf;
      break;
    case 3:
      m = Message::kRrq;
      DecodeRrq(d);
      break;
    case 4:
      m = Message::kRcf;
      DecodeRcf(d);
      break;
    case 6:
      m = Message::kUrq;
      DecodeUrq(d);
      break;
    case 9:
      m = Message::kArq;
      DecodeArq(d);
      break;
    case 10:
      m = Message::kAcf;
      DecodeAcf(d);
      break;
    case 18:
      m = Message::kLrq;
      DecodeLrq(d);
      break;
    case 19:
      m = Message::kLcf;
      DecodeLcf(d);
      break;
    case 21:
      m = Message::kIrq;
      DecodeIrq(d);
      break;
    default:
      m = Message::kOtherRas;
      break;
  }
}

}  // namespace
}  // namespace internal

Result DecodeUserInformation(std::span<const uint8_t> data,
                             const uint8_t* origin, Found& found) {
  internal::Ctx c{origin, found};
  internal::Dec d(data, c);
  // H323-UserInformation ::= SEQUENCE { h323-uu-pdu, user-data OPTIONAL,
  // ... }: nothing after the PDU is needed.
  d.ExtBit();
  d.Optional(1);
  internal::DecodeUuPdu(d);
  return internal::Finish(d);
}

Result DecodeRas(std::span<const uint8_t> data, const uint8_t* origin,
                 Found& found) {
  internal::Ctx c{origin, found};
  internal::Dec d(data, c);
  internal::DecodeRasMessage(d);
  return internal::Finish(d);
}

bool ParseQ931(std::span<const uint8_t> q, Q931View& view) {
  view = {};
  // Protocol discriminator, call reference (a length octet and that many
  // octets, the first's top bit the flag), message type.
  if (q.size() < 3 || q[0] != 0x08) return false;
  const size_t cr_len = q[1] & 0x0f;
  if (cr_len > 2 || q.size() < 3 + cr_len) return false;
  size_t p = 2;
  if (cr_len > 0) {
    view.from_destination = (q[p] & 0x80) != 0;
    uint16_t v = q[p] & 0x7f;
    if (cr_len == 2) v = static_cast<uint16_t>((v << 8) | q[p + 1]);
    view.call_reference = v;
  }
  p += cr_len;
  view.message_type = q[p++];
  while (p < q.size()) {
    const uint8_t id = q[p];
    if (id & 0x80) {  // a single-octet element
      ++p;
      continue;
    }
    if (id == 0x7e) {
      // User-user: a two-octet length (H.225.0 7.2.2.1), then protocol
      // discriminator 5 (X.208/X.209 coded) and the PER.
      if (q.size() - p < 3) return false;
      const size_t len = (size_t{q[p + 1]} << 8) | q[p + 2];
      if (len < 1 || q.size() - p - 3 < len) return false;
      if (q[p + 3] == 0x05) {
        view.user_information = q.subspan(p + 4, len - 1);
      }
      p += 3 + len;
      continue;
    }
    if (q.size() - p < 2) return false;
    const size_t len = q[p + 1];
    if (q.size() - p - 2 < len) return false;
    p += 2 + len;
  }
  return true;
}

}  // namespace unat::helpers::h323
