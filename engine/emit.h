// The headers of packets unat writes itself (port-mapping answers, its TCP
// endpoint, ICMP errors, resets), smoltcp style: a plain value per header (a
// "repr") and an Emit() that writes it, lengths and checksum included, into
// a buffer the caller sized. Nothing here allocates or fails.
//
// The headers may be emitted in either order: an L4 Emit() takes its payload
// (and copies it after its header, unless it is there already) and reads
// only the addresses of the IPv4 repr:
//   const Ipv4Repr ip{.src = s, .dst = d, .protocol = kProtoUdp,
//                     .payload_length = 8 + n};  // n payload bytes
//   Emit(ip, out);
//   Emit(UdpRepr{sport, dport}, ip, payload, out + Ipv4Repr::kHeaderLength);
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "engine/checksum.h"
#include "engine/wire.h"

namespace unat {

// An IPv4 header without options.
struct Ipv4Repr {
  static constexpr uint16_t kHeaderLength = ipv4_field::kMinHeader;

  uint32_t src = 0;
  uint32_t dst = 0;
  uint8_t protocol = 0;
  uint16_t payload_length = 0;  // bytes after the header
  uint8_t ttl = 64;
  bool dont_fragment = false;
  uint16_t id = 0;
  uint8_t tos = 0;

  // The whole datagram: header and payload.
  size_t buffer_len() const { return size_t{kHeaderLength} + payload_length; }
};

// Writes the 20 header bytes at `out`, the header checksum included.
void Emit(const Ipv4Repr& repr, uint8_t* out);

// Recomputes the checksum of the IPv4 header (options included) at `header`.
inline void StoreIpv4Checksum(uint8_t* header, uint16_t header_length) {
  StoreBe16(header + ipv4_field::kChecksum, 0);
  StoreBe16(header + ipv4_field::kChecksum,
            InternetChecksum({header, header_length}));
}

// Recomputes the checksum of a TCP or UDP `segment` (header and payload)
// sent from src to dst; for UDP a result of 0 is stored as 0xffff (RFC 768:
// 0 means none).
inline void StoreTransportChecksum(uint32_t src, uint32_t dst, uint8_t proto,
                                   std::span<uint8_t> segment) {
  const uint16_t off =
      proto == kProtoUdp ? l4_field::kUdpChecksum : l4_field::kTcpChecksum;
  StoreBe16(segment.data() + off, 0);
  uint16_t c = TransportChecksum(src, dst, proto, segment);
  if (proto == kProtoUdp && c == 0) c = 0xffff;
  StoreBe16(segment.data() + off, c);
}

struct UdpRepr {
  static constexpr uint16_t kHeaderLength = l4_field::kUdpHeader;

  uint16_t src_port = 0;
  uint16_t dst_port = 0;
};

// Writes the UDP header at `out` and `payload` after it (`out` holds
// kHeaderLength + payload.size() bytes), the length and the checksum over
// ip's addresses included.
void Emit(const UdpRepr& repr, const Ipv4Repr& ip,
          std::span<const uint8_t> payload, uint8_t* out);

struct TcpRepr {
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  SeqNum seq{};
  SeqNum ack{};  // written as is, whether or not flags has kAck
  uint8_t flags = 0;
  uint16_t window = 0;
  // Raw option bytes, padded by the caller to whole 32-bit words (a shorter
  // tail is left out).
  std::span<const uint8_t> options{};

  uint16_t header_length() const {
    return static_cast<uint16_t>(l4_field::kTcpMinHeader +
                                 (options.size() & ~size_t{3}));
  }
};

// Writes the TCP header (options included) at `out` and `payload` after it
// (`out` holds header_length() + payload.size() bytes), the data offset and
// the checksum over ip's addresses included; the urgent pointer is 0.
void Emit(const TcpRepr& repr, const Ipv4Repr& ip,
          std::span<const uint8_t> payload, uint8_t* out);

// The RST answering `segment` (RFC 9293 3.10.7.1), from its destination to
// its source: SEQ = its ACK when it had one; else SEQ 0 and ACK = its SEQ
// plus its length (`payload_length` bytes, SYN and FIN). Window 0, no
// options. Whether to answer at all (never a RST) is the caller's call.
TcpRepr ResetFor(const L4View& segment, uint32_t payload_length);

struct IcmpRepr {
  static constexpr uint16_t kHeaderLength = l4_field::kIcmpHeader;

  uint8_t type = 0;
  uint8_t code = 0;
  // The header's second word: identifier and sequence number, next-hop MTU
  // (RFC 1191), pointer (parameter problem), or unused.
  uint32_t rest = 0;
};

// Writes the ICMP header at `out` and `payload` after it (`out` holds
// kHeaderLength + payload.size() bytes), the checksum over both included.
void Emit(const IcmpRepr& repr, std::span<const uint8_t> payload, uint8_t* out);

}  // namespace unat
