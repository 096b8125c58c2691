// Engine benchmarks: packets per second and bytes per flow, no I/O.
//
// Streams are generated before timing starts. Each timed step copies one
// 64-byte packet template into a work buffer (the engine rewrites in place)
// and translates it; BM_Copy64 measures that copy alone as the baseline.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "engine/checksum.h"
#include "engine/nat.h"
#include "engine/port_claims.h"
#include "engine/wire.h"

namespace unat {
namespace {

constexpr size_t kPacketSize = 64;
constexpr uint32_t kExternalBase = 0xcb007101;  // 203.0.113.1
constexpr int kExternalCount = 64;

using Template = std::array<uint8_t, kPacketSize>;

Template UdpPacket(uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport) {
  Template p{};
  p[0] = 0x45;
  StoreBe16(&p[2], kPacketSize);
  p[8] = 64;
  p[9] = kProtoUdp;
  StoreBe32(&p[12], src);
  StoreBe32(&p[16], dst);
  StoreBe16(&p[10], InternetChecksum({p.data(), 20}));
  StoreBe16(&p[20], sport);
  StoreBe16(&p[22], dport);
  StoreBe16(&p[24], kPacketSize - 20);
  uint32_t pseudo = (src >> 16) + (src & 0xffff) + (dst >> 16) +
                    (dst & 0xffff) + kProtoUdp + (kPacketSize - 20);
  StoreBe16(&p[26],
            InternetChecksum({p.data() + 20, kPacketSize - 20}, pseudo));
  return p;
}

// A 64-byte TCP segment (20-byte header, 24 bytes of payload).
Template TcpPacket(uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport,
                   uint8_t flags, uint32_t seq, uint32_t ack) {
  Template p{};
  p[0] = 0x45;
  StoreBe16(&p[2], kPacketSize);
  p[8] = 64;
  p[9] = kProtoTcp;
  StoreBe32(&p[12], src);
  StoreBe32(&p[16], dst);
  StoreBe16(&p[10], InternetChecksum({p.data(), 20}));
  StoreBe16(&p[20], sport);
  StoreBe16(&p[22], dport);
  StoreBe32(&p[24], seq);
  StoreBe32(&p[28], ack);
  p[32] = 0x50;
  p[33] = flags;
  StoreBe16(&p[34], 65535);
  const uint32_t pseudo = (src >> 16) + (src & 0xffff) + (dst >> 16) +
                          (dst & 0xffff) + kProtoTcp + (kPacketSize - 20);
  StoreBe16(&p[36],
            InternetChecksum({p.data() + 20, kPacketSize - 20}, pseudo));
  return p;
}

struct World {
  std::unique_ptr<Nat> nat;
  NamespaceId ns = 0;
  std::vector<Template> out_templates;  // inside -> outside, per flow
  std::vector<Template> in_templates;   // replies, per flow
  double bytes_per_flow = 0;
};

// Flow k: mapping k/4 (four remotes per inside endpoint, as EIM shares).
// `tcp`: TCP flows taken through the handshake to ESTABLISHED, and
// templates that are data segments of them; else UDP.
World& GetWorld(uint32_t flows, bool tcp = false) {
  static std::map<uint64_t, std::unique_ptr<World>> worlds;
  const uint64_t key = uint64_t{flows} * 2 + tcp;
  auto& w = worlds[key];
  if (w) return *w;
  // Keep only one large world alive at a time.
  for (auto it = worlds.begin(); it != worlds.end();) {
    if (it->first != key) {
      it = worlds.erase(it);
    } else {
      ++it;
    }
  }
  w = std::make_unique<World>();
  NatConfig c;
  for (int i = 0; i < kExternalCount; ++i) {
    c.external_addresses.push_back(kExternalBase + i);
  }
  c.limits.max_flows = 8u << 20;
  c.limits.max_flows_per_host = 0;
  c.limits.max_ports_per_host = 0;
  c.random_seed = 1;
  w->nat = *Nat::Create(c);
  w->ns = *w->nat->AddNamespace({"bench", 0x0a000001, 8});
  w->out_templates.resize(flows);
  w->in_templates.resize(flows);
  std::vector<uint8_t> buf(2048);
  for (uint32_t k = 0; k < flows; ++k) {
    const uint32_t m = k / 4;
    const uint32_t host = 0x0a000002 + m / 16;
    const uint16_t sport = static_cast<uint16_t>(1024 + m % 16);
    const uint32_t remote = 0xc6330000 + (k % 4) * 0x100 + (m & 0xff);
    if (tcp) {
      // SYN out, SYN-ACK in, ACK out; then data both ways.
      const uint32_t isn = 1000u + k, rsn = 5000000u + k;
      auto run = [&](const Template& t, bool outbound) {
        std::memcpy(buf.data(), t.data(), kPacketSize);
        Packet pkt{buf.data(), kPacketSize, static_cast<uint32_t>(buf.size())};
        Verdict v = outbound ? w->nat->ProcessInside(w->ns, pkt, 1000)
                             : w->nat->ProcessOutside(pkt, 1000);
        if (v.action != Verdict::kForward) {
          fprintf(stderr, "setup: tcp flow %u dropped: %s\n", k,
                  DropReasonName(v.reason));
          abort();
        }
      };
      run(TcpPacket(host, sport, remote, 80, 0x02, isn, 0), true);
      const uint32_t ext_addr = LoadBe32(&buf[12]);
      const uint16_t ext_port = LoadBe16(&buf[20]);
      run(TcpPacket(remote, 80, ext_addr, ext_port, 0x12, rsn, isn + 1), false);
      run(TcpPacket(host, sport, remote, 80, 0x10, isn + 1, rsn + 1), true);
      w->out_templates[k] =
          TcpPacket(host, sport, remote, 80, 0x10, isn + 1, rsn + 1);
      w->in_templates[k] = TcpPacket(remote, 80, ext_addr, ext_port, 0x10,
                                     rsn + 1, isn + 1 + 24);
      continue;
    }
    Template t = UdpPacket(host, sport, remote, 53);
    w->out_templates[k] = t;
    std::memcpy(buf.data(), t.data(), kPacketSize);
    Packet pkt{buf.data(), kPacketSize, static_cast<uint32_t>(buf.size())};
    Verdict v = w->nat->ProcessInside(w->ns, pkt, 1000);
    if (v.action != Verdict::kForward) {
      fprintf(stderr, "setup: flow %u dropped: %s\n", k,
              DropReasonName(v.reason));
      abort();
    }
    const uint32_t ext_addr = LoadBe32(&buf[12]);
    const uint16_t ext_port = LoadBe16(&buf[20]);
    w->in_templates[k] = UdpPacket(remote, 53, ext_addr, ext_port);
  }
  w->bytes_per_flow = static_cast<double>(w->nat->MemoryUsage()) / flows;
  return *w;
}

std::vector<uint32_t> Stream(uint32_t flows, bool zipf, size_t n) {
  std::mt19937_64 rng(99);
  std::vector<uint32_t> s(n);
  if (!zipf) {
    std::uniform_int_distribution<uint32_t> d(0, flows - 1);
    for (auto& x : s) x = d(rng);
    return s;
  }
  // Zipf(s = 1.0) by inverse CDF over a table.
  std::vector<double> cdf(flows);
  double sum = 0;
  for (uint32_t i = 0; i < flows; ++i) {
    sum += 1.0 / (i + 1);
    cdf[i] = sum;
  }
  std::uniform_real_distribution<double> u(0, sum);
  // Scatter popular ranks over the table so they are not neighbours.
  std::vector<uint32_t> perm(flows);
  for (uint32_t i = 0; i < flows; ++i) perm[i] = i;
  std::shuffle(perm.begin(), perm.end(), rng);
  for (auto& x : s) {
    const double r = u(rng);
    const uint32_t rank = static_cast<uint32_t>(
        std::lower_bound(cdf.begin(), cdf.end(), r) - cdf.begin());
    x = perm[std::min(rank, flows - 1)];
  }
  return s;
}

// Established translation, both directions alternating.
void BM_Established(benchmark::State& state) {
  const uint32_t flows = static_cast<uint32_t>(state.range(0));
  const bool zipf = state.range(1) != 0;
  World& w = GetWorld(flows);
  const std::vector<uint32_t> stream = Stream(flows, zipf, 1 << 22);
  alignas(64) uint8_t buf[2048];
  size_t i = 0;
  uint64_t forwarded = 0;
  for (auto _ : state) {
    const uint32_t k = stream[i & (stream.size() - 1)];
    const bool outbound = (i & 1) == 0;
    std::memcpy(buf,
                outbound ? w.out_templates[k].data() : w.in_templates[k].data(),
                kPacketSize);
    Packet pkt{buf, kPacketSize, sizeof(buf)};
    Verdict v = outbound ? w.nat->ProcessInside(w.ns, pkt, 2000)
                         : w.nat->ProcessOutside(pkt, 2000);
    forwarded += v.action == Verdict::kForward;
    ++i;
  }
  if (forwarded != state.iterations()) {
    state.SkipWithError("a packet was dropped");
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["Mpps"] =
      benchmark::Counter(static_cast<double>(state.iterations()) / 1e6,
                         benchmark::Counter::kIsRate);
  state.counters["bytes_per_flow"] = w.bytes_per_flow;
}
BENCHMARK(BM_Established)
    ->ArgsProduct({{1 << 10, 1 << 16, 1 << 20, 1 << 22}, {0, 1}})
    ->ArgNames({"flows", "zipf"});

// The same streams through the batch API (32 packets a call, one direction
// per call, alternating), which prefetches the index and flow entries.
// BM_EstablishedTcpBatch: established TCP flows, data segments both ways
// (their sequence tracking is a second cache line per flow).
void BM_EstablishedBatch(benchmark::State& state) {
  const uint32_t flows = static_cast<uint32_t>(state.range(0));
  const bool zipf = state.range(1) != 0;
  const bool tcp = state.range(2) != 0;
  World& w = GetWorld(flows, tcp);
  const std::vector<uint32_t> stream = Stream(flows, zipf, 1 << 22);
  constexpr size_t kBatch = 32;
  static uint8_t bufs[kBatch][128] __attribute__((aligned(64)));
  Packet pkts[kBatch];
  Verdict verdicts[kBatch];
  size_t i = 0;
  uint64_t forwarded = 0, packets = 0;
  for (auto _ : state) {
    const bool outbound = ((i / kBatch) & 1) == 0;
    for (size_t j = 0; j < kBatch; ++j, ++i) {
      const uint32_t k = stream[i & (stream.size() - 1)];
      std::memcpy(
          bufs[j],
          outbound ? w.out_templates[k].data() : w.in_templates[k].data(),
          kPacketSize);
      pkts[j] = Packet{bufs[j], kPacketSize, sizeof(bufs[j])};
    }
    if (outbound) {
      w.nat->ProcessInsideBatch(w.ns, pkts, verdicts, 2000);
    } else {
      w.nat->ProcessOutsideBatch(pkts, verdicts, 2000);
    }
    for (size_t j = 0; j < kBatch; ++j) {
      forwarded += verdicts[j].action == Verdict::kForward;
    }
    packets += kBatch;
  }
  if (forwarded != packets) state.SkipWithError("a packet was dropped");
  state.SetItemsProcessed(static_cast<int64_t>(packets));
  state.counters["Mpps"] = benchmark::Counter(
      static_cast<double>(packets) / 1e6, benchmark::Counter::kIsRate);
  state.counters["bytes_per_flow"] = w.bytes_per_flow;
}
BENCHMARK(BM_EstablishedBatch)
    ->ArgsProduct({{1 << 10, 1 << 16, 1 << 20, 1 << 22}, {0, 1}, {0}})
    ->ArgNames({"flows", "zipf", "tcp"});
BENCHMARK(BM_EstablishedBatch)
    ->Name("BM_EstablishedTcpBatch")
    ->ArgsProduct({{1 << 10, 1 << 16, 1 << 20}, {0}, {1}})
    ->ArgNames({"flows", "zipf", "tcp"});

// New flows with expiry running and the port pool held ~90% full: every
// mapping lives for (udp timeout + port hold), and the clock advances so
// that 90% of the ports are taken at any time. shards:2 runs two shards
// sharing a PortClaims (engine/port_claims.h) on this one thread, each
// host's packets steered to its shard: the cost of claiming each port with
// a compare-and-swap, and of finding the ones the other shard holds.
void BM_NewFlows(benchmark::State& state) {
  const uint32_t shards = static_cast<uint32_t>(state.range(0));
  NatConfig c;
  c.external_addresses = {kExternalBase};
  c.limits.max_flows = 1u << 20;
  c.limits.max_flows_per_host = 0;
  c.limits.max_ports_per_host = 0;
  c.timeouts.udp_s = 120;
  c.timeouts.port_hold_s = 120;
  c.random_seed = 3;
  std::vector<std::unique_ptr<Nat>> nats;
  if (shards > 1) c.claims = std::make_shared<PortClaims>(c.external_addresses);
  NamespaceId ns = 0;
  for (uint32_t s = 0; s < shards; ++s) {
    c.shard = static_cast<uint8_t>(s);
    nats.push_back(*Nat::Create(c));
    ns = *nats.back()->AddNamespace({"bench", 0x0a000001, 8});
  }
  const uint32_t ports = c.port_max - c.port_min + 1;
  const double live_target = 0.9 * ports;
  const double lifetime_ms =
      (c.timeouts.udp_s + c.timeouts.port_hold_s) * 1000.0;
  const double step_ms = lifetime_ms / live_target;
  double now = 1'000'000;
  alignas(64) uint8_t buf[2048];
  uint64_t i = 0, dropped = 0;
  // Warm up to the steady state before timing.
  auto one = [&](bool timed) {
    const uint32_t host = 0x0a000002 + static_cast<uint32_t>(i / 50000);
    const uint16_t sport = static_cast<uint16_t>(1024 + i % 50000);
    Template t = UdpPacket(host, sport, 0xc6336401, 53);
    std::memcpy(buf, t.data(), kPacketSize);
    Packet pkt{buf, kPacketSize, sizeof(buf)};
    now += step_ms;
    const TimeMs t_ms = static_cast<TimeMs>(now);
    if ((i & 255) == 0) {
      for (auto& n : nats) n->Advance(t_ms);
    }
    Nat* nat = nats[OutboundShard(ns, host, shards)].get();
    Verdict v = nat->ProcessInside(ns, pkt, t_ms);
    if (timed && v.action != Verdict::kForward) ++dropped;
    ++i;
  };
  while (i < static_cast<uint64_t>(live_target * 1.5)) one(false);
  auto totals = [&] {
    Stats t;
    for (auto& n : nats) {
      const Stats s = n->GetStats();
      t.mappings += s.mappings;
      t.flows_expired += s.flows_expired;
    }
    return t;
  };
  const Stats before = totals();
  for (auto _ : state) one(true);
  const Stats after = totals();
  state.counters["Mflows_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()) / 1e6,
                         benchmark::Counter::kIsRate);
  state.counters["pool_full_pct"] = 100.0 * after.mappings / ports;
  state.counters["expired"] =
      static_cast<double>(after.flows_expired - before.flows_expired);
  state.counters["dropped"] = static_cast<double>(dropped);
}
BENCHMARK(BM_NewFlows)->Arg(1)->Arg(2)->ArgName("shards");

// Fragments per second: 3000-byte UDP datagrams in three fragments from
// 1024 established flows, each datagram with its own IP id, through virtual
// reassembly (every fragment translated as it passes) or full reassembly
// (held, rebuilt, translated once, fragmented again for a 1500-byte MTU).
class CountingSink : public PacketSink {
 public:
  void Emit(Side, NamespaceId, std::span<const uint8_t> p) override {
    packets++;
    bytes += p.size();
  }
  uint64_t packets = 0, bytes = 0;
};

void BM_Fragments(benchmark::State& state) {
  const bool full = state.range(0) != 0;
  NatConfig c;
  c.external_addresses = {kExternalBase};
  c.fragments.mode = full ? ReassemblyMode::kFull : ReassemblyMode::kVirtual;
  c.random_seed = 4;
  auto nat = *Nat::Create(c);
  CountingSink sink;
  nat->SetSink(&sink);
  const NamespaceId ns = *nat->AddNamespace({"bench", 0x0a000001, 8});
  constexpr int kFlows = 1024;
  constexpr int kPayload = 3000;
  // One datagram template per flow; fragments made per iteration with a
  // fresh IP id (the id is not part of any checksum but the header's).
  std::vector<std::vector<uint8_t>> whole(kFlows);
  for (int k = 0; k < kFlows; ++k) {
    const uint32_t src = 0x0a000002 + static_cast<uint32_t>(k);
    const uint32_t dst = 0xc6336401;
    std::vector<uint8_t>& p = whole[k];
    p.assign(20 + 8 + kPayload, 0);
    p[0] = 0x45;
    StoreBe16(&p[2], static_cast<uint16_t>(p.size()));
    p[8] = 64;
    p[9] = kProtoUdp;
    StoreBe32(&p[12], src);
    StoreBe32(&p[16], dst);
    StoreBe16(&p[20], 4000);
    StoreBe16(&p[22], 9);
    StoreBe16(&p[24], 8 + kPayload);
    for (int i = 0; i < kPayload; ++i) p[28 + i] = static_cast<uint8_t>(i);
    const uint32_t pseudo = (src >> 16) + (src & 0xffff) + (dst >> 16) +
                            (dst & 0xffff) + kProtoUdp + 8 + kPayload;
    StoreBe16(&p[26], InternetChecksum({p.data() + 20, 8 + kPayload}, pseudo));
  }
  alignas(64) static uint8_t buf[2048];
  uint64_t i = 0, fragments = 0;
  uint16_t id = 1;
  TimeMs now = 1000;
  for (auto _ : state) {
    const std::vector<uint8_t>& w = whole[i++ % kFlows];
    ++id;
    // Three fragments: 1480 + 1480 + 48 bytes of IP payload.
    for (int f = 0; f < 3; ++f) {
      const size_t off = f * 1480;
      const size_t n = std::min<size_t>(1480, w.size() - 20 - off);
      std::memcpy(buf, w.data(), 20);
      std::memcpy(buf + 20, w.data() + 20 + off, n);
      StoreBe16(buf + 2, static_cast<uint16_t>(20 + n));
      StoreBe16(buf + 4, id);
      StoreBe16(buf + 6,
                static_cast<uint16_t>((f < 2 ? 0x2000 : 0) | (off / 8)));
      StoreBe16(buf + 10, 0);
      StoreBe16(buf + 10, InternetChecksum({buf, 20}));
      Packet pkt{buf, static_cast<uint32_t>(20 + n), sizeof(buf)};
      nat->ProcessInside(ns, pkt, now);
      ++fragments;
    }
    if ((i & 1023) == 0) nat->Advance(now += 10);
  }
  const Stats s = nat->GetStats();
  state.counters["Mfrag_per_s"] = benchmark::Counter(
      static_cast<double>(fragments) / 1e6, benchmark::Counter::kIsRate);
  state.counters["forwarded"] =
      static_cast<double>(s.fragments_forwarded + s.fragments_created);
  state.counters["dropped"] = static_cast<double>([&] {
    uint64_t d = 0;
    for (uint64_t x : s.drops) d += x;
    return d;
  }());
}
BENCHMARK(BM_Fragments)->Arg(0)->Arg(1)->ArgName("full");

// The baseline: the 64-byte copy every timed step above includes.
void BM_Copy64(benchmark::State& state) {
  std::vector<Template> t(1 << 16);
  for (size_t k = 0; k < t.size(); ++k) t[k] = UdpPacket(k, 1, 2, 3);
  alignas(64) uint8_t buf[2048];
  size_t i = 0;
  for (auto _ : state) {
    std::memcpy(buf, t[i++ & 0xffff].data(), kPacketSize);
    benchmark::DoNotOptimize(buf);
  }
  state.counters["Mpps"] =
      benchmark::Counter(static_cast<double>(state.iterations()) / 1e6,
                         benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Copy64);

// A second baseline: copy + the header validation every NAT must do (IPv4
// parse with header checksum, L4 parse), with no table work at all.
void BM_ParseOnly(benchmark::State& state) {
  std::vector<Template> t(1 << 16);
  for (size_t k = 0; k < t.size(); ++k) {
    t[k] = UdpPacket(0x0a000000 + static_cast<uint32_t>(k), 1, 2, 3);
  }
  alignas(64) uint8_t buf[2048];
  size_t i = 0;
  uint64_t ok = 0;
  for (auto _ : state) {
    std::memcpy(buf, t[i++ & 0xffff].data(), kPacketSize);
    DropReason why;
    auto ip = Ipv4View::Parse({buf, kPacketSize}, &why);
    if (ip) {
      auto l4 = L4View::Parse(ip->protocol(), ip->payload(), &why);
      ok += l4.has_value();
    }
    benchmark::DoNotOptimize(ok);
  }
  state.counters["Mpps"] =
      benchmark::Counter(static_cast<double>(state.iterations()) / 1e6,
                         benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ParseOnly);

}  // namespace
}  // namespace unat

BENCHMARK_MAIN();
