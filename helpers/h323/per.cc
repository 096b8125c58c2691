// ASN.1 PER, aligned variant (see per.h).
#include "helpers/h323/per.h"

#include <algorithm>

namespace unat::helpers::per {

namespace {

// Bits needed for values 0..range-1 (range >= 2).
int BitsFor(uint64_t range) {
  int n = 0;
  while ((uint64_t{1} << n) < range) ++n;
  return n;
}
// Octets needed for values 0..range-1.
int OctetsFor(uint64_t range) {
  int n = 1;
  while (n < 8 && (range - 1) >> (8 * n) != 0) ++n;
  return n;
}
// Octets of v as a non-negative binary integer, at least one.
int OctetsOf(uint64_t v) {
  int n = 1;
  while (n < 8 && v >> (8 * n) != 0) ++n;
  return n;
}

}  // namespace

std::string_view ErrorName(Error e) {
  switch (e) {
    case Error::kNone:
      return "none";
    case Error::kTruncated:
      return "truncated";
    case Error::kFragmented:
      return "fragmented length";
    case Error::kTooLong:
      return "length or count over its bound";
    case Error::kOutOfRange:
      return "value over its upper bound";
    case Error::kTooDeep:
      return "nested too deep";
  }
  return "?";
}

bool Reader::Need(size_t bits) {
  if (!ok()) return false;
  if (bits > data_.size() * 8 - pos_) {
    Fail(Error::kTruncated);
    return false;
  }
  return true;
}

uint32_t Reader::Bits(int n) {
  if (n <= 0 || n > 32 || !Need(static_cast<size_t>(n))) return 0;
  uint32_t v = 0;
  for (int i = 0; i < n; ++i, ++pos_) {
    v = (v << 1) | ((data_[pos_ / 8] >> (7 - pos_ % 8)) & 1);
  }
  return v;
}

uint64_t Reader::Constrained(uint64_t lb, uint64_t ub) {
  if (!ok() || ub < lb) return lb;
  const uint64_t range = ub - lb + 1;  // 0: the whole 64-bit range
  uint64_t v = 0;
  if (range == 1) return lb;
  if (range != 0 && range <= 255) {
    v = Bits(BitsFor(range));
  } else if (range == 256) {
    Align();
    v = Bits(8);
  } else if (range != 0 && range <= 65536) {
    Align();
    v = Bits(16);
  } else {
    // The indefinite-length case: the octet count as a constrained number
    // in [1, octets the range needs], then the octets, aligned.
    const int max_octets = range == 0 ? 8 : OctetsFor(range);
    const int n = static_cast<int>(Constrained(1, max_octets));
    Align();
    for (int i = 0; i < n; ++i) v = (v << 8) | Bits(8);
  }
  if (!ok()) return lb;
  if (range != 0 && v >= range) {
    Fail(Error::kOutOfRange);
    return lb;
  }
  return lb + v;
}

uint32_t Reader::NormallySmall() {
  if (!Bit()) return Bits(6);
  const uint64_t v = SemiConstrained(0);
  if (v > 0xffffffffu) {
    Fail(Error::kOutOfRange);
    return 0;
  }
  return static_cast<uint32_t>(v);
}

uint32_t Reader::Length(uint32_t lb, uint32_t ub) {
  if (!ok()) return 0;
  uint32_t n;
  if (ub < 65536) {
    n = static_cast<uint32_t>(Constrained(lb, ub));
  } else {
    Align();
    const uint32_t first = Bits(8);
    if ((first & 0x80) == 0) {
      n = first;
    } else if ((first & 0xc0) == 0x80) {
      n = ((first & 0x3f) << 8) | Bits(8);
    } else {
      Fail(Error::kFragmented);
      return 0;
    }
    if (ok() && n < lb) {
      Fail(Error::kOutOfRange);
      return 0;
    }
  }
  if (ok() && n > ub) {
    Fail(Error::kTooLong);
    return 0;
  }
  return ok() ? n : 0;
}

uint32_t Reader::SmallLength() {
  if (!Bit()) return Bits(6) + 1;
  return Length(0, 0xffffffffu);
}

uint64_t Reader::SemiConstrained(uint64_t lb) {
  const uint32_t n = Length(0, 0xffffffffu);
  if (n > 8) {
    Fail(Error::kTooLong);
    return lb;
  }
  uint64_t v = 0;
  for (uint32_t i = 0; i < n; ++i) v = (v << 8) | Bits(8);
  return ok() ? lb + v : lb;
}

int64_t Reader::UnconstrainedInt() {
  const uint32_t n = Length(0, 0xffffffffu);
  if (n == 0 || n > 8) {
    Fail(n == 0 ? Error::kTruncated : Error::kTooLong);
    return 0;
  }
  uint64_t v = 0;
  for (uint32_t i = 0; i < n; ++i) v = (v << 8) | Bits(8);
  if (!ok()) return 0;
  if (n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t{0} << (8 * n);
  return static_cast<int64_t>(v);
}

std::span<const uint8_t> Reader::Octets(size_t n) {
  Align();
  if (!Need(n * 8)) return {};
  std::span<const uint8_t> out = data_.subspan(pos_ / 8, n);
  pos_ += n * 8;
  return out;
}

std::span<const uint8_t> Reader::OctetString(uint32_t lb, uint32_t ub,
                                             uint8_t small[2]) {
  if (lb == ub && ub <= 2) {
    for (uint32_t i = 0; i < ub; ++i) small[i] = static_cast<uint8_t>(Bits(8));
    if (!ok()) return {};
    return {small, ub};
  }
  if (lb == ub && ub < 65536) return Octets(ub);
  const uint32_t n = Length(lb, ub);
  if (!ok()) return {};
  return n == 0 ? std::span<const uint8_t>() : Octets(n);
}

uint32_t Reader::SkipBitString(uint32_t lb, uint32_t ub) {
  uint32_t n = lb;
  if (lb != ub || ub >= 65536) n = Length(lb, ub);
  if (n > 16 || lb != ub) Align();
  if (!Need(n)) return 0;
  pos_ += n;
  return n;
}

std::span<const uint8_t> Reader::OpenType(uint32_t max_len) {
  const uint32_t n = Length(0, 0xffffffffu);
  if (ok() && n > max_len) {
    Fail(Error::kTooLong);
    return {};
  }
  return Octets(n);
}

uint32_t Reader::ChoiceIndex(uint32_t root_count, bool extensible) {
  if (extensible && Bit()) {
    const uint32_t i = NormallySmall();
    if (ok() && i > 0xffffffffu - root_count) {
      Fail(Error::kOutOfRange);
      return 0;
    }
    return root_count + i;
  }
  if (root_count == 0) {
    Fail(Error::kOutOfRange);
    return 0;
  }
  return static_cast<uint32_t>(Constrained(0, root_count - 1));
}

void Reader::SkipObjectIdentifier() { Octets(Length(0, 0xffffffffu)); }

void Reader::SkipCharString(uint32_t lb, uint32_t ub, int bits) {
  uint32_t n = lb;
  if (lb != ub || ub >= 65536) n = Length(lb, ub);
  if (!ok()) return;
  if (static_cast<uint64_t>(ub) * bits > 16) Align();
  const uint64_t total = uint64_t{n} * bits;
  if (!Need(total)) return;
  pos_ += total;
}

uint32_t Reader::ExtensionBitmap(uint64_t* map) {
  *map = 0;
  const uint32_t n = SmallLength();
  if (ok() && n > 64) {
    Fail(Error::kTooLong);
    return 0;
  }
  for (uint32_t i = 0; i < n; ++i) *map = (*map << 1) | Bits(1);
  return ok() ? n : 0;
}

uint32_t Reader::SkipExtensions() {
  uint64_t map;
  const uint32_t n = ExtensionBitmap(&map);
  uint32_t present = 0;
  for (uint32_t i = 0; i < n && ok(); ++i) {
    if ((map >> (n - 1 - i)) & 1) {
      OpenType(0xffffffffu);
      ++present;
    }
  }
  return ok() ? present : 0;
}

bool Reader::Enter() {
  if (++depth_ > kMaxDepth) {
    Fail(Error::kTooDeep);
    return false;
  }
  return ok();
}

// ---- Writer ----

void Writer::Bits(uint32_t v, int n) {
  for (int i = n - 1; i >= 0; --i) {
    ++bits_;
    Grow();
    if ((v >> i) & 1) out_[(bits_ - 1) / 8] |= 0x80 >> ((bits_ - 1) % 8);
  }
}

void Writer::Constrained(uint64_t v, uint64_t lb, uint64_t ub) {
  const uint64_t range = ub - lb + 1;
  const uint64_t x = v - lb;
  if (range == 1) return;
  if (range != 0 && range <= 255) {
    Bits(static_cast<uint32_t>(x), BitsFor(range));
  } else if (range == 256) {
    Align();
    Bits(static_cast<uint32_t>(x), 8);
  } else if (range != 0 && range <= 65536) {
    Align();
    Bits(static_cast<uint32_t>(x), 16);
  } else {
    const int max_octets = range == 0 ? 8 : OctetsFor(range);
    const int n = OctetsOf(x);
    Constrained(n, 1, max_octets);
    Align();
    for (int i = n - 1; i >= 0; --i) {
      Bits(static_cast<uint32_t>((x >> (8 * i)) & 0xff), 8);
    }
  }
  Grow();
}

void Writer::NormallySmall(uint32_t v) {
  if (v < 64) {
    Bit(false);
    Bits(v, 6);
  } else {
    Bit(true);
    SemiConstrained(v, 0);
  }
}

void Writer::Length(uint32_t n, uint32_t lb, uint32_t ub) {
  if (ub < 65536) {
    Constrained(n, lb, ub);
    return;
  }
  Align();
  if (n < 128) {
    Bits(n, 8);
  } else {
    Bits(0x8000 | n, 16);  // n < 16384: the callers' bound
  }
}

void Writer::SmallLength(uint32_t n) {
  if (n <= 64) {
    Bit(false);
    Bits(n - 1, 6);
  } else {
    Bit(true);
    Length(n, 0, 0xffffffffu);
  }
}

void Writer::SemiConstrained(uint64_t v, uint64_t lb) {
  const uint64_t x = v - lb;
  const int n = OctetsOf(x);
  Length(static_cast<uint32_t>(n), 0, 0xffffffffu);
  for (int i = n - 1; i >= 0; --i) {
    Bits(static_cast<uint32_t>((x >> (8 * i)) & 0xff), 8);
  }
}

void Writer::UnconstrainedInt(int64_t v) {
  int n = 1;
  while (n < 8) {
    const int64_t lo = -(int64_t{1} << (8 * n - 1));
    const int64_t hi = (int64_t{1} << (8 * n - 1)) - 1;
    if (v >= lo && v <= hi) break;
    ++n;
  }
  Length(static_cast<uint32_t>(n), 0, 0xffffffffu);
  const uint64_t u = static_cast<uint64_t>(v);
  for (int i = n - 1; i >= 0; --i) {
    Bits(static_cast<uint32_t>((u >> (8 * i)) & 0xff), 8);
  }
}

void Writer::Octets(std::span<const uint8_t> b) {
  Align();
  Grow();
  out_.insert(out_.end(), b.begin(), b.end());
  bits_ += b.size() * 8;
}

void Writer::OctetString(std::span<const uint8_t> b, uint32_t lb, uint32_t ub) {
  if (lb == ub && ub <= 2) {
    for (uint8_t c : b) Bits(c, 8);
    return;
  }
  if (lb == ub && ub < 65536) {
    Octets(b);
    return;
  }
  Length(static_cast<uint32_t>(b.size()), lb, ub);
  if (!b.empty()) Octets(b);
}

void Writer::OpenType(std::span<const uint8_t> encoding) {
  Length(static_cast<uint32_t>(encoding.size()), 0, 0xffffffffu);
  Octets(encoding);
}

void Writer::ChoiceIndex(uint32_t index, uint32_t root_count, bool extensible) {
  if (extensible) {
    const bool ext = index >= root_count;
    Bit(ext);
    if (ext) {
      NormallySmall(index - root_count);
      return;
    }
  }
  Constrained(index, 0, root_count - 1);
}

void Writer::CharString(std::string_view s, uint32_t lb, uint32_t ub,
                        int bits) {
  if (lb != ub || ub >= 65536) {
    Length(static_cast<uint32_t>(s.size()), lb, ub);
  }
  if (static_cast<uint64_t>(ub) * bits > 16) Align();
  for (char c : s) Bits(static_cast<uint8_t>(c), bits);
}

}  // namespace unat::helpers::per
