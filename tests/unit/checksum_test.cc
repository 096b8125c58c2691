#include "engine/checksum.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace unat {
namespace {

TEST(Checksum, Rfc1071Example) {
  // RFC 1071 section 3 example: 00 01 f2 03 f4 f5 f6 f7 -> sum ddf2.
  const uint8_t data[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(InternetChecksum(data), static_cast<uint16_t>(~0xddf2));
}

TEST(Checksum, OddLengthPadsWithZero) {
  const uint8_t odd[] = {0x12, 0x34, 0x56};
  const uint8_t even[] = {0x12, 0x34, 0x56, 0x00};
  EXPECT_EQ(InternetChecksum(odd), InternetChecksum(even));
}

TEST(Checksum, IncrementalMatchesFullRecompute) {
  std::mt19937 rng(7);
  for (int round = 0; round < 2000; ++round) {
    std::vector<uint8_t> d(40);
    for (auto& b : d) b = static_cast<uint8_t>(rng());
    StoreBe16(&d[10], 0);
    StoreBe16(&d[10], InternetChecksum(d));
    ASSERT_EQ(InternetChecksum(d), 0);
    const size_t off = (rng() % 9) * 4;  // a 32-bit word, not the checksum
    if (off == 8) continue;
    const uint32_t old_value = LoadBe32(&d[off]);
    const uint32_t new_value = static_cast<uint32_t>(rng());
    StoreBe32(&d[off], new_value);
    StoreBe16(&d[10], ChecksumUpdate32(LoadBe16(&d[10]), old_value, new_value));
    EXPECT_EQ(InternetChecksum(d), 0) << "round " << round;
  }
}

TEST(Checksum, Rfc1624CornerCase) {
  // RFC 1624 section 3: the 0xFFFF/0x0000 pitfall of eqn. 2. Eqn. 3 must
  // give a checksum that still verifies.
  std::vector<uint8_t> d = {0xcd, 0x7a, 0x55, 0x85, 0x00, 0x00};
  StoreBe16(&d[4], InternetChecksum(d));
  const uint16_t old_word = LoadBe16(&d[2]);
  StoreBe16(&d[2], 0x3285);
  StoreBe16(&d[4], ChecksumUpdate16(LoadBe16(&d[4]), old_word, 0x3285));
  EXPECT_EQ(InternetChecksum(d), 0);
}

TEST(Checksum, DeltaCombinesSeveralFields) {
  std::vector<uint8_t> d(20, 0x5a);
  StoreBe16(&d[6], 0);
  StoreBe16(&d[6], InternetChecksum(d));
  ChecksumDelta delta;
  delta.Replace32(LoadBe32(&d[12]), 0x0a4d0002);
  StoreBe32(&d[12], 0x0a4d0002);
  delta.Replace16(LoadBe16(&d[0]), 0xbeef);
  StoreBe16(&d[0], 0xbeef);
  StoreBe16(&d[6], delta.Apply(LoadBe16(&d[6])));
  EXPECT_EQ(InternetChecksum(d), 0);
}

}  // namespace
}  // namespace unat
