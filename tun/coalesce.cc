#include "tun/coalesce.h"

#include <cstring>

#include "engine/checksum.h"

namespace unat::tun {
namespace {

constexpr uint8_t kTcpAck = 0x10;
constexpr uint8_t kTcpPsh = 0x08;
constexpr uint8_t kGsoTcpV4 = 1;    // VIRTIO_NET_HDR_GSO_TCPV4
constexpr uint8_t kGsoUdpL4 = 5;    // VIRTIO_NET_HDR_GSO_UDP_L4
constexpr uint32_t kIpHeader = 20;  // no options: the only kind merged

}  // namespace

bool Coalescer::KeyOf(const uint8_t* data, uint32_t len, Key* key) {
  if (len < kIpHeader || (data[0] >> 4) != 4) return false;
  const uint8_t proto = data[9];
  if (proto != kProtoTcp && proto != kProtoUdp) return false;
  key->src = LoadBe32(data + 12);
  key->dst = LoadBe32(data + 16);
  key->proto = proto;
  key->ports = 0;
  return true;
}

bool Coalescer::Parse(const uint8_t* data, uint32_t len,
                      const OffloadInfo& info, Shape* s) {
  if (info.gso_size != 0 || len < kIpHeader + 8) return false;
  if (data[0] != 0x45) return false;  // IPv4, no options
  if (LoadBe16(data + 2) != len) return false;
  // A damaged IP header is not made whole by merging either.
  if (InternetChecksum({data, kIpHeader}) != 0) return false;
  const uint16_t frag = LoadBe16(data + 6);
  if ((frag & 0x3fff) != 0) return false;  // MF or an offset: a fragment
  s->df = (frag & 0x4000) != 0;
  s->key.src = LoadBe32(data + 12);
  s->key.dst = LoadBe32(data + 16);
  s->key.proto = data[9];
  s->key.ports = LoadBe32(data + kIpHeader);
  if (s->key.proto == kProtoTcp) {
    if (len < kIpHeader + 20) return false;
    const uint32_t thl = static_cast<uint32_t>(data[kIpHeader + 12] >> 4) * 4;
    if (thl < 20 || kIpHeader + thl >= len) return false;  // no payload
    s->flags = data[kIpHeader + 13];
    if ((s->flags & ~(kTcpAck | kTcpPsh)) != 0 || (s->flags & kTcpAck) == 0) {
      return false;  // SYN, FIN, RST, URG, ECE, CWR: as it is
    }
    s->headers = kIpHeader + thl;
  } else if (s->key.proto == kProtoUdp) {
    if (LoadBe16(data + kIpHeader + 4) != len - kIpHeader) return false;
    if (LoadBe16(data + kIpHeader + 6) == 0) return false;  // no checksum
    if (len == kIpHeader + 8) return false;                 // no payload
    s->headers = kIpHeader + 8;
  } else {
    return false;
  }
  s->payload = len - s->headers;
  return true;
}

bool Coalescer::ChecksumOk(const uint8_t* data, uint32_t len,
                           const OffloadInfo& info) {
  // A partial checksum is the kernel's to compute (or one the engine
  // completed): nothing to hide.
  if (info.needs_csum) return true;
  if (TransportChecksum(LoadBe32(data + 12), LoadBe32(data + 16), data[9],
                        {data + kIpHeader, len - kIpHeader}) == 0) {
    return true;
  }
  ++counters_.bad_checksum;
  return false;
}

bool Coalescer::CanJoin(const Group& g, const uint8_t* data, uint32_t len,
                        const Shape& s) const {
  if (g.closed || s.headers != g.headers || s.payload > g.seg_size) {
    return false;
  }
  if (g.segments >= kMaxSegments ||
      g.headers + g.payload + s.payload > kMaxLength) {
    return false;
  }
  const uint8_t* f = g.first;
  // TOS and TTL; DF alike, and with DF clear the IDs one apart.
  if (data[1] != f[1] || data[8] != f[8]) return false;
  // The flags word whole (DF, and the reserved bit).
  if (LoadBe16(data + 6) != LoadBe16(f + 6)) return false;
  if (!s.df && LoadBe16(data + 4) != g.next_id) return false;
  if (g.key.proto == kProtoTcp) {
    if (LoadBe32(data + kIpHeader + 4) != g.next_seq) return false;
    // ACK, the reserved bits, window, urgent pointer and options as the
    // first's (flags were checked by Parse; the checksum is made anew).
    if (std::memcmp(data + kIpHeader + 8, f + kIpHeader + 8, 5) != 0 ||
        std::memcmp(data + kIpHeader + 14, f + kIpHeader + 14, 2) != 0 ||
        std::memcmp(data + kIpHeader + 18, f + kIpHeader + 18, 2) != 0 ||
        std::memcmp(data + kIpHeader + 20, f + kIpHeader + 20,
                    g.headers - kIpHeader - 20) != 0) {
      return false;
    }
  }
  (void)len;
  return true;
}

void Coalescer::Start(Group* g, GatherWriter* out, uint8_t* data, uint32_t len,
                      const OffloadInfo& info, const Shape& s) {
  g->out = out;
  g->key = s.key;
  g->first = data;
  g->first_len = len;
  g->first_info = info;
  g->headers = s.headers;
  g->seg_size = s.payload;
  g->payload = s.payload;
  g->segments = 1;
  g->next_id = static_cast<uint16_t>(LoadBe16(data + 4) + 1);
  g->psh = (s.flags & kTcpPsh) != 0;
  g->closed = g->psh;
  if (s.key.proto == kProtoTcp) {
    g->next_seq = LoadBe32(data + kIpHeader + 4) + s.payload;
  }
  g->parts.clear();
  g->parts.push_back({data, len});
  g->infos.clear();
  g->infos.push_back(info);
}

void Coalescer::Join(Group* g, uint8_t* data, const OffloadInfo& info,
                     const Shape& s) {
  g->parts.push_back({data + s.headers, s.payload});
  g->infos.push_back(info);
  g->payload += s.payload;
  ++g->segments;
  g->next_id = static_cast<uint16_t>(g->next_id + 1);
  g->next_seq += s.payload;
  if (s.payload < g->seg_size) g->closed = true;  // the last may be short
  if ((s.flags & kTcpPsh) != 0) {
    g->psh = true;
    g->closed = true;
  }
}

void Coalescer::WriteGroup(Group* g) {
  if (g->segments == 1) {
    g->out->WritePacket(g->first, g->first_len, g->first_info);
    return;
  }
  uint8_t* p = g->first;
  const bool tcp = g->key.proto == kProtoTcp;
  // Kept to write the packets one by one if the device refuses the whole.
  uint8_t saved[kIpHeader + 60];
  std::memcpy(saved, p, g->headers);
  const uint32_t total = g->headers + g->payload;
  StoreBe16(p + 2, static_cast<uint16_t>(total));
  StoreBe16(p + 10, 0);
  StoreBe16(p + 10, InternetChecksum({p, kIpHeader}));
  const uint32_t l4_len = total - kIpHeader;
  uint32_t field;
  if (tcp) {
    if (g->psh) p[kIpHeader + 13] |= kTcpPsh;
    field = kIpHeader + 16;
  } else {
    StoreBe16(p + kIpHeader + 4, static_cast<uint16_t>(l4_len));
    field = kIpHeader + 6;
  }
  // CHECKSUM_PARTIAL: the field holds the pseudo-header sum, uncomplemented.
  StoreBe16(p + field, Fold(PseudoHeaderSum(g->key.src, g->key.dst,
                                            g->key.proto, l4_len)));
  OffloadInfo info;
  info.needs_csum = true;
  info.csum_start = kIpHeader;
  info.csum_offset = static_cast<uint16_t>(field - kIpHeader);
  info.gso_type = tcp ? kGsoTcpV4 : kGsoUdpL4;
  info.gso_size = static_cast<uint16_t>(g->seg_size);
  const GatherWriter::Result r = g->out->WriteGathered(
      info, g->parts.data(), static_cast<int>(g->parts.size()), total,
      g->segments);
  if (r != GatherWriter::Result::kRefused) {
    if (r == GatherWriter::Result::kWritten) {
      ++counters_.super_packets;
      counters_.merged += g->segments;
    }
    return;
  }
  // This kernel refuses what it said it takes (Linux 6.1-6.10 stable
  // kernels with a broken virtio_net_hdr check did): plain packets from
  // now on, and these go out as they came.
  ++counters_.refused;
  g->out->StopSuper();
  std::memcpy(p, saved, g->headers);
  g->out->WritePacket(p, g->first_len, g->first_info);
  for (size_t i = 1; i < g->parts.size(); ++i) {
    uint8_t* payload = static_cast<uint8_t*>(g->parts[i].iov_base);
    uint8_t* head = payload - g->headers;
    const uint32_t len =
        g->headers + static_cast<uint32_t>(g->parts[i].iov_len);
    g->out->WritePacket(head, len, g->infos[i]);
  }
}

Coalescer::Group* Coalescer::Find(GatherWriter* out, const Key& key) {
  for (int i = 0; i < open_; ++i) {
    if (groups_[i].out == out && groups_[i].key == key) return &groups_[i];
  }
  return nullptr;
}

Coalescer::Group* Coalescer::FreeGroup() {
  if (open_ == kMaxGroups) {
    WriteGroup(&groups_[0]);
    // Keep the order of the rest (oldest first): rotate the written slot
    // (its vector's storage reused) to the end.
    Group done = std::move(groups_[0]);
    for (int i = 1; i < kMaxGroups; ++i) groups_[i - 1] = std::move(groups_[i]);
    groups_[kMaxGroups - 1] = std::move(done);
    --open_;
  }
  return &groups_[open_++];
}

void Coalescer::Add(GatherWriter* out, uint8_t* data, uint32_t len,
                    const OffloadInfo& info) {
  Shape s;
  const bool tcp_or_udp = Parse(data, len, info, &s);
  const bool takes =
      tcp_or_udp &&
      (s.key.proto == kProtoTcp ? out->TakesTcpSuper() : out->TakesUdpSuper());
  if (!takes || !ChecksumOk(data, len, info)) {
    // Written now; but first what is held of its flow (any ports: a
    // fragment has none), so that the flow keeps its order.
    Key key;
    if (KeyOf(data, len, &key)) {
      for (int i = 0; i < open_;) {
        Group& g = groups_[i];
        if (g.out == out && g.key.src == key.src && g.key.dst == key.dst &&
            g.key.proto == key.proto) {
          WriteGroup(&g);
          Group done = std::move(g);
          for (int j = i + 1; j < open_; ++j) {
            groups_[j - 1] = std::move(groups_[j]);
          }
          groups_[open_ - 1] = std::move(done);
          --open_;
        } else {
          ++i;
        }
      }
    }
    out->WritePacket(data, len, info);
    return;
  }
  Group* g = Find(out, s.key);
  if (g != nullptr && CanJoin(*g, data, len, s)) {
    Join(g, data, info, s);
    return;
  }
  if (g != nullptr) {
    // The flow goes on in a new group, after the old one is written.
    WriteGroup(g);
    Start(g, out, data, len, info, s);
    // It is now the newest: move it to the end.
    const int at = static_cast<int>(g - groups_);
    Group moved = std::move(groups_[at]);
    for (int j = at + 1; j < open_; ++j) groups_[j - 1] = std::move(groups_[j]);
    groups_[open_ - 1] = std::move(moved);
    return;
  }
  Start(FreeGroup(), out, data, len, info, s);
}

void Coalescer::Flush() {
  for (int i = 0; i < open_; ++i) WriteGroup(&groups_[i]);
  open_ = 0;
}

}  // namespace unat::tun
