// The aligned PER reader and writer (helpers/h323/per.h) against encodings
// worked out from X.691, and on malformed input.
#include "helpers/h323/per.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

namespace unat::helpers::per {
namespace {

using Bytes = std::vector<uint8_t>;

TEST(PerTest, ConstrainedWholeNumbersTakeTheirAlignedForms) {
  Writer w;
  w.Constrained(5, 0, 7);  // bit-field: 101
  EXPECT_EQ(w.bytes(), (Bytes{0xa0}));
  Writer one;
  one.Bit(true);
  one.Constrained(3, 0, 255);  // one octet, aligned
  EXPECT_EQ(one.bytes(), (Bytes{0x80, 0x03}));
  Writer port;
  port.Constrained(1720, 0, 65535);  // two octets
  EXPECT_EQ(port.bytes(), (Bytes{0x06, 0xb8}));
  Writer big;
  big.Constrained(300, 0, 4294967295u);  // octet count 2 in 1..4, then 01 2C
  EXPECT_EQ(big.bytes(), (Bytes{0x40, 0x01, 0x2c}));
  Writer none;
  none.Constrained(9, 9, 9);  // one value: no bits
  EXPECT_EQ(none.bit_pos(), 0u);

  Reader r(w.bytes());
  EXPECT_EQ(r.Constrained(0, 7), 5u);
  Reader r1(one.bytes());
  EXPECT_TRUE(r1.Bit());
  EXPECT_EQ(r1.Constrained(0, 255), 3u);
  Reader r2(port.bytes());
  EXPECT_EQ(r2.Constrained(0, 65535), 1720u);
  Reader r3(big.bytes());
  EXPECT_EQ(r3.Constrained(0, 4294967295u), 300u);
  EXPECT_TRUE(r.ok() && r1.ok() && r2.ok() && r3.ok());
  EXPECT_EQ(r3.bits_left(), 0u);
}

TEST(PerTest, LengthsSmallLargeAndRefused) {
  Writer w;
  w.Length(5, 0, 0xffffffffu);
  w.Length(200, 0, 0xffffffffu);
  EXPECT_EQ(w.bytes(), (Bytes{0x05, 0x80, 0xc8}));
  Reader r(w.bytes());
  EXPECT_EQ(r.Length(0, 0xffffffffu), 5u);
  EXPECT_EQ(r.Length(0, 0xffffffffu), 200u);
  EXPECT_TRUE(r.ok());
  // The fragmented form (16K and more) is refused.
  const Bytes frag{0xc1, 0x00};
  Reader f(frag);
  EXPECT_EQ(f.Length(0, 0xffffffffu), 0u);
  EXPECT_EQ(f.error(), Error::kFragmented);
  // A constrained length whose bit-field holds more than its range.
  const Bytes bad{0xf0};  // 1111 in SIZE(0..10)'s 4 bits
  Reader c(bad);
  c.Length(0, 10);
  EXPECT_EQ(c.error(), Error::kOutOfRange);
}

TEST(PerTest, StringsChoicesAndIntegers) {
  const Bytes ip{192, 0, 2, 7};
  Writer w;
  w.Bit(true);
  w.OctetString(ip, 4, 4);    // fixed SIZE(4): aligned, no length
  w.ChoiceIndex(5, 3, true);  // extended: bit 1, normally small 2
  w.UnconstrainedInt(-1);
  w.CharString("h323", 1, 128, 8);
  EXPECT_EQ(w.bytes(), (Bytes{0x80, 192, 0, 2, 7, 0x82, 0x01, 0xff, 0x03 << 1,
                              'h', '3', '2', '3'}));
  Reader r(w.bytes());
  EXPECT_TRUE(r.Bit());
  uint8_t small[2];
  const auto got = r.OctetString(4, 4, small);
  EXPECT_EQ(Bytes(got.begin(), got.end()), ip);
  EXPECT_EQ(r.ChoiceIndex(3, true), 5u);
  EXPECT_EQ(r.UnconstrainedInt(), -1);
  r.SkipCharString(1, 128, 8);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.bits_left(), 0u);
  // Fixed sizes of one and two octets are not aligned.
  Writer s;
  s.Bit(true);
  s.OctetString(Bytes{0xab, 0xcd}, 2, 2);
  EXPECT_EQ(s.bytes(), (Bytes{0xd5, 0xe6, 0x80}));
  Reader rs(s.bytes());
  EXPECT_TRUE(rs.Bit());
  const auto two = rs.OctetString(2, 2, small);
  EXPECT_EQ(Bytes(two.begin(), two.end()), (Bytes{0xab, 0xcd}));
}

TEST(PerTest, ExtensionAdditionsAreSkippedAsOpenTypes) {
  Writer w;
  w.SmallLength(3);
  w.Bits(0b101, 3);  // additions 1 and 3 present
  w.OpenType(Bytes{0x11, 0x22});
  w.OpenType(Bytes{0x33});
  w.Bits(0x5, 3);  // what follows
  Reader r(w.bytes());
  EXPECT_EQ(r.SkipExtensions(), 2u);
  EXPECT_EQ(r.Bits(3), 5u);
  EXPECT_TRUE(r.ok());
}

TEST(PerTest, TruncatedInputFailsForGoodAndReadsAsZero) {
  const Bytes in{0x06};
  Reader r(in);
  EXPECT_EQ(r.Constrained(0, 65535), 0u);
  EXPECT_EQ(r.error(), Error::kTruncated);
  EXPECT_EQ(r.Bits(1), 0u);
  EXPECT_TRUE(r.Octets(1).empty());
  EXPECT_EQ(r.bits_left(), 0u);
  // A length that promises more octets than there are.
  const Bytes open{0x7f, 0x01};
  Reader o(open);
  EXPECT_TRUE(o.OpenType(1000).empty());
  EXPECT_EQ(o.error(), Error::kTruncated);
  // An open type longer than the caller allows.
  Reader t(open);
  EXPECT_TRUE(t.OpenType(16).empty());
  EXPECT_EQ(t.error(), Error::kTooLong);
  // Huge character strings and bit strings are bounded by the input.
  const Bytes str{0x80, 0xff};  // 16383 characters of 16 bits
  Reader c(str);
  c.SkipCharString(0, 0xffffffffu, 16);
  EXPECT_EQ(c.error(), Error::kTruncated);
}

TEST(PerTest, NestingIsBounded) {
  const Bytes in{0};
  Reader r(in);
  for (int i = 0; i < kMaxDepth; ++i) EXPECT_TRUE(r.Enter());
  EXPECT_FALSE(r.Enter());
  EXPECT_EQ(r.error(), Error::kTooDeep);
}

// Random sequences of primitives read back as written.
TEST(PerTest, WhatTheWriterWritesTheReaderReads) {
  std::mt19937_64 rng(16);
  for (int round = 0; round < 200; ++round) {
    struct Item {
      int kind;
      uint64_t lb, ub, v;
    };
    std::vector<Item> items;
    Writer w;
    for (int i = 0; i < 20; ++i) {
      Item it{static_cast<int>(rng() % 4), 0, 0, 0};
      const uint64_t ubs[] = {1,     6,     255,      256,        4000,
                              65535, 65536, 1u << 20, 4294967295u};
      it.lb = rng() % 3;
      it.ub = it.lb + ubs[rng() % 9];
      it.v = it.lb + rng() % (it.ub - it.lb + 1);
      switch (it.kind) {
        case 0:
          w.Constrained(it.v, it.lb, it.ub);
          break;
        case 1:
          it.v %= 16000;
          w.Length(static_cast<uint32_t>(it.v), 0, 0xffffffffu);
          break;
        case 2:
          it.v %= 1000;
          w.NormallySmall(static_cast<uint32_t>(it.v));
          break;
        case 3:
          w.Bit(it.v & 1);
          break;
      }
      items.push_back(it);
    }
    Reader r(w.bytes());
    for (const Item& it : items) {
      switch (it.kind) {
        case 0:
          EXPECT_EQ(r.Constrained(it.lb, it.ub), it.v);
          break;
        case 1:
          EXPECT_EQ(r.Length(0, 0xffffffffu), it.v);
          break;
        case 2:
          EXPECT_EQ(r.NormallySmall(), it.v);
          break;
        case 3:
          EXPECT_EQ(r.Bit(), (it.v & 1) != 0);
          break;
      }
    }
    ASSERT_TRUE(r.ok()) << ErrorName(r.error()) << " round " << round;
  }
}

}  // namespace
}  // namespace unat::helpers::per
