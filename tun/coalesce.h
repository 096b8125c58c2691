// GRO-style coalescing on write (TUN offloads): consecutive in-order TCP
// segments of one flow, and same-sized UDP datagrams of one flow, that were
// read as plain packets leave as one super-packet for the kernel to cut
// back into exactly those packets (TSO4 / USO4 on the device written to).
// One write instead of up to 64.
//
// What merges is what the kernel's segmentation gives back bit for bit:
// IPv4 without options, unfragmented, the same addresses, ports, TOS, TTL
// and DF; IP IDs one apart (or DF set, where the ID means nothing: RFC
// 6864); TCP with the same ACK, window and options, ACK (PSH on the last
// one only) and no other flag, each segment's SEQ following the last, every
// payload the first one's size but the last, which may be smaller; UDP with
// a checksum, every payload the first one's size but the last. A packet
// whose L4 checksum is wrong never merges (a super-packet's checksums are
// computed anew: merging it would hide the damage).
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/types.h"

namespace unat::tun {

struct CoalesceCounters {
  uint64_t super_packets = 0;  // super-packets made
  uint64_t merged = 0;         // packets that went out inside one
  uint64_t bad_checksum = 0;   // packets not merged: their checksum was bad
  uint64_t refused = 0;        // super-packets the device refused
};

// Where coalesced packets go (a TunDevice; a fake in tests).
class GatherWriter {
 public:
  enum class Result : uint8_t {
    kWritten,
    kDropped,  // counted by the writer (a full queue, an error)
    kRefused,  // the device does not take this super-packet (EINVAL)
  };
  virtual ~GatherWriter() = default;
  // Whether super-packets of TCP (TSO4) and UDP (USO4) may be written.
  virtual bool TakesTcpSuper() const = 0;
  virtual bool TakesUdpSuper() const = 0;
  // One packet as read (`info` as Read() gave it).
  virtual void WritePacket(uint8_t* data, size_t len,
                           const OffloadInfo& info) = 0;
  // A super-packet of `segments` packets: `parts[0]` is the first packet
  // whole (its headers rewritten for the whole, the L4 checksum field
  // holding the pseudo-header sum), the rest the other packets' payloads.
  // `info` says how the kernel is to cut it.
  virtual Result WriteGathered(const OffloadInfo& info,
                               const struct iovec* parts, int count, size_t len,
                               uint32_t segments) = 0;
  // The device refused a super-packet: write plain packets from now on.
  virtual void StopSuper() = 0;
};

class Coalescer {
 public:
  static constexpr uint32_t kMaxSegments = 64;  // the kernel's UDP limit
  static constexpr uint32_t kMaxLength = 65535;
  static constexpr int kMaxGroups = 8;  // flows open at once in a batch

  // Packets of one batch, in order. `data` must stay valid (and is
  // rewritten in place) until Flush(); packets of one flow leave in the
  // order they came, whatever else is written between them.
  void Add(GatherWriter* out, uint8_t* data, uint32_t len,
           const OffloadInfo& info);
  // Writes what is still held: at the end of each batch.
  void Flush();

  const CoalesceCounters& counters() const { return counters_; }

 private:
  struct Key {
    uint32_t src = 0;
    uint32_t dst = 0;
    uint32_t ports = 0;
    uint8_t proto = 0;
    bool operator==(const Key&) const = default;
  };
  struct Group {
    GatherWriter* out = nullptr;
    Key key;
    uint8_t* first = nullptr;
    uint32_t first_len = 0;
    OffloadInfo first_info;
    uint32_t headers = 0;   // IP + L4 header length
    uint32_t seg_size = 0;  // the first packet's payload size
    uint32_t payload = 0;   // payload bytes in the group
    uint32_t segments = 0;
    uint32_t next_seq = 0;  // TCP
    uint16_t next_id = 0;
    bool psh = false;     // the last TCP segment had PSH
    bool closed = false;  // nothing more may join
    std::vector<struct iovec> parts;
    std::vector<OffloadInfo> infos;  // each part's, as it came
  };
  // The shape of an IPv4 TCP/UDP packet that may join or start a group;
  // false for anything else (written as it is).
  struct Shape {
    Key key;
    uint32_t headers = 0;
    uint32_t payload = 0;
    uint8_t flags = 0;  // TCP
    bool df = false;
  };
  static bool Parse(const uint8_t* data, uint32_t len, const OffloadInfo& info,
                    Shape* shape);
  static bool KeyOf(const uint8_t* data, uint32_t len, Key* key);
  bool ChecksumOk(const uint8_t* data, uint32_t len, const OffloadInfo& info);
  bool CanJoin(const Group& g, const uint8_t* data, uint32_t len,
               const Shape& s) const;
  void Start(Group* g, GatherWriter* out, uint8_t* data, uint32_t len,
             const OffloadInfo& info, const Shape& s);
  void Join(Group* g, uint8_t* data, const OffloadInfo& info, const Shape& s);
  void WriteGroup(Group* g);
  Group* Find(GatherWriter* out, const Key& key);
  Group* FreeGroup();  // writes the oldest when all are open

  Group groups_[kMaxGroups];
  int open_ = 0;  // groups_[0, open_) are open, oldest first
  CoalesceCounters counters_;
};

}  // namespace unat::tun
