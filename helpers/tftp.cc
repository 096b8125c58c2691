#include "helpers/tftp.h"

#include <cstring>
#include <memory>

#include "helpers/tcp_lines.h"

namespace unat::helpers {

namespace {

// RRQ/WRQ: opcode, filename NUL, mode NUL (RFC 1350 section 5), options
// after it (RFC 2347) are allowed.
bool WellFormedRequest(std::span<const uint8_t> p) {
  const char* s = reinterpret_cast<const char*>(p.data()) + 2;
  const size_t n = p.size() - 2;
  const void* z1 = std::memchr(s, 0, n);
  if (z1 == nullptr || z1 == s) return false;
  const size_t name_len = static_cast<const char*>(z1) - s;
  const char* mode = s + name_len + 1;
  const size_t rest = n - name_len - 1;
  const void* z2 = std::memchr(mode, 0, rest);
  if (z2 == nullptr) return false;
  const std::string_view m(mode, static_cast<const char*>(z2) - mode);
  return (m.size() == 8 && StartsWithNoCase(m, "netascii")) ||
         (m.size() == 5 && StartsWithNoCase(m, "octet")) ||
         (m.size() == 4 && StartsWithNoCase(m, "mail"));
}

}  // namespace

bool TftpHelper::OnPacket(HelperContext& ctx, const FlowInfo& flow, Side from,
                          Ipv4View&, L4View&) {
  if (flow.proto != kProtoUdp || from != Side::kInside || flow.inbound_origin) {
    return true;
  }
  const std::span<uint8_t> p = ctx.Payload();
  if (p.size() < 4 || p[0] != 0 || (p[1] != 1 && p[1] != 2)) return true;
  if (!WellFormedRequest(p)) {
    stats_.malformed++;
    return true;
  }
  ExpectationSpec spec;
  spec.proto = kProtoUdp;
  spec.remote_addr = flow.remote_addr;
  spec.remote_port = 0;  // the server's new transfer port
  spec.inside_addr = flow.inside_addr;
  spec.inside_port = flow.inside_port;
  spec.timeout_s = options_.expect_timeout_s;
  if (ctx.Expect(spec).ok()) {
    stats_.requests++;
  } else {
    stats_.expect_failed++;
  }
  return true;
}

void TftpHelper::ForEachCounter(const CounterFn& fn) const {
  fn("requests", stats_.requests);
  fn("malformed", stats_.malformed);
  fn("expect_failed", stats_.expect_failed);
}

ExpectationPolicy TftpHelper::expectation_policy() const {
  ExpectationPolicy p = TftpEntry().expectations;
  p.max_timeout_s = options_.expect_timeout_s;
  return p;
}

const HelperEntry& TftpEntry() {
  // The server's answer from its new port, from its address only.
  static const HelperEntry entry = EntryOf<TftpHelper>(
      "tftp", kProtoUdp, {69},
      {.max_per_master = 4,
       .max_timeout_s = TftpHelper::Options{}.expect_timeout_s,
       .allow_any_remote = false});
  return entry;
}

}  // namespace unat::helpers
