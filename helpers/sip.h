// SIP ALG (RFC 3261) for phones inside, over UDP and TCP (a message cut by
// segments is held and reassembled, helpers/tcp_messages.h).
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
//
// Calls (by Call-ID, kMaxDialogs per signalling flow): the media address
// in the peer's SDP is admitted too (a media server or the far phone, not
// the proxy); BYE, CANCEL or a refused INVITE withdraws the call's waiting
// expectations, a re-INVITE replaces them. Registrations: the 2xx to an
// inside phone's REGISTER holds its signalling flow open for the granted
// expiry (plus kRegistrationGraceS) so that the registrar's INVITEs reach
// the phone however long it is idle; a de-REGISTER releases it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/helper.h"
#include "helpers/registry.h"
#include "helpers/tcp_messages.h"

namespace unat::helpers {

namespace sip {
struct Sdp;
struct Message;
}  // namespace sip
using SipEdit = StreamEdit;
struct SipMediaRec;
struct SipDialogRec;
struct SipFlowState;

struct SipStats {
  uint64_t messages = 0;         // parsed
  uint64_t rewritten = 0;        // with at least one field rewritten
  uint64_t fields = 0;           // addresses/ports rewritten
  uint64_t media = 0;            // m= lines given an expectation pair
  uint64_t media_fallback = 0;   // ... two single expectations instead
  uint64_t media_remote = 0;     // ... and for the peer's SDP media address
  uint64_t expect_failed = 0;    // no expectation: m= left as it was
  uint64_t listening_ports = 0;  // TCP: the phone's listening port mapped
  uint64_t media_withdrawn = 0;  // expectations a dialog's end or re-INVITE
                                 // withdrew
  uint64_t dialogs = 0;          // calls (Call-IDs with media) followed
  uint64_t dialogs_ended = 0;    // BYE, CANCEL, refused INVITE
  uint64_t dialogs_evicted = 0;  // table full: the oldest forgotten
  uint64_t registrations = 0;    // 2xx to a REGISTER: flow held
  uint64_t unregistrations = 0;  // de-REGISTER: hold released
  uint64_t parse_failures = 0;   // passed untouched
  uint64_t edit_errors = 0;      // ReplacePayload refused
  // SIP over TCP: held, reassembled, split_unedited, ... (reported as
  // "tcp_held", ...; its parse failures and edit errors in the two above).
  MessageStreamStats tcp;
};

class SipHelper : public PacketHelper {
 public:
  struct Options {
    // Longest an offer's media expectations wait (a dialog's end or a
    // re-INVITE withdraws them sooner).
    uint32_t media_timeout_s = 300;
    // Longest a registration holds the phone's signalling flow open.
    uint32_t max_registration_s = 7200;
    // How long an answered call holds its signalling flow open after its
    // last message (netfilter's sip_timeout): its BYE comes after any
    // silence.
    uint32_t dialog_hold_s = 3600;
  };
  // Calls followed per signalling flow (a phone's path to its proxy).
  static constexpr size_t kMaxDialogs = 8;
  // m= lines of one call given expectations (audio, video).
  static constexpr size_t kMaxMedia = 2;
  // Held past a registration's expiry, for the phone's refresh to arrive.
  static constexpr uint32_t kRegistrationGraceS = 32;
  // SIP over TCP: the longest message reassembled from several segments
  // (its start is held, per direction in one of two slots, until its end
  // comes); a longer one passes unedited.
  static constexpr size_t kMaxHeld = 4096;

  SipHelper() = default;
  explicit SipHelper(Options o) : options_(o) {}
  std::string_view name() const override { return "sip"; }
  ExpectationPolicy expectation_policy() const override;
  bool OnPacket(HelperContext& ctx, const FlowInfo& flow, Side from,
                Ipv4View& ip, L4View& l4) override;
  const SipStats& stats() const { return stats_; }
  // The registry's options ("media_timeout_s", "max_registration_s",
  // "dialog_hold_s").
  void SetOption(std::string_view option, uint32_t value);
  void ForEachCounter(const CounterFn& fn) const;

 private:
  struct Message;
  class StreamParser;
  bool OnSegment(HelperContext& ctx, const FlowInfo& flow, Side from,
                 Ipv4View& ip, L4View& l4);
  // One message (at `base` of the payload), its rewrites added to `edits`.
  void HandleMessage(HelperContext& ctx, const FlowInfo& flow, Side from,
                     std::string_view text, const sip::Message& m,
                     SipFlowState& state, size_t base,
                     std::vector<SipEdit>* edits);
  void Rewrite(Message& msg, std::vector<SipEdit>* edits);
  void RewriteSdp(Message& msg, const sip::Sdp& sdp, const std::string& in_addr,
                  const std::string& ext_addr, std::vector<SipEdit>* edits);
  void Apply(HelperContext& ctx, std::vector<SipEdit>& edits);
  // The current packet's whole payload replaced by `payload`, which makes
  // `fields` rewrites (counted), or edit_errors counted.
  void Replace(HelperContext& ctx, std::string_view payload, size_t fields);
  // RTP/RTCP expectations for the phone's ports from `remote`.
  bool ExpectMedia(Message& msg, uint16_t in_rtp, uint16_t in_rtcp,
                   uint32_t remote, SipMediaRec* out);
  void Withdraw(HelperContext& ctx, const SipMediaRec& media);
  // The external port for the phone's listening port `port` (TCP), mapped
  // with an expectation for the peer's connections; 0: none.
  uint16_t ListeningPort(Message& msg, uint16_t port);
  SipDialogRec* FindDialog(Message& msg, bool create);
  void EndDialog(Message& msg);
  // An SDP from outside: where the peer's media comes from.
  void PeerMedia(Message& msg);
  void Registration(Message& msg);
  // Holds the flow for its registration and answered calls, or releases
  // it.
  void UpdateHold(Message& msg);

  Options options_;
  SipStats stats_;
};

// The registry's entry: "sip", UDP 5060.
const HelperEntry& SipEntry();

}  // namespace unat::helpers
