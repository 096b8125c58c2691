#include "helpers/sip.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/nat.h"
#include "helpers/sip_message.h"

namespace unat::helpers {

namespace {

using sip::HeaderKind;
using sip::HostPort;
using sip::Span;

struct Edit {
  size_t offset;
  size_t length;
  std::string text;
};

// Rewrites host[:port] `hp` (in `text`) from (from_host, from_port) to
// (to_host, to_port) when its host is from_host and its port is from_port
// (or absent, meaning `default_port`). `port_too`: the port is rewritten
// (or added) as well; otherwise only the host.
bool RewriteHostPort(std::string_view text, const HostPort& hp,
                     std::string_view from_host, uint16_t from_port,
                     std::string_view to_host, uint16_t to_port, bool port_too,
                     std::vector<Edit>* edits) {
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

}  // namespace

bool SipHelper::OnPacket(HelperContext& ctx, const FlowInfo& flow, Side from,
                         Ipv4View&, L4View&) {
  if (flow.proto != kProtoUdp) {
    stats_.not_udp++;
    return true;
  }
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
  stats_.messages++;
  const std::string in_addr = Ipv4ToString(flow.inside_addr);
  const std::string ext_addr = Ipv4ToString(flow.external_addr);
  std::vector<Edit> edits;
  size_t body_edits_from = 0;  // edits[body_edits_from..] are in the body
  // The phone's endpoint as the outside sees it (and back), where hp names
  // it; `port_too`: the signalling port as well as the host.
  auto to_external = [&](std::optional<HostPort> hp, bool port_too) {
    if (hp) {
      RewriteHostPort(text, *hp, in_addr, flow.inside_port, ext_addr,
                      flow.external_port, port_too, &edits);
    }
  };
  auto to_inside = [&](std::optional<HostPort> hp) {
    if (hp) {
      RewriteHostPort(text, *hp, ext_addr, flow.external_port, in_addr,
                      flow.inside_port, true, &edits);
    }
  };
  if (from == Side::kInside) {
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
          to_external(sip::UriHostPort(text, h.value), true);
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
      auto addr_edit = [&](const Span& s) {
        if (s.length != 0 && s.of(text) == in_addr) {
          edits.push_back({s.offset, s.length, ext_addr});
        }
      };
      addr_edit(sdp->origin_addr);
      addr_edit(sdp->connection_addr);
      for (const sip::SdpMedia& md : sdp->media) {
        addr_edit(md.connection_addr);
        addr_edit(md.rtcp_addr);
        const Span& c = md.connection_addr.length ? md.connection_addr
                                                  : sdp->connection_addr;
        if (md.port_value == 0 || c.of(text) != in_addr) continue;
        ExpectationSpec spec;
        spec.proto = kProtoUdp;
        spec.remote_addr = flow.remote_addr;
        spec.inside_addr = flow.inside_addr;
        spec.inside_port = md.port_value;
        spec.timeout_s = options_.media_timeout_s;
        uint16_t rtp = 0, rtcp = 0;
        if (auto ep = ctx.ExpectPair(spec); ep.ok()) {
          rtp = ep->port;
          rtcp = static_cast<uint16_t>(ep->port + 1);
          stats_.media++;
        } else {
          // Two single expectations: RTCP then needs its own a=rtcp: port.
          auto a = ctx.Expect(spec);
          ExpectationSpec next = spec;
          next.inside_port =
              md.rtcp_port_value ? md.rtcp_port_value : md.port_value + 1;
          auto b = ctx.Expect(next);
          if (!a.ok()) {
            stats_.expect_failed++;
            continue;
          }
          rtp = a->port;
          rtcp = b.ok() ? b->port : 0;
          stats_.media_fallback++;
        }
        edits.push_back({md.port.offset, md.port.length, std::to_string(rtp)});
        if (md.rtcp_port.length != 0 && rtcp != 0) {
          edits.push_back(
              {md.rtcp_port.offset, md.rtcp_port.length, std::to_string(rtcp)});
        } else if (md.rtcp_port.length == 0 && rtcp != 0 && rtcp != rtp + 1) {
          // RFC 3605: name the RTCP port that is not RTP + 1.
          size_t eol = text.find('\n', md.port.offset);
          eol = eol == std::string_view::npos ? m->body.end() : eol + 1;
          eol = std::min(eol, m->body.end());
          edits.push_back({eol, 0, absl::StrCat("a=rtcp:", rtcp, "\r\n")});
        }
      }
    }
  } else {
    // Toward the phone: our external endpoint back to its own.
    if (m->request) {
      to_inside(sip::UriHostPort(text, m->request_uri));
    } else if (const sip::Header* via = m->Find(HeaderKind::kVia)) {
      to_inside(sip::ViaSentBy(text, via->value));
    }
    body_edits_from = edits.size();
  }
  if (edits.empty()) return true;
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
  // From the end, so each edit's offset still holds.
  std::sort(edits.begin(), edits.end(),
            [](const Edit& a, const Edit& b) { return a.offset > b.offset; });
  for (const Edit& e : edits) {
    if (!ctx.ReplacePayload(e.offset, e.length, e.text).ok()) {
      stats_.edit_errors++;
      return true;
    }
    stats_.fields++;
  }
  stats_.rewritten++;
  return true;
}

ExpectationPolicy SipHelper::expectation_policy() const {
  ExpectationPolicy p = SipEntry().expectations;
  p.max_timeout_s = options_.media_timeout_s;
  return p;
}

void SipHelper::ForEachCounter(const CounterFn& fn) const {
  fn("messages", stats_.messages);
  fn("rewritten", stats_.rewritten);
  fn("fields", stats_.fields);
  fn("media", stats_.media);
  fn("media_fallback", stats_.media_fallback);
  fn("expect_failed", stats_.expect_failed);
  fn("parse_failures", stats_.parse_failures);
  fn("not_udp", stats_.not_udp);
  fn("edit_errors", stats_.edit_errors);
}

const HelperEntry& SipEntry() {
  // Media from the signalling peer's address: an RTP/RTCP pair per m= line,
  // a few m= lines per offer.
  static const HelperEntry entry =
      EntryOf<SipHelper>("sip", kProtoUdp, {5060},
                         {.max_per_master = 16,
                          .max_timeout_s = SipHelper::Options{}.media_timeout_s,
                          .allow_any_remote = false});
  return entry;
}

}  // namespace unat::helpers
