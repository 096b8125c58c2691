// libFuzzer target: the SIP/SDP parser (helpers/sip_message.h) on its own.
// Input: one byte of mode (bit 0: a TCP stream), then the message. Every span
// it hands out must lie inside the input; URIs, Via sent-by, SDP and address
// matching run over whatever parsed.
#include <cstdlib>
#include <string_view>

#include "helpers/sip_message.h"

namespace {

using namespace unat::helpers::sip;

void Inside(const Span& s, size_t n) {
  if (s.offset > n || s.length > n - s.offset) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool stream = data[0] & 1;
  const std::string_view t(reinterpret_cast<const char*>(data + 1), size - 1);
  ParseError why;
  auto m = Parse(t, stream, &why);
  if (!m) {
    if (why == ParseError::kNone) abort();
    return 0;
  }
  if (m->length > t.size()) abort();
  Inside(m->method, t.size());
  Inside(m->request_uri, t.size());
  Inside(m->body, t.size());
  if (m->body.end() != m->length) abort();
  for (const Header& h : m->headers) {
    Inside(h.name, t.size());
    Inside(h.value, t.size());
    if (auto hp = UriHostPort(t, h.value)) {
      Inside(hp->host, t.size());
      Inside(hp->port, t.size());
    }
    if (auto hp = ViaSentBy(t, h.value)) {
      Inside(hp->host, t.size());
      Inside(hp->port, t.size());
    }
    for (size_t at :
         FindAddress(t, "10.77.0.2", h.value.offset, h.value.end())) {
      if (at < h.value.offset || at + 9 > h.value.end()) abort();
    }
  }
  if (auto sdp = ParseSdp(t, m->body)) {
    Inside(sdp->origin_addr, t.size());
    Inside(sdp->connection_addr, t.size());
    for (const SdpMedia& md : sdp->media) {
      Inside(md.media, t.size());
      Inside(md.port, t.size());
      Inside(md.connection_addr, t.size());
      Inside(md.rtcp_port, t.size());
      Inside(md.rtcp_addr, t.size());
    }
  }
  return 0;
}
