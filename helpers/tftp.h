// TFTP ALG (RFC 1350): a read or write request from an inside client to a
// TFTP server port announces that the server will answer from a new port
// (its transfer identifier) to the client's port. The helper registers an
// expectation for exactly that: UDP from the server's address, any port, to
// the client's mapped endpoint, so the answer passes address-and-port-
// dependent filtering. Nothing is rewritten: TFTP carries no addresses.
//
// A TFTP server inside behind a forward needs nothing: its new-port answer
// is an outbound flow.
#pragma once

#include <cstdint>
#include <string_view>

#include "engine/helper.h"
#include "helpers/registry.h"

namespace unat::helpers {

struct TftpStats {
  uint64_t requests = 0;   // RRQ/WRQ that got an expectation
  uint64_t malformed = 0;  // opcode 1/2 without filename/mode
  uint64_t expect_failed = 0;
};

class TftpHelper : public PacketHelper {
 public:
  struct Options {
    uint32_t expect_timeout_s = 60;
  };
  TftpHelper() = default;
  explicit TftpHelper(Options o) : options_(o) {}
  std::string_view name() const override { return "tftp"; }
  // Its registry entry's policy, with the lifetime its options ask for.
  ExpectationPolicy expectation_policy() const override;
  bool OnPacket(HelperContext& ctx, const FlowInfo& flow, Side from,
                Ipv4View& ip, L4View& l4) override;
  const TftpStats& stats() const { return stats_; }
  // stats() as ("requests", n), ...
  void ForEachCounter(const CounterFn& fn) const;

 private:
  Options options_;
  TftpStats stats_;
};

// The registry's entry: "tftp", UDP 69.
const HelperEntry& TftpEntry();

}  // namespace unat::helpers
