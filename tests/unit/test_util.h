// Test helpers: libtins builds every packet and reads every output, so header
// fields and checksums are checked by an implementation independent of ours.
#pragma once

#include <gtest/gtest.h>
#include <tins/tins.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/nat.h"

namespace unat::testing {

inline uint32_t A(const char* dotted) { return *ParseIpv4(dotted); }

// What the engine emitted through its sink (ICMP errors, helper answers).
struct Emitted {
  Side side;
  NamespaceId ns;
  std::vector<uint8_t> bytes;
};

class CapturingSink : public PacketSink {
 public:
  void Emit(Side side, NamespaceId ns,
            std::span<const uint8_t> packet) override {
    packets.push_back({side, ns, {packet.begin(), packet.end()}});
  }
  std::vector<Emitted> packets;
};

// A packet buffer with room to grow.
struct Buf {
  std::vector<uint8_t> bytes;
  explicit Buf(const std::vector<uint8_t>& b) : bytes(b) {
    storage.assign(65600, 0);
    std::copy(b.begin(), b.end(), storage.begin());
    pkt.data = storage.data();
    pkt.len = static_cast<uint32_t>(b.size());
    pkt.capacity = static_cast<uint32_t>(storage.size());
  }
  std::vector<uint8_t> out() const {
    return {storage.begin(), storage.begin() + pkt.len};
  }
  std::vector<uint8_t> storage;
  Packet pkt;
};

inline std::vector<uint8_t> Serialize(Tins::PDU& pdu) {
  return pdu.serialize();
}

// Re-serialises a parsed packet with libtins (which computes every checksum
// itself) and compares: equal bytes mean our incremental checksums are right.
inline ::testing::AssertionResult ChecksumsValid(
    const std::vector<uint8_t>& bytes) {
  Tins::IP ip(bytes.data(), static_cast<uint32_t>(bytes.size()));
  std::vector<uint8_t> again = ip.serialize();
  if (again == bytes) return ::testing::AssertionSuccess();
  std::string diff;
  for (size_t i = 0; i < std::min(again.size(), bytes.size()); ++i) {
    if (again[i] != bytes[i]) {
      diff += " @" + std::to_string(i) + ":" + std::to_string(bytes[i]) +
              "!=" + std::to_string(again[i]);
    }
  }
  return ::testing::AssertionFailure()
         << "libtins recomputes different bytes:" << diff << " (sizes "
         << bytes.size() << "/" << again.size() << ")";
}

inline std::vector<uint8_t> Tcp(const char* src, uint16_t sport,
                                const char* dst, uint16_t dport,
                                uint8_t flags = Tins::TCP::SYN,
                                uint32_t seq = 1000, uint32_t ack = 0,
                                const std::string& payload = "",
                                uint8_t ttl = 64) {
  Tins::IP ip(dst, src);
  ip.ttl(ttl);
  Tins::TCP tcp(dport, sport);
  tcp.flags(flags);
  tcp.seq(seq);
  tcp.ack_seq(ack);
  tcp.window(65535);
  ip /= tcp;
  if (!payload.empty()) ip /= Tins::RawPDU(payload);
  return ip.serialize();
}

inline std::vector<uint8_t> Udp(const char* src, uint16_t sport,
                                const char* dst, uint16_t dport,
                                const std::string& payload = "hello",
                                uint8_t ttl = 64) {
  Tins::IP ip(dst, src);
  ip.ttl(ttl);
  ip /= Tins::UDP(dport, sport) / Tins::RawPDU(payload);
  return ip.serialize();
}

inline std::vector<uint8_t> Echo(const char* src, const char* dst, uint16_t id,
                                 uint16_t seq = 1, bool reply = false,
                                 uint8_t ttl = 64) {
  Tins::IP ip(dst, src);
  ip.ttl(ttl);
  Tins::ICMP icmp(reply ? Tins::ICMP::ECHO_REPLY : Tins::ICMP::ECHO_REQUEST);
  icmp.id(id);
  icmp.sequence(seq);
  ip /= icmp / Tins::RawPDU("pingpingpingping");
  return ip.serialize();
}

// An ICMP error from `src` to `dst` quoting `quoted` (first `quote_len`
// bytes, or all).
inline std::vector<uint8_t> IcmpError(const char* src, const char* dst,
                                      Tins::ICMP::Flags type, uint8_t code,
                                      const std::vector<uint8_t>& quoted,
                                      size_t quote_len = 0, uint16_t mtu = 0) {
  Tins::IP ip(dst, src);
  Tins::ICMP icmp(type);
  icmp.code(code);
  if (mtu) icmp.mtu(mtu);
  size_t n = quote_len ? std::min(quote_len, quoted.size()) : quoted.size();
  ip /= icmp / Tins::RawPDU(quoted.data(), static_cast<uint32_t>(n));
  return ip.serialize();
}

}  // namespace unat::testing
