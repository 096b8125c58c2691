// ASN.1 packed encoding rules, ALIGNED variant (ITU-T X.691), as H.225.0
// and H.245 use them: a bounded bit reader that decodes the primitives the
// H.323 messages are built from, and a writer that encodes them (for the
// project's test vectors and for rewriting in place).
//
// Every read is bounded by the input: past its end, or on an encoding the
// reader refuses (a fragmented length, a length or count above the
// caller's bound, nesting past kMaxDepth), the reader fails for good; a
// failed reader returns zeros and empty spans, so a decoder may check
// ok() once at the end of a structure. Nothing here allocates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace unat::helpers::per {

// Why a reader stopped.
enum class Error : uint8_t {
  kNone,
  kTruncated,   // the input ended inside a field
  kFragmented,  // a length of 16K or more (X.691 11.9.3.8): never needed here
  kTooLong,     // a length or count above the caller's bound
  kOutOfRange,  // a constrained value past its upper bound
  kTooDeep,     // nesting past kMaxDepth
};
std::string_view ErrorName(Error e);

// Deepest nesting of constructed values a decoder may enter.
inline constexpr int kMaxDepth = 24;

class Reader {
 public:
  explicit Reader(std::span<const uint8_t> data) : data_(data) {}

  bool ok() const { return error_ == Error::kNone; }
  Error error() const { return error_; }
  // Position in bits from the start, and bits left.
  size_t bit_pos() const { return pos_; }
  size_t bits_left() const { return ok() ? data_.size() * 8 - pos_ : 0; }
  // Fails the reader (a decoder's own refusal); the first error stays.
  void Fail(Error e) {
    if (error_ == Error::kNone) error_ = e;
  }

  // Up to 32 bits, most significant first, not aligned.
  uint32_t Bits(int n);
  bool Bit() { return Bits(1) != 0; }
  // Skips to the next octet boundary (X.691 "octet-aligned").
  void Align() { pos_ = (pos_ + 7) & ~size_t{7}; }

  // A constrained whole number in [lb, ub] (X.691 11.5.7, aligned): no
  // bits for one value, a minimal bit-field up to 255 values, one aligned
  // octet for 256, two for up to 64K, else an octet count and the octets.
  uint64_t Constrained(uint64_t lb, uint64_t ub);
  // A normally small non-negative whole number (11.6): choice extension
  // indices. Values past 2^32 fail.
  uint32_t NormallySmall();
  // A length determinant (11.9): constrained to [lb, ub] when ub < 64K,
  // else the aligned unconstrained form (1 or 2 octets). Fails past
  // `ub` (kTooLong) and on the fragmented form.
  uint32_t Length(uint32_t lb, uint32_t ub);
  // A normally small length (11.9.3.4): the size of an extension bitmap.
  uint32_t SmallLength();
  // An unconstrained or semi-constrained INTEGER's value octets (11.8):
  // length then two's complement (signed) or unsigned octets, at most 8.
  int64_t UnconstrainedInt();
  uint64_t SemiConstrained(uint64_t lb);

  // `n` whole octets from the next octet boundary: a span into the input.
  std::span<const uint8_t> Octets(size_t n);
  // An OCTET STRING of size [lb, ub] (X.691 17): fixed sizes of 1 or 2
  // octets unaligned (copied into `small`), larger fixed sizes aligned
  // without a length, others a length then aligned octets.
  std::span<const uint8_t> OctetString(uint32_t lb, uint32_t ub,
                                       uint8_t small[2]);
  // A BIT STRING of size [lb, ub], skipped; returns its length in bits.
  uint32_t SkipBitString(uint32_t lb, uint32_t ub);
  // An open type (10.2): a length and that many octets, which hold a
  // complete encoding of their own.
  std::span<const uint8_t> OpenType(uint32_t max_len);
  // A CHOICE's index (23): an extension bit when `extensible`, then the
  // root index in [0, root_count) or, when extended, a normally small
  // number counted from root_count.
  uint32_t ChoiceIndex(uint32_t root_count, bool extensible);
  // An OBJECT IDENTIFIER (24): a length then its octets, skipped.
  void SkipObjectIdentifier();
  // A restricted character string of size [lb, ub] with `bits` bits a
  // character (IA5String: 7 or 8 aligned per 30.5.3; BMPString: 16),
  // skipped.
  void SkipCharString(uint32_t lb, uint32_t ub, int bits);
  // The extension additions of an extensible SEQUENCE whose extension bit
  // was set (19.7): the bitmap's size then each present addition as an
  // open type, all skipped. Returns how many were present.
  uint32_t SkipExtensions();
  // Their bitmap alone: how many additions it covers (at most 64, else the
  // reader fails with kTooLong), the first in bit n - 1 of `*map`.
  uint32_t ExtensionBitmap(uint64_t* map);

  // Nesting bound: Enter() before decoding a constructed value's
  // components, Leave() after. Enter fails the reader past kMaxDepth.
  bool Enter();
  void Leave() { --depth_; }

 private:
  bool Need(size_t bits);

  std::span<const uint8_t> data_;
  size_t pos_ = 0;  // bits
  int depth_ = 0;
  Error error_ = Error::kNone;
};

// The writer for the same forms (tests, and field rewriting).
class Writer {
 public:
  void Bits(uint32_t v, int n);
  void Bit(bool b) { Bits(b ? 1 : 0, 1); }
  void Align() { bits_ = (bits_ + 7) & ~size_t{7}; }
  void Constrained(uint64_t v, uint64_t lb, uint64_t ub);
  void NormallySmall(uint32_t v);
  void Length(uint32_t n, uint32_t lb, uint32_t ub);
  void SmallLength(uint32_t n);
  void UnconstrainedInt(int64_t v);
  void SemiConstrained(uint64_t v, uint64_t lb);
  void Octets(std::span<const uint8_t> b);  // aligned
  void OctetString(std::span<const uint8_t> b, uint32_t lb, uint32_t ub);
  void OpenType(std::span<const uint8_t> encoding);
  void ChoiceIndex(uint32_t index, uint32_t root_count, bool extensible);
  void CharString(std::string_view s, uint32_t lb, uint32_t ub, int bits);
  // The bytes so far (the last octet padded with zero bits).
  const std::vector<uint8_t>& bytes() const { return out_; }
  size_t bit_pos() const { return bits_; }

 private:
  void Grow() {
    if (out_.size() * 8 < bits_) out_.resize((bits_ + 7) / 8, 0);
  }
  std::vector<uint8_t> out_;
  size_t bits_ = 0;
};

}  // namespace unat::helpers::per
