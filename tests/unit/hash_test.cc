// The flow-key hash must spread keys that differ in any one field over the
// low bits the index uses (a weak hash once put every port of one host in
// one probe chain and cut new-flow setup a hundredfold).
#include <gtest/gtest.h>

#include <set>

#include "engine/nat_impl.h"

namespace unat {
namespace {

size_t DistinctLow16(const std::function<uint32_t(uint32_t)>& hash_of) {
  std::set<uint32_t> seen;
  for (uint32_t i = 0; i < 65536; ++i) seen.insert(hash_of(i) & 0xffff);
  return seen.size();
}

TEST(KeyHash, EveryFieldReachesTheLowBits) {
  const uint64_t seed = 0x1234567890abcdefULL;
  // 65536 random values in 65536 buckets fill about 63%.
  const size_t kMin = 65536 * 55 / 100;
  EXPECT_GT(DistinctLow16([&](uint32_t i) {
              return internal::KeyHash(seed, 0, 17, 0x0a000002,
                                       static_cast<uint16_t>(i), 0xc6336401,
                                       53);
            }),
            kMin)
      << "inside port";
  EXPECT_GT(DistinctLow16([&](uint32_t i) {
              return internal::KeyHash(seed, 0, 17, 0x0a000002, 1000,
                                       0xc6336401, static_cast<uint16_t>(i));
            }),
            kMin)
      << "remote port";
  EXPECT_GT(DistinctLow16([&](uint32_t i) {
              return internal::KeyHash(seed, 0, 17, 0x0a000000 + i, 1000,
                                       0xc6336401, 53);
            }),
            kMin)
      << "inside address";
  EXPECT_GT(DistinctLow16([&](uint32_t i) {
              return internal::KeyHash(seed, 0, 17, 0x0a000002, 1000,
                                       0xc6330000 + i, 53);
            }),
            kMin)
      << "remote address";
  EXPECT_GT(DistinctLow16([&](uint32_t i) {
              return internal::KeyHash(seed, static_cast<NamespaceId>(i), 17,
                                       0x0a000002, 1000, 0xc6336401, 53);
            }),
            kMin)
      << "namespace";
}

}  // namespace
}  // namespace unat
