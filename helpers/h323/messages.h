// What the H.323 decoders find in a message: every IPv4 transport address
// of the fields a NAT has to rewrite, with where its octets are.
//
// H.225.0 (call signalling and RAS) and H.245 (call control) are ASN.1 PER
// (aligned). An IPv4 transport address is a fixed 4-octet OCTET STRING and
// an INTEGER (0..65535) in both, so its 6 octets are octet-aligned and a
// rewrite keeps the message's length: the decoders report the offset of
// those octets in the buffer they were given and nothing else changes.
//
// The decoders read the root of every type on the way to the fields and
// skip what they do not need (extension additions are open types, skipped
// by their length). A type they do not know the root encoding of (video
// capabilities other than H.261/H.263, data and encryption channels, H.235
// tokens) ends the decode as kUnsupported: the caller then passes the
// message untouched, as it does one that fails to decode (kMalformed).
// Nothing recurses on the data: the nesting is fixed by the grammar.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "helpers/h323/per.h"

namespace unat::helpers::h323 {

// The field an address was found in.
enum class Field : uint8_t {
  // H.225.0 call signalling (Q.931 User-user).
  kH245Address,
  kSourceCallSignal,
  kDestCallSignal,
  // H.245 logical channel parameters (fastStart, tunnelled or not).
  kMediaChannel,         // RTP
  kMediaControlChannel,  // RTCP
  // RAS.
  kCallSignal,     // RRQ/RCF/LCF callSignalAddress, ACF destCallSignalAddress
  kRas,            // RRQ/GRQ rasAddress, LCF rasAddress
  kReply,          // LRQ/IRQ replyAddress
  kSrcCallSignal,  // ARQ srcCallSignalAddress
};
std::string_view FieldName(Field f);

// The H.225.0 message (call signalling: the H323-UU-PDU body; RAS: the
// RasMessage alternative) or H.245 message it was found in.
enum class Message : uint8_t {
  kUnknown,
  // Call signalling.
  kSetup,
  kCallProceeding,
  kConnect,
  kAlerting,
  kInformation,
  kReleaseComplete,
  kFacility,
  kProgress,
  kOtherUuie,  // empty, status, notify, ...: no address decoded
  // RAS.
  kGrq,
  kGcf,
  kRrq,
  kRcf,
  kUrq,
  kArq,
  kAcf,
  kLrq,
  kLcf,
  kIrq,
  kOtherRas,
  // H.245.
  kOpenLogicalChannel,
  kOpenLogicalChannelAck,
  kOtherH245,
};
std::string_view MessageName(Message m);

enum class Result : uint8_t {
  kOk,
  kMalformed,    // the PER does not decode (bad length, truncated, ...)
  kUnsupported,  // a type on the way this decoder does not know
  kTooMany,      // more addresses than Found holds
};
std::string_view ResultName(Result r);

struct AddressRef {
  Field field;
  // Which H2250 logical channel parameters it is in (0: none): a
  // mediaChannel and a mediaControlChannel of one channel share it.
  uint8_t channel = 0;
  uint32_t offset = 0;  // of the 4 address octets; the port's 2 follow
  uint32_t addr = 0;    // host order
  uint16_t port = 0;
};

// Bounds of what a message may hold.
inline constexpr int kMaxAddresses = 32;
inline constexpr uint32_t kMaxListItems = 32;    // a SEQUENCE OF's items
inline constexpr uint32_t kMaxFastStart = 16;    // fastStart elements
inline constexpr uint32_t kMaxOpenType = 65535;  // an open type's octets

struct Found {
  Message message = Message::kUnknown;
  int count = 0;
  AddressRef refs[kMaxAddresses];
  uint8_t channels = 0;  // logical channel parameter blocks seen
  bool h245_tunnelling = false;
  // RCF / RRQ timeToLive (seconds; 0: absent).
  uint32_t time_to_live = 0;
  // Where decoding stopped, for the counters (kMalformed).
  per::Error per_error = per::Error::kNone;
};

// H323-UserInformation (the User-user information element's contents,
// after its protocol discriminator): addresses of the UUIE, its fastStart
// OLCs and its tunnelled H.245 messages (h245Control). `data` offsets are
// reported relative to `origin` (the start of the buffer the caller
// rewrites), which must not be after data.data().
Result DecodeUserInformation(std::span<const uint8_t> data,
                             const uint8_t* origin, Found& found);

// A RasMessage (a whole RAS UDP payload).
Result DecodeRas(std::span<const uint8_t> data, const uint8_t* origin,
                 Found& found);

// A MultimediaSystemControlMessage (one H.245 message).
Result DecodeH245(std::span<const uint8_t> data, const uint8_t* origin,
                  Found& found);

// One OpenLogicalChannel encoding (a fastStart element).
Result DecodeOpenLogicalChannel(std::span<const uint8_t> data,
                                const uint8_t* origin, Found& found);

// Q.931 over TPKT on the call signalling connection (H.225.0 7.1, RFC
// 1006): a message's User-user information element, or why it has none.
struct Q931View {
  uint8_t message_type = 0;
  uint16_t call_reference = 0;
  bool from_destination = false;  // the call reference flag
  // The H323-UserInformation octets (after the IE's protocol
  // discriminator); empty when the message has no User-user IE.
  std::span<const uint8_t> user_information;
};
// `q931` is the TPKT payload. False when it is not Q.931 (discriminator
// 0x08) or its information elements overrun it.
bool ParseQ931(std::span<const uint8_t> q931, Q931View& view);

}  // namespace unat::helpers::h323
