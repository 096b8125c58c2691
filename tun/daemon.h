// unatd's core: the engine, its TUN devices, the epoll loop, signals, timers,
// the control socket and the state file.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/nat.h"
#include "helpers/helper_set.h"
#include "portmap/nat_table.h"
#include "portmap/registry.h"
#include "portmap/server.h"
#include "portmap/upnp.h"
#include "tun/capture.h"
#include "tun/coalesce.h"
#include "tun/config.h"
#include "tun/control.pb.h"
#include "tun/control_server.h"
#include "tun/metrics_server.h"
#include "tun/state.pb.h"
#include "tun/tun_device.h"

namespace unat::tun {

class Daemon : public PacketSink {
 public:
  struct Options {
    DaemonConfig config;
    // Reads the config again (file and flags) for SIGHUP.
    std::function<absl::StatusOr<DaemonConfig>()> reload;
    bool ignore_bad_state = false;
  };

  // Opens every device, creates the engine, applies forwards, restores the
  // state file and listens on the control socket. Any failure: nothing is
  // left running.
  static absl::StatusOr<std::unique_ptr<Daemon>> Create(Options options);
  ~Daemon() override;

  // Runs until SIGINT or SIGTERM; then saves the state.
  absl::Status Run();

  // Saves the state file now and says whether that worked (start-up checks
  // it after dropping privileges: the new user must be able to save).
  absl::Status SaveStateChecked();

  // PacketSink: packets the engine makes itself.
  void Emit(Side side, NamespaceId ns,
            std::span<const uint8_t> packet) override;

 private:
  enum class Origin : uint8_t { kConfig, kRuntime };
  using ForwardKey = std::tuple<uint8_t, uint32_t, uint16_t>;

  struct Device {
    std::unique_ptr<TunDevice> tun;
    bool outside = false;
    NamespaceId ns = kInvalidNamespace;
    std::string name;  // namespace name, or "outside"
  };

  explicit Daemon(Options options);
  absl::Status Init();
  absl::Status ApplyConfigForwards(const std::vector<ForwardEntry>& forwards,
                                   bool at_start);
  absl::Status RestoreState();
  void SaveStateNow(const char* why);
  void MaybeSaveState();
  // One log line per lease change (the registry's observer).
  void LogLease(portmap::LeaseEvent event, const portmap::Lease& lease);
  // True while a lease change is not yet in the state file: packets unatd
  // makes itself (the answers that grant, renew or delete) are held.
  bool LeasesDirty() const;
  // Saves the state if leases changed, then sends the held packets: an
  // answer never tells a client about a lease that a crash could lose.
  void MakeLeasesDurable();
  state::State CollectState() const;

  void OnDevice(size_t index);
  void Send(const Verdict& verdict, const Packet& packet);
  TunDevice* DeviceFor(Side side, NamespaceId ns);
  void OnTimer();
  void OnSignal();
  // Reloads, logs the outcome and counts a refusal; `by`: "SIGHUP" or
  // "unatctl".
  absl::Status Reload(const char* by, std::string* summary);
  // Applies the config options_.reload() gives, or refuses it whole (the
  // old config stays) saying why. `summary`: what changed.
  absl::Status ReloadNow(std::string* summary);
  const InsideSpec* CurrentInside(const std::string& name) const;
  // Tenants: the device opened for one, and one joining or leaving the
  // engine and the loop (its device slot freed; the device is returned).
  // What every device is opened with (the config's queue length and
  // offloads).
  TunDevice::Options DeviceOptions(const std::string& name,
                                   const std::string& netns,
                                   uint32_t mtu) const;
  absl::StatusOr<std::unique_ptr<TunDevice>> OpenInside(
      const InsideSpec& in) const;
  absl::Status AttachTenant(const InsideSpec& in,
                            std::unique_ptr<TunDevice> tun);
  std::unique_ptr<TunDevice> DetachTenant(size_t slot);
  absl::Status Watch(size_t slot);  // the device joins the epoll set
  static CaptureSet::Target CaptureTarget(const Device& d);
  absl::Status StartUpnp();
  absl::Status ArmTimer();
  void SizeBatch();

  void HandleControl(const control::Request& request, const Peer& peer,
                     control::Response* response);
  void ListFlows(const control::FlowFilter& filter, control::Response* out);
  void ListForwards(control::Response* out);
  void ListNamespaces(control::Response* out);
  void FillStats(control::Response* out);
  // The text of GET /metrics: FillStats and ListNamespaces through
  // PrometheusText, as `unatctl metrics` prints them.
  std::string MetricsText();
  // The endpoint for GET /metrics on ADDR:PORT, listening (errors name
  // metrics_listen and the address); not yet the one in use. A reload opens
  // it before anything changes, so that a port that cannot be had (taken,
  // or below 1024 once privileges are dropped) refuses the reload, and
  // UseMetrics() once it commits. While the old one listens, the same port
  // on another address is taken too (127.0.0.1:P -> 0.0.0.0:P).
  absl::StatusOr<std::unique_ptr<MetricsServer>> OpenMetrics(uint32_t addr,
                                                             uint16_t port);
  // Makes `next` the endpoint (null: none); the counters of the one it
  // replaces carry over.
  void UseMetrics(std::unique_ptr<MetricsServer> next);
  // OpenMetrics + UseMetrics (port 0: no endpoint).
  absl::Status StartMetrics(uint32_t addr, uint16_t port);
  absl::Status AddForward(const control::Forward& request);
  absl::Status RemoveForward(const control::ForwardKey& key);
  std::string NamespaceName(NamespaceId ns) const;

  static TimeMs NowMs();
  static int64_t WallMs();

  Options options_;
  DaemonConfig& config_;
  std::unique_ptr<Nat> nat_;
  std::unique_ptr<portmap::NatTable> table_;  // what portmap sees of nat_
  // NAT-PMP / PCP leases (the registry exists even with both off, so leases
  // from the state file keep their lifetimes) and the UDP 5351 server.
  std::unique_ptr<portmap::MappingRegistry> registry_;
  std::unique_ptr<portmap::PortMapServer> portmap_;
  std::unique_ptr<portmap::UpnpServer> upnp_;  // null: UPnP off
  std::unique_ptr<helpers::HelperSet> algs_;   // FTP, TFTP, IRC DCC
  // [0] outside, then inside; a removed tenant leaves its slot empty (tun
  // null) for the next one: a slot is its device's epoll tag.
  std::vector<Device> devices_;
  std::vector<TunDevice*> by_ns_;         // NamespaceId -> inside device
  std::map<ForwardKey, Origin> origins_;  // forwards we know where from
  std::map<ForwardKey, ForwardEntry> config_forwards_;
  int epoll_fd_ = -1;
  int timer_fd_ = -1;
  int signal_fd_ = -1;
  std::unique_ptr<ControlServer> control_;
  std::unique_ptr<MetricsServer> metrics_;  // null: metrics_listen off
  std::unique_ptr<CaptureSet> captures_;    // unatctl capture
  std::vector<uint8_t> buffers_;            // batch x kBufferCapacity
  std::vector<uint32_t> lengths_;
  std::vector<Packet> packets_;
  std::vector<Verdict> verdicts_;
  Coalescer coalescer_;  // coalescing on write, per read batch
  bool stop_ = false;
  TimeMs started_ms_ = 0;
  TimeMs last_state_check_ms_ = 0;
  std::string saved_signature_;
  bool portmap_state_restored_ = false;
  uint64_t no_device_drops_ = 0;
  uint64_t reloads_ = 0;
  uint64_t reload_refused_ = 0;
  uint64_t state_saves_ = 0;
  uint64_t state_save_errors_ = 0;
  uint64_t state_save_us_total_ = 0;
  uint64_t state_save_us_max_ = 0;
  uint64_t durable_generation_ = 0;  // registry generation in the file
  struct HeldPacket {
    Side side;
    NamespaceId ns;
    std::vector<uint8_t> bytes;
  };
  std::vector<HeldPacket> held_;  // emitted while leases were dirty
  uint64_t held_packets_ = 0;
};

}  // namespace unat::tun
