#include "tun/netns.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace unat::tun {
namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

std::string NetnsPath(const std::string& netns) {
  if (netns.find('/') != std::string::npos) return netns;
  return absl::StrCat("/var/run/netns/", netns);
}

absl::Status RunInNetns(const std::string& netns,
                        absl::FunctionRef<absl::Status()> fn) {
  if (netns.empty()) return fn();
  const std::string path = NetnsPath(netns);
  Fd target(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (target.get() < 0) {
    return absl::NotFoundError(absl::StrCat("network namespace ", netns, " (",
                                            path, "): ", strerror(errno)));
  }
  Fd original(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (original.get() < 0) {
    return absl::InternalError(
        absl::StrCat("/proc/thread-self/ns/net: ", strerror(errno)));
  }
  if (setns(target.get(), CLONE_NEWNET) != 0) {
    const bool eperm = errno == EPERM;
    return absl::PermissionDeniedError(absl::StrCat(
        "cannot enter network namespace ", netns, ": ", strerror(errno),
        eperm ? " (that needs CAP_SYS_ADMIN: start unatd as root with user "
                "set, or run it inside that namespace on devices made for "
                "its user; see docs/unprivileged.md)"
              : ""));
  }
  absl::Status status = fn();
  if (setns(original.get(), CLONE_NEWNET) != 0) {
    // Staying in the wrong namespace would be worse than stopping.
    return absl::InternalError(absl::StrCat(
        "cannot return from network namespace ", netns, ": ", strerror(errno)));
  }
  return status;
}

}  // namespace unat::tun
