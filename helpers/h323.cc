#include "helpers/h323.h"

#include <algorithm>
#include <type_traits>

#include "helpers/flow_state.h"
#include "helpers/tcp_messages.h"

namespace unat::helpers {

namespace {

using h323::AddressRef;
using h323::Field;
using h323::Found;
using h323::Message;
using h323::Result;

constexpr uint16_t kQ931Port = 1720;
constexpr uint16_t kRasPort = 1719;
constexpr size_t kTpktHeader = 4;

}  // namespace

// What the helper keeps per flow (FlowState): a call signalling or H.245
// connection's TPKT stream each way (its held bytes follow the record), a
// RAS flow's registered call signalling port.
struct H323Flow {
  MessageStreamDir dir[2];  // by the side the data comes from
  // RAS: the inside endpoint's call signalling port as mapped for the
  // gatekeeper's connections, and until when (seconds of now()).
  uint16_t cs_in, cs_ext;
  uint32_t cs_until_s;
};
static_assert(std::is_trivially_copyable_v<H323Flow>);

namespace {

uint32_t NowS(const HelperContext& ctx) {
  return static_cast<uint32_t>(ctx.now() / 1000);
}

}  // namespace

bool H245Helper::OnPacket(HelperContext& ctx, const FlowInfo& flow, Side from,
                          Ipv4View& ip, L4View& l4) {
  if (flow.proto != kProtoTcp) return true;
  return owner_.OnStream(ctx, flow, from, ip, l4, /*h245=*/true);
}

ExpectationPolicy H245Helper::expectation_policy() const {
  return owner_.expectation_policy();
}

bool H323Helper::OnPacket(HelperContext& ctx, const FlowInfo& flow, Side from,
                          Ipv4View& ip, L4View& l4) {
  if (flow.proto == kProtoUdp) {
    if (!ctx.Payload().empty()) OnRas(ctx, flow, from);
    return true;
  }
  if (flow.proto != kProtoTcp) return true;
  return OnStream(ctx, flow, from, ip, l4, /*h245=*/false);
}

void H323Helper::Count(Result r) {
  switch (r) {
    case Result::kOk:
      stats_.messages++;
      break;
    case Result::kMalformed:
      stats_.malformed++;
      break;
    case Result::kUnsupported:
      stats_.unsupported++;
      break;
    case Result::kTooMany:
      stats_.too_many++;
      break;
  }
}

// The H.323 side of a TCP stream: TPKT framing (RFC 1006: version 3, a
// reserved octet, the length with the header), then one Q.931 message or
// one H.245 message.
class H323Helper::TpktParser : public MessageStreamParser {
 public:
  TpktParser(H323Helper& h, HelperContext& ctx, const FlowInfo& flow, Side from,
             bool h245, H323Flow& st)
      : h_(h), ctx_(ctx), flow_(flow), from_(from), h245_(h245), st_(st) {}
  Frame Next(std::string_view rest) override {
    if (rest.size() < kTpktHeader) return {Frame::kIncomplete, 0};
    const auto* p = reinterpret_cast<const uint8_t*>(rest.data());
    const size_t len = (size_t{p[2]} << 8) | p[3];
    if (p[0] != 3 || p[1] != 0 || len < kTpktHeader + 1) {
      return {Frame::kBad, 0};
    }
    if (rest.size() < len) return {Frame::kIncomplete, len};
    return {Frame::kMessage, len};
  }
  void OnMessage(std::string_view message, size_t base,
                 std::vector<StreamEdit>* edits) override {
    const std::span<const uint8_t> m(
        reinterpret_cast<const uint8_t*>(message.data()), message.size());
    const std::span<const uint8_t> body = m.subspan(kTpktHeader);
    Found found;
    Result r;
    if (h245_) {
      r = h323::DecodeH245(body, m.data(), found);
      if (r == Result::kOk) h_.stats_.h245_messages++;
    } else {
      h323::Q931View q;
      if (!h323::ParseQ931(body, q)) {
        h_.stats_.bad_q931++;  // the next message may be good
        return;
      }
      if (q.user_information.empty()) return;
      r = h323::DecodeUserInformation(q.user_information, m.data(), found);
    }
    h_.Count(r);
    if (r == Result::kOk && from_ == Side::kOutside) h_.PeerH245(ctx_, found);
    if (r == Result::kOk && from_ == Side::kInside) {
      const size_t before = edits->size();
      h_.Rewrite(ctx_, flow_, found, st_, message, base, edits);
      if (edits->size() != before) rewritten_++;
    }
  }
  uint64_t rewritten() const { return rewritten_; }

 private:
  H323Helper& h_;
  HelperContext& ctx_;
  const FlowInfo& flow_;
  Side from_;
  bool h245_;
  H323Flow& st_;
  uint64_t rewritten_ = 0;  // messages given edits
};

bool H323Helper::OnStream(HelperContext& ctx, const FlowInfo& flow, Side from,
                          Ipv4View& ip, L4View& l4, bool h245) {
  H323Flow st = LoadFlowRecord<H323Flow>(ctx.FlowState());
  TpktParser parser(*this, ctx, flow, from, h245, st);
  const SegmentResult r = FeedSegment(
      ctx, ip, l4, from, st.dir[static_cast<int>(from)],
      {.max_held = kMaxHeld, .slots_at = sizeof(H323Flow)}, stats_.tcp, parser);
  StoreFlowRecord(ctx.FlowState(), st);
  if (r.edits != 0) {
    stats_.rewritten += parser.rewritten();
    stats_.addresses += r.edits;
  }
  return r.forward;
}

void H323Helper::PeerH245(HelperContext& ctx, const Found& found) {
  for (int i = 0; i < found.count; ++i) {
    const AddressRef& a = found.refs[i];
    if (a.field != Field::kH245Address) continue;
    // The inside endpoint will connect there: that connection gets the
    // H.245 helper, so the OpenLogicalChannel(Ack)s it sends are
    // rewritten as on a connection from outside.
    if (ctx.ExpectOutbound(kProtoTcp, a.addr, a.port, options_.media_timeout_s,
                           &h245_)
            .ok()) {
      stats_.h245_outbound++;
    } else {
      stats_.expect_failed++;
    }
  }
}

void H323Helper::OnRas(HelperContext& ctx, const FlowInfo& flow, Side from) {
  const std::span<uint8_t> payload = ctx.Payload();
  Found found;
  const Result r = h323::DecodeRas(payload, payload.data(), found);
  Count(r);
  if (r != Result::kOk) return;
  stats_.ras_messages++;
  if (from != Side::kInside) return;
  H323Flow st = LoadFlowRecord<H323Flow>(ctx.FlowState());
  const std::string_view text(reinterpret_cast<const char*>(payload.data()),
                              payload.size());
  std::vector<StreamEdit> edits;
  Rewrite(ctx, flow, found, st, text, 0, &edits);
  StoreFlowRecord(ctx.FlowState(), st);
  if (edits.empty()) return;
  std::string out;
  if (!ApplyEdits(text, edits, &out) ||
      !ctx.ReplacePayload(0, payload.size(), out).ok()) {
    stats_.edit_errors++;
    return;
  }
  stats_.rewritten++;
  stats_.addresses += edits.size();
}

void H323Helper::Rewrite(HelperContext& ctx, const FlowInfo& flow,
                         const Found& found, H323Flow& st,
                         std::string_view message, size_t base,
                         std::vector<StreamEdit>* edits) {
  const uint32_t now_s = NowS(ctx);
  ExternalEndpoint out[h323::kMaxAddresses] = {};
  bool done[h323::kMaxAddresses] = {};
  // Expectations admit the peer (any port) to an inside port.
  auto spec_for = [&](uint8_t proto, uint16_t port, uint32_t timeout_s,
                      PacketHelper* helper) {
    ExpectationSpec spec;
    spec.proto = proto;
    spec.remote_addr = flow.remote_addr;
    spec.inside_addr = flow.inside_addr;
    spec.inside_port = port;
    spec.timeout_s = timeout_s;
    spec.helper = helper;
    return spec;
  };
  // Address i becomes the expectation's external endpoint (counted), or
  // stays when the engine refused it.
  auto take = [&](int i, const absl::StatusOr<ExternalEndpoint>& ep,
                  uint64_t& counter) {
    if (!ep.ok()) {
      stats_.expect_failed++;
      return false;
    }
    out[i] = *ep;
    ++counter;
    return true;
  };
  // A registration's lifetime: the RRQ's timeToLive, else the default.
  const uint32_t ttl =
      found.time_to_live != 0
          ? std::min(found.time_to_live, options_.registration_s)
          : options_.registration_s;
  for (int i = 0; i < found.count; ++i) {
    const AddressRef& a = found.refs[i];
    if (done[i] || a.addr != flow.inside_addr) continue;
    switch (a.field) {
      case Field::kH245Address:
        if (!take(i,
                  ctx.Expect(spec_for(kProtoTcp, a.port,
                                      options_.media_timeout_s, &h245_)),
                  stats_.h245_channels)) {
          continue;
        }
        break;
      case Field::kSourceCallSignal:
        out[i] = {flow.external_addr, flow.external_port};
        break;
      case Field::kMediaChannel:
      case Field::kMediaControlChannel: {
        // The channel's other address, when it is the next port: one pair.
        int rtcp = -1;
        if (a.field == Field::kMediaChannel && a.channel != 0) {
          for (int j = 0; j < found.count; ++j) {
            const AddressRef& b = found.refs[j];
            if (b.field == Field::kMediaControlChannel &&
                b.channel == a.channel && b.addr == a.addr &&
                b.port == a.port + 1 && !done[j]) {
              rtcp = j;
            }
          }
        }
        const ExpectationSpec spec =
            spec_for(kProtoUdp, a.port, options_.media_timeout_s, nullptr);
        if (rtcp >= 0) {
          if (auto ep = ctx.ExpectPair(spec); ep.ok()) {
            out[i] = *ep;
            out[rtcp] = {ep->addr, static_cast<uint16_t>(ep->port + 1)};
            done[rtcp] = true;
            stats_.media++;
            break;
          }
        }
        if (!take(i, ctx.Expect(spec), stats_.media)) continue;
        break;
      }
      case Field::kCallSignal:
      case Field::kSrcCallSignal: {
        // The gatekeeper (or who it hands the call to from its address)
        // calls the endpoint here while it is registered.
        const bool rrq = found.message == Message::kRrq;
        if (!rrq && st.cs_in == a.port && st.cs_ext != 0 &&
            now_s < st.cs_until_s) {
          out[i] = {flow.external_addr, st.cs_ext};
          break;
        }
        if (st.cs_ext != 0) ctx.Unexpect(kProtoTcp, st.cs_ext);
        st.cs_ext = 0;
        if (!take(i,
                  ctx.Expect(spec_for(kProtoTcp, a.port,
                                      ttl + kRegistrationGraceS, this)),
                  stats_.call_signal)) {
          continue;
        }
        st.cs_in = a.port;
        st.cs_ext = out[i].port;
        st.cs_until_s = now_s + ttl + kRegistrationGraceS;
        break;
      }
      case Field::kRas:
      case Field::kReply: {
        if (a.port == flow.inside_port) {
          out[i] = {flow.external_addr, flow.external_port};
          break;
        }
        uint64_t unused = 0;
        if (!take(i,
                  ctx.Expect(spec_for(kProtoUdp, a.port,
                                      ttl + kRegistrationGraceS, nullptr)),
                  unused)) {
          continue;
        }
        break;
      }
      case Field::kDestCallSignal:
        continue;  // names the called side
    }
    done[i] = true;
  }
  if (found.message == Message::kRrq) {
    // The gatekeeper's RAS messages (IRQ, URQ, ...) reach the endpoint
    // while it is registered.
    (void)ctx.HoldFlow(ttl + kRegistrationGraceS);
  }
  for (int i = 0; i < found.count; ++i) {
    if (!done[i]) continue;
    const AddressRef& a = found.refs[i];
    const char bytes[6] = {static_cast<char>(out[i].addr >> 24),
                           static_cast<char>(out[i].addr >> 16),
                           static_cast<char>(out[i].addr >> 8),
                           static_cast<char>(out[i].addr),
                           static_cast<char>(out[i].port >> 8),
                           static_cast<char>(out[i].port)};
    if (a.offset + 6 > message.size()) continue;
    const std::string_view now_bytes = message.substr(a.offset, 6);
    if (now_bytes == std::string_view(bytes, 6)) continue;
    edits->push_back({base + a.offset, 6, std::string(bytes, 6)});
  }
}

void H323Helper::SetOption(std::string_view option, uint32_t value) {
  if (option == "media_timeout_s") options_.media_timeout_s = value;
  if (option == "registration_s") options_.registration_s = value;
}

ExpectationPolicy H323Helper::expectation_policy() const {
  ExpectationPolicy p = H323Entry().expectations;
  p.max_timeout_s = std::max(options_.media_timeout_s,
                             options_.registration_s + kRegistrationGraceS);
  p.max_hold_s = options_.registration_s + kRegistrationGraceS;
  return p;
}

void H323Helper::ForEachCounter(const CounterFn& fn) const {
  fn("messages", stats_.messages);
  fn("h245_messages", stats_.h245_messages);
  fn("ras_messages", stats_.ras_messages);
  fn("rewritten", stats_.rewritten);
  fn("addresses", stats_.addresses);
  fn("h245_channels", stats_.h245_channels);
  fn("h245_outbound", stats_.h245_outbound);
  fn("media", stats_.media);
  fn("call_signal", stats_.call_signal);
  fn("expect_failed", stats_.expect_failed);
  fn("malformed", stats_.malformed);
  fn("unsupported", stats_.unsupported);
  fn("too_many", stats_.too_many);
  fn("bad_tpkt", stats_.tcp.parse_failures);
  fn("bad_q931", stats_.bad_q931);
  fn("held", stats_.tcp.held);
  fn("reassembled", stats_.tcp.reassembled);
  fn("split_unedited", stats_.tcp.split_unedited);
  fn("hold_overflows", stats_.tcp.hold_overflows);
  fn("retransmits", stats_.tcp.retransmits);
  fn("old_passed", stats_.tcp.old_passed);
  fn("resent_held", stats_.tcp.resent_held);
  fn("unsafe_drops", stats_.tcp.unsafe_drops);
  fn("gap_drops", stats_.tcp.gap_drops);
  fn("corrupt", stats_.tcp.corrupt);
  fn("edit_errors", stats_.edit_errors + stats_.tcp.edit_errors);
}

const HelperEntry& H323Entry() {
  static const HelperEntry entry = [] {
    HelperEntry e = EntryOf<H323Helper>(
        "h323", kProtoTcp, {kQ931Port, kRasPort},
        {// A call's H.245 channel and a few logical channels' RTP/RTCP.
         .max_per_master = 16,
         .max_timeout_s = H323Helper::Options{}.registration_s +
                          H323Helper::kRegistrationGraceS,
         .allow_any_remote = false,
         .max_hold_s = H323Helper::Options{}.registration_s +
                       H323Helper::kRegistrationGraceS});
    // RAS on UDP (1719); the helper tells the two apart by protocol.
    e.also_proto = kProtoUdp;
    const H323Helper::Options d;
    e.options = {{"media_timeout_s", d.media_timeout_s, 10, 3600},
                 {"registration_s", d.registration_s, 60, 86400}};
    e.configure = [](PacketHelper& h, std::string_view option, uint32_t v) {
      static_cast<H323Helper&>(h).SetOption(option, v);
    };
    e.companion = [](PacketHelper& h) -> PacketHelper* {
      return &static_cast<H323Helper&>(h).h245();
    };
    return e;
  }();
  return entry;
}

}  // namespace unat::helpers
