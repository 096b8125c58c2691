#include "tun/control_server.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tun/framing.h"

namespace unat::tun {
namespace {

constexpr size_t kMaxConnections = 64;
constexpr size_t kMaxInput = 1u << 20;

absl::Status Errno(const std::string& what) {
  return absl::UnavailableError(absl::StrCat(what, ": ", strerror(errno)));
}

absl::Status MakeParentDir(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == 0 || slash == std::string::npos) return absl::OkStatus();
  std::string dir = path.substr(0, slash);
  // mkdir -p
  for (size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos == dir.size() || dir[pos] == '/') {
      std::string part = dir.substr(0, pos);
      if (mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) {
        return Errno(absl::StrCat("creating ", part));
      }
    }
  }
  return absl::OkStatus();
}

bool PeerInGroup(int fd, gid_t gid, gid_t primary) {
  if (gid == static_cast<gid_t>(-1)) return false;
  if (primary == gid) return true;
  std::vector<gid_t> groups(256);
  socklen_t len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
  if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) != 0) {
    return false;
  }
  for (size_t i = 0; i < len / sizeof(gid_t); ++i) {
    if (groups[i] == gid) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ControlServer>> ControlServer::Create(
    const Options& options, int epoll_fd, uint64_t tag_base, Handler handler) {
  sockaddr_un addr;
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  if (options.path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("control socket path ", options.path, " is too long"));
  }
  strncpy(addr.sun_path, options.path.c_str(), sizeof(addr.sun_path) - 1);
  if (absl::Status s = MakeParentDir(options.path); !s.ok()) return s;

  // A live daemon on that path keeps it; a stale socket file is replaced.
  struct stat st;
  if (lstat(options.path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return absl::AlreadyExistsError(absl::StrCat(
          "control socket ", options.path, " exists and is not a socket"));
    }
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe >= 0) {
      bool live =
          connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
      close(probe);
      if (live) {
        return absl::AlreadyExistsError(
            absl::StrCat("control socket ", options.path,
                         ": another unatd is listening there"));
      }
    }
    unlink(options.path.c_str());
  }

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket(AF_UNIX)");
  mode_t old_umask = umask(0177);  // never visible with a wider mode
  int rc = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  umask(old_umask);
  if (rc != 0) {
    absl::Status s = Errno(absl::StrCat("binding ", options.path));
    close(fd);
    return s;
  }
  if (options.gid != static_cast<gid_t>(-1) &&
      chown(options.path.c_str(), static_cast<uid_t>(-1), options.gid) != 0) {
    absl::Status s = Errno(absl::StrCat("chown ", options.path));
    close(fd);
    unlink(options.path.c_str());
    return s;
  }
  if (chmod(options.path.c_str(), options.mode) != 0 || listen(fd, 16) != 0) {
    absl::Status s = Errno(absl::StrCat("chmod/listen ", options.path));
    close(fd);
    unlink(options.path.c_str());
    return s;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = tag_base | static_cast<uint32_t>(fd);
  if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
    absl::Status s = Errno("epoll_ctl");
    close(fd);
    unlink(options.path.c_str());
    return s;
  }
  return std::unique_ptr<ControlServer>(
      new ControlServer(options, fd, epoll_fd, tag_base, std::move(handler)));
}

ControlServer::ControlServer(Options options, int listen_fd, int epoll_fd,
                             uint64_t tag_base, Handler handler)
    : options_(std::move(options)),
      listen_fd_(listen_fd),
      epoll_fd_(epoll_fd),
      tag_base_(tag_base),
      handler_(std::move(handler)) {}

ControlServer::~ControlServer() {
  // What fits in the sockets now still goes (a capture's last message).
  for (auto& [fd, conn] : conns_) {
    if (!conn.out.empty()) {
      (void)send(fd, conn.out.data(), conn.out.size(),
                 MSG_NOSIGNAL | MSG_DONTWAIT);
    }
  }
  while (!conns_.empty()) Close(conns_.begin()->first);
  close(listen_fd_);
  unlink(options_.path.c_str());
}

void ControlServer::OnEvent(int fd, uint32_t events) {
  if (fd == listen_fd_) {
    Accept();
  } else {
    OnConn(fd, events);
  }
}

void ControlServer::Accept() {
  for (;;) {
    int fd =
        accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN or a transient error: the loop comes back
    if (conns_.size() >= kMaxConnections) {
      close(fd);
      continue;
    }
    Conn conn;
    conn.peer.conn = fd;
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
      conn.peer.pid = cred.pid;
      conn.peer.uid = cred.uid;
      conn.peer.gid = cred.gid;
      conn.peer.may_change = cred.uid == 0 || cred.uid == geteuid() ||
                             PeerInGroup(fd, options_.gid, cred.gid);
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = tag_base_ | static_cast<uint32_t>(fd);
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      close(fd);
      continue;
    }
    conn.mask = ev.events;
    conns_.emplace(fd, std::move(conn));
  }
}

void ControlServer::OnConn(int fd, uint32_t events) {
  auto it = conns_.find(fd);
  if (it == conns_.end()) return;
  Conn& conn = it->second;
  if (events & EPOLLOUT) {
    if (!Flush(fd, conn)) return;
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
    char buf[16384];
    bool eof = false;
    for (;;) {
      ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n > 0) {
        conn.in.append(buf, static_cast<size_t>(n));
        if (conn.in.size() > kMaxInput) {
          Close(fd);
          return;
        }
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      eof = true;
      break;
    }
    for (;;) {
      control::Request request;
      Extract result = ExtractDelimited(&conn.in, &request, kMaxInput);
      if (result == Extract::kNeedMore) break;
      control::Response response;
      if (result == Extract::kBad) {
        response.set_ok(false);
        response.set_error("malformed request");
        AppendDelimited(response, &conn.out);
        conn.in.clear();
        eof = true;  // close once the answer is out
        break;
      }
      handler_(request, conn.peer, &response);
      AppendDelimited(response, &conn.out);
    }
    if (eof && !conn.eof && hangup_) hangup_(fd);
    conn.eof = conn.eof || eof;
    Flush(fd, conn);
  }
}

bool ControlServer::Flush(int fd, Conn& conn) {
  while (!conn.out.empty()) {
    ssize_t n = send(fd, conn.out.data(), conn.out.size(), MSG_NOSIGNAL);
    if (n > 0) {
      conn.out.erase(0, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    Close(fd);
    return false;
  }
  if (conn.eof && conn.out.empty()) {
    Close(fd);
    return false;
  }
  Arm(fd, conn);
  return true;
}

void ControlServer::Arm(int fd, Conn& conn) {
  bool want = !conn.out.empty() || conn.eof;
  uint32_t mask = (conn.eof ? 0u : (EPOLLIN | EPOLLRDHUP)) |
                  (want ? static_cast<uint32_t>(EPOLLOUT) : 0u);
  if (mask != conn.mask) {
    epoll_event ev{};
    ev.events = mask;
    ev.data.u64 = tag_base_ | static_cast<uint32_t>(fd);
    epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev);
    conn.mask = mask;
  }
}

void ControlServer::Close(int fd) {
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  close(fd);
  conns_.erase(fd);
  if (hangup_) hangup_(fd);
}

size_t ControlServer::Queued(int conn) const {
  auto it = conns_.find(conn);
  return it == conns_.end() ? 0 : it->second.out.size();
}

bool ControlServer::Append(int conn, std::string_view bytes) {
  auto it = conns_.find(conn);
  if (it == conns_.end()) return false;
  it->second.out.append(bytes);
  Arm(conn, it->second);
  return true;
}

void ControlServer::Finish(int conn) {
  auto it = conns_.find(conn);
  if (it == conns_.end()) return;
  it->second.eof = true;
  Arm(conn, it->second);
}

}  // namespace unat::tun
