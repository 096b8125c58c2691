// libFuzzer target: coalescing on write (tun/coalesce.h). A batch of
// packets goes through a Coalescer into a fake device that cuts every
// super-packet as the kernel would.
//
// Oracle beyond sanitizers: what the device gets, cut back, is exactly
// what went in, flow by flow and in order (a flow: addresses, protocol and,
// unfragmented, the ports; the IP ID of a DF packet may differ, as DF makes
// it meaningless), and no super-packet breaks the kernel's limits.
//
// Input: byte 0: bit 0 the device takes TCP super-packets, bit 1 UDP ones,
// bit 2 it refuses them (EINVAL). Then records of ctl(1) + packet(record):
// ctl bit 0 repair the IP header (0x45, length, checksum), bit 1 set
// the L4 length and checksum right, bit 2 make SEQ and IP ID follow the
// last packet of the same ports, bit 3 start the next batch (Flush) first.
#include <cstdint>
#include <cstdlib>
#include <map>
#include <tuple>
#include <vector>

#include "tests/fuzz/fuzz_common.h"
#include "tun/coalesce.h"
#include "tun/coalesce_testing.h"

namespace {

using namespace unat;       // NOLINT
using namespace unat::tun;  // NOLINT
using Bytes = std::vector<uint8_t>;
using FlowKey = std::tuple<uint32_t, uint32_t, uint8_t, int64_t>;

FlowKey KeyOf(const Bytes& b) {
  if (b.size() < 20 || (b[0] >> 4) != 4) return {0, 0, 0, -1};
  const bool frag = (LoadBe16(b.data() + 6) & 0x3fff) != 0;
  const size_t hl = static_cast<size_t>(b[0] & 0x0f) * 4;
  int64_t ports = -2;
  if (!frag && (b[9] == kProtoTcp || b[9] == kProtoUdp) && b.size() >= hl + 4) {
    ports = LoadBe32(b.data() + hl);
  }
  return {LoadBe32(b.data() + 12), LoadBe32(b.data() + 16), b[9], ports};
}

class Device : public GatherWriter {
 public:
  bool tcp = false, udp = false, refuse = false, stopped = false;
  std::vector<Bytes> got;

  bool TakesTcpSuper() const override { return tcp && !stopped; }
  bool TakesUdpSuper() const override { return udp && !stopped; }
  void WritePacket(uint8_t* data, size_t len, const OffloadInfo&) override {
    got.emplace_back(data, data + len);
  }
  Result WriteGathered(const OffloadInfo& info, const struct iovec* parts,
                       int count, size_t len, uint32_t segments) override {
    if (count < 2 || segments > Coalescer::kMaxSegments ||
        len > Coalescer::kMaxLength || info.gso_size == 0) {
      abort();
    }
    if (refuse) return Result::kRefused;
    Bytes s;
    for (int i = 0; i < count; ++i) {
      const uint8_t* b = static_cast<const uint8_t*>(parts[i].iov_base);
      s.insert(s.end(), b, b + parts[i].iov_len);
    }
    if (s.size() != len || LoadBe16(s.data() + 2) != len) abort();
    auto cut = testing::CutLikeKernel(s, info);
    if (cut.size() != segments) abort();
    got.insert(got.end(), cut.begin(), cut.end());
    return Result::kWritten;
  }
  void StopSuper() override { stopped = true; }
};

void Check(const std::vector<Bytes>& in, const std::vector<Bytes>& out) {
  std::map<FlowKey, std::vector<const Bytes*>> a, b;
  for (const Bytes& p : in) a[KeyOf(p)].push_back(&p);
  for (const Bytes& p : out) b[KeyOf(p)].push_back(&p);
  if (a.size() != b.size()) abort();
  for (auto& [key, list] : a) {
    auto it = b.find(key);
    if (it == b.end() || it->second.size() != list.size()) abort();
    for (size_t i = 0; i < list.size(); ++i) {
      Bytes x = *list[i], y = *it->second[i];
      if (x.size() != y.size()) abort();
      if (x.size() >= 20 && (LoadBe16(x.data() + 6) & 0x4000) != 0 && x != y) {
        // DF: the ID (and so the IP checksum) may differ.
        x[4] = y[4], x[5] = y[5], x[10] = y[10], x[11] = y[11];
      }
      if (x != y) abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Reader r(data, size);
  const uint8_t mode = r.U8();
  Device dev;
  dev.tcp = mode & 1;
  dev.udp = mode & 2;
  dev.refuse = mode & 4;
  std::vector<Bytes> in;
  std::vector<bool> starts_batch;
  std::map<FlowKey, std::pair<uint32_t, uint16_t>> next;  // SEQ, ID
  while (!r.empty() && in.size() < 300) {
    const uint8_t ctl = r.U8();
    auto rec = r.Record(2000);
    Bytes p(rec.begin(), rec.end());
    if (p.size() >= 20 && (ctl & 1)) {
      p[0] = 0x45;
      StoreBe16(p.data() + 2, static_cast<uint16_t>(p.size()));
    }
    const bool v4 = p.size() >= 28 && p[0] == 0x45;
    if (v4 && (ctl & 4)) {
      auto it = next.find(KeyOf(p));
      if (it != next.end()) {
        if (p[9] == kProtoTcp && p.size() >= 40) {
          StoreBe32(p.data() + 24, it->second.first);
        }
        StoreBe16(p.data() + 4, it->second.second);
      }
    }
    if (v4 && (ctl & 2)) {
      if (p[9] == kProtoUdp) {
        StoreBe16(p.data() + 24, static_cast<uint16_t>(p.size() - 20));
        testing::SetL4Checksum(&p);
      } else if (p[9] == kProtoTcp && p.size() >= 40) {
        testing::SetL4Checksum(&p);
      }
    }
    if (p.size() >= 20 && (ctl & 1)) testing::SetIpChecksum(p.data());
    if (v4) {
      const bool tcp = p[9] == kProtoTcp && p.size() >= 40;
      const size_t hdr = tcp ? 20 + static_cast<size_t>(p[32] >> 4) * 4 : 28;
      const uint32_t pay =
          p.size() > hdr ? static_cast<uint32_t>(p.size() - hdr) : 0;
      const uint32_t seq = tcp ? LoadBe32(p.data() + 24) : 0;
      next[KeyOf(p)] = {seq + pay,
                        static_cast<uint16_t>(LoadBe16(p.data() + 4) + 1)};
    }
    in.push_back(std::move(p));
    starts_batch.push_back((ctl & 8) != 0);
  }
  // The coalescer rewrites and points into the packets until Flush: hand it
  // copies that stay put.
  std::vector<Bytes> work = in;
  Coalescer c;
  for (size_t i = 0; i < work.size(); ++i) {
    if (starts_batch[i]) c.Flush();
    c.Add(&dev, work[i].data(), static_cast<uint32_t>(work[i].size()),
          OffloadInfo{});
  }
  c.Flush();
  Check(in, dev.got);
  return 0;
}
