// libFuzzer target: the UPnP control endpoint's HTTP/1.1 parser and what
// answers a request: descriptions, SOAP actions (tinyxml2 and the argument
// checks), GENA on the event URLs. Two ways in, by the first byte:
//  - bit 0 clear: the rest is raw request bytes for ParseHttpRequest(); a
//    complete request goes to UpnpServer::HandleHttp();
//  - bit 0 set: records SOAPAction(2-byte length + bytes), control path
//    selector(1), body(the rest): ParseSoap() directly, then the same as a
//    POST to that control URL, so the fuzzer works on the XML, not on
//    getting the HTTP framing right.
// Bits 1-2 pick one of four clients (their leases meet each other).
// Oracles: every answer is a whole HTTP/1.1 response; a parse that says
// "complete" has a body no longer than the limit.
#include "portmap/http.h"
#include "tests/fuzz/portmap_world.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace unat;        // NOLINT
  using namespace unat::fuzz;  // NOLINT
  using portmap::HttpRequest;
  PortmapWorld& w = World();
  Reader r(data, size);
  const uint8_t mode = r.U8();
  const uint32_t client = kPmClient + ((mode >> 1) & 3);
  portmap::HttpLimits limits;
  HttpRequest q;
  if (!(mode & 1)) {
    auto rest = r.Bytes(r.left());
    const std::string_view raw(reinterpret_cast<const char*>(rest.data()),
                               rest.size());
    portmap::HttpParseResult p = portmap::ParseHttpRequest(raw, limits);
    if (p.state == portmap::HttpParseResult::kError &&
        (p.status < 400 || p.status > 599)) {
      abort();
    }
    if (p.state != portmap::HttpParseResult::kComplete) return 0;
    if (p.request.body.size() > limits.max_body) abort();
    q = std::move(p.request);
  } else {
    static const char* kPaths[4] = {"/ctl/IPConn", "/ctl/CmnIfCfg", "/ctl/L3F",
                                    "/evt/IPConn"};
    const std::string action(r.Text(512));
    const std::string path = kPaths[r.U8() & 3];
    auto rest = r.Bytes(r.left());
    std::string body(reinterpret_cast<const char*>(rest.data()), rest.size());
    (void)portmap::ParseSoap(action, body);
    q.method = "POST";
    q.target = path;
    q.version = "HTTP/1.1";
    q.headers = {{"host", "10.77.0.1:5000"},
                 {"content-type", "text/xml; charset=\"utf-8\""},
                 {"soapaction", action},
                 {"content-length", std::to_string(body.size())}};
    q.body = std::move(body);
  }
  const std::string answer =
      w.upnp->HandleHttp(w.ns, client, kPmGateway, q, w.now);
  if (!answer.starts_with("HTTP/1.1 ") ||
      answer.find("\r\n\r\n") == std::string::npos) {
    abort();
  }
  w.now += 100;
  return 0;
}
