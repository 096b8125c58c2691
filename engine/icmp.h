// ICMP: the NAT's own ICMP errors (built here, rate-limited by a token
// bucket as RFC 1812 4.3.2.8 asks) and the rules for what may be answered.
// Translating ICMP errors that pass through (their quoted headers too) is
// the engine's, in engine/icmp.cc.
#pragma once

#include <algorithm>
#include <cstdint>

#include "engine/types.h"
#include "engine/wire.h"

namespace unat {
namespace internal {

constexpr uint16_t kIcmpQuoteMax = 548;  // RFC 1812 4.3.2.3: up to 576 total
constexpr uint16_t kIcmpErrorMax = 20 + 8 + kIcmpQuoteMax;

inline bool IsMulticastOrBroadcast(uint32_t a) {
  return (a >> 28) == 0xe || a == 0xffffffff;
}
inline bool IsUnusableSource(uint32_t a) {
  return a == 0 || (a >> 24) == 127 || IsMulticastOrBroadcast(a) ||
         (a >> 28) == 0xf;
}

// Whether the packet may be answered with an ICMP error at all: never an
// ICMP error, a non-first fragment, a packet to a multicast or broadcast
// address, or one whose source cannot take an answer (RFC 1812 4.3.2.7).
bool MayAnswerWithIcmpError(const Ipv4View& ip);

// Builds the ICMP error (type, code, rest of header) about `ip`, from
// `from_addr`, quoting as much of `ip` as fits 576 bytes, into out (at
// least kIcmpErrorMax bytes). Returns its length.
uint16_t BuildIcmpError(uint32_t from_addr, const Ipv4View& ip, uint8_t type,
                        uint8_t code, uint32_t rest, uint8_t* out);

// A token bucket in thousandths of a token: `per_second` refill, `burst`
// deep, full at its first use.
class IcmpRateLimiter {
 public:
  bool Take(TimeMs now, uint32_t per_second, uint32_t burst) {
    const uint64_t cap = uint64_t{burst} * 1000;
    if (!started_) {
      tokens_ = cap;
      last_ = now;
      started_ = true;
    }
    tokens_ = std::min<uint64_t>(cap, tokens_ + (now - last_) * per_second);
    last_ = now;
    if (tokens_ < 1000) return false;
    tokens_ -= 1000;
    return true;
  }

 private:
  uint64_t tokens_ = 0;
  TimeMs last_ = 0;
  bool started_ = false;
};

}  // namespace internal
}  // namespace unat
