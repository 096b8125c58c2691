#include "helpers/sip.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/nat.h"
#include "helpers/flow_state.h"
#include "helpers/sip_message.h"

namespace unat::helpers {

// What the helper keeps per signalling flow (FlowState): the calls it
// follows, by Call-ID.
struct SipMediaRec {
  uint16_t in_rtp, in_rtcp;    // the phone's ports
  uint16_t ext_rtp, ext_rtcp;  // ours (ext_rtcp 0: none)
};
struct SipDialogRec {
  uint64_t call_id;       // hash; 0: a free slot
  uint32_t remote_media;  // the peer's SDP media address (0: none yet)
  uint32_t used;          // for evicting the least recently used
  uint8_t media_count;
  uint8_t confirmed;  // a 2xx answered its INVITE
  SipMediaRec media[SipHelper::kMaxMedia];
};
struct SipFlowState {
  uint32_t clock;
  SipDialogRec dialogs[SipHelper::kMaxDialogs];
  // SIP over TCP (RFC 3261 18.3: messages framed by Content-Length), by
  // the side the data comes from (helpers/tcp_messages.h); the held bytes
  // follow the record in FlowState.
  MessageStreamDir tcp[2];
  // Over TCP: the phone's listening port as mapped for new connections.
  uint16_t listen_in, listen_ext;
  uint32_t listen_renew_s;
  // The flow's hold (HoldFlow): for a registration until
  // registered_until_s, for answered calls; 0: none. Seconds of now().
  uint32_t registered_until_s;
  uint32_t held_until_s;
};

namespace {

using sip::HeaderKind;
using sip::HostPort;
using sip::Span;

// Rewrites host[:port] `hp` (in `text`) from (from_host, from_port) to
// (to_host, to_port) when its host is from_host and its port is from_port
// (or absent, meaning `default_port`). `port_too`: the port is rewritten
// (or added) as well; otherwise only the host.
bool RewriteHostPort(std::string_view text, const HostPort& hp,
                     std::string_view from_host, uint16_t from_port,
                     std::string_view to_host, uint16_t to_port, bool port_too,
                     std::vector<SipEdit>* edits) {
  if (hp.host.of(text) != from_host) return false;
  const uint16_t port = hp.port.length != 0 ? hp.port_value : 5060;
  edits->push_back({hp.host.offset, hp.host.length, std::string(to_host)});
  if (port_too && port == from_port) {
    if (hp.port.length != 0) {
      if (to_port != port) {
        edits->push_back(
            {hp.port.offset, hp.port.length, std::to_string(to_port)});
      }
    } else if (to_port != 5060) {
      edits->push_back({hp.host.end(), 0, absl::StrCat(":", to_port)});
    }
  }
  return true;
}

uint64_t CallIdHash(std::string_view id) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (char c : id) {
    h ^= static_cast<uint8_t>(c);
    h *= 1099511628211ull;
  }
  return h | 1;
}

uint32_t NowS(const HelperContext& ctx) {
  return static_cast<uint32_t>(ctx.now() / 1000);
}

}  // namespace

// One parsed message of a flow, with what handling it needs.
struct SipHelper::Message {
  HelperContext& ctx;
  const FlowInfo& flow;
  Side from;
  std::string_view text;
  const sip::Message& m;
  SipFlowState& state;
  SipDialogRec* dialog = nullptr;  // the call it belongs to, once known
};

bool SipHelper::ExpectMedia(Message& msg, uint16_t in_rtp, uint16_t in_rtcp,
                            uint32_t remote, SipMediaRec* out) {
  ExpectationSpec spec;
  spec.proto = kProtoUdp;
  spec.remote_addr = remote;
  spec.inside_addr = msg.flow.inside_addr;
  spec.inside_port = in_rtp;
  spec.timeout_s = options_.media_timeout_s;
  out->in_rtp = in_rtp;
  out->in_rtcp = in_rtcp;
  if (in_rtcp == in_rtp + 1) {
    if (auto ep = msg.ctx.ExpectPair(spec); ep.ok()) {
      out->ext_rtp = ep->port;
      out->ext_rtcp = static_cast<uint16_t>(ep->port + 1);
      stats_.media++;
      return true;
    }
  }
  // Two single expectations: RTCP then needs its own a=rtcp: port.
  auto a = msg.ctx.Expect(spec);
  ExpectationSpec next = spec;
  next.inside_port = in_rtcp;
  auto b = msg.ctx.Expect(next);
  if (!a.ok()) {
    stats_.expect_failed++;
    return false;
  }
  out->ext_rtp = a->port;
  out->ext_rtcp = b.ok() ? b->port : 0;
  stats_.media_fallback++;
  return true;
}

uint16_t SipHelper::ListeningPort(Message& msg, uint16_t port) {
  SipFlowState& st = msg.state;
  const uint32_t now_s = NowS(msg.ctx);
  // One expectation serves the messages of a while (Via and Contact, a
  // call's requests): renewed once half its time has passed. While the
  // phone is registered it lasts the registration.
  if (st.listen_in == port && st.listen_ext != 0 && now_s < st.listen_renew_s) {
    return st.listen_ext;
  }
  const uint32_t timeout_s = std::max(
      options_.media_timeout_s,
      st.registered_until_s > now_s ? st.registered_until_s - now_s : 0);
  if (st.listen_ext != 0) msg.ctx.Unexpect(kProtoTcp, st.listen_ext);
  ExpectationSpec spec;
  spec.proto = kProtoTcp;
  spec.remote_addr = msg.flow.remote_addr;
  spec.inside_addr = msg.flow.inside_addr;
  spec.inside_port = port;
  spec.timeout_s = timeout_s;
  spec.helper = this;  // the new connection carries SIP too
  auto ep = msg.ctx.Expect(spec);
  if (!ep.ok()) {
    stats_.expect_failed++;
    st.listen_ext = 0;
    return 0;
  }
  stats_.listening_ports++;
  st.listen_in = port;
  st.listen_ext = ep->port;
  st.listen_renew_s = now_s + timeout_s / 2;
  return ep->port;
}

void SipHelper::Withdraw(HelperContext& ctx, const SipMediaRec& md) {
  stats_.media_withdrawn += ctx.Unexpect(kProtoUdp, md.ext_rtp);
  if (md.ext_rtcp != 0) {
    stats_.media_withdrawn += ctx.Unexpect(kProtoUdp, md.ext_rtcp);
  }
}

void SipHelper::EndDialog(Message& msg) {
  if (msg.dialog == nullptr) return;
  for (uint8_t i = 0; i < msg.dialog->media_count; ++i) {
    Withdraw(msg.ctx, msg.dialog->media[i]);
  }
  *msg.dialog = SipDialogRec{};
  msg.dialog = nullptr;
  stats_.dialogs_ended++;
}

SipDialogRec* SipHelper::FindDialog(Message& msg, bool create) {
  const sip::Header* cid = msg.m.Find(HeaderKind::kCallId);
  if (cid == nullptr || cid->value.length == 0) return nullptr;
  const uint64_t id = CallIdHash(cid->value.of(msg.text));
  SipDialogRec* lru = &msg.state.dialogs[0];
  for (SipDialogRec& d : msg.state.dialogs) {
    if (d.call_id == id) {
      d.used = ++msg.state.clock;
      return &d;
    }
    if (d.call_id == 0 ? lru->call_id != 0
                       : (lru->call_id != 0 && d.used < lru->used)) {
      lru = &d;
    }
  }
  if (!create) return nullptr;
  if (lru->call_id != 0) {
    // Forgotten: its expectations go now rather than wait out their time.
    for (uint8_t i = 0; i < lru->media_count; ++i) {
      Withdraw(msg.ctx, lru->media[i]);
    }
    stats_.dialogs_evicted++;
  }
  *lru = SipDialogRec{};
  lru->call_id = id;
  lru->used = ++msg.state.clock;
  stats_.dialogs++;
  return lru;
}

void SipHelper::PeerMedia(Message& msg) {
  auto sdp = sip::ParseSdp(msg.text, msg.m.body);
  if (!sdp) return;
  // The first active stream's address (its own c=, else the session's).
  std::optional<uint32_t> addr;
  for (const sip::SdpMedia& md : sdp->media) {
    if (md.port_value == 0) continue;
    const Span& c =
        md.connection_addr.length ? md.connection_addr : sdp->connection_addr;
    addr = ParseIpv4(c.of(msg.text));
    break;
  }
  // 0.0.0.0: on hold (RFC 3264 8.4), no address.
  if (!addr || *addr == 0 || *addr == msg.flow.external_addr) return;
  SipDialogRec* d = FindDialog(msg, /*create=*/true);
  if (d == nullptr || d->remote_media == *addr) return;
  d->remote_media = *addr;
  if (*addr == msg.flow.remote_addr) return;
  // Our offer went first: its media may now come from there too.
  for (uint8_t i = 0; i < d->media_count; ++i) {
    SipMediaRec again;
    if (ExpectMedia(msg, d->media[i].in_rtp, d->media[i].in_rtcp, *addr,
                    &again)) {
      stats_.media_remote++;
    }
  }
}

void SipHelper::Registration(Message& msg) {
  HelperContext& ctx = msg.ctx;
  const std::string_view text = msg.text;
  const sip::Header* exp = msg.m.Find(HeaderKind::kExpires);
  // The Expires header's value; kNoExpires when there is none.
  constexpr uint64_t kNoExpires = ~uint64_t{0};
  const uint64_t header_expires =
      exp ? sip::DeltaSeconds(exp->value.of(text)).value_or(kNoExpires)
          : kNoExpires;
  if (msg.from == Side::kInside) {
    // A de-REGISTER ("Contact: *", or an expiry of 0) releases the hold.
    const sip::Header* contact = msg.m.Find(HeaderKind::kContact);
    if (contact == nullptr) return;  // a query of the bindings
    const uint64_t e =
        sip::ContactExpires(text, contact->value).value_or(header_expires);
    if ((contact->value.of(text) == "*" || e == 0) &&
        msg.state.registered_until_s != 0) {
      msg.state.registered_until_s = 0;
      stats_.unregistrations++;
    }
    return;
  }
  if (msg.m.status < 200 || msg.m.status >= 300) return;
  // The registrar lists the phone's bindings: ours names the external
  // endpoint (rewritten in the REGISTER) with its granted expiry.
  const std::string ext_addr = Ipv4ToString(msg.flow.external_addr);
  // (Over TCP it may name the phone's listening port as mapped.)
  uint64_t granted = 0;
  bool ours = false;
  for (const sip::Header& h : msg.m.headers) {
    if (h.kind != HeaderKind::kContact) continue;
    // One field may list several bindings (other phones of the AOR).
    for (const Span& v : sip::Values(text, h.value)) {
      auto hp = sip::UriHostPort(text, v);
      const uint16_t port = hp && hp->port.length ? hp->port_value : 5060;
      if (!hp || hp->host.of(text) != ext_addr ||
          (port != msg.flow.external_port &&
           (msg.state.listen_ext == 0 || port != msg.state.listen_ext))) {
        continue;
      }
      ours = true;
      uint64_t e = sip::ContactExpires(text, v).value_or(header_expires);
      if (e == kNoExpires) e = 3600;  // RFC 3261 10.2.1.1's default
      granted = std::max(granted, e);
    }
  }
  if (ours && granted > 0) {
    const uint32_t hold = static_cast<uint32_t>(std::min<uint64_t>(
                              granted, options_.max_registration_s)) +
                          kRegistrationGraceS;
    msg.state.registered_until_s = NowS(ctx) + hold;
    stats_.registrations++;
    // The registrar's requests may come on new connections to the phone's
    // listening port: its expectation now lasts the registration.
    if (msg.state.listen_ext != 0) {
      msg.state.listen_renew_s = 0;
      ListeningPort(msg, msg.state.listen_in);
    }
  } else if (msg.state.registered_until_s != 0) {
    msg.state.registered_until_s = 0;
    stats_.unregistrations++;  // no binding of ours is left
  }
}

void SipHelper::UpdateHold(Message& msg) {
  // The path stays open for the registration, and for the calls answered
  // on it (their BYE or re-INVITE may come after any silence), netfilter's
  // sip_timeout; released when neither is left.
  const uint32_t now_s = NowS(msg.ctx);
  uint32_t until =
      msg.state.registered_until_s > now_s ? msg.state.registered_until_s : 0;
  for (const SipDialogRec& d : msg.state.dialogs) {
    if (d.call_id != 0 && d.confirmed) {
      until = std::max(until, now_s + options_.dialog_hold_s);
      break;
    }
  }
  if (until == msg.state.held_until_s) return;
  if (msg.ctx.HoldFlow(until == 0 ? 0 : until - now_s).ok()) {
    msg.state.held_until_s = until;
  }
}

bool SipHelper::OnPacket(HelperContext& ctx, const FlowInfo& flow, Side from,
                         Ipv4View& ip, L4View& l4) {
  if (flow.proto == kProtoTcp) return OnSegment(ctx, flow, from, ip, l4);
  if (flow.proto != kProtoUdp) return true;
  const std::span<uint8_t> payload = ctx.Payload();
  const std::string_view text(reinterpret_cast<const char*>(payload.data()),
                              payload.size());
  // Keep-alives (CRLF) and empty datagrams carry nothing.
  if (text.find_first_not_of("\r\n") == std::string_view::npos) return true;
  sip::ParseError why;
  auto m = sip::Parse(text, /*stream=*/false, &why);
  if (!m) {
    stats_.parse_failures++;
    return true;
  }
  SipFlowState state = LoadFlowRecord<SipFlowState>(ctx.FlowState());
  std::vector<SipEdit> edits;
  HandleMessage(ctx, flow, from, text, *m, state, 0, &edits);
  StoreFlowRecord(ctx.FlowState(), state);
  Apply(ctx, edits);
  return true;
}

// The SIP side of a TCP stream: messages framed by sip::Parse, each
// handled as a datagram's would be.
class SipHelper::StreamParser : public MessageStreamParser {
 public:
  StreamParser(SipHelper& h, HelperContext& ctx, const FlowInfo& flow,
               Side from, SipFlowState& state)
      : h_(h), ctx_(ctx), flow_(flow), from_(from), state_(state) {}
  size_t Filler(std::string_view rest) override {
    // CRLF keep-alives between messages (RFC 5626 4.4.1).
    size_t n = 0;
    while (n < rest.size() && (rest[n] == '\r' || rest[n] == '\n')) ++n;
    return n;
  }
  Frame Next(std::string_view rest) override {
    sip::ParseError why;
    size_t needed = 0;
    m_ = sip::Parse(rest, /*stream=*/true, &why, &needed);
    if (m_) return {Frame::kMessage, m_->length};
    if (why == sip::ParseError::kIncomplete) {
      return {Frame::kIncomplete, needed};
    }
    return {Frame::kBad, 0};
  }
  void OnMessage(std::string_view message, size_t base,
                 std::vector<StreamEdit>* edits) override {
    h_.HandleMessage(ctx_, flow_, from_, message, *m_, state_, base, edits);
  }

 private:
  SipHelper& h_;
  HelperContext& ctx_;
  const FlowInfo& flow_;
  Side from_;
  SipFlowState& state_;
  std::optional<sip::Message> m_;  // what Next() parsed
};

bool SipHelper::OnSegment(HelperContext& ctx, const FlowInfo& flow, Side from,
                          Ipv4View& ip, L4View& l4) {
  SipFlowState state = LoadFlowRecord<SipFlowState>(ctx.FlowState());
  StreamParser parser(*this, ctx, flow, from, state);
  const SegmentResult r =
      FeedSegment(ctx, ip, l4, from, state.tcp[static_cast<int>(from)],
                  {.max_held = kMaxHeld, .slots_at = sizeof(SipFlowState)},
                  stats_.tcp, parser);
  StoreFlowRecord(ctx.FlowState(), state);
  if (r.edits != 0) {
    stats_.fields += r.edits;
    stats_.rewritten++;
  }
  return r.forward;
}

void SipHelper::HandleMessage(HelperContext& ctx, const FlowInfo& flow,
                              Side from, std::string_view text,
                              const sip::Message& m, SipFlowState& state,
                              size_t base, std::vector<SipEdit>* edits) {
  stats_.messages++;
  Message msg{ctx, flow, from, text, m, state};
  const sip::Header* cseq = m.Find(HeaderKind::kCSeq);
  const std::string_view method = m.request ? m.method.of(text)
                                  : cseq    ? sip::CSeqMethod(text, cseq->value)
                                            : std::string_view();
  const size_t first = edits->size();
  Rewrite(msg, edits);
  for (size_t i = first; i < edits->size(); ++i) (*edits)[i].offset += base;
  // The call's state: its end withdraws what its offers expected.
  if (msg.dialog == nullptr) msg.dialog = FindDialog(msg, /*create=*/false);
  if (sip::EqualsIgnoreCase(method, "REGISTER")) {
    Registration(msg);
  } else if (m.request && (sip::EqualsIgnoreCase(method, "BYE") ||
                           sip::EqualsIgnoreCase(method, "CANCEL"))) {
    EndDialog(msg);
  } else if (!m.request && sip::EqualsIgnoreCase(method, "INVITE") &&
             msg.dialog != nullptr) {
    if (m.status >= 200 && m.status < 300) {
      msg.dialog->confirmed = 1;
    } else if (m.status >= 300 && !msg.dialog->confirmed) {
      EndDialog(msg);  // refused or cancelled: no call
    }
  }
  UpdateHold(msg);
}

void SipHelper::Rewrite(Message& msg, std::vector<SipEdit>* edits_out) {
  std::vector<SipEdit>& edits = *edits_out;
  const FlowInfo& flow = msg.flow;
  const std::string_view text = msg.text;
  const sip::Message* m = &msg.m;
  const std::string in_addr = Ipv4ToString(flow.inside_addr);
  const std::string ext_addr = Ipv4ToString(flow.external_addr);
  size_t body_edits_from = 0;  // edits[body_edits_from..] are in the body
  // The phone's endpoint as the outside sees it (and back), where hp names
  // it; `port_too`: the signalling port as well as the host.
  auto to_external = [&](std::optional<HostPort> hp, bool port_too) {
    if (!hp) return;
    const uint16_t port = hp->port.length ? hp->port_value : 5060;
    if (port_too && flow.proto == kProtoTcp && port != flow.inside_port &&
        hp->host.of(text) == in_addr) {
      // Over TCP the phone names its listening port, not the connection's:
      // the peer's new connections to it need a port of their own.
      if (const uint16_t ext = ListeningPort(msg, port); ext != 0) {
        RewriteHostPort(text, *hp, in_addr, port, ext_addr, ext, true, &edits);
        return;
      }
    }
    RewriteHostPort(text, *hp, in_addr, flow.inside_port, ext_addr,
                    flow.external_port, port_too, &edits);
  };
  auto to_inside = [&](std::optional<HostPort> hp) {
    if (!hp) return;
    if (msg.state.listen_ext != 0 && hp->port.length != 0 &&
        hp->port_value == msg.state.listen_ext) {
      // The phone's listening port as mapped (TCP).
      RewriteHostPort(text, *hp, ext_addr, msg.state.listen_ext, in_addr,
                      msg.state.listen_in, true, &edits);
    } else {
      RewriteHostPort(text, *hp, ext_addr, flow.external_port, in_addr,
                      flow.inside_port, true, &edits);
    }
  };
  if (msg.from == Side::kInside) {
    if (m->request) to_external(sip::UriHostPort(text, m->request_uri), true);
    bool first_via = true;
    for (const sip::Header& h : m->headers) {
      switch (h.kind) {
        case HeaderKind::kVia:
          // Only the phone's own (top) Via on a request; a response carries
          // the Vias the outside put there.
          if (first_via && m->request) {
            to_external(sip::ViaSentBy(text, h.value), true);
          }
          first_via = false;
          break;
        case HeaderKind::kContact:
        case HeaderKind::kRecordRoute:
        case HeaderKind::kRoute:
          for (const Span& v : sip::Values(text, h.value)) {
            to_external(sip::UriHostPort(text, v), true);
          }
          break;
        case HeaderKind::kFrom:
        case HeaderKind::kTo:
          to_external(sip::UriHostPort(text, h.value), false);
          break;
        default:
          break;
      }
    }
    body_edits_from = edits.size();
    if (auto sdp = sip::ParseSdp(text, m->body)) {
      RewriteSdp(msg, *sdp, in_addr, ext_addr, &edits);
    }
  } else {
    // Toward the phone: our external endpoint back to its own.
    if (m->request) {
      to_inside(sip::UriHostPort(text, m->request_uri));
    } else if (const sip::Header* via = m->Find(HeaderKind::kVia)) {
      to_inside(sip::ViaSentBy(text, via->value));
    }
    // Its Contact as the registrar lists it (and a 3xx names it back).
    for (const sip::Header& h : m->headers) {
      if (h.kind != HeaderKind::kContact || m->request) continue;
      for (const Span& v : sip::Values(text, h.value)) {
        to_inside(sip::UriHostPort(text, v));
      }
    }
    body_edits_from = edits.size();
    PeerMedia(msg);
  }
  if (edits.empty()) return;
  // Content-Length follows the body's edits.
  if (m->has_content_length && body_edits_from < edits.size()) {
    int64_t body = static_cast<int64_t>(m->body.length);
    for (size_t i = body_edits_from; i < edits.size(); ++i) {
      body += static_cast<int64_t>(edits[i].text.size()) -
              static_cast<int64_t>(edits[i].length);
    }
    const sip::Header* cl = m->Find(HeaderKind::kContentLength);
    edits.push_back({cl->value.offset, cl->value.length, std::to_string(body)});
  }
}

void SipHelper::RewriteSdp(Message& msg, const sip::Sdp& sdp,
                           const std::string& in_addr,
                           const std::string& ext_addr,
                           std::vector<SipEdit>* edits_out) {
  std::vector<SipEdit>& edits = *edits_out;
  const std::string_view text = msg.text;
  const FlowInfo& flow = msg.flow;
  auto addr_edit = [&](const Span& s) {
    if (s.length != 0 && s.of(text) == in_addr) {
      edits.push_back({s.offset, s.length, ext_addr});
    }
  };
  addr_edit(sdp.origin_addr);
  addr_edit(sdp.connection_addr);
  msg.dialog = FindDialog(msg, /*create=*/true);
  SipDialogRec* d = msg.dialog;
  // This offer's (or answer's) media; what an earlier one of the call had
  // and this one no longer has is withdrawn after.
  SipMediaRec now[kMaxMedia] = {};
  uint8_t now_count = 0;
  for (const sip::SdpMedia& md : sdp.media) {
    addr_edit(md.connection_addr);
    addr_edit(md.rtcp_addr);
    const Span& c =
        md.connection_addr.length ? md.connection_addr : sdp.connection_addr;
    if (md.port_value == 0 || c.of(text) != in_addr) continue;
    const uint16_t in_rtcp = md.rtcp_port_value
                                 ? md.rtcp_port_value
                                 : static_cast<uint16_t>(md.port_value + 1);
    SipMediaRec rec{};
    const SipMediaRec* known = nullptr;
    for (uint8_t i = 0; d != nullptr && i < d->media_count; ++i) {
      if (d->media[i].in_rtp == md.port_value &&
          d->media[i].in_rtcp == in_rtcp) {
        known = &d->media[i];
      }
    }
    if (known != nullptr) {
      rec = *known;  // a retransmission or an unchanged re-offer
    } else {
      if (!ExpectMedia(msg, md.port_value, in_rtcp, flow.remote_addr, &rec)) {
        continue;
      }
      // The peer's offer named where its media comes from.
      if (d != nullptr && d->remote_media != 0 &&
          d->remote_media != flow.remote_addr) {
        SipMediaRec also;
        if (ExpectMedia(msg, md.port_value, in_rtcp, d->remote_media, &also)) {
          stats_.media_remote++;
        }
      }
    }
    if (now_count < kMaxMedia) now[now_count++] = rec;
    const uint16_t rtp = rec.ext_rtp, rtcp = rec.ext_rtcp;
    edits.push_back({md.port.offset, md.port.length, std::to_string(rtp)});
    if (md.rtcp_port.length != 0 && rtcp != 0) {
      edits.push_back(
          {md.rtcp_port.offset, md.rtcp_port.length, std::to_string(rtcp)});
    } else if (md.rtcp_port.length == 0 && rtcp != 0 && rtcp != rtp + 1) {
      // RFC 3605: name the RTCP port that is not RTP + 1.
      size_t eol = text.find('\n', md.port.offset);
      eol = eol == std::string_view::npos ? msg.m.body.end() : eol + 1;
      eol = std::min(eol, msg.m.body.end());
      edits.push_back({eol, 0, absl::StrCat("a=rtcp:", rtcp, "\r\n")});
    }
  }
  if (d == nullptr) return;
  // A re-INVITE that moved or dropped a stream: its old ports go.
  for (uint8_t i = 0; i < d->media_count; ++i) {
    bool kept = false;
    for (uint8_t j = 0; j < now_count; ++j) {
      kept |= now[j].ext_rtp == d->media[i].ext_rtp;
    }
    if (!kept) Withdraw(msg.ctx, d->media[i]);
  }
  std::copy(now, now + now_count, d->media);
  d->media_count = now_count;
}

void SipHelper::Apply(HelperContext& ctx, std::vector<SipEdit>& edits) {
  if (edits.empty()) return;
  // The whole payload anew, then one replacement: a message is rewritten
  // entirely or (the packet could not grow, its checksum was bad) not at
  // all, never in part.
  const std::span<uint8_t> payload = ctx.Payload();
  const std::string_view old(reinterpret_cast<const char*>(payload.data()),
                             payload.size());
  std::string out;
  if (!ApplyEdits(old, edits, &out)) {
    stats_.edit_errors++;  // overlapping edits: a bug, not the input's
    return;
  }
  Replace(ctx, out, edits.size());
}

void SipHelper::Replace(HelperContext& ctx, std::string_view payload,
                        size_t fields) {
  if (!ctx.ReplacePayload(0, ctx.Payload().size(), payload).ok()) {
    stats_.edit_errors++;
    return;
  }
  if (fields != 0) {
    stats_.fields += fields;
    stats_.rewritten++;
  }
}

void SipHelper::SetOption(std::string_view option, uint32_t value) {
  if (option == "media_timeout_s") options_.media_timeout_s = value;
  if (option == "max_registration_s") options_.max_registration_s = value;
  if (option == "dialog_hold_s") options_.dialog_hold_s = value;
}

ExpectationPolicy SipHelper::expectation_policy() const {
  ExpectationPolicy p = SipEntry().expectations;
  // Media expectations ask for media_timeout_s; a registered phone's
  // listening port for its registration.
  p.max_timeout_s = std::max(options_.media_timeout_s,
                             options_.max_registration_s + kRegistrationGraceS);
  p.max_hold_s = std::max(options_.max_registration_s + kRegistrationGraceS,
                          options_.dialog_hold_s);
  return p;
}

void SipHelper::ForEachCounter(const CounterFn& fn) const {
  fn("messages", stats_.messages);
  fn("rewritten", stats_.rewritten);
  fn("fields", stats_.fields);
  fn("media", stats_.media);
  fn("media_fallback", stats_.media_fallback);
  fn("media_remote", stats_.media_remote);
  fn("expect_failed", stats_.expect_failed);
  fn("listening_ports", stats_.listening_ports);
  fn("media_withdrawn", stats_.media_withdrawn);
  fn("dialogs", stats_.dialogs);
  fn("dialogs_ended", stats_.dialogs_ended);
  fn("dialogs_evicted", stats_.dialogs_evicted);
  fn("registrations", stats_.registrations);
  fn("unregistrations", stats_.unregistrations);
  fn("parse_failures", stats_.parse_failures + stats_.tcp.parse_failures);
  fn("edit_errors", stats_.edit_errors + stats_.tcp.edit_errors);
  fn("tcp_held", stats_.tcp.held);
  fn("tcp_reassembled", stats_.tcp.reassembled);
  fn("tcp_split_unedited", stats_.tcp.split_unedited);
  fn("tcp_hold_overflows", stats_.tcp.hold_overflows);
  fn("tcp_retransmits", stats_.tcp.retransmits);
  fn("tcp_old_passed", stats_.tcp.old_passed);
  fn("tcp_resent_held", stats_.tcp.resent_held);
  fn("tcp_unsafe_drops", stats_.tcp.unsafe_drops);
  fn("tcp_gap_drops", stats_.tcp.gap_drops);
  fn("tcp_corrupt", stats_.tcp.corrupt);
}

const HelperEntry& SipEntry() {
  // Media from the signalling peer's address and from the media address
  // of the peer's SDP: up to four expectations an m= line, a few calls at
  // once on a phone's path to its proxy. A registration holds that path.
  static const HelperEntry entry = [] {
    HelperEntry e = EntryOf<SipHelper>(
        "sip", kProtoUdp, {5060},
        {.max_per_master = 32,
         // A registered phone's listening port: its registration.
         .max_timeout_s = std::max(SipHelper::Options{}.media_timeout_s,
                                   SipHelper::Options{}.max_registration_s +
                                       SipHelper::kRegistrationGraceS),
         .allow_any_remote = false,
         .max_hold_s = std::max(SipHelper::Options{}.max_registration_s +
                                    SipHelper::kRegistrationGraceS,
                                SipHelper::Options{}.dialog_hold_s)});
    e.also_proto = kProtoTcp;  // the same ports over TCP (RFC 3261 18)
    const SipHelper::Options d;
    e.options = {{"media_timeout_s", d.media_timeout_s, 10, 3600},
                 {"max_registration_s", d.max_registration_s, 60, 86400},
                 {"dialog_hold_s", d.dialog_hold_s, 60, 86400}};
    e.configure = [](PacketHelper& h, std::string_view option, uint32_t v) {
      static_cast<SipHelper&>(h).SetOption(option, v);
    };
    return e;
  }();
  return entry;
}

}  // namespace unat::helpers
