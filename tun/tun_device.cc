#include "tun/tun_device.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/checksum.h"
#include "tun/log.h"
#include "tun/netns.h"
#include "tun/privileges.h"

namespace unat::tun {
namespace {

// Newer than Debian 12's headers (kernel 6.2): UDP segmentation offload.
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

// struct virtio_net_hdr (linux/virtio_net.h, which C++ cannot include: a
// member there is named `class`), native byte order as on every
// little-endian host without TUNSETVNETLE.
struct virtio_net_hdr {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
};
constexpr uint8_t VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
constexpr uint8_t VIRTIO_NET_HDR_GSO_TCPV4 = 1;
constexpr uint8_t VIRTIO_NET_HDR_GSO_UDP_L4 = 5;
constexpr uint8_t VIRTIO_NET_HDR_GSO_ECN = 0x80;
constexpr size_t kVnetHdr = sizeof(virtio_net_hdr);
static_assert(kVnetHdr == 10);

absl::Status Errno(const std::string& what) {
  return absl::UnavailableError(absl::StrCat(what, ": ", strerror(errno)));
}

// Whether the process may configure network devices (CAP_NET_ADMIN in its
// effective set), from /proc/self/status.
bool HasNetAdmin() {
  auto caps = ReadCapabilitySets();
  return caps.ok() && (caps->effective & (uint64_t{1} << CAP_NET_ADMIN)) != 0;
}

// Sets the MTU and the up flag through an AF_INET socket of the current
// network namespace. Only what differs is changed, so that an unprivileged
// unatd (no CAP_NET_ADMIN) attaches to a device an administrator already
// configured: a different MTU it cannot set is an error naming the command
// to run instead; a device it cannot bring up is logged and left down.
absl::Status ConfigureLink(const std::string& name, uint32_t mtu, bool bring_up,
                           uint32_t tx_queue_len, uint32_t* effective_mtu) {
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return Errno("socket");
  absl::Status status;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (ioctl(sock, SIOCGIFMTU, &ifr) != 0) {
    status = Errno(absl::StrCat("reading the MTU of ", name));
  } else if (mtu != 0 && static_cast<uint32_t>(ifr.ifr_mtu) != mtu) {
    const int had = ifr.ifr_mtu;
    ifr.ifr_mtu = static_cast<int>(mtu);
    if (ioctl(sock, SIOCSIFMTU, &ifr) != 0) {
      if (errno == EPERM) {
        status = absl::PermissionDeniedError(absl::StrCat(
            "its MTU is ", had, ", the config says ", mtu,
            ", and unatd may not change it (no CAP_NET_ADMIN); set it "
            "beforehand with: ip link set dev ",
            name, " mtu ", mtu));
      } else {
        status = Errno(absl::StrCat("setting MTU ", mtu, " on ", name));
      }
    } else if (ioctl(sock, SIOCGIFMTU, &ifr) != 0) {
      status = Errno(absl::StrCat("reading the MTU of ", name));
    }
  }
  if (status.ok()) *effective_mtu = static_cast<uint32_t>(ifr.ifr_mtu);
  if (status.ok() && tx_queue_len != 0) {
    // Raised, never lowered (an administrator's longer queue stays).
    struct ifreq q;
    memset(&q, 0, sizeof(q));
    strncpy(q.ifr_name, name.c_str(), IFNAMSIZ - 1);
    if (ioctl(sock, SIOCGIFTXQLEN, &q) == 0 &&
        static_cast<uint32_t>(q.ifr_qlen) < tx_queue_len) {
      const int had = q.ifr_qlen;
      q.ifr_qlen = static_cast<int>(tx_queue_len);
      if (ioctl(sock, SIOCSIFTXQLEN, &q) != 0) {
        LogWarn(
            "device %s: transmit queue %d packets, %u wanted (tx_queue_len) "
            "and unatd may not change it (%s); set it with: ip link set dev "
            "%s txqueuelen %u",
            name, had, tx_queue_len, strerror(errno), name, tx_queue_len);
      }
    }
  }
  if (status.ok() && bring_up) {
    if (ioctl(sock, SIOCGIFFLAGS, &ifr) != 0) {
      status = Errno(absl::StrCat("reading flags of ", name));
    } else if ((ifr.ifr_flags & IFF_UP) == 0) {
      ifr.ifr_flags |= IFF_UP;
      if (ioctl(sock, SIOCSIFFLAGS, &ifr) != 0) {
        if (errno == EPERM) {
          LogWarn(
              "device %s is down and unatd may not bring it up (no "
              "CAP_NET_ADMIN); it carries nothing until: ip link set dev %s "
              "up",
              name, name);
        } else {
          status = Errno(absl::StrCat("bringing ", name, " up"));
        }
      }
    }
  }
  close(sock);
  return status;
}

// The index of device `name` in the current network namespace; 0: none.
unsigned IfIndex(const std::string& name) {
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return 0;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  unsigned index = 0;
  if (ioctl(sock, SIOCGIFINDEX, &ifr) == 0) {
    index = static_cast<unsigned>(ifr.ifr_ifindex);
  }
  close(sock);
  return index;
}

// /sys/class/net/NAME/FILE as a number, when that sysfs view shows the
// device with index `ifindex` (sysfs shows the network namespace it was
// mounted in, which need not be ours).
std::optional<long> SysfsNumber(const std::string& name, unsigned ifindex,
                                const char* file) {
  auto read = [&](const char* what) -> std::optional<long> {
    std::ifstream in(absl::StrCat("/sys/class/net/", name, "/", what));
    long v = 0;
    if (!(in >> v)) return std::nullopt;
    return v;
  };
  std::optional<long> index = read("ifindex");
  if (!index || *index != static_cast<long>(ifindex)) return std::nullopt;
  return read(file);
}

// Why TUNSETIFF said EPERM, in one line: the device is missing (and only
// CAP_NET_ADMIN may create one) or it belongs to another user or group.
absl::Status AttachRefused(const std::string& name, const std::string& netns) {
  const uid_t uid = geteuid();
  const std::string user = UserName(uid);
  const std::string create =
      absl::StrCat("ip ", netns.empty() ? "" : absl::StrCat("-n ", netns, " "),
                   "tuntap add dev ", name, " mode tun user ", user);
  unsigned ifindex = IfIndex(name);
  if (ifindex == 0) {
    return absl::NotFoundError(absl::StrCat(
        "does not exist, and unatd, ", DescribeUid(uid),
        ", may not create it (no CAP_NET_ADMIN); create it with: ", create));
  }
  std::string owner = "another user";
  std::optional<long> o = SysfsNumber(name, ifindex, "owner");
  std::optional<long> g = SysfsNumber(name, ifindex, "group");
  if (o && *o >= 0) {
    owner = DescribeUid(static_cast<uid_t>(*o));
  } else if (g && *g >= 0) {
    owner = absl::StrCat("group ", *g);
  }
  return absl::PermissionDeniedError(
      absl::StrCat("belongs to ", owner, ", not to unatd's ", DescribeUid(uid),
                   "; make one for this user with: ip ",
                   netns.empty() ? "" : absl::StrCat("-n ", netns, " "),
                   "tuntap del dev ", name, " mode tun && ", create));
}

}  // namespace

absl::StatusOr<std::unique_ptr<TunDevice>> TunDevice::Open(
    const Options& options) {
  if (options.name.empty() || options.name.size() >= IFNAMSIZ) {
    return absl::InvalidArgumentError(
        absl::StrCat("device name \"", options.name, "\" must have 1..",
                     IFNAMSIZ - 1, " characters"));
  }
  int fd = -1;
  uint32_t mtu = 0;
  unsigned offloads = 0;
  absl::Status status = RunInNetns(options.netns, [&]() -> absl::Status {
    fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 && (errno == EACCES || errno == EPERM)) {
      const std::string why = strerror(errno);
      return absl::PermissionDeniedError(absl::StrCat(
          "/dev/net/tun: ", why, " (unatd runs as ", DescribeUid(geteuid()),
          "; the node must be readable and writable by it, as udev makes it: "
          "mode 0666)"));
    }
    if (fd < 0) return Errno("/dev/net/tun");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    if (options.offload) ifr.ifr_flags |= IFF_VNET_HDR;
    strncpy(ifr.ifr_name, options.name.c_str(), IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
      if (errno == EPERM && !HasNetAdmin()) {
        return AttachRefused(options.name, options.netns);
      }
      if (errno == EBUSY) {
        return absl::UnavailableError(
            "TUNSETIFF: busy (another process has it open)");
      }
      return Errno(absl::StrCat("TUNSETIFF ", options.name,
                                " (is it a TUN device without pi, "
                                "vnet_hdr and multi_queue?)"));
    }
    if (options.offload) {
      // The most the kernel takes: with USO (6.2+; the kernel takes USO4
      // only together with USO6: IPv6 is dropped as ever), else without; a
      // kernel that takes none leaves the device plain (vnet_hdr only).
      for (unsigned want : {unsigned{TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO_ECN |
                                     TUN_F_USO4 | TUN_F_USO6},
                            unsigned{TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO_ECN},
                            unsigned{TUN_F_CSUM}}) {
        if (ioctl(fd, TUNSETOFFLOAD, static_cast<unsigned long>(want)) == 0) {
          offloads = want;
          break;
        }
      }
    }
    return ConfigureLink(options.name, options.mtu, options.bring_up,
                         options.tx_queue_len, &mtu);
  });
  if (!status.ok()) {
    if (fd >= 0) close(fd);
    std::string where =
        options.netns.empty() ? "" : absl::StrCat(" in netns ", options.netns);
    return absl::Status(
        status.code(),
        absl::StrCat("device ", options.name, where, ": ", status.message()));
  }
  std::unique_ptr<TunDevice> dev(new TunDevice(fd, options, mtu));
  dev->vnet_hdr_ = options.offload;
  dev->offloads_ = offloads;
  return dev;
}

TunDevice::~TunDevice() {
  if (fd_ >= 0) close(fd_);
}

ssize_t TunDevice::Read(uint8_t* buf, size_t capacity, OffloadInfo* info) {
  for (;;) {
    ssize_t n;
    struct virtio_net_hdr hdr;
    if (vnet_hdr_) {
      struct iovec iov[2] = {{&hdr, kVnetHdr}, {buf, capacity}};
      n = readv(fd_, iov, 2);
      if (n > 0 && static_cast<size_t>(n) < kVnetHdr) n = -1, errno = EIO;
      if (n > 0) n -= static_cast<ssize_t>(kVnetHdr);
    } else {
      n = read(fd_, buf, capacity);
    }
    if (n > 0) {
      if (info != nullptr) *info = OffloadInfo{};
      if (vnet_hdr_ && (hdr.flags != 0 || hdr.gso_type != 0)) {
        OffloadInfo o;
        o.needs_csum = (hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) != 0;
        o.csum_start = hdr.csum_start;
        o.csum_offset = hdr.csum_offset;
        const uint8_t type = hdr.gso_type & ~VIRTIO_NET_HDR_GSO_ECN & 0xff;
        if (type == VIRTIO_NET_HDR_GSO_TCPV4 ||
            type == VIRTIO_NET_HDR_GSO_UDP_L4) {
          o.gso_type = hdr.gso_type;
          o.gso_size = hdr.gso_size;
        }
        if (o.needs_csum) {
          // Left partial: Write() seeds the field again for the kernel,
          // and the engine completes it only where its full path reads
          // the packet (no pass over every payload here).
          o.csum_partial = true;
          ++counters_.rx_csum_completed;
        }
        if (o.gso_size != 0) ++counters_.rx_super_packets;
        if (info != nullptr) *info = o;
      }
      ++counters_.rx_packets;
      counters_.rx_bytes += static_cast<uint64_t>(n);
      if (tap_ != nullptr) [[unlikely]] {
        tap_->Tapped(false, buf, static_cast<size_t>(n));
      }
      return n;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    ++counters_.rx_errors;
    return -1;
  }
}

bool TunDevice::Write(uint8_t* data, size_t len, const OffloadInfo& info) {
  if (!vnet_hdr_ || (!info.needs_csum && info.gso_size == 0)) {
    return Write(data, len);
  }
  struct virtio_net_hdr hdr;
  memset(&hdr, 0, sizeof(hdr));
  // Only an unfragmented IPv4 TCP or UDP packet goes out offloaded (what
  // the engine forwards of one that came in so); anything else whole.
  const size_t hl = len >= 20 ? static_cast<size_t>(data[0] & 0x0f) * 4 : 0;
  const uint8_t proto = hl >= 20 && len > hl ? data[9] : 0;
  const bool unfragmented = hl >= 20 && (LoadBe16(data + 6) & 0x3fff) == 0;
  const size_t l4hl = proto == kProtoTcp && len >= hl + 20
                          ? static_cast<size_t>(data[hl + 12] >> 4) * 4
                      : proto == kProtoUdp && len >= hl + 8 ? 8
                                                            : 0;
  if (!unfragmented || l4hl == 0 || (data[0] >> 4) != 4 || len < hl + l4hl) {
    return Write(data, len);
  }
  const size_t field = hl + (proto == kProtoTcp ? 16 : 6);
  hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  hdr.csum_start = static_cast<uint16_t>(hl);
  hdr.csum_offset = static_cast<uint16_t>(field - hl);
  const uint32_t src = LoadBe32(data + 12);
  const uint32_t dst = LoadBe32(data + 16);
  StoreBe16(
      data + field,
      Fold(PseudoHeaderSum(src, dst, proto, static_cast<uint16_t>(len - hl))));
  const uint8_t type = info.gso_type & ~VIRTIO_NET_HDR_GSO_ECN & 0xff;
  const bool gso_fits =
      (type == VIRTIO_NET_HDR_GSO_TCPV4 && proto == kProtoTcp) ||
      (type == VIRTIO_NET_HDR_GSO_UDP_L4 && proto == kProtoUdp);
  if (info.gso_size != 0 && gso_fits && len > hl + l4hl + info.gso_size) {
    hdr.gso_type = info.gso_type;
    hdr.gso_size = info.gso_size;
    hdr.hdr_len = static_cast<uint16_t>(hl + l4hl);
    ++counters_.tx_super_packets;
  }
  return WriteVnet(&hdr, data, len);
}

bool TunDevice::WriteVnet(const void* hdr, const uint8_t* data, size_t len) {
  struct iovec iov[2] = {{const_cast<void*>(hdr), kVnetHdr},
                         {const_cast<uint8_t*>(data), len}};
  return WriteIov(iov, 2, data, len);
}

bool TunDevice::WriteIov(const struct iovec* iov, int count,
                         const uint8_t* data, size_t len) {
  const size_t want = len + (count == 2 ? kVnetHdr : 0);
  for (;;) {
    ssize_t n = writev(fd_, iov, count);
    if (n == static_cast<ssize_t>(want)) {
      ++counters_.tx_packets;
      counters_.tx_bytes += len;
      if (tap_ != nullptr) [[unlikely]] {
        tap_->Tapped(true, data, len);
      }
      return true;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 &&
        (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
      ++counters_.tx_dropped_full;
    } else {
      ++counters_.tx_errors;
    }
    return false;
  }
}

bool TunDevice::TakesTcpSuper() const {
  constexpr unsigned kNeed = TUN_F_CSUM | TUN_F_TSO4;
  return vnet_hdr_ && !super_refused_ && (offloads_ & kNeed) == kNeed;
}

bool TunDevice::TakesUdpSuper() const {
  constexpr unsigned kNeed = TUN_F_CSUM | TUN_F_USO4;
  return vnet_hdr_ && !super_refused_ && (offloads_ & kNeed) == kNeed;
}

void TunDevice::StopSuper() {
  if (super_refused_) return;
  super_refused_ = true;
  ++counters_.tx_super_refused;
  LogError(
      "device %s: the kernel refused a coalesced super-packet (EINVAL) "
      "although it took TSO/USO; writing plain packets to it from now on",
      options_.name);
}

GatherWriter::Result TunDevice::WriteGathered(const OffloadInfo& info,
                                              const struct iovec* parts,
                                              int count, size_t len,
                                              uint32_t segments) {
  struct virtio_net_hdr hdr;
  memset(&hdr, 0, sizeof(hdr));
  hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  hdr.gso_type = info.gso_type;
  hdr.gso_size = info.gso_size;
  hdr.csum_start = info.csum_start;
  hdr.csum_offset = info.csum_offset;
  hdr.hdr_len = static_cast<uint16_t>(parts[0].iov_len - info.gso_size);
  constexpr int kMaxParts = Coalescer::kMaxSegments;
  if (count < 1 || count > kMaxParts) return Result::kRefused;
  struct iovec iov[kMaxParts + 1];
  iov[0] = {&hdr, kVnetHdr};
  for (int i = 0; i < count; ++i) iov[i + 1] = parts[i];
  for (;;) {
    ssize_t n = writev(fd_, iov, count + 1);
    if (n == static_cast<ssize_t>(len + kVnetHdr)) {
      ++counters_.tx_packets;
      counters_.tx_bytes += len;
      ++counters_.tx_super_packets;
      counters_.tx_coalesced += segments;
      if (tap_ != nullptr) [[unlikely]] {
        std::vector<uint8_t> whole;
        whole.reserve(len);
        for (int i = 0; i < count; ++i) {
          const uint8_t* b = static_cast<const uint8_t*>(parts[i].iov_base);
          whole.insert(whole.end(), b, b + parts[i].iov_len);
        }
        tap_->Tapped(true, whole.data(), whole.size());
      }
      return Result::kWritten;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EINVAL) return Result::kRefused;
    if (n < 0 &&
        (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
      counters_.tx_dropped_full += segments;
    } else {
      counters_.tx_errors += segments;
    }
    return Result::kDropped;
  }
}

bool TunDevice::Write(const uint8_t* data, size_t len) {
  if (vnet_hdr_) {
    struct virtio_net_hdr none;
    memset(&none, 0, sizeof(none));
    return WriteVnet(&none, data, len);
  }
  struct iovec iov = {const_cast<uint8_t*>(data), len};
  return WriteIov(&iov, 1, data, len);
}

}  // namespace unat::tun
