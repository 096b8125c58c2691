// IRC DCC ALG on an inside client's connection to an IRC server.
//
// CTCP DCC requests in PRIVMSG/NOTICE (\x01DCC SEND name ip port [size]\x01,
// \x01DCC CHAT chat ip port\x01) from the inside client carry its address
// as a decimal 32-bit number and a port it listens on; both are rewritten to
// the external endpoint Expect() returns. DCC RESUME (from the outside peer,
// naming the external port) and DCC ACCEPT (from the inside sender, naming
// its inside port) are rewritten between the two ports of an offer this
// helper made. The peer is another IRC user whose address the NAT cannot
// know, so the expectation admits any remote (ExpectationSpec's
// allow_any_remote: short timeout, one connection).
//
// Offers from outside peers need nothing: the inside client connects out.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "helpers/registry.h"
#include "helpers/tcp_lines.h"

namespace unat::helpers {

struct IrcStats {
  uint64_t send_rewrites = 0;
  uint64_t chat_rewrites = 0;
  uint64_t resume_rewrites = 0;
  uint64_t accept_rewrites = 0;
  uint64_t reverse_offers = 0;   // port 0 ("passive" DCC): address only
  uint64_t foreign_address = 0;  // an offer naming another address
  uint64_t malformed = 0;
  uint64_t expect_failed = 0;
  uint64_t unknown_port = 0;  // RESUME/ACCEPT for a port we never offered
};

class IrcHelper : public TcpLineHelper {
 public:
  struct Options {
    uint32_t expect_timeout_s = 120;
  };
  IrcHelper() = default;
  explicit IrcHelper(Options o) : options_(o) {}
  std::string_view name() const override { return "irc"; }
  // Its registry entry's policy, with the lifetime its options ask for.
  ExpectationPolicy expectation_policy() const override;
  const IrcStats& stats() const { return stats_; }
  // stats() and stream_stats() as ("send_rewrites", n), ...
  void ForEachCounter(const CounterFn& fn) const;

  static constexpr size_t kMaxOffers = 4;  // remembered per connection

 protected:
  bool EditsFrom(const FlowInfo& flow, Side from,
                 const std::string& state) const override;
  bool MayNeedEdit(const FlowInfo& flow, Side from,
                   std::string_view partial) const override;
  std::optional<Candidate> Parse(const FlowInfo& flow, Side from,
                                 std::string_view line) override;
  std::optional<std::string> Commit(HelperContext& ctx, const FlowInfo& flow,
                                    Side from, std::string_view line,
                                    const Candidate& c) override;
  size_t max_line() const override { return 4096 + 512; }  // IRCv3 tags

 private:
  Options options_;
  IrcStats stats_;
};

// The registry's entry: "irc", TCP 6667.
const HelperEntry& IrcEntry();

}  // namespace unat::helpers
