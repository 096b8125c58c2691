// For the component tests: a packet's bytes with the engine's own views
// over them (Ipv4View, L4View), parsed as the packet path parses them, and
// a walk of a component's expiry.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "engine/wire.h"

namespace unat::testing {

class Views {
 public:
  explicit Views(std::vector<uint8_t> bytes) : bytes_(std::move(bytes)) {
    DropReason why = DropReason::kNone;
    ip_ = Ipv4View::Parse({bytes_.data(), bytes_.size()}, &why);
    EXPECT_TRUE(ip_.has_value()) << DropReasonName(why);
    if (ip_) l4_ = L4View::Parse(ip_->protocol(), ip_->payload(), &why);
  }
  Views(const Views&) = delete;
  Views& operator=(const Views&) = delete;

  Ipv4View& ip() { return *ip_; }
  L4View& l4() { return *l4_; }
  bool ok() const { return ip_ && l4_; }
  std::vector<uint8_t>& bytes() { return bytes_; }
  // TCP data bytes.
  uint16_t tcp_payload() const {
    return static_cast<uint16_t>(l4_->size() - l4_->tcp_header_length());
  }

 private:
  std::vector<uint8_t> bytes_;
  std::optional<Ipv4View> ip_;
  std::optional<L4View> l4_;
};

// Runs `table`'s Expire(now, fn) (FlowTable, ExpectationTable,
// ForwardTable), removing each entry it reports; returns them in the order
// reported.
template <typename Table, typename Now>
std::vector<uint32_t> ExpireAndRemove(Table& table, Now now) {
  std::vector<uint32_t> out;
  table.Expire(now, [&](uint32_t id) {
    out.push_back(id);
    table.Remove(id);
  });
  return out;
}

}  // namespace unat::testing
