// Packets per second through one established TCP flow with the FTP helper
// attached (server port 21) and without (port 2121), same packets otherwise.
// In-order client segments of uninteresting control lines or of bulk bytes;
// each carries the next sequence number, so the helper parses every one.
#include <benchmark/benchmark.h>

#include <cstring>

#include "engine/checksum.h"
#include "engine/nat.h"
#include "engine/wire.h"
#include "helpers/ftp.h"
#include "tests/unit/test_util.h"

namespace unat {
namespace {

using testing::Buf;
using testing::Tcp;
using Tins::TCP;

void BM_FtpControlFlow(benchmark::State& state) {
  const bool helper_on = state.range(0) != 0;
  const bool lines = state.range(1) != 0;
  const uint16_t port = helper_on ? 21 : 2121;
  NatConfig c;
  c.external_addresses = {*ParseIpv4("203.0.113.1")};
  auto nat = *Nat::Create(c);
  const NamespaceId ns =
      *nat->AddNamespace({"lan", *ParseIpv4("10.77.0.1"), 24});
  helpers::FtpHelper ftp;
  (void)nat->RegisterPacketHelper(kProtoTcp, 21, &ftp);
  auto run_in = [&](const std::vector<uint8_t>& b) {
    Buf buf(b);
    return nat->ProcessInside(ns, buf.pkt, 1000);
  };
  // A whole handshake, so the flow is established as a real one would be.
  Buf syn(Tcp("10.77.0.2", 40000, "198.51.100.2", port, TCP::SYN, 1000));
  (void)nat->ProcessInside(ns, syn.pkt, 1000);
  const uint16_t ext_port = LoadBe16(syn.pkt.data + 20);
  Buf syn_ack(Tcp("198.51.100.2", port, "203.0.113.1", ext_port,
                  TCP::SYN | TCP::ACK, 0, 1001));
  (void)nat->ProcessOutside(syn_ack.pkt, 1000);
  run_in(Tcp("10.77.0.2", 40000, "198.51.100.2", port, TCP::ACK, 1001, 1));
  bool established = false;
  nat->ForEachFlow([&](const FlowInfo& f) {
    established = f.tcp_state == static_cast<uint8_t>(TcpState::kEstablished);
  });
  if (!established) state.SkipWithError("the handshake did not complete");
  std::string payload;
  if (lines) {
    while (payload.size() + 6 <= 64) payload += "NOOP\r\n";
  } else {
    payload.assign(1400, 'x');
  }
  const std::vector<uint8_t> tmpl =
      Tcp("10.77.0.2", 40000, "198.51.100.2", port, TCP::ACK | TCP::PSH, 1001,
          1, payload);
  std::vector<uint8_t> buf(2048);
  uint32_t seq = 1001;
  uint64_t forwarded = 0;
  for (auto _ : state) {
    std::memcpy(buf.data(), tmpl.data(), tmpl.size());
    uint8_t* tcp = buf.data() + 20;
    ChecksumDelta d;
    d.Replace32(1001, seq);
    StoreBe32(tcp + l4_field::kTcpSeq, seq);
    StoreBe16(tcp + l4_field::kTcpChecksum,
              d.Apply(LoadBe16(tcp + l4_field::kTcpChecksum)));
    Packet pkt{buf.data(), static_cast<uint32_t>(tmpl.size()),
               static_cast<uint32_t>(buf.size())};
    forwarded += nat->ProcessInside(ns, pkt, 2000).action == Verdict::kForward;
    seq += static_cast<uint32_t>(payload.size());
  }
  if (forwarded != state.iterations()) state.SkipWithError("a packet dropped");
  if (helper_on && ftp.stream_stats().lines == 0 && lines) {
    state.SkipWithError("the helper did not parse");
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["Mpps"] =
      benchmark::Counter(static_cast<double>(state.iterations()) / 1e6,
                         benchmark::Counter::kIsRate);
}
BENCHMARK(BM_FtpControlFlow)
    ->ArgsProduct({{0, 1}, {1, 0}})
    ->ArgNames({"helper", "lines"});

}  // namespace
}  // namespace unat

BENCHMARK_MAIN();
