// FTP ALG (RFC 959, RFC 2428) on the control connection.
//
// - Inside client, active mode: PORT h1,h2,h3,h4,p1,p2 and EPRT |1|a.b.c.d|p|
//   naming the client's own inside address (compared as a number, never as
//   text) are rewritten to the external endpoint Expect() returns; the
//   expectation admits one connection from the server's address (any port).
//   A PORT/EPRT naming another address is left alone and counted.
// - Inside server behind a forward, passive mode: 227 (h1,...,p2) and
//   229 (|||p|) replies are rewritten the same way; the expectation admits
//   one connection from the client's address.
// - Outside server, inside client in passive mode: the data connection is
//   outbound and needs nothing; 227/229 from outside are only counted.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "helpers/registry.h"
#include "helpers/tcp_lines.h"

namespace unat::helpers {

struct FtpStats {
  uint64_t port_rewrites = 0;
  uint64_t eprt_rewrites = 0;
  uint64_t pasv_rewrites = 0;    // 227 from an inside server
  uint64_t epsv_rewrites = 0;    // 229 from an inside server
  uint64_t foreign_address = 0;  // PORT/EPRT/227 naming another address
  uint64_t malformed = 0;        // PORT/EPRT/227/229 we could not parse
  uint64_t other_family = 0;     // EPRT |2| (IPv6): not ours
  uint64_t expect_failed = 0;
  uint64_t passive_outside = 0;  // 227/229 from an outside server (no-op)
  // 229 names no address: the client uses the control connection's. When
  // the engine maps the server on another external address (several
  // external addresses, paired pooling), the data connection cannot match.
  uint64_t epsv_other_address = 0;
};

class FtpHelper : public TcpLineHelper {
 public:
  struct Options {
    uint32_t expect_timeout_s = 120;
  };
  FtpHelper() = default;
  explicit FtpHelper(Options o) : options_(o) {}

  std::string_view name() const override { return "ftp"; }
  // Its registry entry's policy, with the lifetime its options ask for.
  ExpectationPolicy expectation_policy() const override;
  const FtpStats& stats() const { return stats_; }
  // stats() and stream_stats() as ("port_rewrites", n), ...
  void ForEachCounter(const CounterFn& fn) const;

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
  size_t max_line() const override { return 256; }

 private:
  Options options_;
  FtpStats stats_;
};

// The registry's entry: "ftp", TCP 21.
const HelperEntry& FtpEntry();

}  // namespace unat::helpers
