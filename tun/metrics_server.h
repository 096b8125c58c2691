// unatd's Prometheus endpoint: HTTP GET /metrics on a TCP socket in
// unatd's own network namespace (config metrics_listen, flag
// --metrics-listen), answered from the daemon's epoll loop with the text of
// tun/metrics.h. Non-blocking and bounded: at most kMaxConnections at once
// (more are accepted, counted and closed at once), a request head of at most
// kMaxHead bytes (else 431), every connection closed after timeout_ms from
// its accept whatever it did, one request per connection (`Connection:
// close`). HTTP/1.0 and HTTP/1.1; GET and HEAD of /metrics (a query string
// is ignored); other methods 405, other paths 404, anything malformed 400.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/nat.h"
#include "tun/control.pb.h"

namespace unat::tun {

// "127.0.0.1:9469" -> address and port (host byte order). Errors name the
// value: `"foo:99999": "foo" is not an IPv4 address`.
absl::Status ParseListenAddress(absl::string_view text, uint32_t* addr,
                                uint16_t* port);

// One request head (up to and including its blank line) and what it asks.
struct HttpRequest {
  std::string method;
  std::string path;  // without the query string
  int minor = 1;     // HTTP/1.minor
};

// The status to answer with when the head is not a request this server
// serves (400 malformed, 505 an HTTP version other than 1.0/1.1), or 0 when
// `*out` is a well-formed request.
int ParseHttpRequestHead(absl::string_view head, HttpRequest* out);

// The whole answer to `head` (status line, headers, body), and its status
// code in `*code`. `body` gives the metrics text (called for GET and HEAD
// of /metrics only).
std::string HttpAnswer(absl::string_view head,
                       const std::function<std::string()>& body, int* code);

// The whole answer for a status code without a request to go with it (400,
// 408, 431, 503).
std::string HttpError(int code);

// The resident set size of this process from /proc/self/statm, in bytes
// (0 when unreadable).
uint64_t ResidentMemoryBytes();

class MetricsServer {
 public:
  static constexpr size_t kMaxConnections = 8;
  static constexpr size_t kMaxHead = 8192;
  // Bytes read and dropped after the answer (a body, pipelined requests)
  // before the connection is closed anyway.
  static constexpr size_t kMaxDrain = 65536;

  struct Options {
    uint32_t addr = 0x7f000001;  // host byte order
    uint16_t port = 9469;        // 0: any (tests)
    TimeMs timeout_ms = 5000;
    std::function<TimeMs()> clock;  // null: CLOCK_MONOTONIC
  };
  using Body = std::function<std::string()>;

  // Binds (SO_REUSEADDR), listens and registers with `epoll_fd` under
  // `tag_base | fd`. Errors name the address.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Create(
      const Options& options, int epoll_fd, uint64_t tag_base, Body body);
  ~MetricsServer();  // closes every connection and the listener

  // Dispatch from the loop: `fd` is the low 32 bits of the tag.
  void OnEvent(int fd, uint32_t events);
  // Closes connections older than the timeout (the daemon's timer tick).
  void Tick(TimeMs now);

  uint16_t port() const { return bound_port_; }
  std::string address() const;  // "ADDRESS:PORT" as bound
  size_t connections() const { return conns_.size(); }
  void FillStats(control::MetricsHttpStats* out) const;
  // Takes the counters of `other` (a server this one replaces).
  void AdoptCounters(const MetricsServer& other);

 private:
  struct Conn {
    std::string in;
    std::string out;
    TimeMs accepted_ms = 0;
    uint32_t mask = 0;
    bool answered = false;  // `out` holds the whole answer
    bool shut = false;      // answer sent, write side shut down: draining
    bool eof = false;       // the peer closed its side
    size_t drained = 0;
  };
  struct Counters {
    std::map<int, uint64_t> requests;  // by status code
    uint64_t accepted = 0;
    uint64_t refused = 0;  // over kMaxConnections
    uint64_t timeouts = 0;
  };

  MetricsServer(Options options, int listen_fd, uint16_t bound_port,
                int epoll_fd, uint64_t tag_base, Body body);
  TimeMs Now() const;
  void Accept();
  void OnConn(int fd, uint32_t events);
  void Answer(int fd, Conn& conn, std::string text, int code);
  bool Flush(int fd, Conn& conn);  // false: connection closed
  void Arm(int fd, Conn& conn, uint32_t mask);
  void Close(int fd);

  Options options_;
  int listen_fd_;
  uint16_t bound_port_;
  int epoll_fd_;
  uint64_t tag_base_;
  Body body_;
  std::map<int, Conn> conns_;
  Counters counters_;
  bool listen_paused_ = false;  // out of descriptors: until the next Tick
};

}  // namespace unat::tun
