// The decoders' shared core (private to helpers/h323/): a PER reader over
// one buffer that knows where that buffer sits in the message being
// rewritten, and the few constructs every H.225.0 and H.245 type is built
// of. The per-type functions are in h225.cc and h245.cc.
#pragma once

#include <cstdint>
#include <span>

#include "helpers/h323/messages.h"
#include "helpers/h323/per.h"

namespace unat::helpers::h323::internal {

// One decode's shared state: the rewritten buffer's start, the findings,
// and how it ended.
struct Ctx {
  const uint8_t* origin;
  Found& found;
  Result status = Result::kOk;
};

class Dec {
 public:
  Dec(std::span<const uint8_t> data, Ctx& c)
      : r(data), start_(data.data()), c(c) {}

  bool ok() const { return r.ok() && c.status == Result::kOk; }

  // The decode cannot go on past a type it does not know.
  void Unsupported() {
    if (c.status == Result::kOk) c.status = Result::kUnsupported;
    r.Fail(per::Error::kOutOfRange);
  }

  // A SEQUENCE's extension bit and its root OPTIONAL bitmap (`n` bits,
  // first component in the highest bit).
  bool ExtBit() { return r.Bit(); }
  uint32_t Optional(int n) { return n == 0 ? 0 : r.Bits(n); }
  static bool Has(uint32_t bitmap, int n, int i) {
    return (bitmap >> (n - 1 - i)) & 1;
  }

  // A CHOICE's index; an extension alternative's value (an open type) is
  // read into `*value` when given, else skipped.
  uint32_t Choice(uint32_t root, bool extensible,
                  std::span<const uint8_t>* value = nullptr);
  // The count of a SEQUENCE OF without a size constraint, at most `max`.
  uint32_t Count(uint32_t max);
  // An unconstrained OCTET STRING.
  std::span<const uint8_t> AnyOctets();
  void SkipOid() { r.SkipObjectIdentifier(); }
  void SkipBool() { r.Bits(1); }

  // An extensible SEQUENCE's extension additions: `fn(index, value)` for
  // each present one (`value` its open type's octets).
  template <typename Fn>
  void Additions(Fn&& fn) {
    uint64_t map;
    const uint32_t n = r.ExtensionBitmap(&map);
    for (uint32_t i = 0; i < n && ok(); ++i) {
      if ((map >> (n - 1 - i)) & 1) {
        std::span<const uint8_t> v = r.OpenType(kMaxOpenType);
        if (!ok()) return;
        fn(i, v);
      }
    }
  }
  void SkipAdditions() { r.SkipExtensions(); }

  // An IPv4 address and port (a 4-octet OCTET STRING and an
  // INTEGER (0..65535)), recorded as `field` unless `field` is null.
  void Ipv4(const Field* field, uint8_t channel = 0);

  // Decodes `value` (an open type's or an OCTET STRING's octets, inside
  // this buffer) with `fn(Dec&)`; a failure there ends this decode too.
  template <typename Fn>
  void Sub(std::span<const uint8_t> value, Fn&& fn) {
    if (!ok()) return;
    Dec d(value, c);
    fn(d);
    if (!d.r.ok()) r.Fail(d.r.error());
  }

  per::Reader r;

 private:
  const uint8_t* start_;

 public:
  Ctx& c;
};

// The end of a decode: its result, with the reader's error kept.
Result Finish(Dec& d);

// H.245 parts the H.225.0 decoder needs (fastStart, h245Control).
void DecodeH245Message(Dec& d);
void DecodeOlc(Dec& d);

}  // namespace unat::helpers::h323::internal
