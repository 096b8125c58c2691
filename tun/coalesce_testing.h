// For tests of coalescing on write (unit test and fuzz target): cuts a
// super-packet the way the kernel does (tcp_gso_segment and
// __udp_gso_segment through inet_gso_segment): the headers copied, IP IDs
// counted up from the first, TCP SEQ advanced, PSH and FIN on the last
// segment only, lengths and IP, TCP and UDP checksums made anew.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "engine/checksum.h"
#include "engine/types.h"

namespace unat::tun::testing {

inline void SetIpChecksum(uint8_t* p) {
  StoreBe16(p + 10, 0);
  StoreBe16(p + 10, InternetChecksum({p, 20}));
}

// The TCP or UDP checksum of an IPv4 packet without options, made anew.
inline void SetL4Checksum(std::vector<uint8_t>* b) {
  uint8_t* p = b->data();
  const bool tcp = p[9] == kProtoTcp;
  uint8_t* field = p + 20 + (tcp ? 16 : 6);
  StoreBe16(field, 0);
  uint16_t c = TransportChecksum(LoadBe32(p + 12), LoadBe32(p + 16), p[9],
                                 {p + 20, b->size() - 20});
  if (!tcp && c == 0) c = 0xffff;
  StoreBe16(field, c);
}

inline std::vector<std::vector<uint8_t>> CutLikeKernel(
    const std::vector<uint8_t>& s, const OffloadInfo& info) {
  std::vector<std::vector<uint8_t>> out;
  const bool tcp = s[9] == kProtoTcp;
  const size_t hdr = tcp ? 20 + static_cast<size_t>(s[32] >> 4) * 4 : 28;
  const uint16_t id0 = LoadBe16(s.data() + 4);
  const uint32_t seq0 = tcp ? LoadBe32(s.data() + 24) : 0;
  size_t i = 0;
  for (size_t off = hdr; off < s.size(); off += info.gso_size, ++i) {
    const size_t n = std::min<size_t>(info.gso_size, s.size() - off);
    std::vector<uint8_t> b(s.begin(), s.begin() + static_cast<long>(hdr));
    b.insert(b.end(), s.begin() + static_cast<long>(off),
             s.begin() + static_cast<long>(off + n));
    uint8_t* p = b.data();
    StoreBe16(p + 2, static_cast<uint16_t>(b.size()));
    StoreBe16(p + 4, static_cast<uint16_t>(id0 + i));
    if (tcp) {
      StoreBe32(p + 24, static_cast<uint32_t>(seq0 + i * info.gso_size));
      if (off + n != s.size()) p[33] &= static_cast<uint8_t>(~0x09);
    } else {
      StoreBe16(p + 24, static_cast<uint16_t>(8 + n));
    }
    SetIpChecksum(p);
    SetL4Checksum(&b);
    out.push_back(std::move(b));
  }
  return out;
}

}  // namespace unat::tun::testing
