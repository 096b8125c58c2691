#include "engine/flow_index.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace unat {
namespace {

TEST(FlowIndex, RandomInsertEraseAgreesWithStdMap) {
  FlowIndex index(16);
  std::map<uint32_t, uint32_t> model;  // value -> hash
  std::mt19937 rng(1);
  for (int i = 0; i < 60000; ++i) {
    if (model.size() < 5000 && (rng() % 3 != 0 || model.empty())) {
      const uint32_t value = static_cast<uint32_t>(rng() % 1000000);
      if (model.contains(value)) continue;
      const uint32_t hash = static_cast<uint32_t>(rng() % 1024);  // collisions
      index.Insert(hash, value);
      model[value] = hash;
    } else {
      auto it = model.begin();
      std::advance(it, rng() % model.size());
      ASSERT_TRUE(index.Erase(it->second, it->first));
      model.erase(it);
    }
    if (i % 9973 == 0) {
      for (auto [value, hash] : model) {
        ASSERT_EQ(index.Find(hash, [&](uint32_t v) { return v == value; }),
                  value);
      }
    }
  }
  EXPECT_EQ(index.size(), model.size());
  EXPECT_FALSE(index.Erase(3, 12345678));
  EXPECT_EQ(
      index.Find(5, [](uint32_t) { return true; }) == FlowIndex::kNotFound,
      [&] {
        for (auto [v, h] : model)
          if (h == 5) return false;
        return true;
      }());
}

}  // namespace
}  // namespace unat
