#include "engine/emit.h"

#include <cstring>

namespace unat {

namespace {

// Puts `payload` at `at` unless it is there already.
void PlacePayload(std::span<const uint8_t> payload, uint8_t* at) {
  if (!payload.empty() && payload.data() != at) {
    std::memmove(at, payload.data(), payload.size());
  }
}

}  // namespace

void Emit(const Ipv4Repr& repr, uint8_t* out) {
  out[ipv4_field::kVerIhl] = 0x40 | (Ipv4Repr::kHeaderLength / 4);
  out[ipv4_field::kTos] = repr.tos;
  StoreBe16(out + ipv4_field::kTotalLength,
            static_cast<uint16_t>(repr.buffer_len()));
  StoreBe16(out + ipv4_field::kId, repr.id);
  StoreBe16(out + ipv4_field::kFragOff, repr.dont_fragment ? 0x4000 : 0);
  out[ipv4_field::kTtl] = repr.ttl;
  out[ipv4_field::kProtocol] = repr.protocol;
  StoreBe32(out + ipv4_field::kSrc, repr.src);
  StoreBe32(out + ipv4_field::kDst, repr.dst);
  StoreIpv4Checksum(out, Ipv4Repr::kHeaderLength);
}

void Emit(const UdpRepr& repr, const Ipv4Repr& ip,
          std::span<const uint8_t> payload, uint8_t* out) {
  PlacePayload(payload, out + UdpRepr::kHeaderLength);
  const uint16_t len =
      static_cast<uint16_t>(UdpRepr::kHeaderLength + payload.size());
  StoreBe16(out + l4_field::kSrcPort, repr.src_port);
  StoreBe16(out + l4_field::kDstPort, repr.dst_port);
  StoreBe16(out + l4_field::kUdpLength, len);
  StoreTransportChecksum(ip.src, ip.dst, kProtoUdp, {out, len});
}

void Emit(const TcpRepr& repr, const Ipv4Repr& ip,
          std::span<const uint8_t> payload, uint8_t* out) {
  const uint16_t hl = repr.header_length();
  PlacePayload(payload, out + hl);
  StoreBe16(out + l4_field::kSrcPort, repr.src_port);
  StoreBe16(out + l4_field::kDstPort, repr.dst_port);
  StoreBe32(out + l4_field::kTcpSeq, repr.seq.value());
  StoreBe32(out + l4_field::kTcpAck, repr.ack.value());
  out[l4_field::kTcpDataOff] = static_cast<uint8_t>((hl / 4) << 4);
  out[l4_field::kTcpFlags] = repr.flags;
  StoreBe16(out + l4_field::kTcpWindow, repr.window);
  StoreBe16(out + l4_field::kTcpUrgent, 0);
  if (hl > l4_field::kTcpMinHeader) {
    std::memcpy(out + l4_field::kTcpMinHeader, repr.options.data(),
                hl - l4_field::kTcpMinHeader);
  }
  StoreTransportChecksum(ip.src, ip.dst, kProtoTcp, {out, hl + payload.size()});
}

TcpRepr ResetFor(const L4View& segment, uint32_t payload_length) {
  const uint8_t flags = segment.tcp_flags();
  TcpRepr r;
  r.src_port = segment.dst_port();
  r.dst_port = segment.src_port();
  if (flags & tcp_flags::kAck) {
    r.seq = SeqNum(segment.tcp_ack());
    r.flags = tcp_flags::kRst;
  } else {
    r.ack = SeqNum(segment.tcp_seq()) + payload_length +
            ((flags & tcp_flags::kSyn) ? 1u : 0u) +
            ((flags & tcp_flags::kFin) ? 1u : 0u);
    r.flags = tcp_flags::kRst | tcp_flags::kAck;
  }
  return r;
}

void Emit(const IcmpRepr& repr, std::span<const uint8_t> payload,
          uint8_t* out) {
  PlacePayload(payload, out + IcmpRepr::kHeaderLength);
  out[l4_field::kIcmpType] = repr.type;
  out[l4_field::kIcmpCode] = repr.code;
  StoreBe16(out + l4_field::kIcmpChecksum, 0);
  StoreBe32(out + l4_field::kIcmpId, repr.rest);
  StoreBe16(out + l4_field::kIcmpChecksum,
            InternetChecksum({out, IcmpRepr::kHeaderLength + payload.size()}));
}

}  // namespace unat
