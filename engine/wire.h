// Zero-copy views over IPv4, TCP, UDP and ICMP headers.
//
// A view is made by Parse(), which checks every length the accessors rely on;
// after that no accessor reads outside the span. Field offsets are data (see
// the `field` namespaces). Setters rewrite in place and keep checksums right
// with RFC 1624 incremental updates; no setter recomputes a whole checksum.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <iterator>
#include <optional>
#include <span>
#include <type_traits>

#include "checksum.h"
#include "types.h"

namespace unat {

struct Range {
  uint16_t begin;
  uint16_t end;
};

namespace ipv4_field {
inline constexpr uint16_t kVerIhl = 0;
inline constexpr uint16_t kTos = 1;
inline constexpr uint16_t kTotalLength = 2;
inline constexpr uint16_t kId = 4;
inline constexpr uint16_t kFragOff = 6;
inline constexpr uint16_t kTtl = 8;
inline constexpr uint16_t kProtocol = 9;
inline constexpr uint16_t kChecksum = 10;
inline constexpr uint16_t kSrc = 12;
inline constexpr uint16_t kDst = 16;
inline constexpr uint16_t kMinHeader = 20;
}  // namespace ipv4_field

// IPv4 option types (RFC 791) the parser treats specially.
namespace ip_option {
inline constexpr uint8_t kEndOfList = 0;
inline constexpr uint8_t kNop = 1;
inline constexpr uint8_t kLsrr = 0x83;  // loose source and record route
inline constexpr uint8_t kSsrr = 0x89;  // strict source and record route
}  // namespace ip_option

namespace l4_field {
inline constexpr uint16_t kSrcPort = 0;
inline constexpr uint16_t kDstPort = 2;
inline constexpr uint16_t kUdpLength = 4;
inline constexpr uint16_t kUdpChecksum = 6;
inline constexpr uint16_t kUdpHeader = 8;
inline constexpr uint16_t kTcpSeq = 4;
inline constexpr uint16_t kTcpAck = 8;
inline constexpr uint16_t kTcpDataOff = 12;
inline constexpr uint16_t kTcpFlags = 13;
inline constexpr uint16_t kTcpWindow = 14;
inline constexpr uint16_t kTcpChecksum = 16;
inline constexpr uint16_t kTcpUrgent = 18;
inline constexpr uint16_t kTcpMinHeader = 20;
inline constexpr uint16_t kIcmpType = 0;
inline constexpr uint16_t kIcmpCode = 1;
inline constexpr uint16_t kIcmpChecksum = 2;
inline constexpr uint16_t kIcmpId = 4;
inline constexpr uint16_t kIcmpSeq = 6;
inline constexpr uint16_t kIcmpHeader = 8;
}  // namespace l4_field

namespace tcp_flags {
inline constexpr uint8_t kFin = 0x01;
inline constexpr uint8_t kSyn = 0x02;
inline constexpr uint8_t kRst = 0x04;
inline constexpr uint8_t kPsh = 0x08;
inline constexpr uint8_t kAck = 0x10;
}  // namespace tcp_flags

// TCP option kinds (RFC 9293 3.1, RFC 7323, RFC 2018).
namespace tcp_option {
inline constexpr uint8_t kEndOfList = 0;
inline constexpr uint8_t kNop = 1;
inline constexpr uint8_t kMss = 2;
inline constexpr uint8_t kWindowScale = 3;
inline constexpr uint8_t kSackPermitted = 4;
inline constexpr uint8_t kSack = 5;
inline constexpr uint8_t kTimestamps = 8;
}  // namespace tcp_option

// A TCP sequence number (RFC 9293 3.4): arithmetic wraps at 2^32 and `a < b`
// means b is less than 2^31 ahead of a (RFC 1982 serial numbers). Not a
// total order: two numbers exactly 2^31 apart are each "before" the other,
// as the signed difference says. Trivial like the uint32_t it holds (so it
// can live in records copied as bytes): SeqNum{} is 0, a plain `SeqNum s;`
// is uninitialized.
class SeqNum {
 public:
  SeqNum() = default;
  constexpr explicit SeqNum(uint32_t v) : v_(v) {}
  constexpr uint32_t value() const { return v_; }

  // How far a is ahead of b (negative: behind).
  friend constexpr int32_t operator-(SeqNum a, SeqNum b) {
    return static_cast<int32_t>(a.v_ - b.v_);
  }
  // Moves by n (a length, or a signed delta), modulo 2^32.
  template <std::integral T>
  friend constexpr SeqNum operator+(SeqNum a, T n) {
    return SeqNum(a.v_ + static_cast<uint32_t>(n));
  }
  template <std::integral T>
  friend constexpr SeqNum operator-(SeqNum a, T n) {
    return SeqNum(a.v_ - static_cast<uint32_t>(n));
  }
  template <std::integral T>
  constexpr SeqNum& operator+=(T n) {
    v_ += static_cast<uint32_t>(n);
    return *this;
  }
  template <std::integral T>
  constexpr SeqNum& operator-=(T n) {
    v_ -= static_cast<uint32_t>(n);
    return *this;
  }
  friend constexpr bool operator==(SeqNum a, SeqNum b) = default;
  friend constexpr bool operator<(SeqNum a, SeqNum b) { return a - b < 0; }
  friend constexpr bool operator<=(SeqNum a, SeqNum b) { return a - b <= 0; }
  friend constexpr bool operator>(SeqNum a, SeqNum b) { return a - b > 0; }
  friend constexpr bool operator>=(SeqNum a, SeqNum b) { return a - b >= 0; }

 private:
  uint32_t v_;
};
static_assert(std::is_trivial_v<SeqNum>);

// One option of a TCP header: its kind and the bytes after kind and length.
struct TcpOption {
  uint8_t kind = 0;
  uint16_t offset = 0;  // of the kind byte, within the walked option bytes
  std::span<const uint8_t> data;
  uint8_t length() const { return static_cast<uint8_t>(data.size() + 2); }
};

// Walks the options of a TCP header (the bytes between the fixed 20 and the
// data offset), yielding every option but NOP:
//   for (const TcpOption& o : TcpOptions(bytes)) ...
// Stops at End of Option List, at an option whose length is below 2 or runs
// past the bytes, and at a kind byte with no length byte after it; never
// reads outside `options`.
class TcpOptions {
 public:
  explicit TcpOptions(std::span<const uint8_t> options) : bytes_(options) {}
  // The option bytes of a whole TCP header (`header` holds at least the
  // header, as L4View::Parse checked; a shorter span yields what it holds).
  static TcpOptions OfHeader(std::span<const uint8_t> header);

  class Iterator {
   public:
    const TcpOption& operator*() const { return current_; }
    const TcpOption* operator->() const { return &current_; }
    Iterator& operator++() {
      Find(next_);
      return *this;
    }
    bool operator==(std::default_sentinel_t) const { return done_; }

   private:
    friend class TcpOptions;
    explicit Iterator(std::span<const uint8_t> bytes) : bytes_(bytes) {
      Find(0);
    }
    void Find(size_t i) {
      const size_t n = bytes_.size();
      while (i < n) {
        const uint8_t kind = bytes_[i];
        if (kind == tcp_option::kEndOfList) break;
        if (kind == tcp_option::kNop) {
          ++i;
          continue;
        }
        if (i + 1 >= n) break;  // truncated: no length byte
        const uint8_t len = bytes_[i + 1];
        if (len < 2 || len > n - i) break;  // malformed
        current_ = {kind, static_cast<uint16_t>(i),
                    bytes_.subspan(i + 2, len - 2u)};
        next_ = i + len;
        return;
      }
      done_ = true;
    }
    std::span<const uint8_t> bytes_;
    size_t next_ = 0;
    TcpOption current_;
    bool done_ = false;
  };
  Iterator begin() const { return Iterator(bytes_); }
  std::default_sentinel_t end() const { return {}; }
  std::span<const uint8_t> bytes() const { return bytes_; }

 private:
  std::span<const uint8_t> bytes_;
};

inline TcpOptions TcpOptions::OfHeader(std::span<const uint8_t> header) {
  if (header.size() <= l4_field::kTcpMinHeader) return TcpOptions({});
  const size_t hl =
      size_t{static_cast<uint8_t>(header[l4_field::kTcpDataOff] >> 4)} * 4;
  const size_t end = std::min(hl, header.size());
  if (end <= l4_field::kTcpMinHeader) return TcpOptions({});
  return TcpOptions(
      header.subspan(l4_field::kTcpMinHeader, end - l4_field::kTcpMinHeader));
}

namespace icmp_type {
inline constexpr uint8_t kEchoReply = 0;
inline constexpr uint8_t kDestUnreachable = 3;
inline constexpr uint8_t kSourceQuench = 4;
inline constexpr uint8_t kRedirect = 5;
inline constexpr uint8_t kEchoRequest = 8;
inline constexpr uint8_t kTimeExceeded = 11;
inline constexpr uint8_t kParameterProblem = 12;
inline constexpr uint8_t kTimestamp = 13;
inline constexpr uint8_t kTimestampReply = 14;
}  // namespace icmp_type

inline bool IsIcmpError(uint8_t type) {
  return type == icmp_type::kDestUnreachable ||
         type == icmp_type::kTimeExceeded ||
         type == icmp_type::kParameterProblem ||
         type == icmp_type::kSourceQuench;
}
inline bool IsIcmpQuery(uint8_t type) {
  return type == icmp_type::kEchoRequest || type == icmp_type::kEchoReply ||
         type == icmp_type::kTimestamp || type == icmp_type::kTimestampReply;
}
inline bool IsIcmpQueryRequest(uint8_t type) {
  return type == icmp_type::kEchoRequest || type == icmp_type::kTimestamp;
}

// An IPv4 header (with options) over a mutable buffer.
class Ipv4View {
 public:
  // Checks version, IHL, total length against the buffer and the header
  // checksum. `data` may be longer than the datagram (link padding): the
  // view's size() is the total length from the header.
  static std::optional<Ipv4View> Parse(std::span<uint8_t> data,
                                       DropReason* why);
  // For headers quoted inside ICMP errors: the quoted datagram is truncated,
  // so only the header itself must be present and its checksum right.
  static std::optional<Ipv4View> ParseQuoted(std::span<uint8_t> data,
                                             DropReason* why);

  uint8_t* data() const { return data_; }
  uint16_t size() const { return total_length_; }
  uint16_t header_length() const { return header_length_; }
  uint8_t protocol() const { return data_[ipv4_field::kProtocol]; }
  uint8_t ttl() const { return data_[ipv4_field::kTtl]; }
  uint16_t id() const { return LoadBe16(data_ + ipv4_field::kId); }
  uint32_t src() const { return LoadBe32(data_ + ipv4_field::kSrc); }
  uint32_t dst() const { return LoadBe32(data_ + ipv4_field::kDst); }
  uint16_t checksum() const { return LoadBe16(data_ + ipv4_field::kChecksum); }
  uint16_t frag_field() const { return LoadBe16(data_ + ipv4_field::kFragOff); }
  bool dont_fragment() const { return frag_field() & 0x4000; }
  bool more_fragments() const { return frag_field() & 0x2000; }
  uint16_t fragment_offset_bytes() const {
    return static_cast<uint16_t>((frag_field() & 0x1fff) * 8);
  }
  bool is_fragment() const { return (frag_field() & 0x3fff) != 0; }
  // Bytes after the IP header that belong to this datagram (for quoted
  // headers: what is present in the buffer, at most the total length).
  std::span<uint8_t> payload() const {
    return {data_ + header_length_, static_cast<size_t>(l4_available_)};
  }

  void set_src(uint32_t v) { SetAddr(ipv4_field::kSrc, v); }
  void set_dst(uint32_t v) { SetAddr(ipv4_field::kDst, v); }
  void DecrementTtl() {
    const uint16_t old_word = LoadBe16(data_ + ipv4_field::kTtl);
    data_[ipv4_field::kTtl]--;
    const uint16_t new_word = LoadBe16(data_ + ipv4_field::kTtl);
    StoreBe16(data_ + ipv4_field::kChecksum,
              ChecksumUpdate16(checksum(), old_word, new_word));
  }

 private:
  Ipv4View(uint8_t* data, uint16_t total, uint16_t hl, uint16_t l4)
      : data_(data),
        total_length_(total),
        header_length_(hl),
        l4_available_(l4) {}
  void SetAddr(uint16_t off, uint32_t v) {
    const uint32_t old_value = LoadBe32(data_ + off);
    StoreBe32(data_ + off, v);
    StoreBe16(data_ + ipv4_field::kChecksum,
              ChecksumUpdate32(checksum(), old_value, v));
  }

  uint8_t* data_;
  uint16_t total_length_;
  uint16_t header_length_;
  uint16_t l4_available_;
};

// TCP, UDP or ICMP header: the first bytes of the L4 payload. Which fields
// are meaningful depends on the protocol; Parse checks the right minimum.
class L4View {
 public:
  // Full datagrams: TCP needs a data offset >= 5 and the whole header
  // present; UDP needs its length field to fit; ICMP needs 8 bytes.
  // `first_fragment`: the datagram continues in later fragments, so a UDP
  // length beyond this buffer is expected.
  static std::optional<L4View> Parse(uint8_t protocol, std::span<uint8_t> data,
                                     DropReason* why,
                                     bool first_fragment = false);
  // Quoted in an ICMP error: only the first 8 bytes are guaranteed (RFC 792),
  // so TCP and UDP checksums are updated only when present. Any protocol:
  // the caller knows which ones it can translate (its protocol table).
  static std::optional<L4View> ParseQuoted(std::span<uint8_t> data);
  // A view over a header the caller has already checked as Parse() would
  // (the engine's fast path).
  static L4View Validated(uint8_t* data, uint16_t size) {
    return L4View(data, size);
  }

  uint8_t* data() const { return data_; }
  uint16_t size() const { return size_; }
  uint16_t src_port() const { return LoadBe16(data_ + l4_field::kSrcPort); }
  uint16_t dst_port() const { return LoadBe16(data_ + l4_field::kDstPort); }
  uint8_t tcp_flags() const { return data_[l4_field::kTcpFlags]; }
  uint32_t tcp_seq() const { return LoadBe32(data_ + l4_field::kTcpSeq); }
  uint32_t tcp_ack() const { return LoadBe32(data_ + l4_field::kTcpAck); }
  uint16_t tcp_window() const { return LoadBe16(data_ + l4_field::kTcpWindow); }
  uint16_t tcp_header_length() const {
    return static_cast<uint16_t>((data_[l4_field::kTcpDataOff] >> 4) * 4);
  }
  // The TCP options, to walk: for (const TcpOption& o : l4.tcp_options()).
  TcpOptions tcp_options() const {
    return TcpOptions::OfHeader({data_, size_});
  }
  uint8_t icmp_type() const { return data_[l4_field::kIcmpType]; }
  uint8_t icmp_code() const { return data_[l4_field::kIcmpCode]; }
  uint16_t icmp_id() const { return LoadBe16(data_ + l4_field::kIcmpId); }

  // Offset of the checksum field for `protocol`, or 0 if it is not present
  // in this (possibly truncated) view. UDP checksum 0 means "none": also 0.
  uint16_t ChecksumOffset(uint8_t protocol) const;

  // Rewrites a 16-bit field at `off` and fixes the checksum at `csum_off`
  // (0: no checksum to fix). `pseudo` marks UDP's 0 -> 0xFFFF rule.
  void SetPort(uint16_t off, uint16_t value, uint16_t csum_off, bool udp);
  // Reflects a pseudo-header address change into the L4 checksum.
  static void AdjustForAddress(uint8_t* csum_field, uint32_t old_addr,
                               uint32_t new_addr, bool udp);

 private:
  L4View(uint8_t* data, uint16_t size) : data_(data), size_(size) {}
  uint8_t* data_;
  uint16_t size_;
};

// The options of an IPv4 header (the bytes after the first 20): kNone when
// every option's length is sound, kBadIpOptions when one has a length of 0
// or 1 or runs past the header, kSourceRoute when they are sound but carry
// loose or strict source routing (not honoured, as Linux's default
// accept_source_route=0).
DropReason CheckIpOptions(std::span<const uint8_t> options);

// Whether a whole datagram's L4 checksum is right (TCP, UDP: with the
// pseudo header, a UDP checksum of 0 means none; ICMP: over the message).
bool L4ChecksumOk(const Ipv4View& ip, const L4View& l4, uint8_t protocol);

}  // namespace unat
