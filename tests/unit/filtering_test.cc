// Filter on its own: RFC 4787 REQ-8 inbound filtering of packets that reach
// a mapping without a flow (engine/filtering.h).
#include "engine/filtering.h"

#include <gtest/gtest.h>

#include "tests/unit/test_util.h"

namespace unat::internal {
namespace {

using unat::testing::A;

const uint32_t kR1 = A("198.51.100.1");
const uint32_t kR2 = A("198.51.100.2");

TEST(Filter, EndpointIndependentLetsAnyoneIn) {
  Filter f(FilteringMode::kEndpointIndependent);
  EXPECT_EQ(f.mode(), FilteringMode::kEndpointIndependent);
  EXPECT_TRUE(f.Allows(1, kR1));
  f.FlowAdded(1, kR1);
  EXPECT_EQ(f.remotes(), 0u) << "nothing to remember";
  EXPECT_TRUE(f.Allows(2, kR2));
}

TEST(Filter, AddressAndPortDependentLetsNoOneIn) {
  Filter f(FilteringMode::kAddressAndPortDependent);
  f.FlowAdded(1, kR1);
  EXPECT_FALSE(f.Allows(1, kR1));
  EXPECT_FALSE(f.Allows(1, kR2));
  EXPECT_EQ(f.remotes(), 0u);
}

TEST(Filter, AddressDependentLetsInTheRemotesTheMappingTalkedTo) {
  Filter f(FilteringMode::kAddressDependent);
  EXPECT_FALSE(f.Allows(1, kR1));
  f.FlowAdded(1, kR1);
  EXPECT_TRUE(f.Allows(1, kR1));
  EXPECT_FALSE(f.Allows(1, kR2)) << "another remote";
  EXPECT_FALSE(f.Allows(2, kR1)) << "another mapping";
  // The key keeps mapping and remote apart: (1, 2) is not (2, 1).
  f.FlowAdded(1, 2);
  EXPECT_FALSE(f.Allows(2, 1));
  f.FlowAdded(0xfffffffe, 0xffffffff);
  EXPECT_TRUE(f.Allows(0xfffffffe, 0xffffffff));
  EXPECT_FALSE(f.Allows(0xffffffff, 0xffffffff));
  EXPECT_FALSE(f.Allows(0xfffffffe, 0xfffffffe));
}

TEST(Filter, AddressDependentCountsFlowsPerMappingAndRemote) {
  Filter f(FilteringMode::kAddressDependent);
  f.FlowAdded(1, kR1);
  f.FlowAdded(1, kR1);  // a second flow to the same remote (another port)
  f.FlowAdded(2, kR1);
  EXPECT_EQ(f.remotes(), 2u);
  f.FlowRemoved(1, kR1);
  EXPECT_TRUE(f.Allows(1, kR1)) << "one flow to it is left";
  f.FlowRemoved(1, kR1);
  EXPECT_FALSE(f.Allows(1, kR1));
  EXPECT_TRUE(f.Allows(2, kR1)) << "the other mapping's is its own";
  EXPECT_EQ(f.remotes(), 1u);
  f.FlowRemoved(1, kR1);  // one too many: harmless
  f.FlowRemoved(7, kR2);  // never added
  EXPECT_TRUE(f.Allows(2, kR1));
  EXPECT_EQ(f.remotes(), 1u);
  f.FlowAdded(1, kR1);
  EXPECT_TRUE(f.Allows(1, kR1));
}

TEST(Filter, SetModeStartsOverFromNothing) {
  Filter f(FilteringMode::kAddressDependent);
  f.FlowAdded(1, kR1);
  f.SetMode(FilteringMode::kEndpointIndependent);
  EXPECT_EQ(f.mode(), FilteringMode::kEndpointIndependent);
  EXPECT_EQ(f.remotes(), 0u);
  EXPECT_TRUE(f.Allows(1, kR2));
  f.FlowRemoved(1, kR1);  // a flow of the old mode going away
  f.SetMode(FilteringMode::kAddressDependent);
  EXPECT_FALSE(f.Allows(1, kR1)) << "the caller re-adds the live flows";
  f.FlowAdded(1, kR1);
  EXPECT_TRUE(f.Allows(1, kR1));
  f.SetMode(FilteringMode::kAddressAndPortDependent);
  EXPECT_FALSE(f.Allows(1, kR1));
  f.FlowAdded(1, kR1);
  EXPECT_EQ(f.remotes(), 0u);
}

}  // namespace
}  // namespace unat::internal
