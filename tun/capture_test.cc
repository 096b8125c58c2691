// Unit tests of unatctl capture's pieces: the pcap writer (read back by
// libpcap itself) and unatd's capture set (taps, the per-capture queue and
// its bound, the count, the limit on captures, device names).
#include "tun/capture.h"

#include <pcap/pcap.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tun/control.pb.h"
#include "tun/framing.h"
#include "tun/pcap.h"

namespace unat::tun {
namespace {

template <typename T>
T At(const std::string& bytes, size_t offset) {
  T v;
  EXPECT_LE(offset + sizeof(T), bytes.size());
  memcpy(&v, bytes.data() + offset, sizeof(T));
  return v;
}

int64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

TEST(PcapTest, FileHeaderFields) {
  const std::string h = PcapFileHeader();
  ASSERT_EQ(h.size(), 24u);
  EXPECT_EQ(At<uint32_t>(h, 0), 0xa1b2c3d4u);  // microseconds, our order
  EXPECT_EQ(At<uint16_t>(h, 4), 2u);
  EXPECT_EQ(At<uint16_t>(h, 6), 4u);
  EXPECT_EQ(At<int32_t>(h, 8), 0);     // thiszone
  EXPECT_EQ(At<uint32_t>(h, 12), 0u);  // sigfigs
  EXPECT_EQ(At<uint32_t>(h, 16), 262144u);
  EXPECT_EQ(At<uint32_t>(h, 20), 101u);  // LINKTYPE_RAW
}

TEST(PcapTest, RecordHeaderThenTheBytes) {
  std::string out = "x";
  const std::string a = "\x45\x00\x00\x14 twenty bytes";
  AppendPcapRecord(int64_t{1700000000} * 1000000000 + 123456789, a, &out);
  AppendPcapRecord(int64_t{5} * 1000000000 + 999, "", &out);
  ASSERT_EQ(out.size(), 1 + 16 + a.size() + 16);
  EXPECT_EQ(At<uint32_t>(out, 1), 1700000000u);
  EXPECT_EQ(At<uint32_t>(out, 5), 123456u);    // microseconds, cut not rounded
  EXPECT_EQ(At<uint32_t>(out, 9), a.size());   // incl_len
  EXPECT_EQ(At<uint32_t>(out, 13), a.size());  // orig_len
  EXPECT_EQ(out.substr(17, a.size()), a);
  const size_t second = 17 + a.size();
  EXPECT_EQ(At<uint32_t>(out, second), 5u);
  EXPECT_EQ(At<uint32_t>(out, second + 4), 0u);
  EXPECT_EQ(At<uint32_t>(out, second + 8), 0u);
  EXPECT_EQ(At<uint32_t>(out, second + 12), 0u);
}

// What we write, libpcap reads: the link type, the snap length, each
// packet's time, lengths and bytes.
TEST(PcapTest, LibpcapReadsTheFile) {
  std::vector<std::string> packets = {
      std::string(20, '\x45'), std::string(1500, 'b'), std::string(65535, 'c')};
  std::string file = PcapFileHeader();
  for (size_t i = 0; i < packets.size(); ++i) {
    AppendPcapRecord(
        int64_t{1600000000 + static_cast<int64_t>(i)} * 1000000000 +
            int64_t{250000} * 1000,
        packets[i], &file);
  }
  char path[] = "/tmp/unat-pcap-test.XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, file.data(), file.size()),
            static_cast<ssize_t>(file.size()));
  close(fd);
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* p = pcap_open_offline(path, err);
  ASSERT_NE(p, nullptr) << err;
  EXPECT_EQ(pcap_datalink(p), DLT_RAW);
  EXPECT_EQ(pcap_snapshot(p), 262144);
  for (size_t i = 0; i < packets.size(); ++i) {
    pcap_pkthdr* hdr = nullptr;
    const u_char* data = nullptr;
    ASSERT_EQ(pcap_next_ex(p, &hdr, &data), 1) << i;
    EXPECT_EQ(hdr->ts.tv_sec, 1600000000 + static_cast<long>(i));
    EXPECT_EQ(hdr->ts.tv_usec, 250000);
    EXPECT_EQ(hdr->caplen, packets[i].size());
    EXPECT_EQ(hdr->len, packets[i].size());
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(data), hdr->caplen),
              packets[i]);
  }
  pcap_pkthdr* hdr = nullptr;
  const u_char* data = nullptr;
  EXPECT_EQ(pcap_next_ex(p, &hdr, &data), PCAP_ERROR_BREAK);  // the end
  pcap_close(p);
  unlink(path);
}

// Connections as the control server keeps them: a queue per connection
// that the "peer" takes messages from.
class FakeConns : public StreamConnections {
 public:
  void Open(int conn) { queues_[conn]; }
  void Gone(int conn) {
    queues_.erase(conn);
    if (hangup_) hangup_(conn);
  }
  void PeerShutdown(int conn) {
    if (hangup_) hangup_(conn);
  }
  size_t Queued(int conn) const override {
    auto it = queues_.find(conn);
    return it == queues_.end() ? 0 : it->second.size();
  }
  bool Append(int conn, std::string_view bytes) override {
    auto it = queues_.find(conn);
    if (it == queues_.end()) return false;
    it->second.append(bytes);
    return true;
  }
  void Finish(int conn) override {
    if (queues_.count(conn)) finished_.insert(conn);
  }
  void SetHangup(std::function<void(int)> hangup) override {
    hangup_ = std::move(hangup);
  }
  bool finished(int conn) const { return finished_.count(conn) > 0; }
  bool has_hangup() const { return static_cast<bool>(hangup_); }
  // The peer reads every queued message.
  std::vector<control::Response> Take(int conn) {
    std::vector<control::Response> out;
    std::string& q = queues_[conn];
    for (;;) {
      control::Response r;
      Extract e = ExtractDelimited(&q, &r);
      if (e == Extract::kNeedMore) break;
      EXPECT_EQ(e, Extract::kOk);
      if (e != Extract::kOk) break;
      out.push_back(r);
    }
    EXPECT_TRUE(q.empty());
    return out;
  }

 private:
  std::map<int, std::string> queues_;
  std::set<int> finished_;
  std::function<void(int)> hangup_;
};

class CaptureSetTest : public ::testing::Test {
 protected:
  // outside (unat-wan:unatw0), lan (unat-lan:unat0), lan2 (unat-lan2:unat0)
  std::unique_ptr<CaptureSet> Make(CaptureSet::Limits limits = {}) {
    std::vector<CaptureSet::Target> targets;
    const char* names[][3] = {{"outside", "unatw0", "unat-wan"},
                              {"lan", "unat0", "unat-lan"},
                              {"lan2", "unat0", "unat-lan2"}};
    for (size_t i = 0; i < 3; ++i) {
      targets.push_back({names[i][0], names[i][1], names[i][2],
                         [this, i](PacketTap* tap) { taps_[i] = tap; }});
    }
    return std::make_unique<CaptureSet>(std::move(targets), &conns_, limits);
  }
  absl::Status Start(CaptureSet& set, const std::string& device, uint32_t count,
                     int conn, control::Response* response = nullptr) {
    control::CaptureRequest req;
    req.set_device(device);
    req.set_count(count);
    control::Response ignored;
    conns_.Open(conn);
    return set.Start(req, conn, response ? response : &ignored);
  }
  // A device reading or writing a packet: through its tap, if it has one.
  void Packet(size_t device, bool written, const std::string& bytes) {
    if (taps_[device] != nullptr) {
      taps_[device]->Tapped(written,
                            reinterpret_cast<const uint8_t*>(bytes.data()),
                            bytes.size());
    }
  }

  FakeConns conns_;
  PacketTap* taps_[3] = {nullptr, nullptr, nullptr};
};

TEST_F(CaptureSetTest, NoTapWhileNothingCaptures) {
  auto set = Make();
  EXPECT_TRUE(conns_.has_hangup());
  EXPECT_EQ(taps_[0], nullptr);
  EXPECT_EQ(taps_[1], nullptr);
  ASSERT_TRUE(Start(*set, "lan", 5, 7).ok());
  EXPECT_EQ(taps_[0], nullptr);
  EXPECT_NE(taps_[1], nullptr);
  EXPECT_EQ(taps_[2], nullptr);
  conns_.PeerShutdown(7);
  EXPECT_EQ(taps_[1], nullptr);
  EXPECT_EQ(set->active(), 0u);
  ASSERT_TRUE(Start(*set, "outside", 5, 8).ok());
  EXPECT_NE(taps_[0], nullptr);
  set.reset();  // detaches its taps and its hook
  EXPECT_EQ(taps_[0], nullptr);
  EXPECT_FALSE(conns_.has_hangup());
}

TEST_F(CaptureSetTest, StreamsPacketsThenEndsAtTheCount) {
  auto set = Make();
  control::Response first;
  ASSERT_TRUE(Start(*set, "unat-lan:unat0", 3, 4, &first).ok());
  EXPECT_EQ(first.capture().name(), "lan");
  EXPECT_EQ(first.capture().netns(), "unat-lan");
  EXPECT_EQ(first.capture().device(), "unat0");
  EXPECT_EQ(first.capture().count(), 3u);
  EXPECT_TRUE(first.capture().end().empty());
  const int64_t before = NowNs();
  Packet(1, false, "read one");
  Packet(0, false, "the outside device: not this capture");
  Packet(1, true, std::string("written\0two", 11));
  Packet(2, false, "lan2's unat0: not this capture");
  Packet(1, false, "read three");
  const int64_t after = NowNs();
  Packet(1, false, "past the count");
  auto msgs = conns_.Take(4);
  ASSERT_EQ(msgs.size(), 4u);
  const char* want[] = {"read one", "written", "read three"};
  const bool written[] = {false, true, false};
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(msgs[i].has_packet()) << i;
    if (i == 1) {
      EXPECT_EQ(msgs[i].packet().data(), std::string("written\0two", 11));
    } else {
      EXPECT_EQ(msgs[i].packet().data(), want[i]);
    }
    EXPECT_EQ(msgs[i].packet().written(), written[i]);
    EXPECT_GE(msgs[i].packet().time_ns(), before);
    EXPECT_LE(msgs[i].packet().time_ns(), after);
  }
  EXPECT_LE(msgs[0].packet().time_ns(), msgs[2].packet().time_ns());
  ASSERT_TRUE(msgs[3].has_capture());
  EXPECT_TRUE(msgs[3].ok());
  EXPECT_EQ(msgs[3].capture().end(), "count reached");
  EXPECT_EQ(msgs[3].capture().captured(), 3u);
  EXPECT_EQ(msgs[3].capture().dropped(), 0u);
  EXPECT_TRUE(conns_.finished(4));
  EXPECT_EQ(taps_[1], nullptr);
  control::DeviceStats ds;
  set->FillDeviceStats(1, &ds);
  EXPECT_EQ(ds.captures(), 0u);
  EXPECT_EQ(ds.captured(), 3u);
  EXPECT_EQ(ds.capture_dropped(), 0u);
}

TEST_F(CaptureSetTest, AFullQueueDropsAndCountsNeverBlocks) {
  CaptureSet::Limits limits;
  limits.queue_bytes = 1000;
  auto set = Make(limits);
  ASSERT_TRUE(Start(*set, "outside", 1000, 3).ok());
  const std::string pkt(300, 'p');  // a frame is a little more than 300
  for (int i = 0; i < 10; ++i) Packet(0, false, pkt);
  EXPECT_LE(conns_.Queued(3), limits.queue_bytes);
  auto msgs = conns_.Take(3);  // the reader catches up
  ASSERT_EQ(msgs.size(), 3u);  // 3 frames of ~305 bytes fit in 1000
  for (int i = 0; i < 5; ++i) Packet(0, true, pkt);
  msgs = conns_.Take(3);
  EXPECT_EQ(msgs.size(), 3u);
  // A packet larger than the whole queue is dropped too.
  Packet(0, false, std::string(2000, 'x'));
  control::DeviceStats ds;
  set->FillDeviceStats(0, &ds);
  EXPECT_EQ(ds.captures(), 1u);
  EXPECT_EQ(ds.captured(), 6u);
  EXPECT_EQ(ds.capture_dropped(), 7u + 2u + 1u);
  // The client stops: the last message goes out, past the bound if need be,
  // with the drops.
  for (int i = 0; i < 3; ++i) Packet(0, false, pkt);  // fills the queue
  conns_.PeerShutdown(3);
  EXPECT_TRUE(conns_.finished(3));
  msgs = conns_.Take(3);
  ASSERT_EQ(msgs.size(), 4u);
  ASSERT_TRUE(msgs.back().has_capture());
  EXPECT_EQ(msgs.back().capture().end(), "stopped by the client");
  EXPECT_EQ(msgs.back().capture().captured(), 9u);
  EXPECT_EQ(msgs.back().capture().dropped(), 10u);
  EXPECT_EQ(taps_[0], nullptr);
}

TEST_F(CaptureSetTest, AtMostFourAtOnceEachSeesTheDevice) {
  auto set = Make();
  for (int conn = 10; conn < 14; ++conn) {
    ASSERT_TRUE(Start(*set, conn == 13 ? "lan2" : "lan", 100, conn).ok());
  }
  absl::Status s = Start(*set, "lan", 100, 14);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(s.message(), "4 captures run already (at most 4 at once)");
  EXPECT_EQ(set->active(), 4u);
  Packet(1, false, "to all three of lan's");
  for (int conn = 10; conn < 13; ++conn) {
    auto msgs = conns_.Take(conn);
    ASSERT_EQ(msgs.size(), 1u) << conn;
    EXPECT_EQ(msgs[0].packet().data(), "to all three of lan's");
  }
  EXPECT_TRUE(conns_.Take(13).empty());
  control::DeviceStats ds;
  set->FillDeviceStats(1, &ds);
  EXPECT_EQ(ds.captures(), 3u);
  EXPECT_EQ(ds.captured(), 3u);
  // One connection vanishes (nothing to send the end to); its slot frees,
  // lan keeps its tap for the other two.
  conns_.Gone(10);
  EXPECT_FALSE(conns_.finished(10));
  EXPECT_NE(taps_[1], nullptr);
  EXPECT_TRUE(Start(*set, "lan", 100, 14).ok());
  EXPECT_EQ(Start(*set, "lan", 100, 14).message(),
            "this connection runs a capture already");
}

TEST_F(CaptureSetTest, DevicesByNameAndClearRefusals) {
  auto set = Make();
  control::Response r;
  ASSERT_TRUE(Start(*set, "unatw0", 1, 1, &r).ok());
  EXPECT_EQ(r.capture().name(), "outside");
  ASSERT_TRUE(Start(*set, "lan2", 1, 2, &r).ok());
  EXPECT_EQ(r.capture().netns(), "unat-lan2");
  absl::Status s = Start(*set, "unat0", 1, 3);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "device \"unat0\" is ambiguous: lan (unat-lan:unat0), lan2 "
            "(unat-lan2:unat0); name the inside network or NETNS:DEVICE");
  s = Start(*set, "eth7", 1, 3);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(),
            "no device \"eth7\"; devices: outside (unat-wan:unatw0), lan "
            "(unat-lan:unat0), lan2 (unat-lan2:unat0)");
  EXPECT_EQ(Start(*set, "unat-wan:unat0", 1, 3).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Start(*set, "lan", 0, 3).message(),
            "count 0 is out of range 1..100000000");
  EXPECT_EQ(Start(*set, "lan", 100000001, 3).message(),
            "count 100000001 is out of range 1..100000000");
  EXPECT_EQ(set->active(), 2u);
}

TEST_F(CaptureSetTest, EndAllSendsEachItsLastMessage) {
  auto set = Make();
  ASSERT_TRUE(Start(*set, "lan", 10, 1).ok());
  ASSERT_TRUE(Start(*set, "outside", 10, 2).ok());
  Packet(0, true, "out");
  set->EndAll("unatd stopped");
  EXPECT_EQ(set->active(), 0u);
  EXPECT_EQ(taps_[0], nullptr);
  EXPECT_EQ(taps_[1], nullptr);
  auto one = conns_.Take(1);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].capture().end(), "unatd stopped");
  EXPECT_EQ(one[0].capture().captured(), 0u);
  auto two = conns_.Take(2);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[1].capture().end(), "unatd stopped");
  EXPECT_EQ(two[1].capture().captured(), 1u);
  EXPECT_TRUE(conns_.finished(1));
  EXPECT_TRUE(conns_.finished(2));
}

// The control server's side of a stream, over a real socket: a handler's
// response, then what Append queues, in order; Finish closes once all is
// out; the peer shutting down its side calls the hangup hook.
TEST(ControlStreamTest, AppendFinishAndHangupOverASocket) {
  char dir[] = "/tmp/unat-stream-test.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/ctl.sock";
  int ep = epoll_create1(EPOLL_CLOEXEC);
  ASSERT_GE(ep, 0);
  int stream_conn = -1;
  std::vector<int> hangups;
  auto server = ControlServer::Create(
      {path, 0600, static_cast<gid_t>(-1)}, ep, uint64_t{4} << 32,
      [&](const control::Request&, const Peer& peer, control::Response* r) {
        stream_conn = peer.conn;
        r->set_ok(true);
      });
  ASSERT_TRUE(server.ok()) << server.status();
  (*server)->SetHangup([&](int conn) { hangups.push_back(conn); });
  auto pump = [&] {  // the daemon's loop, briefly
    epoll_event ev[8];
    int n;
    while ((n = epoll_wait(ep, ev, 8, 20)) > 0) {
      for (int i = 0; i < n; ++i) {
        (*server)->OnEvent(
            static_cast<int>(static_cast<uint32_t>(ev[i].data.u64)),
            ev[i].events);
      }
    }
  };
  auto client = [&] {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    control::Request req;
    req.mutable_capture()->set_device("lan");
    std::string out;
    AppendDelimited(req, &out);
    EXPECT_EQ(send(fd, out.data(), out.size(), 0),
              static_cast<ssize_t>(out.size()));
    return fd;
  };
  auto read_all = [&](int fd) {  // until EOF or nothing more for a while
    std::string in;
    for (int idle = 0; idle < 5;) {
      pump();
      char buf[4096];
      ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (n == 0) break;
      if (n > 0) {
        in.append(buf, static_cast<size_t>(n));
      } else {
        ++idle;
      }
    }
    return in;
  };

  int fd = client();
  pump();
  ASSERT_GE(stream_conn, 0);
  EXPECT_EQ((*server)->Queued(stream_conn), 0u);  // the response went out
  control::Response more;
  more.mutable_packet()->set_data("one");
  std::string frames;
  AppendDelimited(more, &frames);
  more.mutable_packet()->set_data("two");
  AppendDelimited(more, &frames);
  ASSERT_TRUE((*server)->Append(stream_conn, frames));
  EXPECT_EQ((*server)->Queued(stream_conn), frames.size());  // not sent yet
  (*server)->Finish(stream_conn);
  std::string in = read_all(fd);  // ends at EOF: Finish closed it
  control::Response r;
  ASSERT_EQ(ExtractDelimited(&in, &r), Extract::kOk);
  EXPECT_TRUE(r.ok());
  ASSERT_EQ(ExtractDelimited(&in, &r), Extract::kOk);
  EXPECT_EQ(r.packet().data(), "one");
  ASSERT_EQ(ExtractDelimited(&in, &r), Extract::kOk);
  EXPECT_EQ(r.packet().data(), "two");
  EXPECT_TRUE(in.empty());
  EXPECT_EQ(hangups, std::vector<int>{stream_conn});  // gone
  EXPECT_FALSE((*server)->Append(stream_conn, "x"));
  EXPECT_EQ((*server)->Queued(stream_conn), 0u);
  close(fd);

  // The peer shuts down its side: the hook runs while the connection is
  // still there, and what it queues still reaches the peer.
  hangups.clear();
  fd = client();
  pump();
  const int second = stream_conn;
  (*server)->SetHangup([&](int conn) {
    hangups.push_back(conn);
    if ((*server)->Append(conn, frames)) (*server)->Finish(conn);
  });
  shutdown(fd, SHUT_WR);
  in = read_all(fd);
  ASSERT_EQ(ExtractDelimited(&in, &r), Extract::kOk);  // the response
  ASSERT_EQ(ExtractDelimited(&in, &r), Extract::kOk);
  EXPECT_EQ(r.packet().data(), "one");
  ASSERT_EQ(ExtractDelimited(&in, &r), Extract::kOk);
  EXPECT_EQ(r.packet().data(), "two");
  EXPECT_EQ(hangups, (std::vector<int>{second, second}));  // EOF, then gone
  close(fd);
  (*server)->SetHangup(nullptr);
  server->reset();
  close(ep);
  rmdir(dir);
}

}  // namespace
}  // namespace unat::tun
