// SIP ALG (RFC 3261) for phones inside, over UDP (this slice; TCP with
// message reassembly is to come, issue 16).
//
// Messages from an inside phone name its inside address where the outside
// must reach it. The helper rewrites, where they name the inside host as a
// whole token (helpers/sip_message.h): the Via sent-by, Contact, From, To,
// Record-Route, Route and the Request-URI host (the port too where it is
// the phone's signalling port, added when the external one is not 5060),
// and in an SDP body the o= and c= addresses and each m= port, for which it
// asks the engine for an RTP/RTCP pair of expectations (ExpectPair: an even
// external port and the next, RFC 3550; a=rtcp: follows), admitting the
// signalling peer's address; then Content-Length. Messages from outside get
// the top Via and the Request-URI that name our external endpoint back.
// A message that does not parse passes untouched (counted).
#pragma once

#include <cstdint>
#include <string_view>

#include "engine/helper.h"
#include "helpers/registry.h"

namespace unat::helpers {

struct SipStats {
  uint64_t messages = 0;        // parsed
  uint64_t rewritten = 0;       // with at least one field rewritten
  uint64_t fields = 0;          // addresses/ports rewritten
  uint64_t media = 0;           // m= lines given an expectation pair
  uint64_t media_fallback = 0;  // ... two single expectations instead
  uint64_t expect_failed = 0;   // no expectation: m= left as it was
  uint64_t parse_failures = 0;  // passed untouched
  uint64_t not_udp = 0;         // SIP over TCP: not handled yet
  uint64_t edit_errors = 0;     // ReplacePayload refused
};

class SipHelper : public PacketHelper {
 public:
  struct Options {
    uint32_t media_timeout_s = 300;  // an offer's media expectations
  };
  SipHelper() = default;
  explicit SipHelper(Options o) : options_(o) {}
  std::string_view name() const override { return "sip"; }
  ExpectationPolicy expectation_policy() const override;
  bool OnPacket(HelperContext& ctx, const FlowInfo& flow, Side from,
                Ipv4View& ip, L4View& l4) override;
  const SipStats& stats() const { return stats_; }
  void ForEachCounter(const CounterFn& fn) const;

 private:
  Options options_;
  SipStats stats_;
};

// The registry's entry: "sip", UDP 5060.
const HelperEntry& SipEntry();

}  // namespace unat::helpers
