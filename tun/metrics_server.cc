#include "tun/metrics_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "portmap/http.h"

namespace unat::tun {
namespace {

constexpr char kMetricsPath[] = "/metrics";
constexpr char kMetricsType[] = "text/plain; version=0.0.4; charset=utf-8";

std::string Quote(absl::string_view s) { return absl::StrCat("\"", s, "\""); }

// Status line and headers; `body` follows unless `head_only`.
std::string Response(int code, absl::string_view type, absl::string_view body,
                     absl::string_view extra_headers, bool head_only) {
  std::string out = absl::StrCat(
      "HTTP/1.1 ", code, " ", portmap::HttpReason(code),
      "\r\nContent-Type: ", type, "\r\nContent-Length: ", body.size(),
      "\r\nConnection: close\r\n", extra_headers, "\r\n");
  if (!head_only) out.append(body.data(), body.size());
  return out;
}

// RFC 9110 5.6.2: tchar.
bool IsToken(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (absl::ascii_isalnum(static_cast<unsigned char>(c))) continue;
    if (strchr("!#$%&'*+-.^_`|~", c) == nullptr || c == '\0') return false;
  }
  return true;
}

bool HasControl(absl::string_view s) {
  for (char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) return true;
  }
  return false;
}

// Where the head ends (just past its blank line), or npos. Empty lines
// before the request line are skipped (RFC 9112 2.2).
size_t HeadEnd(absl::string_view in) {
  bool leading = true;
  size_t pos = 0;
  while (pos < in.size()) {
    const size_t nl = in.find('\n', pos);
    if (nl == absl::string_view::npos) return absl::string_view::npos;
    const absl::string_view line = in.substr(pos, nl - pos);
    const bool empty = line.empty() || line == "\r";
    if (empty && !leading) return nl + 1;
    if (!empty) leading = false;
    pos = nl + 1;
  }
  return absl::string_view::npos;
}

}  // namespace

absl::Status ParseListenAddress(absl::string_view text, uint32_t* addr,
                                uint16_t* port) {
  const size_t colon = text.rfind(':');
  if (colon == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        Quote(text), " is not ADDRESS:PORT (e.g. \"127.0.0.1:9469\")"));
  }
  const absl::string_view a = text.substr(0, colon);
  const absl::string_view p = text.substr(colon + 1);
  std::optional<uint32_t> parsed =
      ParseIpv4(std::string_view(a.data(), a.size()));
  if (!parsed) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(text), ": ", Quote(a), " is not an IPv4 address"));
  }
  uint32_t v = 0;
  if (!absl::SimpleAtoi(p, &v)) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(text), ": port ", Quote(p), " is not a number"));
  }
  if (v < 1 || v > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(text), ": port ", v, " is out of range 1..65535"));
  }
  *addr = *parsed;
  *port = static_cast<uint16_t>(v);
  return absl::OkStatus();
}

int ParseHttpRequestHead(absl::string_view head, HttpRequest* out) {
  std::vector<absl::string_view> lines = absl::StrSplit(head, '\n');
  size_t i = 0;
  auto strip = [](absl::string_view l) {
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    return l;
  };
  while (i < lines.size() && strip(lines[i]).empty()) ++i;
  if (i == lines.size()) return 400;
  // METHOD SP TARGET SP HTTP/1.x
  const absl::string_view request_line = strip(lines[i++]);
  std::vector<absl::string_view> w = absl::StrSplit(request_line, ' ');
  if (w.size() != 3 || !IsToken(w[0]) || w[1].empty() || HasControl(w[1])) {
    return 400;
  }
  const absl::string_view version = w[2];
  if (version.size() != 8 || !absl::StartsWith(version, "HTTP/") ||
      !absl::ascii_isdigit(static_cast<unsigned char>(version[5])) ||
      version[6] != '.' ||
      !absl::ascii_isdigit(static_cast<unsigned char>(version[7]))) {
    return 400;
  }
  if (version != "HTTP/1.0" && version != "HTTP/1.1") return 505;
  out->minor = version[7] - '0';
  out->method = std::string(w[0]);
  // origin-form "/path?query", absolute-form "http://host/path?query", or
  // asterisk-form "*" (OPTIONS only: here a 404).
  absl::string_view target = w[1];
  if (absl::StartsWithIgnoreCase(target, "http://") ||
      absl::StartsWithIgnoreCase(target, "https://")) {
    target.remove_prefix(target.find("//") + 2);
    const size_t slash = target.find_first_of("/?#");
    target = slash == absl::string_view::npos ? absl::string_view("/")
                                              : target.substr(slash);
    if (target[0] != '/') target = "/";
  } else if (target != "*" && target[0] != '/') {
    return 400;
  }
  out->path = std::string(target.substr(0, target.find_first_of("?#")));
  // Header fields: NAME ":" VALUE, no folding, one Host (required in 1.1).
  int hosts = 0;
  for (; i < lines.size(); ++i) {
    const absl::string_view line = strip(lines[i]);
    if (line.empty()) break;
    if (line[0] == ' ' || line[0] == '\t') return 400;  // obs-fold
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos || !IsToken(line.substr(0, colon)) ||
        HasControl(line.substr(colon + 1))) {
      return 400;
    }
    if (absl::EqualsIgnoreCase(line.substr(0, colon), "host")) ++hosts;
  }
  if (hosts > 1 || (out->minor == 1 && hosts == 0)) return 400;
  return 0;
}

std::string HttpError(int code) {
  const std::string body = absl::StrCat(code, " ", portmap::HttpReason(code), "\n");
  std::string extra;
  if (code == 405) extra = "Allow: GET, HEAD\r\n";
  if (code == 503) extra = "Retry-After: 1\r\n";
  return Response(code, "text/plain; charset=utf-8", body, extra, false);
}

std::string HttpAnswer(absl::string_view head,
                       const std::function<std::string()>& body, int* code) {
  HttpRequest req;
  if (int bad = ParseHttpRequestHead(head, &req); bad != 0) {
    *code = bad;
    return HttpError(bad);
  }
  if (req.path != kMetricsPath) {
    *code = 404;
    return HttpError(404);
  }
  if (req.method != "GET" && req.method != "HEAD") {
    *code = 405;
    return HttpError(405);
  }
  *code = 200;
  return Response(200, kMetricsType, body(), "Cache-Control: no-store\r\n",
                  req.method == "HEAD");
}

uint64_t ResidentMemoryBytes() {
  FILE* f = fopen("/proc/self/statm", "re");
  if (f == nullptr) return 0;
  unsigned long long size = 0, resident = 0;
  const int n = fscanf(f, "%llu %llu", &size, &resident);
  fclose(f);
  if (n != 2) return 0;
  const long page = sysconf(_SC_PAGESIZE);
  return page > 0 ? resident * static_cast<uint64_t>(page) : 0;
}

// --- the server -------------------------------------------------------------

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Create(
    const Options& options, int epoll_fd, uint64_t tag_base, Body body) {
  const std::string where =
      absl::StrCat(Ipv4ToString(options.addr), ":", options.port);
  auto fail = [&](int fd, const char* what) {
    absl::Status s = absl::UnavailableError(
        absl::StrCat(what, " ", where, ": ", strerror(errno)));
    if (fd >= 0) close(fd);
    return s;
  };
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(-1, "socket for");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(options.addr);
  sa.sin_port = htons(options.port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    return fail(fd, "binding");
  }
  if (listen(fd, 16) != 0) return fail(fd, "listening on");
  socklen_t len = sizeof(sa);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    return fail(fd, "getsockname of");
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = tag_base | static_cast<uint32_t>(fd);
  if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
    return fail(fd, "epoll_ctl for");
  }
  return std::unique_ptr<MetricsServer>(new MetricsServer(
      options, fd, ntohs(sa.sin_port), epoll_fd, tag_base, std::move(body)));
}

MetricsServer::MetricsServer(Options options, int listen_fd,
                             uint16_t bound_port, int epoll_fd,
                             uint64_t tag_base, Body body)
    : options_(std::move(options)),
      listen_fd_(listen_fd),
      bound_port_(bound_port),
      epoll_fd_(epoll_fd),
      tag_base_(tag_base),
      body_(std::move(body)) {}

MetricsServer::~MetricsServer() {
  while (!conns_.empty()) Close(conns_.begin()->first);
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
  close(listen_fd_);
}

TimeMs MetricsServer::Now() const {
  if (options_.clock) return options_.clock();
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<TimeMs>(ts.tv_sec) * 1000 +
         static_cast<TimeMs>(ts.tv_nsec / 1000000);
}

void MetricsServer::OnEvent(int fd, uint32_t events) {
  if (fd == listen_fd_) {
    Accept();
  } else {
    OnConn(fd, events);
  }
}

void MetricsServer::Accept() {
  for (;;) {
    int fd =
        accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if ((errno == EMFILE || errno == ENFILE) && !listen_paused_) {
        // Out of descriptors: the listener would wake the loop for ever.
        // Tick() listens again.
        epoll_event ev{};
        ev.data.u64 = tag_base_ | static_cast<uint32_t>(listen_fd_);
        epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, listen_fd_, &ev);
        listen_paused_ = true;
      }
      return;  // EAGAIN or a transient error: the loop comes back
    }
    if (conns_.size() >= kMaxConnections) {
      ++counters_.refused;
      const std::string busy = HttpError(503);
      (void)send(fd, busy.data(), busy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      close(fd);
      continue;
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = tag_base_ | static_cast<uint32_t>(fd);
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      close(fd);
      continue;
    }
    ++counters_.accepted;
    Conn& conn = conns_[fd];
    conn.accepted_ms = Now();
    conn.mask = ev.events;
  }
}

void MetricsServer::OnConn(int fd, uint32_t events) {
  auto it = conns_.find(fd);
  if (it == conns_.end()) return;
  Conn& conn = it->second;
  if ((events & EPOLLOUT) && !conn.shut) {
    if (!Flush(fd, conn)) return;
  }
  if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) return;
  if (conn.answered && !conn.shut) {
    // Waiting to send: no reading now; a hang-up or error ends it.
    if (events & (EPOLLHUP | EPOLLERR)) Close(fd);
    return;
  }
  char buf[4096];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) {
      // The peer is done (or the connection failed).
      if (conn.shut || conn.in.empty() || n < 0) {
        Close(fd);
        return;
      }
      conn.eof = true;
      Answer(fd, conn, HttpError(400), 400);  // a head cut short
      return;
    }
    if (conn.shut) {
      conn.drained += static_cast<size_t>(n);
      if (conn.drained > kMaxDrain) {
        Close(fd);
        return;
      }
      continue;
    }
    conn.in.append(buf, static_cast<size_t>(n));
    const size_t end = HeadEnd(conn.in);
    if (end != std::string::npos && end <= kMaxHead) {
      int code = 0;
      std::string text =
          HttpAnswer(absl::string_view(conn.in).substr(0, end), body_, &code);
      conn.drained = conn.in.size() - end;  // a body or more requests
      Answer(fd, conn, std::move(text), code);
      return;
    }
    if (conn.in.size() > kMaxHead || end != std::string::npos) {
      Answer(fd, conn, HttpError(431), 431);
      return;
    }
  }
}

void MetricsServer::Answer(int fd, Conn& conn, std::string text, int code) {
  ++counters_.requests[code];
  conn.in.clear();
  conn.in.shrink_to_fit();
  conn.out = std::move(text);
  conn.answered = true;
  Flush(fd, conn);
}

bool MetricsServer::Flush(int fd, Conn& conn) {
  while (!conn.out.empty()) {
    ssize_t n = send(fd, conn.out.data(), conn.out.size(), MSG_NOSIGNAL);
    if (n > 0) {
      conn.out.erase(0, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      Arm(fd, conn, EPOLLOUT);
      return true;
    }
    Close(fd);
    return false;
  }
  if (!conn.answered) return true;
  // All out. Closing with unread input would reset the connection and could
  // destroy the answer on its way; shut the write side instead and read
  // (and drop) until the peer closes, kMaxDrain or the timeout.
  shutdown(fd, SHUT_WR);
  conn.shut = true;
  if (conn.eof) {
    Close(fd);
    return false;
  }
  Arm(fd, conn, EPOLLIN | EPOLLRDHUP);
  return true;
}

void MetricsServer::Arm(int fd, Conn& conn, uint32_t mask) {
  if (mask == conn.mask) return;
  epoll_event ev{};
  ev.events = mask;
  ev.data.u64 = tag_base_ | static_cast<uint32_t>(fd);
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev);
  conn.mask = mask;
}

void MetricsServer::Close(int fd) {
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  close(fd);
  conns_.erase(fd);
}

void MetricsServer::Tick(TimeMs now) {
  for (auto it = conns_.begin(); it != conns_.end();) {
    const int fd = it->first;
    const TimeMs since = it->second.accepted_ms;
    ++it;
    if (now >= since && now - since >= options_.timeout_ms) {
      ++counters_.timeouts;
      Close(fd);
    }
  }
  if (listen_paused_) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag_base_ | static_cast<uint32_t>(listen_fd_);
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, listen_fd_, &ev) == 0) {
      listen_paused_ = false;
    }
  }
}

std::string MetricsServer::address() const {
  return absl::StrCat(Ipv4ToString(options_.addr), ":", bound_port_);
}

void MetricsServer::FillStats(control::MetricsHttpStats* out) const {
  out->set_listen(address());
  // The codes this server answers with, listed from the start (a series
  // that appears only with its first event hides its rate).
  std::map<int, uint64_t> requests = {{200, 0}, {400, 0}, {404, 0},
                                      {405, 0}, {431, 0}, {505, 0}};
  for (const auto& [code, n] : counters_.requests) requests[code] += n;
  for (const auto& [code, n] : requests) {
    control::Counter* c = out->add_requests();
    c->set_name(absl::StrCat(code));
    c->set_value(n);
  }
  out->set_connections_accepted(counters_.accepted);
  out->set_connections_refused(counters_.refused);
  out->set_timeouts(counters_.timeouts);
  out->set_connections(static_cast<uint32_t>(conns_.size()));
}

void MetricsServer::AdoptCounters(const MetricsServer& other) {
  for (const auto& [code, n] : other.counters_.requests) {
    counters_.requests[code] += n;
  }
  counters_.accepted += other.counters_.accepted;
  counters_.refused += other.counters_.refused;
  counters_.timeouts += other.counters_.timeouts;
}

}  // namespace unat::tun
