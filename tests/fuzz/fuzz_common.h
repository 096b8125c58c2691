// Shared by the libFuzzer targets: reading structured input, building
// IPv4/UDP/TCP packets with right lengths and checksums (so the bytes the
// fuzzer controls reach the parser under test, not the header checks), and
// a sink that checks what the engine emits.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>
#include <vector>

#include "engine/checksum.h"
#include "engine/nat.h"
#include "engine/wire.h"

namespace unat::fuzz {

// Consumes the fuzz input front to back; past the end it yields zeros.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : p_(data), n_(size) {}
  bool empty() const { return n_ == 0; }
  size_t left() const { return n_; }
  uint8_t U8() {
    if (n_ == 0) return 0;
    --n_;
    return *p_++;
  }
  uint16_t U16() { return static_cast<uint16_t>((U8() << 8) | U8()); }
  // Up to `max` bytes (fewer at the end).
  std::span<const uint8_t> Bytes(size_t max) {
    const size_t k = max < n_ ? max : n_;
    std::span<const uint8_t> s(p_, k);
    p_ += k;
    n_ -= k;
    return s;
  }
  // A record: a 16-bit big-endian length (capped at `max`), then the bytes.
  std::span<const uint8_t> Record(size_t max) {
    size_t len = U16();
    if (len > max) len = max;
    return Bytes(len);
  }
  std::string_view Text(size_t max) {
    auto s = Record(max);
    return {reinterpret_cast<const char*>(s.data()), s.size()};
  }

 private:
  const uint8_t* p_;
  size_t n_;
};

// Aborts (a finding) when the engine emits something that is not a valid
// IPv4 datagram.
class CheckingSink : public PacketSink {
 public:
  void Emit(Side side, NamespaceId ns, std::span<const uint8_t> p) override {
    std::vector<uint8_t> copy(p.begin(), p.end());
    DropReason why;
    if (!Ipv4View::Parse(copy, &why)) abort();
    last_side = side;
    last_ns = ns;
    last.assign(p.begin(), p.end());
    ++emitted;
  }
  Side last_side = Side::kOutside;
  NamespaceId last_ns = kInvalidNamespace;
  std::vector<uint8_t> last;
  uint64_t emitted = 0;
};

// Writes the IPv4 header checksum of the header at `ip`.
inline void FixIpChecksum(uint8_t* ip) {
  const size_t hl = (ip[0] & 0x0f) * 4u;
  StoreBe16(ip + ipv4_field::kChecksum, 0);
  StoreBe16(ip + ipv4_field::kChecksum, InternetChecksum({ip, hl}));
}

// The L4 checksum (TCP or UDP, with the pseudo-header) of a whole,
// unfragmented datagram.
inline void FixL4Checksum(std::vector<uint8_t>& b) {
  const size_t hl = (b[0] & 0x0f) * 4u;
  const uint8_t proto = b[ipv4_field::kProtocol];
  const size_t l4 = b.size() - hl;
  size_t off = proto == kProtoTcp ? 16 : proto == kProtoUdp ? 6 : 2;
  if (off + 2 > l4) return;
  StoreBe16(&b[hl + off], 0);
  uint32_t pseudo = 0;
  if (proto != kProtoIcmp) {
    const uint32_t s = LoadBe32(&b[12]), d = LoadBe32(&b[16]);
    pseudo = (s >> 16) + (s & 0xffff) + (d >> 16) + (d & 0xffff) + proto +
             static_cast<uint32_t>(l4);
  }
  uint16_t c = InternetChecksum({b.data() + hl, l4}, pseudo);
  if (proto == kProtoUdp && c == 0) c = 0xffff;
  StoreBe16(&b[hl + off], c);
}

// A 20-byte IPv4 header src -> dst carrying `l4_len` bytes of `proto`.
inline std::vector<uint8_t> Ipv4Header(uint32_t src, uint32_t dst,
                                       uint8_t proto, size_t l4_len,
                                       uint16_t id = 1) {
  std::vector<uint8_t> b(20, 0);
  b[0] = 0x45;
  StoreBe16(&b[ipv4_field::kTotalLength], static_cast<uint16_t>(20 + l4_len));
  StoreBe16(&b[4], id);
  b[ipv4_field::kTtl] = 64;
  b[ipv4_field::kProtocol] = proto;
  StoreBe32(&b[ipv4_field::kSrc], src);
  StoreBe32(&b[ipv4_field::kDst], dst);
  return b;
}

inline std::vector<uint8_t> UdpPacket(uint32_t src, uint16_t sport,
                                      uint32_t dst, uint16_t dport,
                                      std::span<const uint8_t> payload) {
  std::vector<uint8_t> b = Ipv4Header(src, dst, kProtoUdp, 8 + payload.size());
  b.resize(28 + payload.size());
  StoreBe16(&b[20], sport);
  StoreBe16(&b[22], dport);
  StoreBe16(&b[24], static_cast<uint16_t>(8 + payload.size()));
  std::copy(payload.begin(), payload.end(), b.begin() + 28);
  FixIpChecksum(b.data());
  FixL4Checksum(b);
  return b;
}

inline std::vector<uint8_t> TcpPacket(uint32_t src, uint16_t sport,
                                      uint32_t dst, uint16_t dport,
                                      uint32_t seq, uint32_t ack, uint8_t flags,
                                      std::span<const uint8_t> payload) {
  std::vector<uint8_t> b = Ipv4Header(src, dst, kProtoTcp, 20 + payload.size());
  b.resize(40 + payload.size());
  StoreBe16(&b[20], sport);
  StoreBe16(&b[22], dport);
  StoreBe32(&b[24], seq);
  StoreBe32(&b[28], ack);
  b[32] = 5 << 4;
  b[33] = flags;
  StoreBe16(&b[34], 65535);
  std::copy(payload.begin(), payload.end(), b.begin() + 40);
  FixIpChecksum(b.data());
  FixL4Checksum(b);
  return b;
}

// Runs one packet through the engine in a buffer with room to grow (ALG
// rewrites); aborts when a forwarded packet is not valid IPv4 or the engine
// wrote past the buffer. Returns the verdict; *out gets what it forwarded.
inline Verdict Feed(Nat& nat, bool inside, NamespaceId ns,
                    const std::vector<uint8_t>& bytes, TimeMs now,
                    std::vector<uint8_t>* out = nullptr) {
  std::vector<uint8_t> buf(bytes.size() + 512);
  std::copy(bytes.begin(), bytes.end(), buf.begin());
  Packet pkt{buf.data(),
             static_cast<uint32_t>(bytes.size()),
             static_cast<uint32_t>(buf.size()),
             {}};
  const Verdict v =
      inside ? nat.ProcessInside(ns, pkt, now) : nat.ProcessOutside(pkt, now);
  if (pkt.len > pkt.capacity) abort();
  if (v.action == Verdict::kForward) {
    DropReason why;
    if (!Ipv4View::Parse({pkt.data, pkt.len}, &why)) abort();
    if (out) out->assign(pkt.data, pkt.data + pkt.len);
  }
  return v;
}

}  // namespace unat::fuzz
