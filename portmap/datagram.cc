#include "portmap/datagram.h"

#include "engine/checksum.h"
#include "engine/types.h"
#include "engine/wire.h"

namespace unat::portmap {

std::vector<uint8_t> BuildUdpDatagram(uint32_t src, uint16_t src_port,
                                      uint32_t dst, uint16_t dst_port,
                                      std::span<const uint8_t> payload,
                                      uint8_t ttl) {
  constexpr size_t kIp = ipv4_field::kMinHeader;
  constexpr size_t kUdp = l4_field::kUdpHeader;
  const size_t total = kIp + kUdp + payload.size();
  std::vector<uint8_t> b(total, 0);
  uint8_t* ip = b.data();
  ip[ipv4_field::kVerIhl] = 0x45;
  StoreBe16(ip + ipv4_field::kTotalLength, static_cast<uint16_t>(total));
  StoreBe16(ip + ipv4_field::kFragOff, 0x4000);  // DF
  ip[ipv4_field::kTtl] = ttl;
  ip[ipv4_field::kProtocol] = kProtoUdp;
  StoreBe32(ip + ipv4_field::kSrc, src);
  StoreBe32(ip + ipv4_field::kDst, dst);
  StoreBe16(ip + ipv4_field::kChecksum,
            InternetChecksum(std::span<const uint8_t>(ip, kIp)));

  uint8_t* udp = ip + kIp;
  const uint16_t udp_len = static_cast<uint16_t>(kUdp + payload.size());
  StoreBe16(udp + l4_field::kSrcPort, src_port);
  StoreBe16(udp + l4_field::kDstPort, dst_port);
  StoreBe16(udp + l4_field::kUdpLength, udp_len);
  std::copy(payload.begin(), payload.end(), udp + kUdp);
  // Pseudo-header: src, dst, zero + protocol, UDP length.
  uint32_t pseudo = (src >> 16) + (src & 0xffff) + (dst >> 16) +
                    (dst & 0xffff) + kProtoUdp + udp_len;
  uint16_t csum =
      InternetChecksum(std::span<const uint8_t>(udp, udp_len), pseudo);
  if (csum == 0) csum = 0xffff;  // RFC 768: 0 means "no checksum"
  StoreBe16(udp + l4_field::kUdpChecksum, csum);
  return b;
}

}  // namespace unat::portmap
