// unatd's configuration: the text-format proto (tun/config.proto), checked
// field by field and turned into the values the engine and the daemon use.
//
// Every error is one line that names the field and the value, e.g.
//   forward[0].external_port: 70000 is out of range 1..65535
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/nat.h"
#include "engine/nat_config.h"
#include "helpers/helper_set.h"
#include "portmap/rate_limiter.h"
#include "portmap/registry.h"
#include "tun/config.pb.h"
#include "tun/log.h"
#include "tun/privileges.h"

namespace unat::tun {

struct InsideSpec {
  std::string name;
  std::string device;
  std::string netns;
  uint32_t gateway = 0;
  uint8_t prefix_len = 24;
  uint32_t mtu = 0;
  std::vector<Ipv4Prefix> routed_prefixes;
};

struct OutsideSpec {
  std::string device;
  std::string netns;
  uint32_t mtu = 0;
};

// A forward as configured: the namespace by name.
struct ForwardEntry {
  uint8_t proto = kProtoTcp;
  uint32_t external_addr = 0;  // 0: every external address
  uint16_t external_port = 0;
  std::string ns;
  uint32_t inside_addr = 0;
  uint16_t inside_port = 0;
  std::string description;
};

struct DaemonConfig {
  NatConfig nat;
  std::vector<InsideSpec> inside;
  OutsideSpec outside;
  std::vector<ForwardEntry> forwards;
  std::string ctl_socket;
  uint32_t ctl_mode = 0600;
  std::string ctl_group;  // empty: none
  gid_t ctl_gid = static_cast<gid_t>(-1);
  std::string state_file;  // empty: none
  uint32_t tick_ms = 100;
  uint32_t batch = 32;
  uint32_t tx_queue_len = 1000;  // 0: leave the devices' queues alone
  bool offload = true;           // TUN offloads (IFF_VNET_HDR, TSO4, USO4)
  bool coalesce = true;          // coalescing on write (with offload)
  // NAT-PMP / PCP servers on UDP 5351 of every inside gateway address.
  bool natpmp = false;
  bool pcp = false;
  // UPnP IGD: SSDP on UDP 1900 and HTTP/SOAP on TCP upnp_port of every
  // inside gateway address.
  bool upnp = false;
  uint16_t upnp_port = 5000;
  int upnp_igd_version = 2;  // advertised by SSDP
  // ALGs (FTP, TFTP, IRC DCC) and their server ports.
  helpers::HelperSetConfig alg;
  portmap::MappingPolicy portmap_policy;
  portmap::RateLimit portmap_rate;
  // The user and group to drop to after start-up when started as root
  // (run_as.user empty: stay as started). See docs/unprivileged.md.
  RunAs run_as;
  // log_level and log_format: set at start-up and at every reload.
  LogOptions log;
  // HTTP metrics endpoint (metrics_listen); port 0: none.
  std::string metrics_listen;
  uint32_t metrics_addr = 0;
  uint16_t metrics_port = 0;
};

// Parses text format. Errors: "FILE:LINE:COLUMN: message" (1-based).
absl::StatusOr<config::Config> ParseConfigText(absl::string_view text,
                                               absl::string_view filename);
absl::StatusOr<config::Config> LoadConfigFile(const std::string& path);

// Checks every field and builds the daemon's view of the config.
absl::StatusOr<DaemonConfig> BuildDaemonConfig(const config::Config& config);

// "10.77.0.1/24" -> address and prefix length.
absl::Status ParseCidr(absl::string_view text, uint32_t* addr,
                       uint8_t* prefix_len);

std::string FilteringName(config::Filtering filtering);

}  // namespace unat::tun
