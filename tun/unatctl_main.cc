// unatctl: talks to unatd over its control socket.
//
// Exit codes: 0 ok, 1 unatd refused the request, 2 usage, 3 no connection.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/json_util.h"
#include "tun/control.pb.h"
#include "tun/framing.h"
#include "tun/metrics.h"
#include "tun/pcap.h"

namespace {

using unat::control::Request;
using unat::control::Response;

constexpr char kUsage[] = R"(usage: unatctl [--socket PATH] [--json] COMMAND
       unatctl --version
  flows [--ns NAME] [--proto tcp|udp|icmp|gre] [--addr A] [--limit N]
  forwards
  forward add PROTO EXT_PORT NAMESPACE INSIDE_ADDR INSIDE_PORT
              [--external-address A] [--description TEXT]
  forward del PROTO EXT_PORT [--external-address A]
  namespaces
  stats
  metrics        (Prometheus text exposition format)
  reload         (unatd reads its config again and applies it, as at SIGHUP;
                 prints what changed, or why it refused and kept the old)
  capture --device NAME --write FILE|- [--count N] [--timeout SECONDS]
                 (a pcap of the packets one device reads and writes; NAME:
                 an inside network, outside, a device, or NETNS:DEVICE;
                 --count defaults to 1000)
The socket defaults to $UNAT_CTL_SOCKET, else /run/unat/unatd.sock.
)";

int Usage(const std::string& problem) {
  fprintf(stderr, "unatctl: %s\n%s", problem.c_str(), kUsage);
  return 2;
}

// TCP or UDP; with `any_tracked`, ICMP and GRE too (flow listings).
bool ParseProto(const std::string& text, uint32_t* proto, bool any_tracked) {
  std::string p = absl::AsciiStrToLower(text);
  if (p == "tcp") {
    *proto = 6;
  } else if (p == "udp") {
    *proto = 17;
  } else if (p == "icmp" && any_tracked) {
    *proto = 1;
  } else if (p == "gre" && any_tracked) {
    *proto = 47;
  } else {
    return false;
  }
  return true;
}

bool ParsePort(const std::string& text, uint32_t* port) {
  return absl::SimpleAtoi(text, port) && *port >= 1 && *port <= 65535;
}

std::string ProtoText(uint32_t proto) {
  return proto == 6    ? "tcp"
         : proto == 17 ? "udp"
         : proto == 1  ? "icmp"
                       : absl::StrCat(proto);
}

std::string Expiry(int64_t ms) {
  if (ms <= 0) return "-";
  return absl::StrFormat("%.1fs", static_cast<double>(ms) / 1000.0);
}

// A plain text table: column widths from the content.
void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); ++c) width[c] = header[c].size();
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size() && c < width.size(); ++c) {
      width[c] = std::max(width[c], row[c].size());
    }
  }
  auto print_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      if (c + 1 == row.size()) {
        absl::StrAppend(&line, row[c]);
      } else {
        absl::StrAppend(&line, row[c],
                        std::string(width[c] - row[c].size() + 2, ' '));
      }
    }
    puts(line.c_str());
  };
  print_row(header);
  for (const auto& row : rows) print_row(row);
}

// Connects to unatd and sends `request`; the socket in `*fd`, or an exit
// code (the message on stderr).
int Connect(const std::string& path, const Request& request, int* fd) {
  sockaddr_un addr;
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    fprintf(stderr, "unatctl: socket path %s is too long\n", path.c_str());
    return 2;
  }
  strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  *fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (*fd < 0 ||
      connect(*fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    fprintf(stderr, "unatctl: cannot connect to %s: %s\n", path.c_str(),
            strerror(errno));
    if (*fd >= 0) close(*fd);
    return 3;
  }
  std::string out;
  unat::tun::AppendDelimited(request, &out);
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = send(*fd, out.data() + done, out.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      fprintf(stderr, "unatctl: sending to %s: %s\n", path.c_str(),
              strerror(errno));
      close(*fd);
      return 3;
    }
    done += static_cast<size_t>(n);
  }
  return 0;
}

// Reads what `fd` has (waiting for it) onto `in`: >0 bytes, 0 at EOF, -1 on
// an error.
ssize_t ReadSome(int fd, std::string* in) {
  char buf[65536];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n > 0) in->append(buf, static_cast<size_t>(n));
    return n;
  }
}

// The next message from `fd` (bytes already read wait in `in`); 0, or an
// exit code.
int Receive(const std::string& path, int fd, std::string* in,
            Response* response) {
  for (;;) {
    unat::tun::Extract r = unat::tun::ExtractDelimited(in, response);
    if (r == unat::tun::Extract::kOk) return 0;
    if (r == unat::tun::Extract::kBad) {
      fprintf(stderr, "unatctl: malformed answer from %s\n", path.c_str());
      return 3;
    }
    if (ReadSome(fd, in) <= 0) {
      fprintf(stderr, "unatctl: %s closed the connection without an answer\n",
              path.c_str());
      return 3;
    }
  }
}

int Exchange(const std::string& path, const Request& request,
             Response* response) {
  int fd = -1;
  if (int rc = Connect(path, request, &fd); rc != 0) return rc;
  std::string in;
  int rc = Receive(path, fd, &in, response);
  close(fd);
  return rc;
}

volatile sig_atomic_t g_stop_capture = 0;
void StopCapture(int) { g_stop_capture = 1; }

bool WriteAll(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

int64_t MonotonicMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// unatctl capture: a pcap of what unatd sends; each packet written out as
// it comes. SIGINT/SIGTERM or the timeout end it politely (unatd sends its
// last message, with the drops); a second signal ends unatctl at once.
int Capture(const std::string& path, const std::string& device, uint32_t count,
            double timeout_s, const std::string& file) {
  Request request;
  request.mutable_capture()->set_device(device);
  request.mutable_capture()->set_count(count);
  int fd = -1;
  if (int rc = Connect(path, request, &fd); rc != 0) return rc;
  std::string in;
  Response response;
  if (int rc = Receive(path, fd, &in, &response); rc != 0) {
    close(fd);
    return rc;
  }
  if (!response.ok()) {
    fprintf(stderr, "unatctl: %s\n", response.error().c_str());
    close(fd);
    return 1;
  }
  const unat::control::Capture started = response.capture();
  const bool to_stdout = file == "-";
  const std::string out_name = to_stdout ? "standard output" : file;
  int out = to_stdout ? STDOUT_FILENO
                      : open(file.c_str(),
                             O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (out < 0 || !WriteAll(out, unat::tun::PcapFileHeader())) {
    fprintf(stderr, "unatctl: writing %s: %s\n", out_name.c_str(),
            strerror(errno));
    close(fd);
    return 1;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = StopCapture;
  sa.sa_flags = SA_RESETHAND;  // no SA_RESTART: a signal wakes poll()
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a reader gone is a write error

  const int64_t deadline =
      timeout_s > 0 ? MonotonicMs() + static_cast<int64_t>(timeout_s * 1000)
                    : -1;
  bool stopping = false;
  uint64_t written = 0;
  std::string record;
  int rc = 3;
  for (;;) {
    if (!stopping &&
        (g_stop_capture || (deadline >= 0 && MonotonicMs() >= deadline))) {
      shutdown(fd, SHUT_WR);  // unatd ends the capture and says so
      stopping = true;
    }
    Response msg;
    unat::tun::Extract r = unat::tun::ExtractDelimited(&in, &msg);
    if (r == unat::tun::Extract::kBad) {
      fprintf(stderr, "unatctl: malformed message from %s\n", path.c_str());
      break;
    }
    if (r == unat::tun::Extract::kOk) {
      if (msg.has_packet()) {
        record.clear();
        unat::tun::AppendPcapRecord(msg.packet().time_ns(), msg.packet().data(),
                                    &record);
        if (!WriteAll(out, record)) {
          fprintf(stderr, "unatctl: writing %s: %s\n", out_name.c_str(),
                  strerror(errno));
          rc = 1;
          break;
        }
        ++written;
      } else if (!msg.capture().end().empty()) {
        const unat::control::Capture& c = msg.capture();
        fprintf(stderr,
                "unatctl: capture on %s (%s%s%s): %llu packet(s) written to "
                "%s, %llu dropped by unatd (queue full); %s\n",
                c.name().c_str(), c.netns().c_str(),
                c.netns().empty() ? "" : ":", c.device().c_str(),
                static_cast<unsigned long long>(written), out_name.c_str(),
                static_cast<unsigned long long>(c.dropped()), c.end().c_str());
        rc = 0;
        break;
      }
      continue;
    }
    int wait_ms = 200;  // also catches a signal just before poll()
    if (deadline >= 0 && !stopping) {
      wait_ms = static_cast<int>(
          std::clamp<int64_t>(deadline - MonotonicMs(), 0, wait_ms));
    }
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, wait_ms) <= 0) continue;  // timeout, EINTR
    ssize_t n = ReadSome(fd, &in);
    if (n <= 0) {
      fprintf(stderr,
              "unatctl: %s closed the capture on %s before its end (%llu "
              "packet(s) written to %s)\n",
              path.c_str(), started.name().c_str(),
              static_cast<unsigned long long>(written), out_name.c_str());
      break;
    }
  }
  close(fd);
  if (!to_stdout && close(out) != 0 && rc == 0) {
    fprintf(stderr, "unatctl: closing %s: %s\n", file.c_str(), strerror(errno));
    rc = 1;
  }
  return rc;
}

void PrintJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  puts(json.c_str());
}

void PrintForwards(const Response& r) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& f : r.forwards()) {
    rows.push_back(
        {ProtoText(f.proto()),
         absl::StrCat(f.external_address().empty() ? "*" : f.external_address(),
                      ":", f.external_port()),
         f.ns(), absl::StrCat(f.inside_address(), ":", f.inside_port()),
         f.owner(), f.origin(), Expiry(f.expires_in_ms()),
         f.owner_client().empty() ? "-" : f.owner_client(),
         f.disabled() ? std::string("disabled")
         : f.allowed_remotes().empty()
             ? std::string("*")
             : absl::StrJoin(f.allowed_remotes(), ","),
         f.description()});
  }
  PrintTable({"PROTO", "EXTERNAL", "NAMESPACE", "INSIDE", "OWNER", "ORIGIN",
              "EXPIRES", "CLIENT", "REMOTES", "DESCRIPTION"},
             rows);
}

void PrintStats(const Response& r) {
  const auto& s = r.stats();
  printf(
      "uptime %.1fs  reloads %llu (refused %llu)  state saves %llu (errors "
      "%llu, %llu us total, max %llu us)  held for durability %llu\n",
      static_cast<double>(s.uptime_ms()) / 1000.0,
      static_cast<unsigned long long>(s.reloads()),
      static_cast<unsigned long long>(s.reloads_refused()),
      static_cast<unsigned long long>(s.state_saves()),
      static_cast<unsigned long long>(s.state_save_errors()),
      static_cast<unsigned long long>(s.state_save_us_total()),
      static_cast<unsigned long long>(s.state_save_us_max()),
      static_cast<unsigned long long>(s.held_for_durability()));
  printf(
      "flows %u (created %llu, expired %llu)  mappings %u (held %u)  "
      "forwards %u  expectations %u  related flows %u (opened %llu)\n",
      s.flows_total(), static_cast<unsigned long long>(s.flows_created()),
      static_cast<unsigned long long>(s.flows_expired()), s.mappings(),
      s.mappings_held(), s.forwards(), s.expectations(), s.related_flows(),
      static_cast<unsigned long long>(s.related_opened()));
  printf("forwarded: out %llu packets %llu bytes, in %llu packets %llu bytes\n",
         static_cast<unsigned long long>(s.packets_out()),
         static_cast<unsigned long long>(s.bytes_out()),
         static_cast<unsigned long long>(s.packets_in()),
         static_cast<unsigned long long>(s.bytes_in()));
  printf("icmp errors sent %llu, rate-limited %llu\n",
         static_cast<unsigned long long>(s.icmp_errors_sent()),
         static_cast<unsigned long long>(s.icmp_errors_rate_limited()));
  printf("inbound tcp handshakes in progress %u, evicted %llu\n",
         s.half_open_inbound(),
         static_cast<unsigned long long>(s.half_open_evicted()));
  printf(
      "fragments: in %llu = forwarded %llu + reassembled %llu + dropped %llu "
      "+ held %u\n",
      static_cast<unsigned long long>(s.fragments_in()),
      static_cast<unsigned long long>(s.fragments_forwarded()),
      static_cast<unsigned long long>(s.fragments_reassembled()),
      static_cast<unsigned long long>(s.fragments_dropped()),
      s.fragments_held());
  printf(
      "fragment datagrams: reassembled %llu, timed out %llu; created %llu "
      "fragments; in reassembly %u datagrams, %u bytes\n",
      static_cast<unsigned long long>(s.datagrams_reassembled()),
      static_cast<unsigned long long>(s.fragment_datagrams_timed_out()),
      static_cast<unsigned long long>(s.fragments_created()),
      s.fragment_datagrams(), s.fragment_bytes_held());
  printf("tcp segments cut from helper-grown ones: %llu\n",
         static_cast<unsigned long long>(s.segments_created()));
  printf("super-packets cut into segments in software: %llu\n\n",
         static_cast<unsigned long long>(s.super_packets_segmented()));
  std::vector<std::vector<std::string>> rows;
  for (const auto& c : s.flows()) {
    rows.push_back({c.name(), absl::StrCat(c.value())});
  }
  PrintTable({"FLOWS", "COUNT"}, rows);
  puts("");
  rows.clear();
  for (const auto& c : s.drops()) {
    rows.push_back({c.name(), absl::StrCat(c.value())});
  }
  PrintTable({"DROP REASON", "COUNT"}, rows);
  puts("");
  if (s.portmap_size() > 0) {
    rows.clear();
    for (const auto& c : s.portmap()) {
      rows.push_back({c.name(), absl::StrCat(c.value())});
    }
    PrintTable({"NAT-PMP / PCP", "COUNT"}, rows);
    puts("");
  }
  if (s.helpers_size() > 0) {
    rows.clear();
    for (const auto& c : s.helpers()) {
      rows.push_back({c.name(), absl::StrCat(c.value())});
    }
    PrintTable({"ALG HELPERS", "COUNT"}, rows);
    puts("");
  }
  rows.clear();
  for (const auto& d : s.devices()) {
    rows.push_back(
        {d.name(),
         d.netns().empty() ? d.device()
                           : absl::StrCat(d.netns(), ":", d.device()),
         absl::StrCat(d.rx_packets()), absl::StrCat(d.rx_bytes()),
         absl::StrCat(d.tx_packets()), absl::StrCat(d.tx_bytes()),
         absl::StrCat(d.rx_errors()), absl::StrCat(d.tx_dropped_full()),
         absl::StrCat(d.tx_errors())});
  }
  PrintTable({"DEVICE", "NETNS:IFACE", "RX PKTS", "RX BYTES", "TX PKTS",
              "TX BYTES", "RX ERR", "TX FULL", "TX ERR"},
             rows);
  rows.clear();
  for (const auto& d : s.devices()) {
    if (d.offloads() == 0) continue;
    std::string took;
    for (auto [bit, name] :
         {std::pair{0x01u, "csum"}, std::pair{0x02u, "tso4"},
          std::pair{0x08u, "tso_ecn"}, std::pair{0x20u, "uso4"}}) {
      if (d.offloads() & bit)
        absl::StrAppend(&took, took.empty() ? "" : ",", name);
    }
    rows.push_back({d.name(), took, absl::StrCat(d.rx_super_packets()),
                    absl::StrCat(d.tx_super_packets()),
                    absl::StrCat(d.rx_csum_completed()),
                    absl::StrCat(d.tx_coalesced()),
                    d.tx_super_refused() ? "yes" : "no"});
  }
  if (!rows.empty()) {
    puts("");
    PrintTable({"OFFLOAD", "TAKEN", "RX SUPER", "TX SUPER", "CSUM COMPLETED",
                "TX COALESCED", "REFUSED"},
               rows);
  }
  if (s.coalesce_bad_checksum() != 0) {
    printf("packets not coalesced for a bad checksum: %llu\n",
           static_cast<unsigned long long>(s.coalesce_bad_checksum()));
  }
  rows.clear();
  for (const auto& d : s.devices()) {
    if (d.read_batches() == 0) continue;
    std::vector<std::string> row = {
        d.name(), absl::StrCat(d.read_batches()),
        absl::StrFormat("%.1f", static_cast<double>(d.read_batch_packets()) /
                                    static_cast<double>(d.read_batches()))};
    for (uint64_t b : d.read_batch_buckets()) row.push_back(absl::StrCat(b));
    rows.push_back(std::move(row));
  }
  if (!rows.empty()) {
    puts("");
    PrintTable({"READ BATCHES", "COUNT", "AVG PKTS", "<=1", "<=2", "<=4", "<=8",
                "<=16", "<=32", "<=64", "<=128", "<=256"},
               rows);
  }
  rows.clear();
  for (const auto& d : s.devices()) {
    if (d.captures() == 0 && d.captured() == 0 && d.capture_dropped() == 0) {
      continue;
    }
    rows.push_back({d.name(), absl::StrCat(d.captures()),
                    absl::StrCat(d.captured()),
                    absl::StrCat(d.capture_dropped())});
  }
  if (!rows.empty()) {
    puts("");
    PrintTable({"CAPTURE", "RUNNING", "CAPTURED", "DROPPED"}, rows);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket_path = "/run/unat/unatd.sock";
  if (const char* env = getenv("UNAT_CTL_SOCKET"); env && *env) {
    socket_path = env;
  }
  bool json = false;
  std::string ns, proto_text, addr, external_address, description;
  std::string device, write_to, count_text, timeout_text;
  uint32_t limit = 0;
  std::vector<std::string> words;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](std::string* out) -> bool {
      size_t eq = a.find('=');
      if (eq != std::string::npos) {
        *out = a.substr(eq + 1);
        return true;
      }
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string name = a.substr(0, a.find('='));
    if (name == "--json") {
      json = true;
    } else if (name == "--help" || name == "-h") {
      fputs(kUsage, stdout);
      return 0;
    } else if (name == "--version") {
      puts("unatctl " UNAT_VERSION);
      return 0;
    } else if (name == "--socket" || name == "--ns" || name == "--proto" ||
               name == "--addr" || name == "--external-address" ||
               name == "--description" || name == "--limit" ||
               name == "--device" || name == "--write" || name == "--count" ||
               name == "--timeout") {
      std::string v;
      if (!value(&v)) return Usage(absl::StrCat(name, " needs a value"));
      if (name == "--socket") socket_path = v;
      if (name == "--ns") ns = v;
      if (name == "--proto") proto_text = v;
      if (name == "--addr") addr = v;
      if (name == "--external-address") external_address = v;
      if (name == "--description") description = v;
      if (name == "--device") device = v;
      if (name == "--write") write_to = v;
      if (name == "--count") count_text = v;
      if (name == "--timeout") timeout_text = v;
      if (name == "--limit" && !absl::SimpleAtoi(v, &limit)) {
        return Usage(absl::StrCat("--limit: \"", v, "\" is not a number"));
      }
    } else if (a.size() > 1 && a[0] == '-') {
      return Usage(absl::StrCat(a, ": unknown option"));
    } else {
      words.push_back(a);
    }
  }
  if (words.empty()) return Usage("no command");

  Request request;
  const std::string& cmd = words[0];
  if (cmd == "metrics") {
    if (words.size() != 1) return Usage("metrics takes no arguments");
    Request stats_request, ns_request;
    stats_request.mutable_get_stats();
    ns_request.mutable_list_namespaces();
    Response stats, namespaces;
    if (int rc = Exchange(socket_path, stats_request, &stats); rc != 0) {
      return rc;
    }
    if (int rc = Exchange(socket_path, ns_request, &namespaces); rc != 0) {
      return rc;
    }
    for (const Response* r : {&stats, &namespaces}) {
      if (!r->ok()) {
        fprintf(stderr, "unatctl: %s\n", r->error().c_str());
        return 1;
      }
    }
    const std::string text =
        unat::tun::PrometheusText(stats.stats(), namespaces);
    fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  }
  if (cmd == "capture") {
    if (words.size() != 1) return Usage("capture takes only options");
    if (device.empty()) return Usage("capture needs --device NAME");
    if (write_to.empty()) {
      return Usage("capture needs --write FILE (- for standard output)");
    }
    uint32_t count = 1000;
    if (!count_text.empty() &&
        (!absl::SimpleAtoi(count_text, &count) || count == 0)) {
      return Usage(
          absl::StrCat("--count: \"", count_text, "\" is not a number >= 1"));
    }
    double timeout_s = 0;
    if (!timeout_text.empty() && (!absl::SimpleAtod(timeout_text, &timeout_s) ||
                                  !(timeout_s > 0) || timeout_s > 1e7)) {
      return Usage(absl::StrCat("--timeout: \"", timeout_text,
                                "\" is not a number of seconds > 0"));
    }
    return Capture(socket_path, device, count, timeout_s, write_to);
  }
  if (cmd == "flows") {
    if (words.size() != 1) return Usage("flows takes only options");
    auto* f = request.mutable_list_flows();
    f->set_ns(ns);
    f->set_addr(addr);
    f->set_limit(limit);
    if (!proto_text.empty()) {
      uint32_t p = 0;
      if (!ParseProto(proto_text, &p, true)) {
        return Usage(absl::StrCat("--proto: \"", proto_text,
                                  "\" is not tcp, udp, icmp or gre"));
      }
      f->set_proto(p);
    }
  } else if (cmd == "forwards" && words.size() == 1) {
    request.mutable_list_forwards();
  } else if (cmd == "namespaces" && words.size() == 1) {
    request.mutable_list_namespaces();
  } else if (cmd == "stats" && words.size() == 1) {
    request.mutable_get_stats();
  } else if (cmd == "reload" && words.size() == 1) {
    request.mutable_reload();
  } else if (cmd == "forward" && words.size() >= 2 && words[1] == "add") {
    if (words.size() != 7) {
      return Usage(
          "forward add PROTO EXT_PORT NAMESPACE INSIDE_ADDR INSIDE_PORT");
    }
    auto* f = request.mutable_add_forward();
    uint32_t proto = 0, ext = 0, in = 0;
    if (!ParseProto(words[2], &proto, false)) {
      return Usage(absl::StrCat("\"", words[2], "\" is not tcp or udp"));
    }
    if (!ParsePort(words[3], &ext)) {
      return Usage(
          absl::StrCat("external port \"", words[3], "\" is not in 1..65535"));
    }
    if (!ParsePort(words[6], &in)) {
      return Usage(
          absl::StrCat("inside port \"", words[6], "\" is not in 1..65535"));
    }
    f->set_proto(proto);
    f->set_external_port(ext);
    f->set_ns(words[4]);
    f->set_inside_address(words[5]);
    f->set_inside_port(in);
    f->set_external_address(external_address);
    f->set_description(description);
  } else if (cmd == "forward" && words.size() >= 2 && words[1] == "del") {
    if (words.size() != 4) return Usage("forward del PROTO EXT_PORT");
    auto* k = request.mutable_remove_forward();
    uint32_t proto = 0, ext = 0;
    if (!ParseProto(words[2], &proto, false)) {
      return Usage(absl::StrCat("\"", words[2], "\" is not tcp or udp"));
    }
    if (!ParsePort(words[3], &ext)) {
      return Usage(
          absl::StrCat("external port \"", words[3], "\" is not in 1..65535"));
    }
    k->set_proto(proto);
    k->set_external_port(ext);
    k->set_external_address(external_address);
  } else {
    return Usage(absl::StrCat("unknown command \"", cmd, "\""));
  }

  Response response;
  if (int rc = Exchange(socket_path, request, &response); rc != 0) return rc;
  if (!response.ok()) {
    if (json) {
      PrintJson(response);
    } else {
      fprintf(stderr, "unatctl: %s\n", response.error().c_str());
    }
    return 1;
  }
  if (json) {
    PrintJson(response);
    return 0;
  }
  if (cmd == "flows") {
    std::vector<std::vector<std::string>> rows;
    for (const auto& f : response.flows()) {
      rows.push_back(
          {f.ns(), f.proto(), f.inside(), f.external(), f.remote(), f.state(),
           f.held_in_ms() > f.expires_in_ms()
               ? absl::StrCat(Expiry(f.held_in_ms()), "(held)")
               : Expiry(f.expires_in_ms()),
           absl::StrCat(f.packets_out(), "/", f.packets_in()),
           f.helper().empty()
               ? std::string("-")
               : absl::StrCat(f.helper(), " (", f.expectations(), " exp)")});
    }
    PrintTable({"NAMESPACE", "PROTO", "INSIDE", "EXTERNAL", "REMOTE", "STATE",
                "EXPIRES", "PKTS OUT/IN", "HELPER"},
               rows);
    if (static_cast<uint32_t>(response.flows_size()) <
        response.flows_matched()) {
      printf("(%d of %u shown)\n", response.flows_size(),
             response.flows_matched());
    }
  } else if (cmd == "forwards" || cmd == "forward") {
    PrintForwards(response);
  } else if (cmd == "namespaces") {
    std::vector<std::vector<std::string>> rows;
    for (const auto& n : response.namespaces()) {
      rows.push_back(
          {n.name(), absl::StrCat(n.id()), n.address(),
           n.netns().empty() ? n.device()
                             : absl::StrCat(n.netns(), ":", n.device()),
           absl::StrCat(n.flows()),
           absl::StrCat(n.tcp_ports(), "/", n.udp_ports(), "/", n.icmp_ids(),
                        " of ", n.port_quota()),
           absl::StrCat(n.packets_out(), "/", n.packets_in()),
           absl::StrCat(n.bytes_out(), "/", n.bytes_in()),
           n.routed_prefix().empty() ? std::string("-")
                                     : absl::StrJoin(n.routed_prefix(), ",")});
    }
    PrintTable({"NAMESPACE", "ID", "ADDRESS", "NETNS:DEVICE", "FLOWS",
                "PORTS TCP/UDP/ICMP", "PKTS OUT/IN", "BYTES OUT/IN", "ROUTED"},
               rows);
  } else if (cmd == "stats") {
    PrintStats(response);
  } else if (cmd == "reload") {
    printf("reload: done: %s\n", response.reload().c_str());
  }
  return 0;
}
