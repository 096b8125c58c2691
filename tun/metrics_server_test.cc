// Unit tests of the HTTP metrics endpoint (tun/metrics_server.h): the
// listen address, request parsing and answers, and the server over real
// loopback sockets with its own epoll set and a fake clock: answers, the
// oversized head, the connection cap and the timeout.
#include "tun/metrics_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tun/config.h"
#include "tun/control.pb.h"
#include "tun/flags.h"
#include "tun/metrics.h"

namespace unat::tun {
namespace {

constexpr char kBody[] = "# HELP unat_x X.\n# TYPE unat_x gauge\nunat_x 1\n";

std::string Answer(const std::string& head, int* code) {
  return HttpAnswer(
      head, [] { return std::string(kBody); }, code);
}

TEST(MetricsListenTest, ParsesAndNamesBadValues) {
  uint32_t addr = 0;
  uint16_t port = 0;
  ASSERT_TRUE(ParseListenAddress("127.0.0.1:9469", &addr, &port).ok());
  EXPECT_EQ(addr, 0x7f000001u);
  EXPECT_EQ(port, 9469);
  ASSERT_TRUE(ParseListenAddress("0.0.0.0:1", &addr, &port).ok());
  EXPECT_EQ(addr, 0u);
  auto error = [](const char* text) {
    uint32_t a;
    uint16_t p;
    return std::string(ParseListenAddress(text, &a, &p).message());
  };
  EXPECT_EQ(error("foo:99999"),
            "\"foo:99999\": \"foo\" is not an IPv4 address");
  EXPECT_EQ(error("127.0.0.1:99999"),
            "\"127.0.0.1:99999\": port 99999 is out of range 1..65535");
  EXPECT_EQ(error("127.0.0.1:0"),
            "\"127.0.0.1:0\": port 0 is out of range 1..65535");
  EXPECT_EQ(error("127.0.0.1:x"),
            "\"127.0.0.1:x\": port \"x\" is not a number");
  EXPECT_EQ(error("9469"),
            "\"9469\" is not ADDRESS:PORT (e.g. \"127.0.0.1:9469\")");
}

TEST(MetricsListenTest, ConfigFieldAndFlag) {
  const std::string base = R"(
inside { name: "lan" device: "unat0" address: "10.77.0.1/24" }
outside { device: "unatw0" external_address: "203.0.113.1" }
control { socket: "/run/unat/test.sock" }
)";
  auto build = [&](const std::string& extra, std::vector<const char*> args) {
    args.insert(args.begin(), "unatd");
    auto f = ParseFlags(static_cast<int>(args.size()),
                        const_cast<char**>(args.data()));
    EXPECT_TRUE(f.ok()) << f.status();
    auto parsed = ParseConfigText(base + extra, "t");
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    ApplyFlags(*f, &*parsed);
    auto c = BuildDaemonConfig(*parsed);
    if (!c.ok()) return ConfigErrorLine(*f, c.status());
    return absl::StrCat(c->metrics_listen, " ", c->metrics_port);
  };
  EXPECT_EQ(build("", {}), " 0") << "off by default";
  EXPECT_EQ(build("metrics_listen: \"127.0.0.1:9469\"", {}),
            "127.0.0.1:9469 9469");
  EXPECT_EQ(build("metrics_listen: \"foo:99999\"", {}),
            "config: metrics_listen: \"foo:99999\": \"foo\" is not an IPv4 "
            "address");
  EXPECT_EQ(build("metrics_listen: \"127.0.0.1:9469\"",
                  {"--metrics-listen", "10.0.0.1:80"}),
            "10.0.0.1:80 80")
      << "the flag overrides the field";
  EXPECT_EQ(build("metrics_listen: \"127.0.0.1:9469\"", {"--metrics-listen="}),
            " 0")
      << "an empty flag turns it off";
  EXPECT_EQ(build("", {"--metrics-listen", "1.2.3.4:70000"}),
            "flags: --metrics-listen: \"1.2.3.4:70000\": port 70000 is out "
            "of range 1..65535");
  EXPECT_TRUE(absl::StrContains(FlagsHelp(), "--metrics-listen ADDR:PORT"));
}

TEST(MetricsHttpTest, GetAndHeadOfMetrics) {
  int code = 0;
  std::string a = Answer("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &code);
  EXPECT_EQ(code, 200);
  EXPECT_TRUE(absl::StartsWith(a, "HTTP/1.1 200 OK\r\n")) << a;
  EXPECT_TRUE(absl::StrContains(
      a, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"))
      << a;
  EXPECT_TRUE(absl::StrContains(
      a, absl::StrCat("\r\nContent-Length: ", strlen(kBody), "\r\n")));
  EXPECT_TRUE(absl::StrContains(a, "\r\nConnection: close\r\n"));
  EXPECT_TRUE(absl::EndsWith(a, absl::StrCat("\r\n\r\n", kBody))) << a;

  // A query string, HTTP/1.0 without Host, LF-only lines, leading empty
  // lines, the absolute form.
  for (const char* head :
       {"GET /metrics?name[]=unat_x HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /metrics HTTP/1.0\r\n\r\n", "GET /metrics HTTP/1.0\n\n",
        "\r\nGET /metrics HTTP/1.0\r\nAccept: */*\r\n\r\n",
        "GET http://127.0.0.1:9469/metrics HTTP/1.1\r\nHost: y\r\n\r\n"}) {
    a = Answer(head, &code);
    EXPECT_EQ(code, 200) << head;
    EXPECT_TRUE(absl::EndsWith(a, kBody)) << head;
  }

  a = Answer("HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &code);
  EXPECT_EQ(code, 200);
  EXPECT_TRUE(absl::StrContains(
      a, absl::StrCat("\r\nContent-Length: ", strlen(kBody), "\r\n")))
      << "HEAD: the length GET would have";
  EXPECT_TRUE(absl::EndsWith(a, "\r\n\r\n")) << "HEAD: no body: " << a;
}

TEST(MetricsHttpTest, OtherPathsMethodsAndMalformedRequests) {
  int code = 0;
  std::string a = Answer("GET /other HTTP/1.1\r\nHost: x\r\n\r\n", &code);
  EXPECT_EQ(code, 404);
  EXPECT_TRUE(absl::StartsWith(a, "HTTP/1.1 404 Not Found\r\n")) << a;
  EXPECT_EQ(Answer("GET / HTTP/1.0\r\n\r\n", &code).substr(0, 12),
            "HTTP/1.1 404");
  EXPECT_EQ(Answer("GET /metricsx HTTP/1.0\r\n\r\n", &code).substr(0, 12),
            "HTTP/1.1 404");
  for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS", "get"}) {
    a = Answer(absl::StrCat(method, " /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
               &code);
    EXPECT_EQ(code, 405) << method;
    EXPECT_TRUE(absl::StartsWith(a, "HTTP/1.1 405 Method Not Allowed\r\n"));
    EXPECT_TRUE(absl::StrContains(a, "\r\nAllow: GET, HEAD\r\n")) << a;
  }
  for (const char* head : {
           "\r\n\r\n",
           "GET\r\n\r\n",
           "GET /metrics\r\n\r\n",
           "GET  /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
           "GET /metrics HTTP/1.1 extra\r\nHost: x\r\n\r\n",
           "GET metrics HTTP/1.1\r\nHost: x\r\n\r\n",
           "GET /metrics http/1.1\r\nHost: x\r\n\r\n",
           "GET /metrics HTTP/1.1\r\n\r\n",  // 1.1 needs Host
           "GET /metrics HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
           "GET /metrics HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n",
           "GET /metrics HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
           "GET /metrics HTTP/1.1\r\nBad Name: v\r\nHost: x\r\n\r\n",
           "G(T /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
       }) {
    a = Answer(head, &code);
    EXPECT_EQ(code, 400) << head;
    EXPECT_TRUE(absl::StartsWith(a, "HTTP/1.1 400 Bad Request\r\n")) << a;
  }
  EXPECT_EQ(Answer("GET /metrics HTTP/2.0\r\n\r\n", &code).substr(0, 12),
            "HTTP/1.1 505");
  EXPECT_EQ(code, 505);
}

TEST(MetricsHttpTest, ResidentMemory) {
  const uint64_t rss = ResidentMemoryBytes();
  EXPECT_GT(rss, 100u * 1024) << "a test binary holds more than 100 KiB";
  EXPECT_LT(rss, uint64_t{64} << 30);
}

// The server on 127.0.0.1:<any>, its own epoll set, a clock the test sets.
class MetricsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    ASSERT_GE(epoll_fd_, 0);
    MetricsServer::Options o;
    o.port = 0;
    o.clock = [this] { return now_; };
    auto s = MetricsServer::Create(o, epoll_fd_, kTag, [this] {
      ++bodies_;
      return std::string(kBody);
    });
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    ASSERT_NE(server_->port(), 0);
  }
  void TearDown() override {
    for (int fd : clients_) close(fd);
    server_.reset();
    close(epoll_fd_);
  }

  // Runs the server's events until none are left.
  void Pump() {
    for (int round = 0; round < 50; ++round) {
      epoll_event ev[16];
      int n = epoll_wait(epoll_fd_, ev, 16, round == 0 ? 20 : 5);
      if (n <= 0) {
        if (round > 0) return;
        continue;
      }
      for (int i = 0; i < n; ++i) {
        ASSERT_EQ(ev[i].data.u64 & ~uint64_t{0xffffffff}, kTag);
        server_->OnEvent(
            static_cast<int>(static_cast<uint32_t>(ev[i].data.u64)),
            ev[i].events);
      }
    }
  }

  int Connect() {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(0x7f000001);
    sa.sin_port = htons(server_->port());
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
    clients_.push_back(fd);
    return fd;
  }

  // What the server sent on `fd` until it closed (pumping meanwhile);
  // `closed` says whether it did.
  std::string ReadAll(int fd, bool* closed) {
    std::string got;
    *closed = false;
    for (int i = 0; i < 100 && !*closed; ++i) {
      Pump();
      pollfd p{fd, POLLIN, 0};
      while (poll(&p, 1, 0) == 1) {
        char buf[4096];
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n <= 0) {
          *closed = true;
          break;
        }
        got.append(buf, static_cast<size_t>(n));
      }
    }
    return got;
  }

  void Send(int fd, const std::string& bytes) {
    ASSERT_EQ(send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }

  control::MetricsHttpStats Stats() const {
    control::MetricsHttpStats s;
    server_->FillStats(&s);
    return s;
  }
  static uint64_t Requests(const control::MetricsHttpStats& s,
                           const std::string& code) {
    for (const auto& c : s.requests()) {
      if (c.name() == code) return c.value();
    }
    return 0;
  }

  static constexpr uint64_t kTag = uint64_t{5} << 32;
  int epoll_fd_ = -1;
  TimeMs now_ = 1000;
  int bodies_ = 0;
  std::unique_ptr<MetricsServer> server_;
  std::vector<int> clients_;
};

TEST_F(MetricsServerTest, AnswersOneRequestAndCloses) {
  int fd = Connect();
  // In two pieces: the head may arrive in as many reads as it likes.
  Send(fd, "GET /metrics HTTP/1.1\r\nHo");
  Pump();
  EXPECT_EQ(bodies_, 0);
  Send(fd, "st: x\r\n\r\n");
  bool closed = false;
  std::string got = ReadAll(fd, &closed);
  EXPECT_TRUE(closed) << "one request per connection";
  EXPECT_TRUE(absl::StartsWith(got, "HTTP/1.1 200 OK\r\n")) << got;
  EXPECT_TRUE(absl::EndsWith(got, kBody));
  EXPECT_EQ(bodies_, 1);
  // The server closes its side once the client closes its own.
  close(fd);
  clients_.clear();
  Pump();
  EXPECT_EQ(server_->connections(), 0u);

  fd = Connect();
  Send(fd, "HEAD /metrics HTTP/1.0\r\n\r\n");
  got = ReadAll(fd, &closed);
  EXPECT_TRUE(absl::EndsWith(got, "\r\n\r\n")) << got;
  fd = Connect();
  Send(fd, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
  got = ReadAll(fd, &closed);
  EXPECT_TRUE(absl::StartsWith(got, "HTTP/1.1 405 ")) << got;
  fd = Connect();
  Send(fd, "GET /other HTTP/1.0\r\n\r\n");
  got = ReadAll(fd, &closed);
  EXPECT_TRUE(absl::StartsWith(got, "HTTP/1.1 404 ")) << got;
  fd = Connect();
  Send(fd, "\x16\x03\x01 TLS?\r\n\r\n");
  got = ReadAll(fd, &closed);
  EXPECT_TRUE(absl::StartsWith(got, "HTTP/1.1 400 ")) << got;
  // A head cut short by the client's shutdown: 400.
  fd = Connect();
  Send(fd, "GET /metrics HTTP/1.1\r\n");
  shutdown(fd, SHUT_WR);
  got = ReadAll(fd, &closed);
  EXPECT_TRUE(absl::StartsWith(got, "HTTP/1.1 400 ")) << got;
  EXPECT_TRUE(closed);

  const control::MetricsHttpStats s = Stats();
  EXPECT_EQ(Requests(s, "200"), 2u);
  EXPECT_EQ(Requests(s, "405"), 1u);
  EXPECT_EQ(Requests(s, "404"), 1u);
  EXPECT_EQ(Requests(s, "400"), 2u);
  EXPECT_EQ(s.connections_accepted(), 6u);
  EXPECT_EQ(s.connections_refused(), 0u);
  EXPECT_TRUE(absl::StartsWith(s.listen(), "127.0.0.1:"));
}

TEST_F(MetricsServerTest, OversizedHeadGets431) {
  int fd = Connect();
  std::string head = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ";
  head.append(MetricsServer::kMaxHead, 'a');
  Send(fd, head);  // no end of head within the limit
  bool closed = false;
  std::string got = ReadAll(fd, &closed);
  EXPECT_TRUE(absl::StartsWith(got, "HTTP/1.1 431 ")) << got.substr(0, 80);
  EXPECT_EQ(bodies_, 0);
  // A complete head just over the limit: 431 too.
  fd = Connect();
  head = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ";
  head.append(MetricsServer::kMaxHead - head.size(), 'b');
  head += "\r\n\r\n";
  Send(fd, head);
  got = ReadAll(fd, &closed);
  EXPECT_TRUE(absl::StartsWith(got, "HTTP/1.1 431 ")) << got.substr(0, 80);
  // Just within it: answered.
  fd = Connect();
  head = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ";
  head.append(MetricsServer::kMaxHead - head.size() - 4, 'c');
  head += "\r\n\r\n";
  ASSERT_EQ(head.size(), MetricsServer::kMaxHead);
  Send(fd, head);
  got = ReadAll(fd, &closed);
  EXPECT_TRUE(absl::StartsWith(got, "HTTP/1.1 200 ")) << got.substr(0, 80);
  EXPECT_EQ(Requests(Stats(), "431"), 2u);
}

TEST_F(MetricsServerTest, ConnectionCapAndTimeout) {
  std::vector<int> idle;
  for (size_t i = 0; i < MetricsServer::kMaxConnections; ++i) {
    idle.push_back(Connect());
  }
  Pump();
  EXPECT_EQ(server_->connections(), MetricsServer::kMaxConnections);
  // The ninth: accepted and closed at once, with a 503.
  int ninth = Connect();
  bool closed = false;
  std::string got = ReadAll(ninth, &closed);
  EXPECT_TRUE(closed);
  EXPECT_TRUE(got.empty() || absl::StartsWith(got, "HTTP/1.1 503 ")) << got;
  EXPECT_EQ(Stats().connections_refused(), 1u);
  EXPECT_EQ(server_->connections(), MetricsServer::kMaxConnections);

  // Not yet at the timeout: nothing closes.
  now_ += 4999;
  server_->Tick(now_);
  EXPECT_EQ(server_->connections(), MetricsServer::kMaxConnections);
  // At 5 s from their accept, all eight close, idle or half-sent.
  Send(idle[0], "GET /metr");
  Pump();
  now_ += 1;
  server_->Tick(now_);
  EXPECT_EQ(server_->connections(), 0u);
  EXPECT_EQ(Stats().timeouts(), MetricsServer::kMaxConnections);
  got = ReadAll(idle[0], &closed);
  EXPECT_TRUE(closed);
  EXPECT_TRUE(got.empty()) << got;

  // And /metrics answers again.
  int fd = Connect();
  Send(fd, "GET /metrics HTTP/1.0\r\n\r\n");
  got = ReadAll(fd, &closed);
  EXPECT_TRUE(absl::StartsWith(got, "HTTP/1.1 200 ")) << got;
  const control::MetricsHttpStats s = Stats();
  EXPECT_EQ(s.connections_accepted(), MetricsServer::kMaxConnections + 1);
  EXPECT_EQ(Requests(s, "200"), 1u);
}

TEST_F(MetricsServerTest, CountersCarryOverToAReplacement) {
  int fd = Connect();
  Send(fd, "GET /metrics HTTP/1.0\r\n\r\n");
  bool closed = false;
  ReadAll(fd, &closed);
  MetricsServer::Options o;
  o.port = 0;
  auto next = MetricsServer::Create(o, epoll_fd_, kTag, [] { return ""; });
  ASSERT_TRUE(next.ok());
  (*next)->AdoptCounters(*server_);
  control::MetricsHttpStats s;
  (*next)->FillStats(&s);
  EXPECT_EQ(Requests(s, "200"), 1u);
  EXPECT_EQ(s.connections_accepted(), 1u);
}

TEST(MetricsTextTest, EndpointMemoryAndLeaseFamilies) {
  control::Stats s;
  for (const char* p : {"natpmp", "pcp", "upnp"}) {
    auto* c = s.add_leases();
    c->set_name(p);
    c->set_value(p[0] == 'p' ? 2 : 0);
  }
  s.set_resident_memory_bytes(4096);
  s.set_engine_memory_bytes(123);
  control::Response ns;
  std::string t = PrometheusText(s, ns);
  EXPECT_TRUE(
      absl::StrContains(t, "\nunat_portmap_leases{protocol=\"pcp\"} 2\n"));
  EXPECT_TRUE(
      absl::StrContains(t, "\nunat_process_resident_memory_bytes 4096\n"));
  EXPECT_TRUE(absl::StrContains(t, "\nunat_engine_memory_bytes 123\n"));
  EXPECT_FALSE(absl::StrContains(t, "unat_metrics_http"))
      << "no endpoint, no endpoint families";
  auto* m = s.mutable_metrics_http();
  auto* r = m->add_requests();
  r->set_name("200");
  r->set_value(5);
  m->set_connections_refused(1);
  m->set_timeouts(2);
  t = PrometheusText(s, ns);
  EXPECT_TRUE(absl::StrContains(
      t, "\nunat_metrics_http_requests_total{code=\"200\"} 5\n"));
  EXPECT_TRUE(absl::StrContains(
      t, "\nunat_metrics_http_connections_total{result=\"refused\"} 1\n"));
  EXPECT_TRUE(absl::StrContains(t, "\nunat_metrics_http_timeouts_total 2\n"));
}

}  // namespace
}  // namespace unat::tun
