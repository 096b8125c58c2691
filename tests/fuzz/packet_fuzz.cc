// libFuzzer target: arbitrary bytes as packets into a full engine — both
// directions, two tenants, a forward, the FTP/TFTP/IRC helpers and the
// NAT-PMP/PCP and UPnP servers registered — so every parser that reads bytes
// from the network is reached (IPv4, L4, ICMP quotes, fragments, ALG payloads,
// NAT-PMP, PCP, and UPnP: its TCP endpoint, HTTP, SOAP/XML and SSDP).
// Invariants beyond "no crash, no sanitizer report": the engine never writes
// past the buffer, and whatever it forwards is a valid IPv4 datagram (right
// length fields, right header checksum).
//
// Build: CC=clang CXX=clang++ cmake -S . -B build-fuzz -DUNAT_FUZZ=ON ...
// Run:   build-fuzz/tests/fuzz/unat_packet_fuzz -max_total_time=60
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "engine/checksum.h"
#include "engine/nat.h"
#include "engine/wire.h"
#include "helpers/helper_set.h"
#include "portmap/nat_table.h"
#include "portmap/registry.h"
#include "portmap/server.h"
#include "portmap/upnp.h"

namespace {

using namespace unat;  // NOLINT

class CheckingSink : public PacketSink {
 public:
  void Emit(Side, NamespaceId, std::span<const uint8_t> p) override {
    std::vector<uint8_t> copy(p.begin(), p.end());
    DropReason why;
    if (!Ipv4View::Parse(copy, &why)) abort();  // engine made a bad packet
  }
};

struct World {
  CheckingSink sink;
  std::unique_ptr<Nat> nat;
  std::unique_ptr<helpers::HelperSet> helpers;
  std::unique_ptr<portmap::NatTable> table;
  std::unique_ptr<portmap::MappingRegistry> registry;
  std::unique_ptr<portmap::PortMapServer> portmap;
  std::unique_ptr<portmap::UpnpServer> upnp;
  NamespaceId ns[2] = {0, 0};
  TimeMs now = 1'000'000;
  uint64_t inputs = 0;

  World() {
    NatConfig c;
    c.external_addresses = {0xcb007101};  // 203.0.113.1
    c.filtering = FilteringMode::kEndpointIndependent;
    c.random_seed = 1;
    c.limits.max_flows = 4096;
    c.fragments.max_bytes = 1 << 20;
    nat = *Nat::Create(c);
    nat->SetSink(&sink);
    ns[0] = *nat->AddNamespace({"a", 0x0a4d0001, 24, 1500});
    ns[1] = *nat->AddNamespace({"b", 0x0a4d0001, 24, 576});
    helpers::HelperSetConfig hc;
    hc.Enable("ftp").Enable("tftp").Enable("irc");
    helpers = std::make_unique<helpers::HelperSet>(hc);
    (void)helpers->Register(*nat);
    table = std::make_unique<portmap::NatTable>(*nat);
    registry = std::make_unique<portmap::MappingRegistry>(
        table.get(), portmap::MappingPolicy{}, 1);
    portmap = std::make_unique<portmap::PortMapServer>(
        table.get(), registry.get(), portmap::PortMapConfig{}, now);
    (void)portmap->Register();
    upnp = std::make_unique<portmap::UpnpServer>(table.get(), registry.get(),
                                                 portmap::UpnpConfig{}, now);
    (void)upnp->Register();
    upnp->Start(now);
    ForwardSpec f;
    f.proto = kProtoTcp;
    f.external_port = 2121;
    f.ns = ns[0];
    f.inside_addr = 0x0a4d0002;
    f.inside_port = 21;
    (void)nat->AddForward(f, now);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* world = new World();
  World& w = *world;
  if (size < 1 || size > 65535) return 0;
  // Start over now and then so state stays bounded and reproducible-ish.
  if (++w.inputs % 20000 == 0) {
    delete world;
    world = new World();
    return 0;
  }
  if (size < 2) return 0;
  const uint8_t ctl = data[0];
  const uint8_t repair = data[1];
  const size_t n = size - 2;
  std::vector<uint8_t> buf(n + 256);
  std::memcpy(buf.data(), data + 2, n);
  // Checksums and lengths stop random bytes at the first check; the second
  // control byte lets the fuzzer ask for them to be made right, so it
  // reaches the translation, fragment, ALG and NAT-PMP/PCP code.
  const size_t hl = n >= 20 ? (buf[0] & 0x0f) * 4u : 0;
  if ((repair & 1) && hl >= 20 && hl <= n) {
    StoreBe16(&buf[2], static_cast<uint16_t>(n));
    if (repair & 2) {
      const uint8_t proto = buf[9];
      const size_t l4 = n - hl;
      uint16_t off = 0;
      if (proto == kProtoTcp && l4 >= 20) off = 16;
      if (proto == kProtoUdp && l4 >= 8) {
        StoreBe16(&buf[hl + 4], static_cast<uint16_t>(l4));
        off = 6;
      }
      if (proto == kProtoIcmp && l4 >= 8) off = 2;
      if (off) {
        StoreBe16(&buf[hl + off], 0);
        uint32_t pseudo = 0;
        if (proto != kProtoIcmp) {
          const uint32_t s = LoadBe32(&buf[12]), d = LoadBe32(&buf[16]);
          pseudo = (s >> 16) + (s & 0xffff) + (d >> 16) + (d & 0xffff) + proto +
                   static_cast<uint32_t>(l4);
        }
        StoreBe16(&buf[hl + off],
                  InternetChecksum({buf.data() + hl, l4}, pseudo));
      }
    }
    StoreBe16(&buf[10], 0);
    StoreBe16(&buf[10], InternetChecksum({buf.data(), hl}));
  }
  Packet pkt{buf.data(),
             static_cast<uint32_t>(n),
             static_cast<uint32_t>(buf.size()),
             {}};
  // Bit 2 of the repair byte: a GSO super-packet (TUN offloads) with a
  // segment size from the rest of it, as the fast path translates whole
  // and the full path cuts.
  if (repair & 4) {
    pkt.offload.needs_csum = true;
    pkt.offload.gso_type = 1;
    pkt.offload.gso_size = static_cast<uint16_t>(64 + (repair >> 3) * 32);
    // Bit 7: the checksum is still partial (as a TUN device hands it over),
    // its field at a TCP or UDP offset (bit 6) past a 20-byte header.
    if (repair & 0x80) {
      pkt.offload.csum_partial = true;
      pkt.offload.csum_start = 20;
      pkt.offload.csum_offset = (repair & 0x40) ? 16 : 6;
    }
  }
  w.now += (ctl >> 3) * 250;
  const Verdict v =
      (ctl & 1) ? w.nat->ProcessOutside(pkt, w.now)
                : w.nat->ProcessInside(w.ns[(ctl >> 1) & 1], pkt, w.now);
  if (pkt.len > pkt.capacity) abort();
  if (v.action == Verdict::kForward) {
    DropReason why;
    if (!Ipv4View::Parse({pkt.data, pkt.len}, &why)) abort();
  }
  if (ctl & 4) {
    w.nat->Advance(w.now);
    w.portmap->Tick(w.now, &w.sink);
    w.upnp->Tick(w.now, &w.sink);
  }
  return 0;
}
