#include "tun/tun_device.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "tun/netns.h"

namespace unat::tun {
namespace {

absl::Status Errno(const std::string& what) {
  return absl::UnavailableError(absl::StrCat(what, ": ", strerror(errno)));
}

// Sets the MTU and the up flag through an AF_INET socket of the current
// network namespace.
absl::Status ConfigureLink(const std::string& name, uint32_t mtu,
                           bool bring_up, uint32_t* effective_mtu) {
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return Errno("socket");
  absl::Status status;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (mtu != 0) {
    ifr.ifr_mtu = static_cast<int>(mtu);
    if (ioctl(sock, SIOCSIFMTU, &ifr) != 0) {
      status = Errno(absl::StrCat("setting MTU ", mtu, " on ", name));
    }
  }
  if (status.ok()) {
    if (ioctl(sock, SIOCGIFMTU, &ifr) != 0) {
      status = Errno(absl::StrCat("reading the MTU of ", name));
    } else {
      *effective_mtu = static_cast<uint32_t>(ifr.ifr_mtu);
    }
  }
  if (status.ok() && bring_up) {
    if (ioctl(sock, SIOCGIFFLAGS, &ifr) != 0) {
      status = Errno(absl::StrCat("reading flags of ", name));
    } else if ((ifr.ifr_flags & IFF_UP) == 0) {
      ifr.ifr_flags |= IFF_UP;
      if (ioctl(sock, SIOCSIFFLAGS, &ifr) != 0) {
        status = Errno(absl::StrCat("bringing ", name, " up"));
      }
    }
  }
  close(sock);
  return status;
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
  absl::Status status = RunInNetns(options.netns, [&]() -> absl::Status {
    fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return Errno("/dev/net/tun");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    strncpy(ifr.ifr_name, options.name.c_str(), IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
      return Errno(absl::StrCat("TUNSETIFF ", options.name,
                                " (is it a TUN device without pi, "
                                "vnet_hdr and multi_queue?)"));
    }
    return ConfigureLink(options.name, options.mtu, options.bring_up, &mtu);
  });
  if (!status.ok()) {
    if (fd >= 0) close(fd);
    std::string where =
        options.netns.empty() ? "" : absl::StrCat(" in netns ", options.netns);
    return absl::Status(
        status.code(),
        absl::StrCat("device ", options.name, where, ": ", status.message()));
  }
  return std::unique_ptr<TunDevice>(new TunDevice(fd, options, mtu));
}

TunDevice::~TunDevice() {
  if (fd_ >= 0) close(fd_);
}

ssize_t TunDevice::Read(uint8_t* buf, size_t capacity) {
  for (;;) {
    ssize_t n = read(fd_, buf, capacity);
    if (n > 0) {
      ++counters_.rx_packets;
      counters_.rx_bytes += static_cast<uint64_t>(n);
      return n;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    ++counters_.rx_errors;
    return -1;
  }
}

bool TunDevice::Write(const uint8_t* data, size_t len) {
  for (;;) {
    ssize_t n = write(fd_, data, len);
    if (n == static_cast<ssize_t>(len)) {
      ++counters_.tx_packets;
      counters_.tx_bytes += len;
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

}  // namespace unat::tun
