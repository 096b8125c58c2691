// libFuzzer target: a sequence of IPv4 fragments into one engine.
// The harness writes each fragment's IP header (lengths, checksum, the
// fuzzer's id, offset, MF and protocol), so every input exercises the
// reassembly state machine rather than the header checks: overlaps,
// duplicates, tiny and misaligned fragments, limits, timeouts, virtual and
// full mode, both directions, first fragments that create flows.
//
// Oracles beyond sanitizers: whatever leaves is valid IPv4, and at the end
// (after every datagram timed out) the fragment accounting adds up:
// fragments_in == forwarded + reassembled + dropped, nothing held.
//
// Input: byte 0 selects the mode (bit 0: full reassembly, bit 1: a small
// egress MTU, bit 2: tight limits). Then records of
//   flags(1) id(1) offset/8(2) length(2) payload(length)
// flags: bit 0 outside->inside, bit 1 MF, bits 2-3 protocol (UDP, TCP,
// ICMP, other), bit 4 advance the clock 1-8 s first (bits 5-7 + 1),
// bit 5 (first fragments from outside) aim at the mapped port.
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "tests/fuzz/fuzz_common.h"

namespace {

using namespace unat;        // NOLINT
using namespace unat::fuzz;  // NOLINT

constexpr uint32_t kExt = 0xcb007101;     // 203.0.113.1
constexpr uint32_t kRemote = 0xcb007102;  // 203.0.113.2
constexpr uint32_t kHost = 0x0a4d0002;    // 10.77.0.2
constexpr uint32_t kGw = 0x0a4d0001;      // 10.77.0.1

// One engine per mode, started over every so many inputs (a fresh engine
// per input costs more than the input). Every input ends with all its
// datagrams timed out, so the next starts with nothing held.
struct FragWorld {
  std::unique_ptr<Nat> nat;
  CheckingSink sink;
  NamespaceId ns = 0;
  TimeMs now = 1'000'000;
  uint16_t mapped[2] = {0, 0};  // external UDP and TCP ports of 10.77.0.2:5000
  int inputs = 0;

  explicit FragWorld(uint8_t mode) {
    NatConfig c;
    c.external_addresses = {kExt};
    c.filtering = FilteringMode::kEndpointIndependent;
    c.random_seed = 7;
    c.fragments.mode =
        (mode & 1) ? ReassemblyMode::kFull : ReassemblyMode::kVirtual;
    c.fragments.timeout_ms = 2000;
    if (mode & 2) c.outside_mtu = 576;
    if (mode & 4) {
      c.fragments.max_bytes = 65536;
      c.fragments.max_datagrams_per_namespace = 3;
      c.fragments.max_fragments_per_datagram = 4;
    }
    c.limits.max_flows = 8192;
    auto nat_or = Nat::Create(c);
    if (!nat_or.ok()) abort();
    nat = std::move(*nat_or);
    nat->SetSink(&sink);
    ns = *nat->AddNamespace({"a", kGw, 24, 1500});
  }
  // Mappings for the outside's first fragments to land on: UDP and TCP
  // from 10.77.0.2:5000 to 203.0.113.2:9 (refreshed every input).
  void Map() {
    std::vector<uint8_t> out;
    const uint8_t hello[4] = {'h', 'i', '!', '\n'};
    if (Feed(*nat, true, ns, UdpPacket(kHost, 5000, kRemote, 9, hello), now,
             &out)
            .action == Verdict::kForward) {
      mapped[0] = LoadBe16(&out[20]);
    }
    if (Feed(*nat, true, ns, TcpPacket(kHost, 5000, kRemote, 9, 1, 0, 0x02, {}),
             now, &out)
            .action == Verdict::kForward) {
      mapped[1] = LoadBe16(&out[20]);
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > 65536) return 0;
  Reader r(data, size);
  const uint8_t mode = r.U8() & 7;
  static FragWorld* worlds[8] = {};
  if (worlds[mode] == nullptr || ++worlds[mode]->inputs > 2000) {
    delete worlds[mode];
    worlds[mode] = new FragWorld(mode);
  }
  FragWorld& w = *worlds[mode];
  Nat* nat = w.nat.get();
  const NamespaceId ns = w.ns;
  TimeMs& now = w.now;
  w.Map();
  const uint16_t* mapped = w.mapped;

  static const uint8_t kProtos[4] = {kProtoUdp, kProtoTcp, kProtoIcmp, 47};
  int records = 0;
  while (!r.empty() && records++ < 256) {
    const uint8_t flags = r.U8();
    const uint8_t id = r.U8();
    const uint16_t off8 = r.U16() & 0x1fff;
    const uint16_t want = r.U16();
    auto payload = r.Bytes(want > 4000 ? 4000 : want);
    if (flags & 0x10) {
      now += ((flags >> 5) + 1) * 1000;
      nat->Advance(now);
    }
    const bool outside = flags & 1;
    const uint8_t proto = kProtos[(flags >> 2) & 3];
    std::vector<uint8_t> b =
        outside ? Ipv4Header(kRemote, kExt, proto, payload.size(), id)
                : Ipv4Header(kHost, kRemote, proto, payload.size(), id);
    b.insert(b.end(), payload.begin(), payload.end());
    if (outside && (flags & 0x20) && off8 == 0 && payload.size() >= 4 &&
        proto != kProtoIcmp) {
      StoreBe16(&b[22], mapped[proto == kProtoTcp ? 1 : 0]);
    }
    StoreBe16(&b[ipv4_field::kFragOff],
              static_cast<uint16_t>(((flags & 2) ? 0x2000 : 0) | off8));
    FixIpChecksum(b.data());
    Feed(*nat, !outside, ns, b, now);
  }
  // Everything still held times out, and then it all adds up.
  now += 60'000;
  nat->Advance(now);
  const Stats s = nat->GetStats();
  if (s.fragments_held != 0 || s.fragment_bytes_held != 0 ||
      s.fragment_datagrams != 0) {
    abort();
  }
  if (s.fragments_in !=
      s.fragments_forwarded + s.fragments_reassembled + s.fragments_dropped) {
    abort();
  }
  uint64_t by_reason = 0;
  for (uint64_t d : s.drops) by_reason += d;
  if (by_reason < s.fragments_dropped) abort();
  return 0;
}
