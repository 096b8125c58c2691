// A TUN device (/dev/net/tun, IFF_TUN | IFF_NO_PI), non-blocking, created or
// attached by name, possibly inside another network namespace.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/types.h"
#include "tun/coalesce.h"

namespace unat::tun {

struct DeviceCounters {
  uint64_t rx_packets = 0;
  uint64_t rx_bytes = 0;
  uint64_t rx_errors = 0;
  uint64_t tx_packets = 0;
  uint64_t tx_bytes = 0;
  uint64_t tx_dropped_full = 0;  // EAGAIN / ENOBUFS: the queue is full
  uint64_t tx_errors = 0;
  // Offloads: super-packets read and written, partial checksums completed.
  uint64_t rx_super_packets = 0;
  uint64_t tx_super_packets = 0;
  uint64_t rx_csum_completed = 0;
  // Coalescing on write: packets that went out merged into super-packets
  // (tx_super_packets counts those too), and whether the device refused
  // one (then it gets plain packets only).
  uint64_t tx_coalesced = 0;
  uint64_t tx_super_refused = 0;
  // Read batches (the daemon's per wake-up drain): how many, the packets in
  // them, and per size bucket (i: more than 2^(i-1), at most 2^i packets).
  static constexpr int kBatchBuckets = 9;  // up to 256
  uint64_t read_batches = 0;
  uint64_t read_batch_packets = 0;
  uint64_t read_batch_buckets[kBatchBuckets] = {};
};

// Sees the packets a device reads and writes (unatctl capture). A device
// with no tap pays one predictable branch per packet for it.
class PacketTap {
 public:
  virtual ~PacketTap() = default;
  // `written`: false for a packet read from the device, true for one written
  // to it (written whole; a write the device refused is not seen).
  virtual void Tapped(bool written, const uint8_t* data, size_t len) = 0;
};

class TunDevice : public GatherWriter {
 public:
  struct Options {
    std::string name;   // device name, at most 15 characters
    std::string netns;  // network namespace (see NetnsPath); empty: ours
    uint32_t mtu = 0;   // 0: leave the MTU as it is
    // Raise the transmit queue to at least this many packets; 0: leave it.
    uint32_t tx_queue_len = 0;
    bool bring_up = true;
    // IFF_VNET_HDR with TUNSETOFFLOAD: checksum offload, TSO4 and, where
    // the kernel has it (6.2+), USO4. What the kernel refuses stays off.
    bool offload = false;
  };

  // Attaches to the device `name` (a persistent one made with
  // `ip tuntap add`), or creates it when it does not exist.
  static absl::StatusOr<std::unique_ptr<TunDevice>> Open(
      const Options& options);
  ~TunDevice() override;
  TunDevice(const TunDevice&) = delete;
  TunDevice& operator=(const TunDevice&) = delete;

  int fd() const { return fd_; }
  const std::string& name() const { return options_.name; }
  const std::string& netns() const { return options_.netns; }
  // The device's MTU once opened (the configured one, or what it had).
  uint32_t mtu() const { return mtu_; }

  // One packet into `buf`. Returns its length, 0 when nothing is waiting,
  // -1 on an error (counted; errno says which). With offloads on, the
  // packet may be a super-packet (up to 64 KB, `info->gso_size` its
  // segment payload size), and its L4 checksum may be partial
  // (CHECKSUM_PARTIAL: `info->needs_csum` and `info->csum_partial` set, the
  // field holding the pseudo-header sum; the engine completes it where it
  // must, see OffloadInfo). `info` must not be null with offloads.
  ssize_t Read(uint8_t* buf, size_t capacity, OffloadInfo* info = nullptr);
  // One packet out. A full queue or an error is a counted drop; returns
  // whether the packet was written.
  bool Write(const uint8_t* data, size_t len);
  // The same for a packet Read() gave `info` for: with offloads on, a
  // super-packet goes out as one for the kernel to segment, and the L4
  // checksum of one that came partial goes out partial again (its field
  // rewritten to the pseudo-header sum: `data` is changed).
  bool Write(uint8_t* data, size_t len, const OffloadInfo& info);

  // GatherWriter (coalescing on write): TSO4 / USO4 with checksum offload
  // taken, and no super-packet refused yet.
  bool TakesTcpSuper() const override;
  bool TakesUdpSuper() const override;
  void WritePacket(uint8_t* data, size_t len,
                   const OffloadInfo& info) override {
    Write(data, len, info);
  }
  Result WriteGathered(const OffloadInfo& info, const struct iovec* parts,
                       int count, size_t len, uint32_t segments) override;
  void StopSuper() override;

  // The TUN_F_* offloads the kernel took (0: none; vnet_hdr() may still be
  // on).
  unsigned offloads() const { return offloads_; }
  bool vnet_hdr() const { return vnet_hdr_; }

  const DeviceCounters& counters() const { return counters_; }
  // One read batch of `packets` (> 0) packets.
  void CountBatch(uint32_t packets) {
    ++counters_.read_batches;
    counters_.read_batch_packets += packets;
    int b = 0;
    while (b + 1 < DeviceCounters::kBatchBuckets && (1u << b) < packets) ++b;
    ++counters_.read_batch_buckets[b];
  }

  // Shows every packet read or written to `tap` from now on; null: none.
  void set_tap(PacketTap* tap) { tap_ = tap; }
  PacketTap* tap() const { return tap_; }

 private:
  TunDevice(int fd, Options options, uint32_t mtu)
      : fd_(fd), options_(std::move(options)), mtu_(mtu) {}
  bool WriteVnet(const void* hdr, const uint8_t* data, size_t len);
  // writev() of the packet `data` (with the vnet header first when
  // `count` is 2), counted and tapped.
  bool WriteIov(const struct iovec* iov, int count, const uint8_t* data,
                size_t len);

  int fd_;
  bool vnet_hdr_ = false;
  unsigned offloads_ = 0;
  bool super_refused_ = false;
  Options options_;
  uint32_t mtu_ = 0;
  DeviceCounters counters_;
  PacketTap* tap_ = nullptr;
};

}  // namespace unat::tun
