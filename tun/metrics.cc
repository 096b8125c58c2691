#include "tun/metrics.h"

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace unat::tun {

std::string EscapeLabelValue(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

// One metric family: its HELP and TYPE lines once, then its samples.
class Family {
 public:
  Family(std::string* out, absl::string_view name, absl::string_view type,
         absl::string_view help)
      : out_(out), name_(name) {
    absl::StrAppend(out_, "# HELP ", name, " ", help);
    absl::StrAppend(out_, "\n# TYPE ", name, " ", type);
    absl::StrAppend(out_, "\n");
  }
  void Sample(const Labels& labels, uint64_t v) {
    Line(labels, absl::StrCat(v));
  }
  void Sample(const Labels& labels, double v) {
    Line(labels, absl::StrFormat("%.6f", v));
  }
  // A histogram's _bucket / _sum / _count sample.
  void Sample(absl::string_view suffix, const Labels& labels, uint64_t v) {
    const std::string name = name_;
    absl::StrAppend(&name_, suffix);
    Line(labels, absl::StrCat(v));
    name_ = name;
  }

 private:
  void Line(const Labels& labels, const std::string& value) {
    absl::StrAppend(out_, name_);
    if (!labels.empty()) {
      *out_ += '{';
      for (size_t i = 0; i < labels.size(); ++i) {
        absl::StrAppend(out_, i ? "," : "", labels[i].first, "=\"");
        absl::StrAppend(out_, EscapeLabelValue(labels[i].second), "\"");
      }
      *out_ += '}';
    }
    absl::StrAppend(out_, " ", value, "\n");
  }
  std::string* out_;
  std::string name_;
};

// A per-device counter family, two samples per device: label `key` with
// each value's name.
using DeviceCounter =
    std::pair<const char*, uint64_t (control::DeviceStats::*)() const>;
void DeviceFamily(std::string* out, absl::string_view name,
                  absl::string_view help, const control::Stats& s,
                  const char* key, DeviceCounter a, DeviceCounter b) {
  Family f(out, name, "counter", help);
  for (const auto& d : s.devices()) {
    for (const DeviceCounter& c : {a, b}) {
      f.Sample(
          {{"namespace", d.name()}, {"device", d.device()}, {key, c.first}},
          (d.*c.second)());
    }
  }
}

void One(std::string* out, absl::string_view name, absl::string_view type,
         absl::string_view help, uint64_t v) {
  Family(out, name, type, help).Sample({}, v);
}

// "ftp/port_rewrites" -> ("ftp", "port_rewrites"); "natpmp/result/0" ->
// ("natpmp", "result/0").
std::pair<std::string, std::string> Split(const std::string& name) {
  const size_t slash = name.find('/');
  if (slash == std::string::npos) return {name, ""};
  return {name.substr(0, slash), name.substr(slash + 1)};
}

}  // namespace

std::string PrometheusText(const control::Stats& s,
                           const control::Response& ns) {
  std::string out;
  {
    Family f(&out, "unat_drops_total", "counter",
             "Packets dropped, by reason.");
    for (const auto& c : s.drops()) f.Sample({{"reason", c.name()}}, c.value());
  }
  {
    Family f(&out, "unat_flows", "gauge",
             "Flows in the table, by protocol (and TCP state).");
    for (const auto& c : s.flows()) {
      auto [proto, state] = Split(c.name());
      Labels l{{"protocol", proto}};
      if (!state.empty()) l.push_back({"state", state});
      f.Sample(l, c.value());
    }
  }
  One(&out, "unat_flows_created_total", "counter", "Flows created.",
      s.flows_created());
  One(&out, "unat_flows_expired_total", "counter", "Flows expired.",
      s.flows_expired());
  One(&out, "unat_mappings", "gauge", "External endpoint mappings.",
      s.mappings());
  One(&out, "unat_mappings_held", "gauge",
      "Mappings held after their last flow (port reuse hold).",
      s.mappings_held());
  One(&out, "unat_forwards", "gauge", "Port forwards (static and leased).",
      s.forwards());
  One(&out, "unat_expectations", "gauge", "Helper expectations waiting.",
      s.expectations());
  One(&out, "unat_related_flows", "gauge",
      "Helpers' related flows held, reserved or open.", s.related_flows());
  One(&out, "unat_related_flows_opened_total", "counter",
      "Helpers' related flows opened.", s.related_opened());
  One(&out, "unat_half_open_inbound", "gauge",
      "Inbound TCP handshakes in progress.", s.half_open_inbound());
  One(&out, "unat_half_open_evicted_total", "counter",
      "Inbound TCP handshakes evicted for newer ones.", s.half_open_evicted());
  {
    Family f(&out, "unat_packets_total", "counter",
             "Packets translated and forwarded, by direction.");
    f.Sample({{"direction", "out"}}, s.packets_out());
    f.Sample({{"direction", "in"}}, s.packets_in());
  }
  {
    Family f(&out, "unat_bytes_total", "counter",
             "Bytes translated and forwarded, by direction.");
    f.Sample({{"direction", "out"}}, s.bytes_out());
    f.Sample({{"direction", "in"}}, s.bytes_in());
  }
  One(&out, "unat_icmp_errors_sent_total", "counter",
      "ICMP errors unat sent itself.", s.icmp_errors_sent());
  One(&out, "unat_icmp_errors_rate_limited_total", "counter",
      "ICMP errors not sent: over the rate limit.",
      s.icmp_errors_rate_limited());
  One(&out, "unat_fragments_in_total", "counter",
      "IPv4 fragments that reached reassembly.", s.fragments_in());
  One(&out, "unat_fragments_forwarded_total", "counter",
      "Fragments translated one by one.", s.fragments_forwarded());
  One(&out, "unat_fragments_reassembled_total", "counter",
      "Fragments merged into a rebuilt datagram.", s.fragments_reassembled());
  One(&out, "unat_fragments_dropped_total", "counter",
      "Fragments dropped (each also under its drop reason).",
      s.fragments_dropped());
  One(&out, "unat_fragments_held", "gauge", "Fragments held now.",
      s.fragments_held());
  One(&out, "unat_fragment_datagrams", "gauge", "Datagrams in reassembly now.",
      s.fragment_datagrams());
  One(&out, "unat_fragment_held_bytes", "gauge", "Bytes of fragments held now.",
      s.fragment_bytes_held());
  One(&out, "unat_fragment_datagrams_timed_out_total", "counter",
      "Datagrams incomplete at the reassembly timeout.",
      s.fragment_datagrams_timed_out());
  One(&out, "unat_datagrams_reassembled_total", "counter",
      "Datagrams rebuilt whole.", s.datagrams_reassembled());
  One(&out, "unat_fragments_created_total", "counter",
      "Fragments made by egress fragmentation.", s.fragments_created());
  One(&out, "unat_tcp_segments_created_total", "counter",
      "TCP segments cut from ones a helper grew past their sender's size.",
      s.segments_created());
  One(&out, "unat_super_packets_segmented_total", "counter",
      "GSO super-packets cut into segments in software (helper flows, too "
      "big for the egress); the others are translated whole.",
      s.super_packets_segmented());
  DeviceFamily(&out, "unat_device_packets_total",
               "Packets read (rx) from and written (tx) to each device.", s,
               "direction", {"rx", &control::DeviceStats::rx_packets},
               {"tx", &control::DeviceStats::tx_packets});
  DeviceFamily(&out, "unat_device_bytes_total",
               "Bytes read (rx) from and written (tx) to each device.", s,
               "direction", {"rx", &control::DeviceStats::rx_bytes},
               {"tx", &control::DeviceStats::tx_bytes});
  {
    Family er(&out, "unat_device_errors_total", "counter",
              "Device errors: read errors, writes refused (queue full), "
              "write errors, verdicts for a namespace without a device.");
    for (const auto& d : s.devices()) {
      const Labels base{{"namespace", d.name()}, {"device", d.device()}};
      auto with = [&](const char* kind) {
        Labels l = base;
        l.push_back({"kind", kind});
        return l;
      };
      er.Sample(with("rx_error"), d.rx_errors());
      er.Sample(with("tx_queue_full"), d.tx_dropped_full());
      er.Sample(with("tx_error"), d.tx_errors());
      er.Sample(with("no_device"), d.no_device());
    }
  }
  DeviceFamily(&out, "unat_device_super_packets_total",
               "GSO super-packets (TUN offloads) read (rx) from and written "
               "(tx) to each device, each translated once.",
               s, "direction", {"rx", &control::DeviceStats::rx_super_packets},
               {"tx", &control::DeviceStats::tx_super_packets});
  DeviceFamily(&out, "unat_device_coalesce_total",
               "Coalescing on write: packets that went to each device "
               "merged into super-packets (merged), and super-packets the "
               "device refused (refused: then it gets plain packets).",
               s, "result", {"merged", &control::DeviceStats::tx_coalesced},
               {"refused", &control::DeviceStats::tx_super_refused});
  One(&out, "unat_coalesce_bad_checksum_total", "counter",
      "Packets coalescing on write left apart: their TCP/UDP checksum was "
      "wrong.",
      s.coalesce_bad_checksum());
  {
    Family rb(&out, "unat_device_read_batch_packets", "histogram",
              "Packets per read batch (one wake-up's drain of a device, at "
              "most `batch`).");
    for (const auto& d : s.devices()) {
      if (d.read_batch_buckets_size() == 0) continue;
      const Labels base{{"namespace", d.name()}, {"device", d.device()}};
      uint64_t cumulative = 0;
      for (int i = 0; i < d.read_batch_buckets_size(); ++i) {
        cumulative += d.read_batch_buckets(i);
        Labels l = base;
        l.push_back({"le", absl::StrCat(1u << i)});
        rb.Sample("_bucket", l, cumulative);
      }
      Labels inf = base;
      inf.push_back({"le", "+Inf"});
      rb.Sample("_bucket", inf, d.read_batches());
      rb.Sample("_sum", base, d.read_batch_packets());
      rb.Sample("_count", base, d.read_batches());
    }
  }
  DeviceFamily(&out, "unat_device_capture_packets_total",
               "Packets unatctl capture took from each device (captured), "
               "and those a capture's full queue dropped (dropped).",
               s, "result", {"captured", &control::DeviceStats::captured},
               {"dropped", &control::DeviceStats::capture_dropped});
  {
    Family cr(&out, "unat_device_captures", "gauge",
              "unatctl captures running on each device.");
    for (const auto& d : s.devices()) {
      cr.Sample({{"namespace", d.name()}, {"device", d.device()}},
                uint64_t{d.captures()});
    }
  }
  {
    Family fl(&out, "unat_namespace_flows", "gauge",
              "Flows of each inside namespace (tenant).");
    for (const auto& n : ns.namespaces()) {
      fl.Sample({{"namespace", n.name()}}, uint64_t{n.flows()});
    }
  }
  {
    Family pk(&out, "unat_namespace_packets_total", "counter",
              "Packets forwarded for each tenant, by direction.");
    for (const auto& n : ns.namespaces()) {
      pk.Sample({{"namespace", n.name()}, {"direction", "out"}},
                n.packets_out());
      pk.Sample({{"namespace", n.name()}, {"direction", "in"}}, n.packets_in());
    }
  }
  {
    Family by(&out, "unat_namespace_bytes_total", "counter",
              "Bytes forwarded for each tenant, by direction.");
    for (const auto& n : ns.namespaces()) {
      by.Sample({{"namespace", n.name()}, {"direction", "out"}}, n.bytes_out());
      by.Sample({{"namespace", n.name()}, {"direction", "in"}}, n.bytes_in());
    }
  }
  {
    Family po(&out, "unat_namespace_ports", "gauge",
              "External ports (ICMP: query ids) each tenant holds.");
    for (const auto& n : ns.namespaces()) {
      po.Sample({{"namespace", n.name()}, {"protocol", "tcp"}},
                uint64_t{n.tcp_ports()});
      po.Sample({{"namespace", n.name()}, {"protocol", "udp"}},
                uint64_t{n.udp_ports()});
      po.Sample({{"namespace", n.name()}, {"protocol", "icmp"}},
                uint64_t{n.icmp_ids()});
    }
  }
  {
    Family q(&out, "unat_namespace_port_quota", "gauge",
             "The external ports a tenant may hold per protocol (0: no "
             "limit).");
    for (const auto& n : ns.namespaces()) {
      q.Sample({{"namespace", n.name()}}, uint64_t{n.port_quota()});
    }
  }
  {
    Family h(&out, "unat_helper_events_total", "counter",
             "ALG helpers' counters (rewrites, expectations, refusals, "
             "stream drops), by helper and counter.");
    for (const auto& c : s.helpers()) {
      auto [helper, counter] = Split(c.name());
      h.Sample({{"helper", helper}, {"counter", counter}}, c.value());
    }
  }
  {
    Family p(&out, "unat_portmap_events_total", "counter",
             "NAT-PMP, PCP and UPnP counters (requests, results, drops), by "
             "protocol and counter.");
    for (const auto& c : s.portmap()) {
      auto [proto, counter] = Split(c.name());
      p.Sample({{"protocol", proto}, {"counter", counter}}, c.value());
    }
  }
  Family(&out, "unat_uptime_seconds", "gauge", "Seconds since unatd started.")
      .Sample({}, static_cast<double>(s.uptime_ms()) / 1000.0);
  One(&out, "unat_reloads_total", "counter",
      "Configuration reloads applied (SIGHUP, unatctl reload).", s.reloads());
  One(&out, "unat_reloads_refused_total", "counter",
      "Configuration reloads refused whole (the old config stayed).",
      s.reloads_refused());
  One(&out, "unat_state_saves_total", "counter", "State file writes.",
      s.state_saves());
  One(&out, "unat_state_save_errors_total", "counter",
      "State file writes that failed.", s.state_save_errors());
  Family(&out, "unat_state_save_seconds_total", "counter",
         "Time spent writing the state file.")
      .Sample({}, static_cast<double>(s.state_save_us_total()) / 1e6);
  Family(&out, "unat_state_save_seconds_max", "gauge",
         "The longest state file write.")
      .Sample({}, static_cast<double>(s.state_save_us_max()) / 1e6);
  One(&out, "unat_held_for_durability_total", "counter",
      "Packets unatd made held until a lease change was in the state file.",
      s.held_for_durability());
  {
    Family l(&out, "unat_portmap_leases", "gauge",
             "NAT-PMP, PCP and UPnP leases held now, by protocol.");
    for (const auto& c : s.leases()) {
      l.Sample({{"protocol", c.name()}}, c.value());
    }
  }
  One(&out, "unat_process_resident_memory_bytes", "gauge",
      "unatd's resident set size (/proc/self/statm).",
      s.resident_memory_bytes());
  One(&out, "unat_engine_memory_bytes", "gauge",
      "What the engine's flow and mapping tables hold, by its own estimate.",
      s.engine_memory_bytes());
  if (s.has_metrics_http()) {
    const control::MetricsHttpStats& m = s.metrics_http();
    {
      Family r(&out, "unat_metrics_http_requests_total", "counter",
               "Answers of the HTTP metrics endpoint, by status code.");
      for (const auto& c : m.requests()) {
        r.Sample({{"code", c.name()}}, c.value());
      }
    }
    {
      Family c(&out, "unat_metrics_http_connections_total", "counter",
               "Connections to the HTTP metrics endpoint: accepted, or "
               "refused (closed at once, over the limit of 8).");
      c.Sample({{"result", "accepted"}}, m.connections_accepted());
      c.Sample({{"result", "refused"}}, m.connections_refused());
    }
    One(&out, "unat_metrics_http_timeouts_total", "counter",
        "Connections the HTTP metrics endpoint closed at its timeout (5 s).",
        m.timeouts());
    One(&out, "unat_metrics_http_connections", "gauge",
        "Connections to the HTTP metrics endpoint open now.",
        uint64_t{m.connections()});
  }
  return out;
}

}  // namespace unat::tun
