// The ALG libFuzzer targets (ftp, irc, tftp, pptp, sip_alg and h323_alg
// _fuzz.cc): one
// helper's parser on its own, driven as the engine drives it. An engine
// with only that helper registered; per input one new flow from 10.77.0.2 to
// 203.0.113.2 on the helper's port (TCP: after a handshake), then the input
// as a sequence of payloads both ways, with right sequence numbers, acks and
// checksums, so every byte reaches the helper's stream tracker and parser;
// rewrites, expectations and sequence adjustment run in the real engine.
//
// Input: records of flags(1) length(2) payload(length); flags bit 0: from
// the server (outside), bit 1 (UDP): the server answers from a new port,
// bit 2: advance the clock 5 s, bit 3: the server opens a connection (TCP
// SYN, or a UDP datagram with the payload) to the external port after the
// control flow's + (flags >> 4): where an expectation may be waiting.
#pragma once

#include <cstdlib>
#include <memory>
#include <string_view>

#include "helpers/helper_set.h"
#include "tests/fuzz/fuzz_common.h"

namespace unat::fuzz {

enum class AlgKind { kFtp, kIrc, kTftp, kPptp, kSip, kSipTcp, kH323 };

struct AlgWorld {
  static constexpr uint32_t kExt = 0xcb007101, kServer = 0xcb007102;
  static constexpr uint32_t kClient = 0x0a4d0002, kGw = 0x0a4d0001;
  std::unique_ptr<Nat> nat;
  CheckingSink sink;
  std::unique_ptr<helpers::HelperSet> helpers;
  NamespaceId ns = 0;
  TimeMs now = 1'000'000;
  int inputs = 0;

  explicit AlgWorld(AlgKind kind) {
    NatConfig c;
    c.external_addresses = {kExt};
    c.random_seed = 9;
    c.limits.max_flows = 16384;
    auto nat_or = Nat::Create(c);
    if (!nat_or.ok()) abort();
    nat = std::move(*nat_or);
    nat->SetSink(&sink);
    ns = *nat->AddNamespace({"lan", kGw, 24, 1500});
    helpers::HelperSetConfig hc;
    hc.Enable("ftp", kind == AlgKind::kFtp);
    hc.Enable("irc", kind == AlgKind::kIrc);
    hc.Enable("tftp", kind == AlgKind::kTftp);
    hc.Enable("pptp", kind == AlgKind::kPptp);
    hc.Enable("sip", kind == AlgKind::kSip || kind == AlgKind::kSipTcp);
    hc.Enable("h323", kind == AlgKind::kH323);
    helpers = std::make_unique<helpers::HelperSet>(hc);
    if (!helpers->Register(*nat).ok()) abort();
  }
};

inline int RunAlg(AlgKind kind, const uint8_t* data, size_t size) {
  constexpr uint32_t kExt = AlgWorld::kExt, kServer = AlgWorld::kServer;
  constexpr uint32_t kClient = AlgWorld::kClient;
  // One engine, started over every so many inputs (a fresh one per input
  // costs more than the input); each input is a new connection on it.
  static AlgWorld* world = nullptr;
  if (world == nullptr || ++world->inputs > 2000) {
    delete world;
    world = new AlgWorld(kind);
  }
  Nat* nat = world->nat.get();
  const NamespaceId ns = world->ns;
  TimeMs& now = world->now;
  const uint16_t port = kind == AlgKind::kFtp    ? 21
                        : kind == AlgKind::kIrc  ? 6667
                        : kind == AlgKind::kPptp ? 1723
                        : kind == AlgKind::kH323 ? 1720
                        : kind == AlgKind::kSip || kind == AlgKind::kSipTcp
                            ? 5060
                            : 69;
  const bool tcp = kind != AlgKind::kTftp && kind != AlgKind::kSip;
  const uint16_t cport = static_cast<uint16_t>(10000 + world->inputs);
  std::vector<uint8_t> out;
  // Sequence numbers: each side's next byte in its own space, and the next
  // byte the other side expects (after the engine's adjustment).
  uint32_t c_next = 1000, s_next = 5000, c_acked = 0, s_acked = 0;
  uint16_t ext_port = 0;
  if (tcp) {
    if (Feed(*nat, true, ns,
             TcpPacket(kClient, cport, kServer, port, c_next - 1, 0, 0x02, {}),
             now, &out)
            .action != Verdict::kForward) {
      return 0;  // out of ports or flows: the next world will do
    }
    ext_port = LoadBe16(&out[20]);
    c_acked = c_next;
    if (Feed(*nat, false, 0,
             TcpPacket(kServer, port, kExt, ext_port, s_next - 1, c_acked, 0x12,
                       {}),
             now, &out)
            .action != Verdict::kForward) {
      abort();
    }
    s_acked = s_next;
    Feed(*nat, true, ns,
         TcpPacket(kClient, cport, kServer, port, c_next, s_acked, 0x10, {}),
         now);
  } else {
    // The flow's first datagram: a TFTP read request, or a SIP keep-alive.
    const uint8_t rrq[] = {0, 1, 'f', 0, 'o', 'c', 't', 'e', 't', 0};
    const uint8_t crlf[] = {'\r', '\n', '\r', '\n'};
    const std::span<const uint8_t> first = kind == AlgKind::kSip
                                               ? std::span<const uint8_t>(crlf)
                                               : std::span<const uint8_t>(rrq);
    if (Feed(*nat, true, ns, UdpPacket(kClient, cport, kServer, port, first),
             now, &out)
            .action != Verdict::kForward) {
      return 0;
    }
    ext_port = LoadBe16(&out[20]);
  }
  Reader r(data, size);
  uint16_t server_port = port;
  for (int i = 0; i < 64 && !r.empty(); ++i) {
    const uint8_t flags = r.U8();
    auto payload = r.Record(3000);
    if (flags & 4) {
      now += 5000;
      nat->Advance(now);
    }
    const bool from_server = flags & 1;
    if (flags & 8) {
      // Ports are handed out near each other, so an expectation's
      // external port is often just after the control flow's.
      const uint16_t guess = static_cast<uint16_t>(ext_port + 1 + (flags >> 4));
      if (tcp) {
        Feed(*nat, false, 0,
             TcpPacket(kServer, 20, kExt, guess, 1, 0, 0x02, {}), now);
      } else {
        Feed(*nat, false, 0, UdpPacket(kServer, 3000, kExt, guess, payload),
             now);
      }
      continue;
    }
    if (!tcp) {
      if (from_server) {
        if (flags & 2) server_port = static_cast<uint16_t>(1024 + (flags >> 4));
        Feed(*nat, false, 0,
             UdpPacket(kServer, server_port, kExt, ext_port, payload), now);
      } else {
        Feed(*nat, true, ns, UdpPacket(kClient, cport, kServer, port, payload),
             now);
      }
      continue;
    }
    Verdict v;
    if (from_server) {
      v = Feed(*nat, false, 0,
               TcpPacket(kServer, port, kExt, ext_port, s_next, c_acked, 0x18,
                         payload),
               now, &out);
      s_next += static_cast<uint32_t>(payload.size());
    } else {
      v = Feed(*nat, true, ns,
               TcpPacket(kClient, cport, kServer, port, c_next, s_acked, 0x18,
                         payload),
               now, &out);
      c_next += static_cast<uint32_t>(payload.size());
    }
    if (v.action == Verdict::kForward && out.size() >= 40) {
      // What the receiver acknowledges: the segment's end as it arrived.
      const size_t hl = (out[0] & 0x0f) * 4u;
      const size_t thl = (out[hl + 12] >> 4) * 4u;
      const uint32_t end =
          LoadBe32(&out[hl + 4]) + static_cast<uint32_t>(out.size() - hl - thl);
      if (from_server) {
        s_acked = end;
      } else {
        c_acked = end;
      }
    }
  }
  return 0;
}

}  // namespace unat::fuzz
