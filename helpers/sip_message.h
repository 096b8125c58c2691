// SIP (RFC 3261) and SDP (RFC 4566) parsing for the SIP helper: the start
// line, the header fields (compact forms too, folded lines joined), the
// body that Content-Length gives, message framing on a TCP stream, the
// addresses in the header fields that carry them and in an SDP body, and
// whole-token address matching (10.0.0.1 is not in 10.0.0.10).
//
// Everything is offsets into the caller's bytes: no copies, no allocation
// but the header list. Nothing here rewrites; the helper builds its edits
// from what this finds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace unat::helpers::sip {

// Why a message does not parse (counted by the helper, which then passes
// the message untouched).
enum class ParseError : uint8_t {
  kNone = 0,
  kIncomplete,    // no end of the header section yet (a stream wants more)
  kBadStartLine,  // neither "METHOD URI SIP/2.0" nor "SIP/2.0 CODE REASON"
  kBadHeader,     // a header line without a colon or with an empty name
  kBadLength,     // Content-Length not a number, or past the bytes given
  kTooLarge,      // over kMaxMessage or kMaxHeaders
};
const char* ParseErrorName(ParseError e);

inline constexpr size_t kMaxMessage = 65535;
inline constexpr size_t kMaxHeaders = 128;

// The header fields the helper looks at, by their full name (a compact
// form maps to its full one, RFC 3261 7.3.3 / 20).
enum class HeaderKind : uint8_t {
  kOther = 0,
  kVia,
  kContact,
  kFrom,
  kTo,
  kCallId,
  kCSeq,
  kContentLength,
  kContentType,
  kRecordRoute,
  kRoute,
  kExpires,
};
HeaderKind KindOf(std::string_view name);

struct Span {
  size_t offset = 0;
  size_t length = 0;
  std::string_view of(std::string_view text) const {
    return text.substr(offset, length);
  }
  size_t end() const { return offset + length; }
};

struct Header {
  HeaderKind kind = HeaderKind::kOther;
  Span name;   // as written (compact or full)
  Span value;  // trimmed; a folded value spans its continuation lines
};

struct Message {
  bool request = false;
  Span method;       // requests
  Span request_uri;  // requests
  int status = 0;    // responses
  std::vector<Header> headers;
  Span body;  // from the end of the header section, Content-Length long
  // The whole message's length in the bytes given (header section + body).
  size_t length = 0;
  bool has_content_length = false;

  // The first header of a kind, or null.
  const Header* Find(HeaderKind kind) const;
};

// Parses one message at the start of `text`. `stream` (TCP): the body must
// be as long as Content-Length says, which must be present, and the message
// may be followed by more bytes (the next message); otherwise (UDP) the
// datagram is one message and a missing Content-Length means "the rest".
// `needed` (if given) is set, when a stream's message is incomplete but its
// header section is not, to the whole message's length (0 otherwise).
std::optional<Message> Parse(std::string_view text, bool stream,
                             ParseError* why, size_t* needed = nullptr);

// An IPv4 address written in `text` at `span`, as a whole token: not
// preceded by a digit, letter or '.', and not followed by a digit or '.'.
// Finds every such occurrence of `addr` (dotted quad) within [from, to).
std::vector<size_t> FindAddress(std::string_view text, std::string_view addr,
                                size_t from, size_t to);

// The host and port of a SIP URI or a Via sent-by inside `value`
// ("sip:alice@10.0.0.1:5060;transport=udp", "<sip:10.0.0.1>",
// "SIP/2.0/UDP 10.0.0.1:5060;branch=..."): spans into the whole text (the
// header value's own offset added). port.length 0: no port written.
struct HostPort {
  Span host;
  Span port;
  uint16_t port_value = 0;
};
std::optional<HostPort> UriHostPort(std::string_view text, Span value);
std::optional<HostPort> ViaSentBy(std::string_view text, Span value);

// Header names, methods and parameter names compare without case.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// The comma-separated values of a header field (Contact, Route, Via, ...:
// RFC 3261 7.3.1), each trimmed, commas inside quotes or <...> kept; spans
// into the whole text.
std::vector<Span> Values(std::string_view text, Span value);

// The method of a CSeq value ("314159 INVITE" -> "INVITE"); empty when
// the value is not "number method".
std::string_view CSeqMethod(std::string_view text, Span value);
// The `expires` parameter of a Contact value (the first contact of the
// field): "<sip:a@h>;expires=60" or "sip:a@h;expires=60" (without angle
// brackets the parameters are the field's, RFC 3261 20.10).
std::optional<uint32_t> ContactExpires(std::string_view text, Span value);
// An Expires value (delta-seconds), capped at 2^32 - 1.
std::optional<uint32_t> DeltaSeconds(std::string_view value);

// SDP: the lines that carry addresses and ports.
struct SdpMedia {
  Span media;  // "audio"
  Span port;   // the m= port
  uint16_t port_value = 0;
  Span connection_addr;  // its own c= address, if any
  Span rtcp_port;        // a=rtcp: port, if any
  uint16_t rtcp_port_value = 0;
  Span rtcp_addr;  // a=rtcp: address, if any
};
struct Sdp {
  Span origin_addr;      // o= address
  Span connection_addr;  // session-level c= address
  std::vector<SdpMedia> media;
};
// Parses the SDP in `text` within `body`. Lines may end in CRLF or LF.
// nullopt when it is not SDP (no "v=0" first line).
std::optional<Sdp> ParseSdp(std::string_view text, Span body);

}  // namespace unat::helpers::sip
