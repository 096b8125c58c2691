#include "engine/wire.h"

#include <cstring>

namespace unat {

namespace {

std::optional<Ipv4View> Fail(DropReason* why, DropReason reason) {
  if (why) *why = reason;
  return std::nullopt;
}

}  // namespace

DropReason CheckIpOptions(std::span<const uint8_t> options) {
  const size_t n = options.size();
  DropReason verdict = DropReason::kNone;
  for (size_t i = 0; i < n;) {
    const uint8_t type = options[i];
    if (type == ip_option::kEndOfList) break;  // the rest is padding
    if (type == ip_option::kNop) {
      ++i;
      continue;
    }
    // Every other option is type, length (counting both), data.
    if (i + 1 >= n) return DropReason::kBadIpOptions;
    const uint8_t len = options[i + 1];
    if (len < 2 || len > n - i) return DropReason::kBadIpOptions;
    if (type == ip_option::kLsrr || type == ip_option::kSsrr) {
      verdict = DropReason::kSourceRoute;  // still check the rest's lengths
    }
    i += len;
  }
  return verdict;
}

bool L4ChecksumOk(const Ipv4View& ip, const L4View& l4, uint8_t protocol) {
  const std::span<const uint8_t> bytes{l4.data(), l4.size()};
  switch (protocol) {
    case kProtoTcp:
    case kProtoUdp:
      if (protocol == kProtoUdp &&
          LoadBe16(l4.data() + l4_field::kUdpChecksum) == 0) {
        return true;  // UDP without a checksum (RFC 768)
      }
      return TransportChecksum(ip.src(), ip.dst(), protocol, bytes) == 0;
    case kProtoIcmp:
      return InternetChecksum(bytes) == 0;
    default:
      return true;
  }
}

std::optional<Ipv4View> Ipv4View::Parse(std::span<uint8_t> data,
                                        DropReason* why) {
  if (data.size() < ipv4_field::kMinHeader) {
    return Fail(why, DropReason::kTruncated);
  }
  const uint8_t ver_ihl = data[ipv4_field::kVerIhl];
  if ((ver_ihl >> 4) != 4) return Fail(why, DropReason::kBadVersion);
  const uint16_t hl = static_cast<uint16_t>((ver_ihl & 0x0f) * 4);
  if (hl < ipv4_field::kMinHeader || hl > data.size()) {
    return Fail(why, DropReason::kBadIhl);
  }
  const uint16_t total = LoadBe16(&data[ipv4_field::kTotalLength]);
  if (total < hl || total > data.size()) {
    return Fail(why, DropReason::kBadTotalLength);
  }
  bool checksum_ok;
  if (hl == ipv4_field::kMinHeader) {
    // The common header: five 32-bit words, summed in native order.
    uint32_t w[5];
    std::memcpy(w, data.data(), sizeof(w));
    const uint64_t sum = uint64_t{w[0]} + w[1] + w[2] + w[3] + w[4];
    checksum_ok = Fold(sum) == 0xffff;
  } else {
    checksum_ok = InternetChecksum(data.first(hl)) == 0;
  }
  if (!checksum_ok) return Fail(why, DropReason::kBadIpChecksum);
  if (hl > ipv4_field::kMinHeader) {
    if (const DropReason r = CheckIpOptions(
            data.subspan(ipv4_field::kMinHeader, hl - ipv4_field::kMinHeader));
        r != DropReason::kNone) {
      return Fail(why, r);
    }
  }
  return Ipv4View(data.data(), total, hl, static_cast<uint16_t>(total - hl));
}

std::optional<Ipv4View> Ipv4View::ParseQuoted(std::span<uint8_t> data,
                                              DropReason* why) {
  if (data.size() < ipv4_field::kMinHeader) {
    return Fail(why, DropReason::kIcmpBadQuote);
  }
  const uint8_t ver_ihl = data[ipv4_field::kVerIhl];
  const uint16_t hl = static_cast<uint16_t>((ver_ihl & 0x0f) * 4);
  if ((ver_ihl >> 4) != 4 || hl < ipv4_field::kMinHeader || hl > data.size()) {
    return Fail(why, DropReason::kIcmpBadQuote);
  }
  const uint16_t total = LoadBe16(&data[ipv4_field::kTotalLength]);
  if (total < hl) return Fail(why, DropReason::kIcmpBadQuote);
  if (InternetChecksum(data.first(hl)) != 0) {
    return Fail(why, DropReason::kIcmpBadQuote);
  }
  const size_t avail = std::min<size_t>(data.size(), total) - hl;
  return Ipv4View(data.data(), total, hl, static_cast<uint16_t>(avail));
}

std::optional<L4View> L4View::Parse(uint8_t protocol, std::span<uint8_t> data,
                                    DropReason* why, bool first_fragment) {
  auto fail = [why](DropReason r) -> std::optional<L4View> {
    if (why) *why = r;
    return std::nullopt;
  };
  const uint16_t n = static_cast<uint16_t>(data.size());
  switch (protocol) {
    case kProtoTcp: {
      if (n < l4_field::kTcpMinHeader) return fail(DropReason::kTruncated);
      const uint16_t hl =
          static_cast<uint16_t>((data[l4_field::kTcpDataOff] >> 4) * 4);
      if (hl < l4_field::kTcpMinHeader || hl > n) {
        return fail(DropReason::kBadL4Header);
      }
      return L4View(data.data(), n);
    }
    case kProtoUdp: {
      if (n < l4_field::kUdpHeader) return fail(DropReason::kTruncated);
      const uint16_t len = LoadBe16(&data[l4_field::kUdpLength]);
      if (len < l4_field::kUdpHeader || (len > n && !first_fragment)) {
        return fail(DropReason::kBadL4Header);
      }
      return L4View(data.data(), first_fragment ? n : len);
    }
    case kProtoIcmp:
      if (n < l4_field::kIcmpHeader) return fail(DropReason::kTruncated);
      return L4View(data.data(), n);
    default:
      return fail(DropReason::kUnsupportedProto);
  }
}

std::optional<L4View> L4View::ParseQuoted(std::span<uint8_t> data) {
  if (data.size() < 8) return std::nullopt;
  return L4View(data.data(), static_cast<uint16_t>(data.size()));
}

uint16_t L4View::ChecksumOffset(uint8_t protocol) const {
  switch (protocol) {
    case kProtoTcp:
      return size_ >= l4_field::kTcpChecksum + 2 ? l4_field::kTcpChecksum : 0;
    case kProtoUdp:
      if (size_ < l4_field::kUdpChecksum + 2) return 0;
      return LoadBe16(data_ + l4_field::kUdpChecksum) == 0
                 ? 0
                 : l4_field::kUdpChecksum;
    case kProtoIcmp:
      return l4_field::kIcmpChecksum;
    default:
      return 0;
  }
}

void L4View::SetPort(uint16_t off, uint16_t value, uint16_t csum_off,
                     bool udp) {
  const uint16_t old_value = LoadBe16(data_ + off);
  if (old_value == value) return;
  StoreBe16(data_ + off, value);
  if (csum_off == 0) return;
  uint16_t c = ChecksumUpdate16(LoadBe16(data_ + csum_off), old_value, value);
  if (udp && c == 0) c = 0xffff;
  StoreBe16(data_ + csum_off, c);
}

void L4View::AdjustForAddress(uint8_t* csum_field, uint32_t old_addr,
                              uint32_t new_addr, bool udp) {
  uint16_t c = ChecksumUpdate32(LoadBe16(csum_field), old_addr, new_addr);
  if (udp && c == 0) c = 0xffff;
  StoreBe16(csum_field, c);
}

}  // namespace unat
