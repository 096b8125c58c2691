// Internet checksum (RFC 1071) and its incremental update (RFC 1624).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace unat {

inline uint16_t LoadBe16(const uint8_t* p) {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}
inline uint32_t LoadBe32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
         (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
inline void StoreBe16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void StoreBe32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

// One's complement sum of 16-bit big-endian words, not folded.
inline uint32_t RawSum(std::span<const uint8_t> data, uint32_t sum = 0) {
  size_t i = 0;
  const size_t n = data.size();
  for (; i + 1 < n; i += 2) sum += LoadBe16(&data[i]);
  if (i < n) sum += uint32_t{data[i]} << 8;
  return sum;
}

inline uint16_t Fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

// For sums below 2^31 (every incremental update here): two folds, no loop.
inline uint16_t Fold32(uint32_t sum) {
  sum = (sum & 0xffff) + (sum >> 16);
  sum += sum >> 16;
  return static_cast<uint16_t>(sum);
}

// The checksum field value for `data` (complement of the folded sum).
// `initial` is a sum of big-endian 16-bit words (e.g. a pseudo-header).
// Sums 8 bytes at a time in native order, then swaps the folded result
// (RFC 1071 section 2(B): the sum is byte-order independent).
inline uint16_t InternetChecksum(std::span<const uint8_t> data,
                                 uint32_t initial = 0) {
  const uint8_t* p = data.data();
  size_t n = data.size();
  uint64_t sum = 0;
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    sum += v & 0xffffffff;
    sum += v >> 32;
    p += 8;
    n -= 8;
  }
  if (n) {
    uint8_t tail[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::memcpy(tail, p, n);
    uint64_t v;
    std::memcpy(&v, tail, 8);
    sum += v & 0xffffffff;
    sum += v >> 32;
  }
  uint16_t native = Fold(sum);
  if constexpr (std::endian::native == std::endian::little) {
    native = static_cast<uint16_t>((native >> 8) | (native << 8));
  }
  return static_cast<uint16_t>(~Fold(uint64_t{native} + initial));
}

// Sum of the TCP/UDP pseudo-header (RFC 793, RFC 768) as an `initial`
// value for InternetChecksum.
inline uint32_t PseudoHeaderSum(uint32_t src, uint32_t dst, uint8_t proto,
                                uint32_t l4_length) {
  return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto +
         l4_length;
}

// InternetChecksum of a TCP or UDP segment (header and payload) with its
// pseudo header: 0 for an intact segment; the field value to store when the
// segment's own checksum field is 0 (UDP then stores 0xffff for 0).
inline uint16_t TransportChecksum(uint32_t src, uint32_t dst, uint8_t proto,
                                  std::span<const uint8_t> segment) {
  return InternetChecksum(
      segment,
      PseudoHeaderSum(src, dst, proto, static_cast<uint32_t>(segment.size())));
}

// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m').
inline uint16_t ChecksumUpdate16(uint16_t hc, uint16_t old_value,
                                 uint16_t new_value) {
  uint32_t sum = static_cast<uint16_t>(~hc);
  sum += static_cast<uint16_t>(~old_value);
  sum += new_value;
  return static_cast<uint16_t>(~Fold32(sum));
}

inline uint16_t ChecksumUpdate32(uint16_t hc, uint32_t old_value,
                                 uint32_t new_value) {
  uint32_t sum = static_cast<uint16_t>(~hc);
  sum += static_cast<uint16_t>(~(old_value >> 16));
  sum += static_cast<uint16_t>(~(old_value & 0xffff));
  sum += new_value >> 16;
  sum += new_value & 0xffff;
  return static_cast<uint16_t>(~Fold32(sum));
}

// Adds a signed delta of one's complement sums to a checksum field. Used when
// several fields change at once: delta = sum(~old) + sum(new).
struct ChecksumDelta {
  uint32_t acc = 0;
  void Replace16(uint16_t old_value, uint16_t new_value) {
    acc += static_cast<uint16_t>(~old_value);
    acc += new_value;
  }
  void Replace32(uint32_t old_value, uint32_t new_value) {
    Replace16(static_cast<uint16_t>(old_value >> 16),
              static_cast<uint16_t>(new_value >> 16));
    Replace16(static_cast<uint16_t>(old_value),
              static_cast<uint16_t>(new_value));
  }
  uint16_t Apply(uint16_t hc) const {
    uint32_t sum = static_cast<uint16_t>(~hc);
    sum += acc;
    return static_cast<uint16_t>(~Fold32(sum));
  }
};

}  // namespace unat
