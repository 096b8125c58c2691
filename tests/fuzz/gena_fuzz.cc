// libFuzzer target: GENA (UDA 1.1 section 4) on its own: one GenaPublisher
// fed a sequence of SUBSCRIBE / renewal / UNSUBSCRIBE requests (parsed by
// ParseHttpRequest), CALLBACK headers straight into ParseGenaCallbacks(),
// value updates, due events and delivery outcomes, with the clock moving.
//
// Input: records of op(1) length(2) bytes(length); op & 7:
//   0-2 a request (raw HTTP) from client op>>3 & 3, to its own target;
//   3 a CALLBACK header for ParseGenaCallbacks();
//   4 an Update() of "/evt/IPConn" with name=value lines;
//   5 Due(), then Delivered() for each, ok by the record's first byte;
//   6 advance the clock by 1-256 s.
// Oracles: answers are whole HTTP responses; callbacks name the client
// itself and are at most `max`; deliveries go to a subscriber.
#include <cstdlib>

#include "portmap/gena.h"
#include "portmap/http.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace unat;           // NOLINT
  using namespace unat::fuzz;     // NOLINT
  using namespace unat::portmap;  // NOLINT
  constexpr uint32_t kClient = 0x0a4d0002, kGateway = 0x0a4d0001;
  GenaConfig config;
  config.max_subscriptions = 8;
  config.max_per_client = 3;
  GenaPublisher gena(config, /*seed=*/5);
  GenaValues values = {{"ConnectionStatus", "Connected"},
                       {"ExternalIPAddress", "203.0.113.1"}};
  TimeMs now = 1'000'000;
  Reader r(data, size);
  for (int i = 0; i < 64 && !r.empty(); ++i) {
    const uint8_t op = r.U8();
    const std::string_view text = r.Text(4096);
    const uint32_t client = kClient + ((op >> 3) & 3);
    switch (op & 7) {
      case 0:
      case 1:
      case 2: {
        HttpParseResult p = ParseHttpRequest(text, HttpLimits{});
        if (p.state != HttpParseResult::kComplete) break;
        const std::string answer = gena.Handle(
            0, client, kGateway, p.request.target, p.request, values, now);
        if (!answer.starts_with("HTTP/1.1 ")) abort();
        break;
      }
      case 3: {
        const size_t max = 1 + (op >> 5);
        auto urls = ParseGenaCallbacks(std::string(text), client, max);
        if (urls.size() > max) abort();
        for (const auto& u : urls) {
          if (u.addr != client) abort();
        }
        break;
      }
      case 4: {
        GenaValues v = values;
        size_t pos = 0;
        while (pos < text.size()) {
          size_t nl = text.find('\n', pos);
          if (nl == std::string_view::npos) nl = text.size();
          const std::string_view line = text.substr(pos, nl - pos);
          const size_t eq = line.find('=');
          if (eq != std::string_view::npos) {
            v[std::string(line.substr(0, eq))] =
                std::string(line.substr(eq + 1));
          }
          pos = nl + 1;
        }
        gena.Update(0, "/evt/IPConn", v);
        break;
      }
      case 5: {
        const bool ok = !text.empty() && (text[0] & 1);
        for (const auto& d : gena.Due(now, 8)) {
          if (d.addr < kClient || d.addr > kClient + 3) abort();
          gena.Delivered(d.sid, ok);
        }
        break;
      }
      default:
        now += (1 + (op >> 3)) * 1000;
        break;
    }
    if (gena.size() > config.max_subscriptions) abort();
  }
  return 0;
}
