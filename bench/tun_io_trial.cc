// io_uring against plain read/write on a TUN device (issue 18 item 3): the
// measurement that decides whether unatd's device I/O moves to io_uring.
// Run by bench/tun_io_trial.sh inside a network namespace of its own, where
// the TUN device `trial0` (10.99.0.1/24, up) exists:
//
//   tun_io_trial read  plain|uring SECONDS   a sender thread blasts 64-byte
//       UDP datagrams at 10.99.0.2 (routed into trial0); the main thread
//       drains the device: epoll + up to 32 read()s per wake-up (unatd
//       today), or 32 reads kept queued in an io_uring.
//   tun_io_trial write plain|uring SECONDS   the main thread writes 64-byte
//       UDP datagrams into trial0 for 10.99.0.1:9 (a socket a second thread
//       drains): one write() each (unatd today), or batches of 32 writes
//       per io_uring_enter.
//
// Prints one line: mode, packets per second, for reads the share of the
// sender's datagrams that were read, and the CPU the I/O side spent per
// packet (the process's CPU time less the other thread's: io_uring's
// kernel workers count as the I/O side's). The sender is usually what
// limits the read rate, so the CPU per packet is the figure to compare.
#include <fcntl.h>
#include <liburing.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "engine/checksum.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kBatch = 32;
constexpr size_t kBuf = 2048;

int OpenTun(const char* name) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    perror("open /dev/net/tun");
    exit(1);
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
    perror("TUNSETIFF");
    exit(1);
  }
  return fd;
}

// A 64-byte IPv4/UDP datagram 10.99.0.2:5000 -> 10.99.0.1:9.
std::vector<uint8_t> Datagram() {
  std::vector<uint8_t> p(64, 0);
  p[0] = 0x45;
  unat::StoreBe16(&p[2], 64);
  p[8] = 64;
  p[9] = 17;
  unat::StoreBe32(&p[12], 0x0a630002);
  unat::StoreBe32(&p[16], 0x0a630001);
  unat::StoreBe16(&p[10], unat::InternetChecksum({p.data(), 20}));
  unat::StoreBe16(&p[20], 5000);
  unat::StoreBe16(&p[22], 9);
  unat::StoreBe16(&p[24], 44);
  return p;
}

// CPU seconds of the whole process (every thread, io_uring's workers too),
// and of the calling thread.
double ProcessCpu() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec +
         (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}
double ThreadCpu() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

void ReadTrial(int fd, bool uring, double secs) {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> sent{0};
  std::atomic<double> other_cpu{0};
  const double cpu0 = ProcessCpu();
  std::thread sender([&] {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(9);
    to.sin_addr.s_addr = htonl(0x0a630002);
    connect(s, reinterpret_cast<sockaddr*>(&to), sizeof(to));
    char payload[36] = {};
    uint64_t n = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      if (send(s, payload, sizeof(payload), 0) > 0) ++n;
    }
    sent = n;
    other_cpu = ThreadCpu();
    close(s);
  });
  std::vector<uint8_t> bufs(kBatch * kBuf);
  uint64_t got = 0;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(secs);
  if (!uring) {
    int ep = epoll_create1(0);
    epoll_event ev{};
    ev.events = EPOLLIN;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    while (Clock::now() < end) {
      epoll_event out[4];
      if (epoll_wait(ep, out, 4, 100) <= 0) continue;
      for (int i = 0; i < kBatch; ++i) {
        if (read(fd, &bufs[i * kBuf], kBuf) <= 0) break;
        ++got;
      }
    }
    close(ep);
  } else {
    io_uring ring;
    if (io_uring_queue_init(2 * kBatch, &ring, 0) != 0) {
      perror("io_uring_queue_init");
      exit(1);
    }
    for (int i = 0; i < kBatch; ++i) {
      io_uring_sqe* sqe = io_uring_get_sqe(&ring);
      io_uring_prep_read(sqe, fd, &bufs[i * kBuf], kBuf, 0);
      io_uring_sqe_set_data64(sqe, static_cast<uint64_t>(i));
    }
    io_uring_submit(&ring);
    __kernel_timespec ts{0, 100 * 1000 * 1000};
    while (Clock::now() < end) {
      io_uring_cqe* cqe;
      if (io_uring_wait_cqe_timeout(&ring, &cqe, &ts) != 0) continue;
      unsigned head, seen = 0;
      io_uring_for_each_cqe(&ring, head, cqe) {
        const int i = static_cast<int>(io_uring_cqe_get_data64(cqe));
        if (cqe->res > 0) ++got;
        io_uring_sqe* sqe = io_uring_get_sqe(&ring);
        io_uring_prep_read(sqe, fd, &bufs[i * kBuf], kBuf, 0);
        io_uring_sqe_set_data64(sqe, static_cast<uint64_t>(i));
        ++seen;
      }
      io_uring_cq_advance(&ring, seen);
      io_uring_submit(&ring);
    }
    io_uring_queue_exit(&ring);
  }
  const double took = Seconds(start, Clock::now());
  stop = true;
  sender.join();
  const double io_cpu = ProcessCpu() - cpu0 - other_cpu;
  printf(
      "read %s: %.0f packets/s read, %.1f%% of %.0f/s sent, %.0f ns CPU "
      "per packet read\n",
      uring ? "uring" : "plain", got / took,
      sent ? 100.0 * static_cast<double>(got) / sent : 0.0, sent / took,
      got ? io_cpu * 1e9 / got : 0.0);
}

void WriteTrial(int fd, bool uring, double secs) {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> received{0};
  std::atomic<double> other_cpu{0};
  const double cpu0 = ProcessCpu();
  int rx = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_port = htons(9);
  at.sin_addr.s_addr = htonl(0x0a630001);
  if (bind(rx, reinterpret_cast<sockaddr*>(&at), sizeof(at)) != 0) {
    perror("bind 10.99.0.1:9");
    exit(1);
  }
  timeval tv{0, 100000};
  setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::thread drain([&] {
    char b[2048];
    uint64_t n = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      if (recv(rx, b, sizeof(b), 0) > 0) ++n;
    }
    received = n;
    other_cpu = ThreadCpu();
  });
  const std::vector<uint8_t> pkt = Datagram();
  uint64_t written = 0;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(secs);
  if (!uring) {
    while (Clock::now() < end) {
      for (int i = 0; i < kBatch; ++i) {
        if (write(fd, pkt.data(), pkt.size()) > 0) ++written;
      }
    }
  } else {
    io_uring ring;
    if (io_uring_queue_init(2 * kBatch, &ring, 0) != 0) {
      perror("io_uring_queue_init");
      exit(1);
    }
    while (Clock::now() < end) {
      for (int i = 0; i < kBatch; ++i) {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring);
        io_uring_prep_write(sqe, fd, pkt.data(), pkt.size(), 0);
      }
      io_uring_submit_and_wait(&ring, kBatch);
      io_uring_cqe* cqe;
      unsigned head, seen = 0;
      io_uring_for_each_cqe(&ring, head, cqe) {
        if (cqe->res > 0) ++written;
        ++seen;
      }
      io_uring_cq_advance(&ring, seen);
    }
    io_uring_queue_exit(&ring);
  }
  const double took = Seconds(start, Clock::now());
  usleep(200000);
  stop = true;
  drain.join();
  close(rx);
  const double io_cpu = ProcessCpu() - cpu0 - other_cpu;
  printf(
      "write %s: %.0f packets/s written, %.1f%% received, %.0f ns CPU "
      "per packet written\n",
      uring ? "uring" : "plain", written / took,
      written ? 100.0 * static_cast<double>(received) / written : 0.0,
      written ? io_cpu * 1e9 / written : 0.0);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 ||
      (std::string(argv[1]) != "read" && std::string(argv[1]) != "write") ||
      (std::string(argv[2]) != "plain" && std::string(argv[2]) != "uring")) {
    fprintf(stderr, "usage: %s read|write plain|uring SECONDS\n", argv[0]);
    return 2;
  }
  const double secs = atof(argv[3]);
  if (!(secs > 0)) {
    fprintf(stderr, "SECONDS: want a positive number, got \"%s\"\n", argv[3]);
    return 2;
  }
  const int fd = OpenTun("trial0");
  const bool uring = std::string(argv[2]) == "uring";
  if (std::string(argv[1]) == "read") {
    ReadTrial(fd, uring, secs);
  } else {
    WriteTrial(fd, uring, secs);
  }
  close(fd);
  return 0;
}
