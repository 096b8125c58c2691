#include "helpers/h323.h"

#include <algorithm>
#include <type_traits>

#include "engine/checksum.h"
#include "engine/wire.h"
#include "helpers/flow_state.h"

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

// Where a direction of a TPKT stream (RFC 1006) is: the rest of a message
// passing unedited, or the first octets of a TPKT header a segment cut.
struct TpktState {
  uint32_t skip;  // octets of the current message still to pass
  uint8_t hdr[kTpktHeader];
  uint8_t hdr_have;
  uint8_t desync;  // not TPKT: the rest of the stream passes
};
struct TpktSnapshot {
  uint32_t seq;
  TpktState state;  // as the segment starting at seq found it
  uint8_t valid;
};
struct TpktDir {
  uint32_t next;  // the next sequence number expected
  uint8_t init;
  uint8_t snap_next;
  TpktState state;
  TpktSnapshot snap[H323Helper::kSnapshots];
};
struct H323Flow {
  TpktDir dir[2];  // by the side the data comes from
  // RAS: the inside endpoint's call signalling port as mapped for the
  // gatekeeper's connections, and until when (seconds of now()).
  uint16_t cs_in, cs_ext;
  uint32_t cs_until_s;
};
static_assert(std::is_trivially_copyable_v<H323Flow>);

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

bool H323Helper::OnStream(HelperContext& ctx, const FlowInfo& flow, Side from,
                          Ipv4View& ip, L4View& l4, bool h245) {
  const uint8_t flags = l4.tcp_flags();
  const uint32_t seq = l4.tcp_seq();
  H323Flow st = LoadFlowRecord<H323Flow>(ctx.FlowState());
  TpktDir& d = st.dir[static_cast<int>(from)];
  if (flags & tcp_flags::kSyn) {
    d = TpktDir{};
    d.init = 1;
    d.next = seq + 1;
    StoreFlowRecord(ctx.FlowState(), st);
    return true;
  }
  std::span<uint8_t> payload = ctx.Payload();
  if (payload.empty()) return true;
  if (TransportChecksum(ip.src(), ip.dst(), kProtoTcp,
                        {l4.data(), l4.size()}) != 0) {
    stats_.corrupt++;  // the receiver drops it; its retransmission counts
    return true;
  }
  if (!d.init) {
    // Joined mid-stream: nothing says where a message starts.
    d.init = 1;
    d.next = seq;
    d.state = TpktState{};
    d.state.desync = 1;
  }
  const size_t len = payload.size();
  const int64_t rel = SeqNum(seq) - SeqNum(d.next);
  if (rel > 0) {
    if (d.state.desync) return true;
    stats_.gap_drops++;  // every octet must be seen in order
    return false;
  }
  TpktState ts = d.state;
  bool replay = false;
  if (rel < 0) {
    const TpktSnapshot* snap = nullptr;
    for (const TpktSnapshot& sn : d.snap) {
      if (sn.valid && sn.seq == seq) snap = &sn;
    }
    if (snap != nullptr) {
      // A recent segment sent again: decoded again from where it started,
      // so it goes out as it did (same rewrites).
      ts = snap->state;
      replay = true;
      stats_.retransmits++;
    } else if (static_cast<uint64_t>(-rel) >= len) {
      return true;  // older data, not at a known boundary
    } else {
      stats_.unsafe_drops++;  // old and new octets mixed: sent again
      return false;
    }
  } else {
    TpktSnapshot& sn = d.snap[d.snap_next];
    d.snap_next = static_cast<uint8_t>((d.snap_next + 1) % kSnapshots);
    sn = TpktSnapshot{seq, ts, 1};
  }
  size_t pos = 0;
  while (pos < len && !ts.desync) {
    if (ts.skip != 0) {
      const size_t n = std::min<size_t>(ts.skip, len - pos);
      ts.skip -= static_cast<uint32_t>(n);
      pos += n;
      continue;
    }
    // A TPKT header: version 3, reserved 0, the length with the header.
    const bool continued = ts.hdr_have != 0;
    while (ts.hdr_have < kTpktHeader && pos < len) {
      ts.hdr[ts.hdr_have++] = payload[pos++];
    }
    if (ts.hdr_have < kTpktHeader) break;  // the header goes on next time
    ts.hdr_have = 0;
    const size_t msg_len = (size_t{ts.hdr[2]} << 8) | ts.hdr[3];
    if (ts.hdr[0] != 3 || ts.hdr[1] != 0 || msg_len < kTpktHeader + 1) {
      stats_.bad_tpkt++;
      ts.desync = 1;
      break;
    }
    const size_t body_len = msg_len - kTpktHeader;
    if (continued || len - pos < body_len) {
      // Cut by a segment boundary: what went out cannot be edited.
      stats_.split_unedited++;
      ts.skip = static_cast<uint32_t>(body_len);
      continue;
    }
    const std::span<const uint8_t> body(payload.data() + pos, body_len);
    pos += body_len;
    Found found;
    Result r = Result::kOk;
    if (h245) {
      r = h323::DecodeH245(body, payload.data(), found);
      if (r == Result::kOk) stats_.h245_messages++;
    } else {
      h323::Q931View q;
      if (!h323::ParseQ931(body, q)) {
        stats_.bad_tpkt++;
        continue;  // a bad Q.931 message: the next one may be good
      }
      if (q.user_information.empty()) continue;
      r = h323::DecodeUserInformation(q.user_information, payload.data(),
                                      found);
    }
    Count(r);
    if (r == Result::kOk && from == Side::kInside) {
      Rewrite(ctx, flow, found);
      payload = ctx.Payload();  // (same length: the offsets hold)
    }
  }
  const uint32_t end = seq + static_cast<uint32_t>(len);
  if (!replay || SeqNum(end) > SeqNum(d.next)) {
    d.state = ts;
    if (SeqNum(end) > SeqNum(d.next)) d.next = end;
  }
  StoreFlowRecord(ctx.FlowState(), st);
  return true;
}

void H323Helper::OnRas(HelperContext& ctx, const FlowInfo& flow, Side from) {
  const std::span<uint8_t> payload = ctx.Payload();
  Found found;
  const Result r = h323::DecodeRas(payload, payload.data(), found);
  Count(r);
  if (r != Result::kOk) return;
  stats_.ras_messages++;
  if (from != Side::kInside) return;
  Rewrite(ctx, flow, found);
}

void H323Helper::Rewrite(HelperContext& ctx, const FlowInfo& flow,
                         const Found& found) {
  H323Flow st = LoadFlowRecord<H323Flow>(ctx.FlowState());
  const uint32_t now_s = NowS(ctx);
  ExternalEndpoint out[h323::kMaxAddresses] = {};
  bool done[h323::kMaxAddresses] = {};
  auto expect = [&](uint8_t proto, uint16_t port, uint32_t timeout_s,
                    PacketHelper* helper) -> absl::StatusOr<ExternalEndpoint> {
    ExpectationSpec spec;
    spec.proto = proto;
    spec.remote_addr = flow.remote_addr;
    spec.inside_addr = flow.inside_addr;
    spec.inside_port = port;
    spec.timeout_s = timeout_s;
    spec.helper = helper;
    return ctx.Expect(spec);
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
      case Field::kH245Address: {
        auto ep = expect(kProtoTcp, a.port, options_.media_timeout_s, &h245_);
        if (!ep.ok()) {
          stats_.expect_failed++;
          continue;
        }
        stats_.h245_channels++;
        out[i] = *ep;
        break;
      }
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
        ExpectationSpec spec;
        spec.proto = kProtoUdp;
        spec.remote_addr = flow.remote_addr;
        spec.inside_addr = flow.inside_addr;
        spec.inside_port = a.port;
        spec.timeout_s = options_.media_timeout_s;
        if (rtcp >= 0) {
          if (auto ep = ctx.ExpectPair(spec); ep.ok()) {
            out[i] = *ep;
            out[rtcp] = {ep->addr, static_cast<uint16_t>(ep->port + 1)};
            done[rtcp] = true;
            stats_.media++;
            break;
          }
        }
        auto ep = ctx.Expect(spec);
        if (!ep.ok()) {
          stats_.expect_failed++;
          continue;
        }
        stats_.media++;
        out[i] = *ep;
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
        auto ep = expect(kProtoTcp, a.port, ttl + kRegistrationGraceS, this);
        if (!ep.ok()) {
          stats_.expect_failed++;
          st.cs_ext = 0;
          continue;
        }
        stats_.call_signal++;
        st.cs_in = a.port;
        st.cs_ext = ep->port;
        st.cs_until_s = now_s + ttl + kRegistrationGraceS;
        out[i] = *ep;
        break;
      }
      case Field::kRas:
      case Field::kReply: {
        if (a.port == flow.inside_port) {
          out[i] = {flow.external_addr, flow.external_port};
          break;
        }
        auto ep = expect(kProtoUdp, a.port, ttl + kRegistrationGraceS, nullptr);
        if (!ep.ok()) {
          stats_.expect_failed++;
          continue;
        }
        out[i] = *ep;
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
  int edited = 0;
  for (int i = 0; i < found.count; ++i) {
    if (!done[i]) continue;
    const AddressRef& a = found.refs[i];
    const uint8_t bytes[6] = {static_cast<uint8_t>(out[i].addr >> 24),
                              static_cast<uint8_t>(out[i].addr >> 16),
                              static_cast<uint8_t>(out[i].addr >> 8),
                              static_cast<uint8_t>(out[i].addr),
                              static_cast<uint8_t>(out[i].port >> 8),
                              static_cast<uint8_t>(out[i].port)};
    const std::span<uint8_t> payload = ctx.Payload();
    if (a.offset + 6 > payload.size()) continue;
    if (std::equal(bytes, bytes + 6, payload.begin() + a.offset)) continue;
    if (!ctx.ReplacePayload(
                a.offset, 6,
                std::string_view(reinterpret_cast<const char*>(bytes), 6))
             .ok()) {
      stats_.edit_errors++;
      continue;
    }
    ++edited;
  }
  if (edited != 0) {
    stats_.rewritten++;
    stats_.addresses += static_cast<uint64_t>(edited);
  }
  StoreFlowRecord(ctx.FlowState(), st);
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
  fn("media", stats_.media);
  fn("call_signal", stats_.call_signal);
  fn("expect_failed", stats_.expect_failed);
  fn("malformed", stats_.malformed);
  fn("unsupported", stats_.unsupported);
  fn("too_many", stats_.too_many);
  fn("bad_tpkt", stats_.bad_tpkt);
  fn("split_unedited", stats_.split_unedited);
  fn("gap_drops", stats_.gap_drops);
  fn("unsafe_drops", stats_.unsafe_drops);
  fn("retransmits", stats_.retransmits);
  fn("corrupt", stats_.corrupt);
  fn("edit_errors", stats_.edit_errors);
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
