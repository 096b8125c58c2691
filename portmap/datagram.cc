#include "portmap/datagram.h"

#include "engine/emit.h"
#include "engine/types.h"

namespace unat::portmap {

std::vector<uint8_t> BuildUdpDatagram(uint32_t src, uint16_t src_port,
                                      uint32_t dst, uint16_t dst_port,
                                      std::span<const uint8_t> payload,
                                      uint8_t ttl) {
  const Ipv4Repr ip{.src = src,
                    .dst = dst,
                    .protocol = kProtoUdp,
                    .payload_length = static_cast<uint16_t>(
                        UdpRepr::kHeaderLength + payload.size()),
                    .ttl = ttl,
                    .dont_fragment = true};
  std::vector<uint8_t> b(ip.buffer_len());
  Emit(ip, b.data());
  Emit(UdpRepr{.src_port = src_port, .dst_port = dst_port}, ip, payload,
       b.data() + Ipv4Repr::kHeaderLength);
  return b;
}

}  // namespace unat::portmap
