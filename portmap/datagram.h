// Builds the IPv4 + UDP datagrams the port-mapping servers send (answers and
// announcements), with both checksums computed.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace unat::portmap {

// ttl 64 for unicast answers; multicast announcements use 1 (224.0.0.1 is
// link-local).
std::vector<uint8_t> BuildUdpDatagram(uint32_t src, uint16_t src_port,
                                      uint32_t dst, uint16_t dst_port,
                                      std::span<const uint8_t> payload,
                                      uint8_t ttl = 64);

}  // namespace unat::portmap
