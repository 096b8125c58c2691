// H.323 ALG: H.225.0 call signalling (Q.931 over TPKT, TCP 1720), the
// H.245 control channel it opens, and RAS (UDP 1719), decoded with the
// project's own bounded aligned-PER decoder (helpers/h323/).
//
// In a message from inside, every transport address that names the inside
// host is rewritten to the external endpoint the engine maps for it, in
// place (an IPv4 transport address is 6 fixed octets in PER):
//   - h245Address (Setup, CallProceeding, Alerting, Connect, Facility,
//     Progress): a TCP expectation from the peer, whose connection gets the
//     H.245 helper (and the outside's h245Address in a message from
//     outside: the inside endpoint's connection there gets it, through
//     HelperContext::ExpectOutbound);
//   - sourceCallSignalAddress (Setup): this connection's external endpoint;
//   - mediaChannel (RTP) and mediaControlChannel (RTCP) of the H.225.0
//     logical channel parameters in fastStart OpenLogicalChannels, in
//     tunnelled H.245 (h245Control, parallelH245Control) and on the H.245
//     connection (OpenLogicalChannel, OpenLogicalChannelAck): UDP
//     expectations from the peer, an even/odd pair when the two are
//     adjacent;
//   - RAS: callSignalAddress (RRQ, URQ, LCF) and srcCallSignalAddress (ARQ)
//     a TCP expectation from the gatekeeper lasting the registration
//     (timeToLive), whose connection gets this helper; rasAddress and
//     replyAddress this flow's external endpoint (or a UDP expectation for
//     another port); an RRQ holds the RAS flow open for the registration.
// A message that does not decode, or holds a type the decoder does not
// know, passes untouched and is counted. The TPKT streams are followed as
// SIP's are (helpers/tcp_messages.h): messages packed into one segment are
// each handled, one cut by segment boundaries is held until whole
// (kMaxHeld; a longer one passes unedited, the stream kept in step by its
// TPKT length), retransmissions go out as they did.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "engine/helper.h"
#include "helpers/h323/messages.h"
#include "helpers/registry.h"
#include "helpers/tcp_messages.h"

namespace unat::helpers {

struct H323Stats {
  uint64_t messages = 0;       // Q.931, H.245 and RAS messages decoded
  uint64_t h245_messages = 0;  // ... of them on H.245 connections
  uint64_t ras_messages = 0;   // ... of them RAS
  uint64_t rewritten = 0;      // messages with an address rewritten
  uint64_t addresses = 0;      // addresses rewritten
  uint64_t h245_channels = 0;  // H.245 connections expected
  uint64_t h245_outbound = 0;  // ... to the outside's h245Address
  uint64_t media = 0;          // RTP/RTCP expectations (a pair counts 1)
  uint64_t call_signal = 0;    // RAS call signalling expectations
  uint64_t expect_failed = 0;  // an expectation refused: address left
  uint64_t malformed = 0;      // PER that does not decode: passed
  uint64_t unsupported = 0;    // a type the decoder does not know: passed
  uint64_t too_many = 0;       // more addresses than a message may hold
  uint64_t bad_q931 = 0;       // a TPKT message not Q.931: passed
  uint64_t edit_errors = 0;    // ReplacePayload refused (RAS)
  // The TPKT streams (helpers/tcp_messages.h): held, reassembled,
  // split_unedited, ...; bad_tpkt is its parse_failures.
  MessageStreamStats tcp;
};

class H323Helper;
struct H323Flow;

// The helper an expected H.245 connection gets (H323Entry's companion).
class H245Helper : public PacketHelper {
 public:
  explicit H245Helper(H323Helper& owner) : owner_(owner) {}
  std::string_view name() const override { return "h245"; }
  bool OnPacket(HelperContext& ctx, const FlowInfo& flow, Side from,
                Ipv4View& ip, L4View& l4) override;
  ExpectationPolicy expectation_policy() const override;

 private:
  H323Helper& owner_;
};

class H323Helper : public PacketHelper {
 public:
  H323Helper() : h245_(*this) {}
  std::string_view name() const override { return "h323"; }
  bool OnPacket(HelperContext& ctx, const FlowInfo& flow, Side from,
                Ipv4View& ip, L4View& l4) override;
  ExpectationPolicy expectation_policy() const override;
  const H323Stats& stats() const { return stats_; }
  void ForEachCounter(const CounterFn& fn) const;
  void SetOption(std::string_view option, uint32_t value);
  H245Helper& h245() { return h245_; }

  struct Options {
    uint32_t media_timeout_s = 300;  // RTP/RTCP and H.245 expectations
    uint32_t registration_s = 3600;  // an RRQ without timeToLive
  };
  static constexpr uint32_t kRegistrationGraceS = 32;
  // The longest call signalling or H.245 message reassembled from
  // several segments; a longer one passes unedited.
  static constexpr size_t kMaxHeld = 4096;

  // Handles one TCP segment of a Q.931 (`h245` false) or H.245 stream.
  bool OnStream(HelperContext& ctx, const FlowInfo& flow, Side from,
                Ipv4View& ip, L4View& l4, bool h245);

 private:
  class TpktParser;
  void OnRas(HelperContext& ctx, const FlowInfo& flow, Side from);
  // The outside's h245Address in a message from outside: the inside
  // endpoint's connection to it gets the H.245 helper.
  void PeerH245(HelperContext& ctx, const h323::Found& found);
  // The edits (offsets from `base`) that rewrite the addresses `found`
  // names in `message`, with the expectations they need.
  void Rewrite(HelperContext& ctx, const FlowInfo& flow,
               const h323::Found& found, H323Flow& st, std::string_view message,
               size_t base, std::vector<StreamEdit>* edits);
  void Count(h323::Result r);

  H323Stats stats_;
  Options options_;
  H245Helper h245_;
};

// The registry's entry: "h323", TCP 1720 (call signalling) and UDP 1719
// (RAS); the H.245 connections it expects get its companion.
const HelperEntry& H323Entry();

}  // namespace unat::helpers
