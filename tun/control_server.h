// The control plane's server side: a Unix stream socket in the daemon's
// epoll loop, length-delimited control::Request in, control::Response out.
// Connections are non-blocking; a reply that does not fit in the socket
// buffer waits in the connection's output buffer (EPOLLOUT), never blocking
// the packet path.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "tun/control.pb.h"

namespace unat::tun {

struct Peer {
  pid_t pid = 0;
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  bool may_change = false;  // owner, root, or member of the configured group
  int conn = -1;            // the connection (StreamConnections' id)
};

// Connections that go on answering after their response: a stream of
// length-delimited messages (unatctl capture). Nothing here blocks or
// writes at once; the loop sends what is queued.
class StreamConnections {
 public:
  virtual ~StreamConnections() = default;
  // Bytes queued on `conn` that the peer has not taken yet (0: no such
  // connection).
  virtual size_t Queued(int conn) const = 0;
  // Queues `bytes` (unbounded: the caller bounds it with Queued). False:
  // no such connection.
  virtual bool Append(int conn, std::string_view bytes) = 0;
  // Closes `conn` once its queue is out.
  virtual void Finish(int conn) = 0;
  // Called when a peer closes (or shuts down) its side, and when a
  // connection is gone (then Queued/Append see no such connection). It
  // may Append and Finish; it is never called from within them.
  virtual void SetHangup(std::function<void(int conn)> hangup) = 0;
};

class ControlServer : public StreamConnections {
 public:
  using Handler = std::function<void(const control::Request&, const Peer&,
                                     control::Response*)>;
  struct Options {
    std::string path;
    uint32_t mode = 0600;
    gid_t gid = static_cast<gid_t>(-1);  // -1: no group
  };

  // Binds and listens (refuses when another daemon answers on `path`) and
  // registers with `epoll_fd` under `tag_base` (listener) and `tag_base | fd`.
  static absl::StatusOr<std::unique_ptr<ControlServer>> Create(
      const Options& options, int epoll_fd, uint64_t tag_base, Handler handler);
  ~ControlServer() override;  // closes everything, removes the socket file

  // Dispatch from the loop: `fd` is the low 32 bits of the tag.
  void OnEvent(int fd, uint32_t events);
  size_t connections() const { return conns_.size(); }

  size_t Queued(int conn) const override;
  bool Append(int conn, std::string_view bytes) override;
  void Finish(int conn) override;
  void SetHangup(std::function<void(int conn)> hangup) override {
    hangup_ = std::move(hangup);
  }

 private:
  struct Conn {
    std::string in;
    std::string out;
    Peer peer;
    uint32_t mask = 0;  // epoll events registered
    bool eof = false;   // the peer closed its side or sent garbage
  };
  ControlServer(Options options, int listen_fd, int epoll_fd, uint64_t tag_base,
                Handler handler);
  void Accept();
  void OnConn(int fd, uint32_t events);
  bool Flush(int fd, Conn& conn);  // false: connection closed
  // Sets the epoll events `conn` needs: input until EOF, output while any
  // is queued or a finished connection is to close.
  void Arm(int fd, Conn& conn);
  void Close(int fd);

  Options options_;
  int listen_fd_;
  int epoll_fd_;
  uint64_t tag_base_;
  Handler handler_;
  std::map<int, Conn> conns_;
  std::function<void(int)> hangup_;
};

}  // namespace unat::tun
