#include "tun/daemon.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "helpers/registry.h"
#include "tun/log.h"
#include "tun/metrics.h"
#include "tun/state_file.h"

namespace unat::tun {
namespace {

// Every read buffer holds the largest IPv4 packet plus room for the engine to
// grow it (ALG rewrites).
constexpr uint32_t kReadSize = 65535;
constexpr uint32_t kBufferCapacity = 65535 + 1025;

constexpr uint64_t kTagDevice = uint64_t{1} << 32;
constexpr uint64_t kTagTimer = uint64_t{2} << 32;
constexpr uint64_t kTagSignal = uint64_t{3} << 32;
constexpr uint64_t kTagControl = uint64_t{4} << 32;
constexpr uint64_t kTagMetrics = uint64_t{5} << 32;

absl::Status Errno(const std::string& what) {
  return absl::UnavailableError(absl::StrCat(what, ": ", strerror(errno)));
}

std::string Endpoint(uint32_t addr, uint16_t port) {
  return absl::StrCat(Ipv4ToString(addr), ":", port);
}

std::string ForwardSignature(const std::vector<ForwardInfo>& forwards) {
  std::string sig;
  for (const ForwardInfo& f : forwards) {
    absl::StrAppend(&sig, f.id, ",", f.spec.proto, ",", f.spec.external_addr,
                    ",", f.spec.external_port, ",", f.spec.ns, ",",
                    f.spec.inside_addr, ",", f.spec.inside_port, ",",
                    f.spec.expires, ";");
  }
  return sig;
}

bool SameTarget(const ForwardEntry& a, const ForwardEntry& b) {
  return a.ns == b.ns && a.inside_addr == b.inside_addr &&
         a.inside_port == b.inside_port && a.description == b.description;
}

ForwardEntry EntryOf(const ForwardSpec& s, std::string ns) {
  return {s.proto,       s.external_addr, s.external_port, std::move(ns),
          s.inside_addr, s.inside_port,   s.description};
}

// One line per forward added, removed or restored, shaped like the lease
// lines (LogLease): `forward: static added ns lan tcp *:8080 ->
// 10.77.0.2:80 origin config description "web"` (docs/configuration.md).
void LogForward(absl::string_view event, ForwardOwner owner,
                const ForwardEntry& f, absl::string_view origin) {
  std::string line = absl::StrCat(
      "forward: ", ForwardOwnerName(owner), " ", event, " ns ", f.ns, " ",
      ProtoName(f.proto), " ",
      f.external_addr == 0 ? std::string("*") : Ipv4ToString(f.external_addr),
      ":", f.external_port, " -> ", Endpoint(f.inside_addr, f.inside_port),
      " origin ", origin);
  if (!f.description.empty()) {
    // Quoted; control bytes become \xNN in LogLine.
    absl::StrAppend(
        &line, " description \"",
        absl::StrReplaceAll(f.description, {{"\\", "\\\\"}, {"\"", "\\\""}}),
        "\"");
  }
  Log("%s", line);
}

// The forward on this key, if there is one.
std::optional<ForwardSpec> FindForward(const Nat& nat, uint8_t proto,
                                       uint32_t addr, uint16_t port) {
  for (const ForwardInfo& info : nat.Forwards()) {
    if (info.spec.proto == proto && info.spec.external_addr == addr &&
        info.spec.external_port == port) {
      return info.spec;
    }
  }
  return std::nullopt;
}

}  // namespace

TimeMs Daemon::NowMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<TimeMs>(ts.tv_sec) * 1000 +
         static_cast<TimeMs>(ts.tv_nsec / 1000000);
}

int64_t Daemon::WallMs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Create(Options options) {
  std::unique_ptr<Daemon> daemon(new Daemon(std::move(options)));
  if (absl::Status s = daemon->Init(); !s.ok()) return s;
  return daemon;
}

Daemon::Daemon(Options options)
    : options_(std::move(options)), config_(options_.config) {}

Daemon::~Daemon() {
  captures_.reset();  // before the devices and connections it taps
  control_.reset();
  metrics_.reset();
  if (signal_fd_ >= 0) close(signal_fd_);
  if (timer_fd_ >= 0) close(timer_fd_);
  if (epoll_fd_ >= 0) close(epoll_fd_);
  devices_.clear();
}

absl::Status Daemon::Init() {
  started_ms_ = NowMs();
  // Signals arrive through a signalfd, in the loop.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGHUP);
  if (sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) return Errno("sigprocmask");
  signal(SIGPIPE, SIG_IGN);

  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return Errno("epoll_create1");
  signal_fd_ = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd_ < 0) return Errno("signalfd");
  timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (timer_fd_ < 0) return Errno("timerfd_create");

  // Devices: outside first, then one per inside network. Their MTUs (as
  // configured, or as the devices have them) are the engine's egress MTUs.
  {
    auto tun = TunDevice::Open(DeviceOptions(
        config_.outside.device, config_.outside.netns, config_.outside.mtu));
    if (!tun.ok()) return tun.status();
    config_.nat.outside_mtu =
        static_cast<uint16_t>(std::clamp<uint32_t>((*tun)->mtu(), 68, 65535));
    devices_.push_back({std::move(*tun), true, kInvalidNamespace, "outside"});
  }
  auto nat = Nat::Create(config_.nat);
  if (!nat.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("engine refused the config: ", nat.status().message()));
  }
  nat_ = std::move(*nat);
  nat_->SetSink(this);
  for (const InsideSpec& in : config_.inside) {
    auto tun = OpenInside(in);
    if (!tun.ok()) return tun.status();
    if (absl::Status s = AttachTenant(in, std::move(*tun)); !s.ok()) return s;
  }

  table_ = std::make_unique<portmap::NatTable>(*nat_);
  registry_ = std::make_unique<portmap::MappingRegistry>(
      table_.get(), config_.portmap_policy, config_.nat.random_seed);
  registry_->set_observer(
      [this](portmap::LeaseEvent event, const portmap::Lease& lease) {
        LogLease(event, lease);
      });
  {
    portmap::PortMapConfig pc;
    pc.natpmp = config_.natpmp;
    pc.pcp = config_.pcp;
    pc.rate = config_.portmap_rate;
    portmap_ = std::make_unique<portmap::PortMapServer>(
        table_.get(), registry_.get(), pc, NowMs());
    if (config_.natpmp || config_.pcp) {
      if (absl::Status s = portmap_->Register(); !s.ok()) return s;
    }
  }

  if (config_.upnp) {
    if (absl::Status s = StartUpnp(); !s.ok()) return s;
  }

  algs_ = std::make_unique<helpers::HelperSet>(config_.alg);
  if (absl::Status s = algs_->Register(*nat_); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("helpers: ", s.message()));
  }

  if (absl::Status s = ApplyConfigForwards(config_.forwards, true); !s.ok()) {
    return s;
  }
  if (absl::Status s = RestoreState(); !s.ok()) return s;
  if (config_.natpmp || config_.pcp) {
    // NAT-PMP announces its address at every start; PCP announces only when
    // the mappings were lost (no state kept).
    portmap_->Start(NowMs(), portmap_state_restored_);
  }
  SizeBatch();

  // The inside devices joined the loop as they were attached.
  if (absl::Status s = Watch(0); !s.ok()) return s;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kTagTimer;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, timer_fd_, &ev) != 0) {
    return Errno("epoll_ctl(timer)");
  }
  ev.data.u64 = kTagSignal;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, signal_fd_, &ev) != 0) {
    return Errno("epoll_ctl(signal)");
  }
  if (absl::Status s = ArmTimer(); !s.ok()) return s;

  auto control = ControlServer::Create(
      {config_.ctl_socket, config_.ctl_mode, config_.ctl_gid}, epoll_fd_,
      kTagControl,
      [this](const control::Request& request, const Peer& peer,
             control::Response* response) {
        HandleControl(request, peer, response);
      });
  if (!control.ok()) return control.status();
  control_ = std::move(*control);
  std::vector<CaptureSet::Target> targets;
  for (const Device& d : devices_) targets.push_back(CaptureTarget(d));
  captures_ = std::make_unique<CaptureSet>(std::move(targets), control_.get());
  // In unatd's own network namespace, before privileges are dropped.
  if (absl::Status s = StartMetrics(config_.metrics_addr, config_.metrics_port);
      !s.ok()) {
    return s;
  }

  // The state file now matches what runs.
  SaveStateNow("start");
  Log("running: %d inside network(s), outside %s, %d forward(s), control %s",
      static_cast<int>(config_.inside.size()), config_.outside.device,
      static_cast<int>(nat_->Forwards().size()), config_.ctl_socket);
  return absl::OkStatus();
}

absl::Status Daemon::StartUpnp() {
  portmap::UpnpConfig uc;
  uc.http_port = config_.upnp_port;
  uc.igd_version = config_.upnp_igd_version;
  uc.ssdp_rate = config_.portmap_rate;
  // BOOTID.UPNP.ORG grows with every start: the wall clock in seconds.
  uc.boot_id =
      static_cast<uint32_t>(std::max<int64_t>(1, WallMs() / 1000) & 0x7fffffff);
  upnp_ = std::make_unique<portmap::UpnpServer>(table_.get(), registry_.get(),
                                                uc, NowMs());
  if (absl::Status s = upnp_->Register(); !s.ok()) {
    upnp_->Unregister();
    upnp_.reset();
    return absl::InvalidArgumentError(
        absl::StrCat("helpers.upnp: ", s.message()));
  }
  upnp_->Start(NowMs());
  return absl::OkStatus();
}

absl::Status Daemon::ArmTimer() {
  struct itimerspec its {};
  its.it_interval.tv_sec = config_.tick_ms / 1000;
  its.it_interval.tv_nsec = static_cast<long>(config_.tick_ms % 1000) * 1000000;
  its.it_value = its.it_interval;
  if (timerfd_settime(timer_fd_, 0, &its, nullptr) != 0) {
    return Errno("timerfd_settime");
  }
  return absl::OkStatus();
}

void Daemon::SizeBatch() {
  buffers_.assign(size_t{config_.batch} * kBufferCapacity, 0);
  lengths_.assign(config_.batch, 0);
  packets_.assign(config_.batch, Packet{});
  verdicts_.assign(config_.batch, Verdict{});
}

TunDevice::Options Daemon::DeviceOptions(const std::string& name,
                                         const std::string& netns,
                                         uint32_t mtu) const {
  TunDevice::Options o;
  o.name = name;
  o.netns = netns;
  o.mtu = mtu;
  o.tx_queue_len = config_.tx_queue_len;
  o.offload = config_.offload;
  return o;
}

absl::StatusOr<std::unique_ptr<TunDevice>> Daemon::OpenInside(
    const InsideSpec& in) const {
  return TunDevice::Open(DeviceOptions(in.device, in.netns, in.mtu));
}

absl::Status Daemon::Watch(size_t slot) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kTagDevice | slot;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, devices_[slot].tun->fd(), &ev) != 0) {
    return Errno("epoll_ctl(device)");
  }
  return absl::OkStatus();
}

CaptureSet::Target Daemon::CaptureTarget(const Device& d) {
  TunDevice* tun = d.tun.get();
  return {d.name, tun->name(), tun->netns(),
          [tun](PacketTap* tap) { tun->set_tap(tap); }};
}

absl::Status Daemon::AttachTenant(const InsideSpec& in,
                                  std::unique_ptr<TunDevice> tun) {
  const uint16_t mtu =
      static_cast<uint16_t>(std::clamp<uint32_t>(tun->mtu(), 68, 65535));
  NamespaceConfig nsc{in.name, in.gateway, in.prefix_len, mtu};
  nsc.routed_prefixes = in.routed_prefixes;
  auto ns = nat_->AddNamespace(nsc);
  if (!ns.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("engine refused inside network ", in.name, ": ",
                     ns.status().message()));
  }
  // A slot a removed tenant left, else a new one: the slot is the
  // device's epoll tag, so slots never move.
  size_t slot = 1;
  while (slot < devices_.size() && devices_[slot].tun != nullptr) ++slot;
  if (slot == devices_.size()) devices_.emplace_back();
  devices_[slot] = {std::move(tun), false, *ns, in.name};
  if (by_ns_.size() <= *ns) by_ns_.resize(*ns + 1u, nullptr);
  by_ns_[*ns] = devices_[slot].tun.get();
  if (absl::Status s = Watch(slot); !s.ok()) {
    (void)nat_->RemoveNamespace(*ns);
    by_ns_[*ns] = nullptr;
    devices_[slot] = Device{};
    return s;
  }
  if (captures_) captures_->SetTarget(slot, CaptureTarget(devices_[slot]));
  return absl::OkStatus();
}

std::unique_ptr<TunDevice> Daemon::DetachTenant(size_t slot) {
  Device& d = devices_[slot];
  const NamespaceId ns = d.ns;
  if (captures_)
    captures_->RemoveTarget(slot, "its inside network was removed");
  // Its leases (each logged as deleted), PEER pins, then everything the
  // engine holds for it: flows, mappings, forwards, expectations.
  registry_->RemoveMatching(
      [ns](const portmap::Lease& l) { return l.ns == ns; });
  portmap_->ForgetNamespace(ns);
  for (const ForwardInfo& f : nat_->Forwards()) {
    if (f.spec.ns != ns) continue;
    const ForwardKey key{f.spec.proto, f.spec.external_addr,
                         f.spec.external_port};
    origins_.erase(key);
    config_forwards_.erase(key);
  }
  (void)nat_->RemoveNamespace(ns);
  if (ns < by_ns_.size()) by_ns_[ns] = nullptr;
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, d.tun->fd(), nullptr);
  std::unique_ptr<TunDevice> tun = std::move(d.tun);
  d = Device{};
  return tun;
}

absl::Status Daemon::ApplyConfigForwards(
    const std::vector<ForwardEntry>& forwards, bool at_start) {
  std::map<ForwardKey, ForwardEntry> wanted;
  for (const ForwardEntry& f : forwards) {
    wanted[{f.proto, f.external_addr, f.external_port}] = f;
  }
  // Remove config forwards that went away or changed.
  for (auto it = config_forwards_.begin(); it != config_forwards_.end();) {
    auto w = wanted.find(it->first);
    if (w != wanted.end() && SameTarget(w->second, it->second)) {
      ++it;
      continue;
    }
    auto [proto, addr, port] = it->first;
    absl::Status s = nat_->RemoveForward(proto, addr, port);
    if (!s.ok()) {
      LogWarn("reload: removing forward %s %d: %s",
              std::string(ProtoName(proto)), port, std::string(s.message()));
    } else {
      LogForward("removed", ForwardOwner::kStatic, it->second, "config");
    }
    origins_.erase(it->first);
    it = config_forwards_.erase(it);
  }
  TimeMs now = NowMs();
  for (const auto& [key, f] : wanted) {
    if (config_forwards_.count(key)) continue;
    ForwardSpec spec;
    spec.proto = f.proto;
    spec.external_addr = f.external_addr;
    spec.external_port = f.external_port;
    auto ns = nat_->FindNamespace(f.ns);
    if (!ns.ok()) {
      std::string message =
          absl::StrCat("forward ", f.external_port, ": namespace ", f.ns, ": ",
                       ns.status().message());
      if (at_start) return absl::InvalidArgumentError(message);
      LogWarn("reload: %s", message);
      continue;
    }
    spec.ns = *ns;
    spec.inside_addr = f.inside_addr;
    spec.inside_port = f.inside_port;
    spec.owner = ForwardOwner::kStatic;
    spec.description = f.description;
    // A runtime forward on the same key gives way to the config.
    if (origins_.count(key)) {
      auto old = FindForward(*nat_, f.proto, f.external_addr, f.external_port);
      if (nat_->RemoveForward(f.proto, f.external_addr, f.external_port).ok() &&
          old) {
        LogForward("removed", old->owner, EntryOf(*old, NamespaceName(old->ns)),
                   "runtime");
      }
      origins_.erase(key);
    }
    auto id = nat_->AddForward(spec, now);
    if (!id.ok()) {
      std::string message = absl::StrCat(
          "forward ", std::string(ProtoName(f.proto)), " ", f.external_port,
          " -> ", f.ns, " ", Endpoint(f.inside_addr, f.inside_port), ": ",
          id.status().message());
      if (at_start) return absl::InvalidArgumentError(message);
      LogWarn("reload: %s", message);
      continue;
    }
    config_forwards_[key] = f;
    origins_[key] = Origin::kConfig;
    LogForward("added", ForwardOwner::kStatic, f, "config");
  }
  return absl::OkStatus();
}

absl::Status Daemon::RestoreState() {
  if (config_.state_file.empty()) return absl::OkStatus();
  auto loaded = LoadState(config_.state_file);
  if (!loaded.ok()) {
    if (!options_.ignore_bad_state) {
      return absl::DataLossError(
          absl::StrCat(loaded.status().message(),
                       " (move it away or start with --ignore-bad-state)"));
    }
    std::string aside = absl::StrCat(config_.state_file, ".bad");
    rename(config_.state_file.c_str(), aside.c_str());
    LogWarn("state: %s; ignored (--ignore-bad-state), kept as %s",
            std::string(loaded.status().message()), aside);
    return absl::OkStatus();
  }
  if (!loaded->has_value()) return absl::OkStatus();
  const state::State& st = **loaded;
  TimeMs now = NowMs();
  int64_t wall = WallMs();
  int restored = 0;
  int skipped = 0;
  for (const state::Forward& f : st.forwards()) {
    if (f.from_config()) continue;  // the config says what it wants now
    ForwardKey key{static_cast<uint8_t>(f.proto()), f.external_address(),
                   static_cast<uint16_t>(f.external_port())};
    auto ns = nat_->FindNamespace(f.ns());
    if (!ns.ok() || f.external_port() == 0 || f.external_port() > 65535 ||
        f.inside_port() == 0 || f.inside_port() > 65535 || f.owner() > 3) {
      LogWarn(
          "state: skipping forward %d/%d: namespace \"%s\" or values unusable",
          f.proto(), f.external_port(), f.ns());
      ++skipped;
      continue;
    }
    ForwardSpec spec;
    spec.proto = static_cast<uint8_t>(f.proto());
    spec.external_addr = f.external_address();
    spec.external_port = static_cast<uint16_t>(f.external_port());
    spec.ns = *ns;
    spec.inside_addr = f.inside_address();
    spec.inside_port = static_cast<uint16_t>(f.inside_port());
    spec.owner = static_cast<ForwardOwner>(f.owner());
    spec.owner_client = f.owner_client();
    spec.description = f.description();
    for (const state::RemoteFilter& rf : f.allowed_remotes()) {
      if (spec.allowed_remotes.size() >= ForwardSpec::kMaxRemoteFilters) break;
      spec.allowed_remotes.push_back(
          {rf.address(), static_cast<uint8_t>(std::min(rf.prefix_len(), 32u)),
           static_cast<uint16_t>(rf.port())});
    }
    spec.enabled = !f.disabled();
    if (f.expires_unix_ms() != 0) {
      int64_t left = f.expires_unix_ms() - wall;
      if (left <= 0) continue;  // the lease ran out while we were down
      spec.expires = now + static_cast<TimeMs>(left);
    }
    if (spec.expires != 0 && (spec.owner == ForwardOwner::kNatPmp ||
                              spec.owner == ForwardOwner::kPcp ||
                              spec.owner == ForwardOwner::kUpnp)) {
      // A NAT-PMP/PCP/UPnP lease: back into the registry, which owns its
      // lifetime, with the same external endpoint and nonce.
      portmap::Lease lease;
      lease.owner = spec.owner;
      lease.ns = spec.ns;
      lease.client = spec.owner_client;
      lease.proto = spec.proto;
      lease.inside_addr = spec.inside_addr;
      lease.inside_port = spec.inside_port;
      lease.external_addr = spec.external_addr;
      lease.external_port = spec.external_port;
      lease.expires = spec.expires;
      if (f.nonce().size() == lease.nonce.size()) {
        std::copy(f.nonce().begin(), f.nonce().end(), lease.nonce.begin());
      }
      lease.filters = spec.allowed_remotes;
      lease.description = spec.description;
      lease.enabled = spec.enabled;
      auto restored_lease = registry_->Restore(lease, now);
      if (!restored_lease.ok()) {
        LogWarn("state: skipping %s lease %s %d: %s",
                std::string(ForwardOwnerName(spec.owner)),
                std::string(ProtoName(spec.proto)), spec.external_port,
                std::string(restored_lease.status().message()));
        ++skipped;
        continue;
      }
      ++restored;
      continue;
    }
    auto id = nat_->AddForward(spec, now);
    if (!id.ok()) {
      LogWarn("state: skipping forward %s %d: %s",
              std::string(ProtoName(spec.proto)), spec.external_port,
              std::string(id.status().message()));
      ++skipped;
      continue;
    }
    origins_[key] = Origin::kRuntime;
    LogForward("restored", spec.owner, EntryOf(spec, f.ns()), "runtime");
    ++restored;
  }
  const uint32_t primary = config_.nat.external_addresses.empty()
                               ? 0
                               : config_.nat.external_addresses.front();
  if (st.has_portmap_epoch() && st.portmap_external_address() == primary) {
    // State kept: the epoch goes on as if we had never stopped (RFC 6887
    // 8.5, RFC 6886 3.6), so clients see no loss and need not re-map.
    const int64_t down_s =
        std::max<int64_t>(0, (wall - st.saved_unix_ms()) / 1000);
    portmap_->SetEpoch(static_cast<uint32_t>(st.portmap_epoch_s() + down_s),
                       now);
    portmap_state_restored_ = true;
  }
  Log("state: restored %d forward(s) from %s, skipped %d", restored,
      config_.state_file, skipped);
  return absl::OkStatus();
}

state::State Daemon::CollectState() const {
  state::State st;
  TimeMs now = NowMs();
  int64_t wall = WallMs();
  st.set_saved_unix_ms(wall);
  if (portmap_) {
    st.set_has_portmap_epoch(true);
    st.set_portmap_epoch_s(portmap_->EpochSeconds(now));
    if (!config_.nat.external_addresses.empty()) {
      st.set_portmap_external_address(config_.nat.external_addresses.front());
    }
  }
  std::map<uint32_t, portmap::Nonce> nonces;  // forward id -> PCP nonce
  if (registry_) {
    for (const portmap::Lease& l : registry_->Leases()) {
      if (l.owner == ForwardOwner::kPcp) nonces[l.forward_id] = l.nonce;
    }
  }
  for (const ForwardInfo& info : nat_->Forwards()) {
    const ForwardSpec& s = info.spec;
    state::Forward* f = st.add_forwards();
    f->set_proto(s.proto);
    f->set_external_address(s.external_addr);
    f->set_external_port(s.external_port);
    f->set_ns(NamespaceName(s.ns));
    f->set_inside_address(s.inside_addr);
    f->set_inside_port(s.inside_port);
    f->set_owner(static_cast<uint32_t>(s.owner));
    f->set_owner_client(s.owner_client);
    if (s.expires != 0) {
      int64_t left =
          s.expires > now ? static_cast<int64_t>(s.expires - now) : 0;
      f->set_expires_unix_ms(wall + left);
    }
    f->set_description(s.description);
    for (const RemoteFilter& rf : s.allowed_remotes) {
      state::RemoteFilter* out = f->add_allowed_remotes();
      out->set_address(rf.addr);
      out->set_prefix_len(rf.prefix_len);
      out->set_port(rf.port);
    }
    f->set_disabled(!s.enabled);
    if (auto n = nonces.find(info.id); n != nonces.end()) {
      f->set_nonce(std::string(n->second.begin(), n->second.end()));
    }
    auto it = origins_.find({s.proto, s.external_addr, s.external_port});
    f->set_from_config(it != origins_.end() && it->second == Origin::kConfig);
  }
  return st;
}

void Daemon::SaveStateNow(const char* why) {
  const uint64_t saves = state_saves_;
  absl::Status s = SaveStateChecked();
  if (!s.ok()) {
    LogError("state: saving (%s) failed: %s", why, std::string(s.message()));
  } else if (state_saves_ != saves) {
    LogDebug("state: saved (%s) to %s", why, config_.state_file);
  }
}

absl::Status Daemon::SaveStateChecked() {
  saved_signature_ = ForwardSignature(nat_->Forwards());
  // Whatever happens below, this generation has been dealt with: a state
  // file that cannot be written must not hold the answers for ever (the
  // failure is logged and counted).
  if (registry_) durable_generation_ = registry_->generation();
  if (config_.state_file.empty()) return absl::OkStatus();
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  absl::Status s = SaveState(config_.state_file, CollectState());
  clock_gettime(CLOCK_MONOTONIC, &t1);
  const uint64_t us = static_cast<uint64_t>((t1.tv_sec - t0.tv_sec) * 1000000 +
                                            (t1.tv_nsec - t0.tv_nsec) / 1000);
  state_save_us_total_ += us;
  state_save_us_max_ = std::max(state_save_us_max_, us);
  if (s.ok()) {
    ++state_saves_;
  } else {
    ++state_save_errors_;
  }
  return s;
}

bool Daemon::LeasesDirty() const {
  return registry_ != nullptr && !config_.state_file.empty() &&
         registry_->generation() != durable_generation_;
}

void Daemon::MakeLeasesDurable() {
  if (LeasesDirty()) SaveStateNow("leases changed");
  if (held_.empty()) return;
  for (const HeldPacket& p : held_) {
    TunDevice* dev = DeviceFor(p.side, p.ns);
    if (dev == nullptr) {
      ++no_device_drops_;
      continue;
    }
    dev->Write(p.bytes.data(), p.bytes.size());
  }
  held_.clear();
}

void Daemon::LogLease(portmap::LeaseEvent event, const portmap::Lease& l) {
  const TimeMs now = NowMs();
  const uint64_t left = l.expires > now ? (l.expires - now + 500) / 1000 : 0;
  Log("portmap: %s %s ns %s client %s %s %s -> %s lifetime %us",
      std::string(ForwardOwnerName(l.owner)),
      std::string(portmap::LeaseEventName(event)), NamespaceName(l.ns),
      Ipv4ToString(l.client), std::string(ProtoName(l.proto)),
      Endpoint(l.external_addr, l.external_port),
      Endpoint(l.inside_addr, l.inside_port), left);
}

void Daemon::MaybeSaveState() {
  if (ForwardSignature(nat_->Forwards()) != saved_signature_) {
    SaveStateNow("forwards changed");
  }
}

std::string Daemon::NamespaceName(NamespaceId ns) const {
  for (const Device& d : devices_) {
    if (d.tun != nullptr && !d.outside && d.ns == ns) return d.name;
  }
  return absl::StrCat("#", ns);
}

absl::Status Daemon::Run() {
  epoll_event events[64];
  while (!stop_) {
    int n = epoll_wait(epoll_fd_, events, 64, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("epoll_wait");
    }
    for (int i = 0; i < n && !stop_; ++i) {
      uint64_t tag = events[i].data.u64;
      uint64_t kind = tag & ~uint64_t{0xffffffff};
      uint32_t low = static_cast<uint32_t>(tag);
      if (kind == kTagDevice) {
        OnDevice(low);
      } else if (kind == kTagTimer) {
        OnTimer();
      } else if (kind == kTagSignal) {
        OnSignal();
      } else if (kind == kTagControl) {
        control_->OnEvent(static_cast<int>(low), events[i].events);
      } else if (kind == kTagMetrics) {
        if (metrics_) {
          metrics_->OnEvent(static_cast<int>(low), events[i].events);
        }
      }
    }
    // Answers about leases leave only once the leases are on disk.
    MakeLeasesDurable();
  }
  // Control points forget the IGD now rather than at max-age.
  if (upnp_) upnp_->Stop(this);
  captures_->EndAll("unatd stopped");
  SaveStateNow("shutdown");
  Log("stopped");
  return absl::OkStatus();
}

void Daemon::OnDevice(size_t index) {
  // An event of this wake-up for a device a reload just removed.
  if (index >= devices_.size() || devices_[index].tun == nullptr) return;
  Device& dev = devices_[index];
  uint32_t got = 0;
  while (got < config_.batch) {
    uint8_t* buf = buffers_.data() + size_t{got} * kBufferCapacity;
    ssize_t n = dev.tun->Read(buf, kReadSize, &packets_[got].offload);
    if (n < 0 && errno != EMSGSIZE && errno != EINVAL && errno != ENOBUFS &&
        errno != ENOMEM) {
      // The device is gone (EBADFD, EIO, ...): level-triggered epoll would
      // wake us for it forever. Stop reading it, say so once.
      LogError("device %s (%s): read failed: %s; no longer reading it",
               dev.tun->name(), dev.name, strerror(errno));
      epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, dev.tun->fd(), nullptr);
      break;
    }
    if (n <= 0) break;
    lengths_[got++] = static_cast<uint32_t>(n);
  }
  if (got == 0) return;
  dev.tun->CountBatch(got);
  TimeMs now = NowMs();
  // The whole read batch goes through the engine's batch path, which
  // prefetches the flow table for all of it before translating.
  for (uint32_t i = 0; i < got; ++i) {
    packets_[i].data = buffers_.data() + size_t{i} * kBufferCapacity;
    packets_[i].len = lengths_[i];
    packets_[i].capacity = kBufferCapacity;
    // (offload: as Read() found it)
  }
  std::span<Packet> batch(packets_.data(), got);
  if (dev.outside) {
    nat_->ProcessOutsideBatch(batch, verdicts_.data(), now);
  } else {
    nat_->ProcessInsideBatch(dev.ns, batch, verdicts_.data(), now);
  }
  for (uint32_t i = 0; i < got; ++i) {
    if (verdicts_[i].action == Verdict::kForward) {
      Send(verdicts_[i], packets_[i]);
    }
  }
  // What coalescing held goes out before the buffers are read into again.
  coalescer_.Flush();
}

TunDevice* Daemon::DeviceFor(Side side, NamespaceId ns) {
  if (side == Side::kOutside) return devices_[0].tun.get();
  if (ns < by_ns_.size()) return by_ns_[ns];
  return nullptr;
}

void Daemon::Send(const Verdict& verdict, const Packet& packet) {
  TunDevice* dev = DeviceFor(verdict.out_side, verdict.out_ns);
  if (dev == nullptr) {
    ++no_device_drops_;
    return;
  }
  // A super-packet goes out as one, for the kernel to segment; plain
  // packets of one flow may be merged into one (coalescing on write).
  if (config_.coalesce) {
    coalescer_.Add(dev, packet.data, packet.len, packet.offload);
  } else {
    dev->Write(packet.data, packet.len, packet.offload);
  }
}

void Daemon::Emit(Side side, NamespaceId ns, std::span<const uint8_t> packet) {
  if (LeasesDirty()) {
    // Sent by MakeLeasesDurable() once the state file has the change.
    held_.push_back({side, ns, {packet.begin(), packet.end()}});
    ++held_packets_;
    return;
  }
  TunDevice* dev = DeviceFor(side, ns);
  if (dev == nullptr) {
    ++no_device_drops_;
    return;
  }
  dev->Write(packet.data(), packet.size());
}

void Daemon::OnTimer() {
  uint64_t expirations = 0;
  while (read(timer_fd_, &expirations, sizeof(expirations)) < 0 &&
         errno == EINTR) {
  }
  TimeMs now = NowMs();
  // Leases first: the registry removes its own due forwards, then the
  // engine expires the rest.
  portmap_->Tick(now, this);
  if (upnp_) upnp_->Tick(now, this);
  nat_->Advance(now);
  if (metrics_) metrics_->Tick(now);
  if (now - last_state_check_ms_ >= 1000) {
    last_state_check_ms_ = now;
    MaybeSaveState();
  }
}

void Daemon::OnSignal() {
  struct signalfd_siginfo info;
  while (read(signal_fd_, &info, sizeof(info)) == sizeof(info)) {
    if (info.ssi_signo == SIGHUP) {
      std::string summary;
      (void)Reload("SIGHUP", &summary);
    } else {
      Log("signal %d: shutting down", static_cast<int>(info.ssi_signo));
      sd_notify(0, "STOPPING=1");
      stop_ = true;
    }
  }
}

absl::Status Daemon::Reload(const char* by, std::string* summary) {
  if (!options_.reload) {
    return absl::FailedPreconditionError("this unatd has no config to reload");
  }
  sd_notify(0, "RELOADING=1");
  absl::Status s = ReloadNow(summary);
  if (!s.ok()) {
    ++reload_refused_;
    LogWarn("reload (%s): refused: %s; keeping the running config", by,
            std::string(s.message()));
  } else {
    Log("reload (%s): done: %s", by, *summary);
  }
  sd_notify(0, "READY=1");
  return s;
}

namespace {

std::string Quoted(const std::string& v) { return absl::StrCat("\"", v, "\""); }

std::string AddressList(const std::vector<uint32_t>& addrs) {
  std::string out;
  for (uint32_t a : addrs) {
    absl::StrAppend(&out, out.empty() ? "" : ",", Ipv4ToString(a));
  }
  return absl::StrCat("[", out, "]");
}

bool SameDevice(const InsideSpec& a, const InsideSpec& b) {
  return a.device == b.device && a.netns == b.netns;
}

bool SameTenant(const InsideSpec& a, const InsideSpec& b) {
  return SameDevice(a, b) && a.gateway == b.gateway &&
         a.prefix_len == b.prefix_len && a.mtu == b.mtu;
}

}  // namespace

absl::Status Daemon::ReloadNow(std::string* summary) {
  auto loaded = options_.reload();
  if (!loaded.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config: ", loaded.status().message()));
  }
  DaemonConfig& next = *loaded;

  // 1. What cannot change in a running unatd: the whole reload is refused,
  // naming each field, and nothing below runs.
  std::vector<std::string> fixed;
  auto differs = [&fixed](const char* field, const std::string& was,
                          const std::string& now) {
    if (was != now) {
      fixed.push_back(absl::StrCat(field, " (", was, " -> ", now, ")"));
    }
  };
  differs("outside.device", Quoted(config_.outside.device),
          Quoted(next.outside.device));
  differs("outside.netns", Quoted(config_.outside.netns),
          Quoted(next.outside.netns));
  differs("outside.mtu", absl::StrCat(config_.outside.mtu),
          absl::StrCat(next.outside.mtu));
  differs("outside.external_address",
          AddressList(config_.nat.external_addresses),
          AddressList(next.nat.external_addresses));
  differs("user", Quoted(config_.run_as.user), Quoted(next.run_as.user));
  differs("group", absl::StrCat(config_.run_as.gid),
          absl::StrCat(next.run_as.gid));
  differs("control.socket", Quoted(config_.ctl_socket),
          Quoted(next.ctl_socket));
  differs("control.mode", absl::StrFormat("%04o", config_.ctl_mode),
          absl::StrFormat("%04o", next.ctl_mode));
  differs("control.group", Quoted(config_.ctl_group), Quoted(next.ctl_group));
  differs("state_file", Quoted(config_.state_file), Quoted(next.state_file));
  differs("tx_queue_len", absl::StrCat(config_.tx_queue_len),
          absl::StrCat(next.tx_queue_len));
  differs("offload", config_.offload ? "true" : "false",
          next.offload ? "true" : "false");
  for (const InsideSpec& n : next.inside) {
    for (const InsideSpec& c : config_.inside) {
      // One device cannot be reopened with another MTU while it is open.
      if (c.name == n.name && SameDevice(c, n) && c.mtu != n.mtu) {
        fixed.push_back(absl::StrCat("inside ", n.name, " mtu (", c.mtu, " -> ",
                                     n.mtu, ")"));
      }
    }
  }
  if (!fixed.empty()) {
    std::string fields;
    for (const std::string& f : fixed) {
      absl::StrAppend(&fields, fields.empty() ? "" : ", ", f);
    }
    return absl::FailedPreconditionError(absl::StrCat(
        fields, " cannot change while unatd runs (restart it to apply)"));
  }

  // 2. Tenants: which go, which come, which are replaced (their device,
  // address or prefix changed: their flows end). A replaced tenant on the
  // same device keeps the open device.
  std::vector<size_t> leaving;  // device slots
  struct Coming {
    const InsideSpec* spec;
    std::unique_ptr<TunDevice> tun;  // null: takes a leaving one's
  };
  std::vector<Coming> coming;
  for (size_t slot = 1; slot < devices_.size(); ++slot) {
    if (devices_[slot].tun == nullptr) continue;
    const InsideSpec* cur = CurrentInside(devices_[slot].name);
    const InsideSpec* want = nullptr;
    for (const InsideSpec& n : next.inside) {
      if (n.name == devices_[slot].name) want = &n;
    }
    if (cur == nullptr || want == nullptr || !SameTenant(*cur, *want)) {
      leaving.push_back(slot);
    }
  }
  for (const InsideSpec& n : next.inside) {
    const InsideSpec* cur = CurrentInside(n.name);
    if (cur != nullptr && SameTenant(*cur, n)) continue;
    coming.push_back({&n, nullptr});
  }
  // Devices for the new tenants, opened before anything changes: one that
  // cannot be opened (no privileges left, no such namespace) refuses the
  // reload. A device a leaving tenant has open is handed over instead.
  for (Coming& c : coming) {
    bool handed = false;
    for (size_t slot : leaving) {
      const Device& d = devices_[slot];
      if (d.tun->name() == c.spec->device && d.tun->netns() == c.spec->netns) {
        handed = true;
      }
    }
    if (handed) continue;
    auto tun = OpenInside(*c.spec);
    if (!tun.ok()) {
      // (The device's own message names it and its namespace.)
      return absl::UnavailableError(absl::StrCat(
          "inside ", c.spec->name, ": ", tun.status().message(),
          getuid() != 0
              ? absl::StrCat(" (unatd runs as ", DescribeUid(getuid()),
                             ": a new tenant's device needs the "
                             "privileges unatd dropped; restart it)")
              : std::string()));
    }
    c.tun = std::move(*tun);
  }
  // The metrics endpoint moves: the new one listens before anything
  // changes (a port that cannot be had refuses the reload).
  const bool metrics_moves = next.metrics_listen != config_.metrics_listen;
  std::unique_ptr<MetricsServer> metrics_next;
  if (metrics_moves && next.metrics_port != 0) {
    auto opened = OpenMetrics(next.metrics_addr, next.metrics_port);
    if (!opened.ok()) return opened.status();
    metrics_next = std::move(*opened);
  }
  // 3. Helpers and the engine's policy are checked before they change.
  if (absl::Status h = helpers::HelperSet::Check(next.alg); !h.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("helpers: ", h.message()));
  }
  {
    NatConfig policy = next.nat;
    policy.outside_mtu = config_.nat.outside_mtu;  // the device's, as opened
    if (absl::Status p = nat_->UpdatePolicy(policy); !p.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("engine refused the policy: ", p.message()));
    }
    config_.nat = policy;
  }

  // From here on everything applies.
  std::vector<std::string> done;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<TunDevice>>
      handed;  // (netns, device)
  for (size_t slot : leaving) {
    const std::string name = devices_[slot].name;
    const size_t flows_before = nat_->GetStats().flows_total;
    std::unique_ptr<TunDevice> tun = DetachTenant(slot);
    const size_t flows_after = nat_->GetStats().flows_total;
    Log("reload: inside %s removed (device %s): %d flow(s) ended", name,
        tun->name(), static_cast<int>(flows_before - flows_after));
    done.push_back(absl::StrCat("-", name));
    std::pair<std::string, std::string> key{tun->netns(), tun->name()};
    handed[key] = std::move(tun);
  }
  for (Coming& c : coming) {
    std::unique_ptr<TunDevice> tun = std::move(c.tun);
    if (tun == nullptr) {
      auto it = handed.find({c.spec->netns, c.spec->device});
      if (it != handed.end()) {
        tun = std::move(it->second);
        handed.erase(it);
      }
    }
    if (tun == nullptr) continue;  // cannot happen: opened or handed above
    const std::string device = tun->name();
    if (absl::Status a = AttachTenant(*c.spec, std::move(tun)); !a.ok()) {
      LogError("reload: inside %s not added: %s", c.spec->name,
               std::string(a.message()));
      continue;
    }
    Log("reload: inside %s added (device %s, %s/%d)", c.spec->name, device,
        Ipv4ToString(c.spec->gateway), static_cast<int>(c.spec->prefix_len));
    done.push_back(absl::StrCat("+", c.spec->name));
  }
  handed.clear();  // devices no tenant took any more close here
  // Routed prefixes of tenants that stay apply now; flows of hosts no
  // longer inside end.
  std::vector<InsideSpec> inside;
  for (const InsideSpec& n : next.inside) {
    auto ns = nat_->FindNamespace(n.name);
    if (!ns.ok()) continue;  // not added (logged above)
    InsideSpec live = n;
    const InsideSpec* cur = CurrentInside(n.name);
    if (cur != nullptr && cur->routed_prefixes != n.routed_prefixes) {
      if (absl::Status st = nat_->SetRoutedPrefixes(*ns, n.routed_prefixes);
          !st.ok()) {
        LogWarn("reload: inside %s: routed prefixes refused: %s", n.name,
                std::string(st.message()));
        live.routed_prefixes = cur->routed_prefixes;
      } else {
        done.push_back(absl::StrCat(n.name, " routed prefixes"));
      }
    }
    inside.push_back(std::move(live));
  }
  config_.inside = std::move(inside);

  // 4. Helpers: only those whose settings changed stop or start.
  {
    std::vector<std::string> changes;
    if (absl::Status h = algs_->Update(*nat_, next.alg, &changes); !h.ok()) {
      LogError("reload: helpers: %s", std::string(h.message()));
    }
    for (const std::string& c : changes) done.push_back(c);
    config_.alg = next.alg;
  }

  // 5. NAT-PMP and PCP (one server on UDP 5351). A protocol turned off
  // takes its leases with it.
  {
    const bool was = config_.natpmp || config_.pcp;
    const bool now = next.natpmp || next.pcp;
    portmap_->SetProtocols(next.natpmp, next.pcp);
    portmap_->SetRate(next.portmap_rate);
    for (auto [on_before, on_after, owner, label] :
         {std::tuple{config_.natpmp, next.natpmp, ForwardOwner::kNatPmp,
                     "natpmp"},
          std::tuple{config_.pcp, next.pcp, ForwardOwner::kPcp, "pcp"}}) {
      if (on_before == on_after) continue;
      if (!on_after) {
        const size_t n = registry_->RemoveMatching(
            [owner](const portmap::Lease& l) { return l.owner == owner; });
        done.push_back(absl::StrCat(label, " off (", n, " lease(s) deleted)"));
      } else {
        done.push_back(absl::StrCat(label, " on"));
      }
    }
    if (!was && now) {
      if (absl::Status r = portmap_->Register(); !r.ok()) {
        LogError("reload: natpmp/pcp: %s", std::string(r.message()));
      } else {
        // NAT-PMP announces its address, as at a start; PCP only announces
        // lost state, and none was lost.
        portmap_->Start(NowMs(), true);
      }
    } else if (was && !now) {
      portmap_->Unregister();
    }
    config_.natpmp = next.natpmp;
    config_.pcp = next.pcp;
    config_.portmap_rate = next.portmap_rate;
  }

  // 6. UPnP: turned off, on, or moved (port, IGD version) in one piece.
  const bool upnp_changed = next.upnp != config_.upnp ||
                            next.upnp_port != config_.upnp_port ||
                            next.upnp_igd_version != config_.upnp_igd_version;
  if (upnp_changed) {
    if (upnp_) {
      upnp_->Stop(this);  // ssdp:byebye, as at a stop
      upnp_->Unregister();
      upnp_.reset();
    }
    if (!next.upnp) {
      const size_t n = registry_->RemoveMatching([](const portmap::Lease& l) {
        return l.owner == ForwardOwner::kUpnp;
      });
      done.push_back(absl::StrCat("upnp off (", n, " lease(s) deleted)"));
    } else {
      config_.upnp_port = next.upnp_port;
      config_.upnp_igd_version = next.upnp_igd_version;
      if (absl::Status u = StartUpnp(); !u.ok()) {
        LogError("reload: upnp: %s", std::string(u.message()));
        upnp_.reset();
      } else {
        done.push_back(config_.upnp ? "upnp restarted" : "upnp on");
      }
    }
    config_.upnp = upnp_ != nullptr;
    config_.upnp_port = next.upnp_port;
    config_.upnp_igd_version = next.upnp_igd_version;
  }

  if (metrics_moves) {
    UseMetrics(std::move(metrics_next));
    config_.metrics_listen = next.metrics_listen;
    config_.metrics_addr = next.metrics_addr;
    config_.metrics_port = next.metrics_port;
    done.push_back(next.metrics_listen.empty()
                       ? std::string("metrics endpoint off")
                       : absl::StrCat("metrics on ", next.metrics_listen));
  }

  // 7. The loop's tick and batch.
  if (next.tick_ms != config_.tick_ms) {
    config_.tick_ms = next.tick_ms;
    if (absl::Status t = ArmTimer(); !t.ok()) {
      LogError("reload: tick_ms: %s", std::string(t.message()));
    }
    done.push_back(absl::StrCat("tick_ms ", config_.tick_ms));
  }
  if (next.batch != config_.batch) {
    config_.batch = next.batch;
    SizeBatch();
    done.push_back(absl::StrCat("batch ", config_.batch));
  }
  if (next.coalesce != config_.coalesce) {
    config_.coalesce = next.coalesce;
    done.push_back(config_.coalesce ? "coalescing on" : "coalescing off");
  }

  // Logging: level and format.
  if (next.log.level != config_.log.level ||
      next.log.format != config_.log.format) {
    config_.log = next.log;
    SetLogOptions(config_.log);
    done.push_back(absl::StrCat("log level ",
                                std::string(LogLevelName(config_.log.level))));
  }

  // 8. The mapping policy (new requests and renewals) and forwards (flows
  // of forwards that stay are untouched).
  registry_->set_policy(next.portmap_policy);
  config_.portmap_policy = next.portmap_policy;
  (void)ApplyConfigForwards(next.forwards, false);
  config_.forwards = next.forwards;
  ++reloads_;
  SaveStateNow("reload");
  std::string what;
  for (const std::string& d : done) {
    absl::StrAppend(&what, what.empty() ? "" : ", ", d);
  }
  *summary = absl::StrCat(
      static_cast<int>(config_.inside.size()), " inside network(s), ",
      static_cast<int>(config_forwards_.size()), " forward(s) from the config",
      what.empty() ? "" : "; ", what);
  return absl::OkStatus();
}

const InsideSpec* Daemon::CurrentInside(const std::string& name) const {
  for (const InsideSpec& in : config_.inside) {
    if (in.name == name) return &in;
  }
  return nullptr;
}

// --- control plane ---------------------------------------------------------

void Daemon::HandleControl(const control::Request& request, const Peer& peer,
                           control::Response* response) {
  response->set_ok(true);
  absl::Status status;
  switch (request.command_case()) {
    case control::Request::kListFlows:
      ListFlows(request.list_flows(), response);
      break;
    case control::Request::kListForwards:
      ListForwards(response);
      break;
    case control::Request::kListNamespaces:
      ListNamespaces(response);
      break;
    case control::Request::kGetStats:
      FillStats(response);
      break;
    case control::Request::kAddForward:
    case control::Request::kRemoveForward:
      if (!peer.may_change) {
        status = absl::PermissionDeniedError(absl::StrCat(
            "uid ", peer.uid, " may read but not change anything"));
      } else if (request.command_case() == control::Request::kAddForward) {
        status = AddForward(request.add_forward());
      } else {
        status = RemoveForward(request.remove_forward());
      }
      if (status.ok()) {
        SaveStateNow("control");
        ListForwards(response);
      }
      break;
    case control::Request::kReload:
      if (!peer.may_change) {
        status = absl::PermissionDeniedError(absl::StrCat(
            "uid ", peer.uid, " may read but not change anything"));
      } else {
        std::string summary;
        status = Reload("unatctl", &summary);
        if (status.ok()) response->set_reload(summary);
      }
      break;
    case control::Request::kCapture:
      // Packets show traffic: only peers that may change things see them.
      if (!peer.may_change) {
        status = absl::PermissionDeniedError(
            absl::StrCat("uid ", peer.uid, " may not capture packets"));
      } else {
        status = captures_->Start(request.capture(), peer.conn, response);
      }
      break;
    default:
      status = absl::InvalidArgumentError("unknown request");
  }
  if (!status.ok()) {
    response->set_ok(false);
    response->set_error(std::string(status.message()));
  }
}

void Daemon::ListFlows(const control::FlowFilter& filter,
                       control::Response* out) {
  NamespaceId want_ns = kInvalidNamespace;
  if (!filter.ns().empty()) {
    auto ns = nat_->FindNamespace(filter.ns());
    if (!ns.ok()) {
      out->set_ok(false);
      out->set_error(absl::StrCat("no namespace \"", filter.ns(), "\""));
      return;
    }
    want_ns = *ns;
  }
  std::optional<uint32_t> want_addr;
  if (!filter.addr().empty()) {
    want_addr = ParseIpv4(filter.addr());
    if (!want_addr) {
      out->set_ok(false);
      out->set_error(absl::StrCat("\"", filter.addr(), "\" is not an address"));
      return;
    }
  }
  TimeMs now = NowMs();
  uint32_t matched = 0;
  nat_->ForEachFlow([&](const FlowInfo& f) {
    if (want_ns != kInvalidNamespace && f.ns != want_ns) return;
    if (filter.proto() != 0 && f.proto != filter.proto()) return;
    if (want_addr && f.inside_addr != *want_addr &&
        f.external_addr != *want_addr && f.remote_addr != *want_addr) {
      return;
    }
    ++matched;
    if (filter.limit() != 0 &&
        static_cast<uint32_t>(out->flows_size()) >= filter.limit()) {
      return;
    }
    control::Flow* flow = out->add_flows();
    flow->set_id(f.id);
    flow->set_ns(NamespaceName(f.ns));
    flow->set_proto(std::string(ProtoName(f.proto)));
    flow->set_inside(Endpoint(f.inside_addr, f.inside_port));
    flow->set_external(Endpoint(f.external_addr, f.external_port));
    flow->set_remote(Endpoint(f.remote_addr, f.remote_port));
    flow->set_state(
        f.proto == kProtoTcp
            ? std::string(TcpStateName(static_cast<TcpState>(f.tcp_state)))
            : std::string("active"));
    flow->set_expires_in_ms(
        f.expires > now ? static_cast<int64_t>(f.expires - now) : 0);
    flow->set_inbound(f.inbound_origin);
    flow->set_packets_out(f.packets[0]);
    flow->set_packets_in(f.packets[1]);
    flow->set_bytes_out(f.bytes[0]);
    flow->set_bytes_in(f.bytes[1]);
    flow->set_helper(std::string(f.helper));
    flow->set_expectations(f.expectations);
    if (f.held_until > now) {
      flow->set_held_in_ms(static_cast<int64_t>(f.held_until - now));
    }
  });
  out->set_flows_matched(matched);
}

void Daemon::ListForwards(control::Response* out) {
  TimeMs now = NowMs();
  for (const ForwardInfo& info : nat_->Forwards()) {
    const ForwardSpec& s = info.spec;
    control::Forward* f = out->add_forwards();
    f->set_id(info.id);
    f->set_proto(s.proto);
    if (s.external_addr != 0) {
      f->set_external_address(Ipv4ToString(s.external_addr));
    }
    f->set_external_port(s.external_port);
    f->set_ns(NamespaceName(s.ns));
    f->set_inside_address(Ipv4ToString(s.inside_addr));
    f->set_inside_port(s.inside_port);
    f->set_owner(std::string(ForwardOwnerName(s.owner)));
    auto it = origins_.find({s.proto, s.external_addr, s.external_port});
    f->set_origin(it == origins_.end()            ? "lease"
                  : it->second == Origin::kConfig ? "config"
                                                  : "runtime");
    if (s.expires != 0) {
      f->set_expires_in_ms(
          s.expires > now ? static_cast<int64_t>(s.expires - now) : 0);
    }
    f->set_description(s.description);
    if (s.owner_client != 0) f->set_owner_client(Ipv4ToString(s.owner_client));
    for (const RemoteFilter& rf : s.allowed_remotes) {
      f->add_allowed_remotes(
          rf.port == 0 ? absl::StrCat(Ipv4ToString(rf.addr), "/", rf.prefix_len)
                       : absl::StrCat(Ipv4ToString(rf.addr), "/", rf.prefix_len,
                                      ":", rf.port));
    }
    f->set_disabled(!s.enabled);
  }
}

void Daemon::ListNamespaces(control::Response* out) {
  for (const NamespaceInfo& info : nat_->Namespaces()) {
    control::Namespace* ns = out->add_namespaces();
    ns->set_id(info.id);
    ns->set_name(info.name);
    ns->set_address(
        absl::StrCat(Ipv4ToString(info.gateway), "/", info.prefix_len));
    for (const InsideSpec& in : config_.inside) {
      if (in.name == info.name) {
        ns->set_device(in.device);
        ns->set_netns(in.netns);
      }
    }
    ns->set_flows(info.flows);
    for (const Ipv4Prefix& p : info.routed_prefixes) {
      ns->add_routed_prefix(absl::StrCat(Ipv4ToString(p.addr), "/", p.len));
    }
    ns->set_tcp_ports(info.ports[ProtoIndex(kProtoTcp)]);
    ns->set_udp_ports(info.ports[ProtoIndex(kProtoUdp)]);
    ns->set_icmp_ids(info.ports[ProtoIndex(kProtoIcmp)]);
    ns->set_port_quota(info.port_quota[ProtoIndex(kProtoUdp)]);
    ns->set_icmp_id_quota(info.port_quota[ProtoIndex(kProtoIcmp)]);
    ns->set_packets_out(info.packets[0]);
    ns->set_packets_in(info.packets[1]);
    ns->set_bytes_out(info.bytes[0]);
    ns->set_bytes_in(info.bytes[1]);
  }
}

void Daemon::FillStats(control::Response* out) {
  Stats s = nat_->GetStats();
  control::Stats* st = out->mutable_stats();
  for (int r = 1; r < kNumDropReasons; ++r) {
    control::Counter* c = st->add_drops();
    c->set_name(std::string(DropReasonName(static_cast<DropReason>(r))));
    c->set_value(s.drops[r]);
  }
  for (uint8_t proto : kTrackedProtocols) {
    int p = ProtoIndex(proto);
    if (proto == kProtoTcp) {
      for (int t = 0; t < static_cast<int>(TcpState::kCount); ++t) {
        control::Counter* c = st->add_flows();
        c->set_name(absl::StrCat(
            "tcp/", std::string(TcpStateName(static_cast<TcpState>(t)))));
        c->set_value(s.flows[p][t]);
      }
    } else {
      control::Counter* c = st->add_flows();
      c->set_name(std::string(ProtoName(proto)));
      uint64_t total = 0;
      for (uint32_t v : s.flows[p]) total += v;
      c->set_value(total);
    }
  }
  st->set_flows_total(s.flows_total);
  st->set_mappings(s.mappings);
  st->set_mappings_held(s.mappings_held);
  st->set_forwards(s.forwards);
  st->set_expectations(s.expectations);
  st->set_related_flows(s.related_flows);
  st->set_related_opened(s.related_opened);
  st->set_flows_created(s.flows_created);
  st->set_flows_expired(s.flows_expired);
  st->set_icmp_errors_sent(s.icmp_errors_sent);
  st->set_icmp_errors_rate_limited(s.icmp_errors_rate_limited);
  st->set_half_open_inbound(s.half_open_inbound);
  st->set_half_open_evicted(s.half_open_evicted);
  st->set_packets_out(s.packets[0]);
  st->set_packets_in(s.packets[1]);
  st->set_bytes_out(s.bytes[0]);
  st->set_bytes_in(s.bytes[1]);
  st->set_fragments_forwarded(s.fragments_forwarded);
  st->set_datagrams_reassembled(s.datagrams_reassembled);
  st->set_fragments_created(s.fragments_created);
  st->set_segments_created(s.segments_created);
  st->set_super_packets_segmented(s.super_packets_segmented);
  st->set_coalesce_bad_checksum(coalescer_.counters().bad_checksum);
  st->set_fragment_datagrams(s.fragment_datagrams);
  st->set_fragment_bytes_held(s.fragment_bytes_held);
  st->set_fragments_in(s.fragments_in);
  st->set_fragments_reassembled(s.fragments_reassembled);
  st->set_fragments_dropped(s.fragments_dropped);
  st->set_fragments_held(s.fragments_held);
  st->set_fragment_datagrams_timed_out(s.fragment_datagrams_timed_out);
  for (size_t i = 0; i < devices_.size(); ++i) {
    const Device& d = devices_[i];
    if (d.tun == nullptr) continue;  // a removed tenant's slot
    const DeviceCounters& c = d.tun->counters();
    control::DeviceStats* ds = st->add_devices();
    ds->set_name(d.name);
    ds->set_device(d.tun->name());
    ds->set_netns(d.tun->netns());
    ds->set_rx_packets(c.rx_packets);
    ds->set_rx_bytes(c.rx_bytes);
    ds->set_tx_packets(c.tx_packets);
    ds->set_tx_bytes(c.tx_bytes);
    ds->set_rx_errors(c.rx_errors);
    ds->set_tx_dropped_full(c.tx_dropped_full);
    ds->set_tx_errors(c.tx_errors);
    ds->set_offloads(d.tun->offloads());
    ds->set_rx_super_packets(c.rx_super_packets);
    ds->set_tx_super_packets(c.tx_super_packets);
    ds->set_rx_csum_completed(c.rx_csum_completed);
    ds->set_tx_coalesced(c.tx_coalesced);
    ds->set_tx_super_refused(c.tx_super_refused);
    ds->set_read_batches(c.read_batches);
    ds->set_read_batch_packets(c.read_batch_packets);
    for (uint64_t b : c.read_batch_buckets) ds->add_read_batch_buckets(b);
    if (i == 0) ds->set_no_device(no_device_drops_);
    captures_->FillDeviceStats(i, ds);
  }
  st->set_uptime_ms(NowMs() - started_ms_);
  st->set_reloads(reloads_);
  st->set_reloads_refused(reload_refused_);
  st->set_state_saves(state_saves_);
  st->set_state_save_errors(state_save_errors_);
  st->set_state_save_us_total(state_save_us_total_);
  st->set_state_save_us_max(state_save_us_max_);
  st->set_held_for_durability(held_packets_);
  {
    uint64_t leases[3] = {0, 0, 0};  // natpmp, pcp, upnp
    for (const portmap::Lease& l : registry_->Leases()) {
      if (l.owner == ForwardOwner::kNatPmp) ++leases[0];
      if (l.owner == ForwardOwner::kPcp) ++leases[1];
      if (l.owner == ForwardOwner::kUpnp) ++leases[2];
    }
    const char* names[3] = {"natpmp", "pcp", "upnp"};
    for (int i = 0; i < 3; ++i) {
      control::Counter* c = st->add_leases();
      c->set_name(names[i]);
      c->set_value(leases[i]);
    }
  }
  st->set_resident_memory_bytes(ResidentMemoryBytes());
  st->set_engine_memory_bytes(nat_->MemoryUsage());
  if (metrics_) metrics_->FillStats(st->mutable_metrics_http());
  if (algs_) {
    algs_->ForEachCounter([st](std::string_view name, uint64_t value) {
      control::Counter* c = st->add_helpers();
      c->set_name(std::string(name));
      c->set_value(value);
    });
  }
  if (portmap_) {
    const portmap::PortMapStats& ps = portmap_->stats();
    const portmap::RegistryStats& rs = registry_->stats();
    auto add = [st](std::string name, uint64_t value) {
      control::Counter* c = st->add_portmap();
      c->set_name(std::move(name));
      c->set_value(value);
    };
    add("portmap/leases", registry_->size());
    add("portmap/peers", portmap_->peers().size());
    add("portmap/natpmp_requests", ps.natpmp_requests);
    add("portmap/pcp_requests", ps.pcp_requests);
    add("portmap/answers", ps.answers);
    add("portmap/announcements", ps.announcements);
    add("portmap/epoch_s", portmap_->EpochSeconds(NowMs()));
    add("portmap/granted", rs.granted);
    add("portmap/renewed", rs.renewed);
    add("portmap/refused", rs.refused);
    add("portmap/deleted", rs.deleted);
    add("portmap/expired", rs.expired);
    add("portmap/vanished", rs.vanished);
    if (upnp_) {
      const portmap::UpnpStats& us = upnp_->stats();
      const portmap::TcpEndpointStats& ts = upnp_->tcp().stats();
      add("upnp/http_requests", us.http_requests);
      add("upnp/http_errors", us.http_errors);
      add("upnp/descriptions", us.descriptions);
      add("upnp/soap_requests", us.soap_requests);
      add("upnp/soap_faults", us.soap_faults);
      for (const auto& [code, n] : us.faults) {
        add(absl::StrCat("upnp/fault/", code), n);
      }
      add("upnp/ssdp_searches", us.ssdp_searches);
      add("upnp/ssdp_answers", us.ssdp_answers);
      add("upnp/ssdp_notifies", us.ssdp_notifies);
      add("upnp/ssdp_malformed", us.ssdp_malformed);
      add("upnp/ssdp_rate_limited", us.ssdp_rate_limited);
      add("upnp/ssdp_queue_full", us.ssdp_queue_full);
      add("upnp/ssdp_byebyes", us.ssdp_byebyes);
      add("upnp/timeouts", us.timeouts);
      add("upnp/tcp/connections", upnp_->tcp().size());
      add("upnp/tcp/accepted", ts.accepted);
      add("upnp/tcp/closed", ts.closed);
      add("upnp/tcp/resets_sent", ts.resets_sent);
      add("upnp/tcp/retransmissions", ts.retransmissions);
      add("upnp/tcp/opened", ts.opened);
      add("upnp/tcp/open_failed", ts.open_failed);
      const portmap::GenaStats& gs = upnp_->gena().stats();
      add("upnp/gena/subscriptions", upnp_->gena().size());
      add("upnp/gena/subscribed", gs.subscribed);
      add("upnp/gena/renewed", gs.renewed);
      add("upnp/gena/unsubscribed", gs.unsubscribed);
      add("upnp/gena/expired", gs.expired);
      add("upnp/gena/refused", gs.refused);
      add("upnp/gena/events_sent", gs.events_sent);
      add("upnp/gena/events_failed", gs.events_failed);
      add("upnp/gena/no_event_port", us.event_connect_failed);
      for (int d = 0; d < static_cast<int>(portmap::TcpEndpointDrop::kCount);
           ++d) {
        add(absl::StrCat("upnp/tcp/drop/",
                         portmap::TcpEndpointDropName(
                             static_cast<portmap::TcpEndpointDrop>(d))),
            ts.drops[d]);
      }
    }
    for (int d = 0; d < portmap::kNumPortMapDrops; ++d) {
      add(absl::StrCat(
              "portmap/drop/",
              portmap::PortMapDropName(static_cast<portmap::PortMapDrop>(d))),
          ps.drops[d]);
    }
    for (size_t r = 0; r < ps.natpmp_results.size(); ++r) {
      add(absl::StrCat("natpmp/result/", r), ps.natpmp_results[r]);
    }
    for (size_t r = 0; r < ps.pcp_results.size(); ++r) {
      add(absl::StrCat("pcp/",
                       portmap::pcp::ResultName(static_cast<uint8_t>(r))),
          ps.pcp_results[r]);
    }
  }
}

std::string Daemon::MetricsText() {
  control::Response stats;
  control::Response namespaces;
  FillStats(&stats);
  ListNamespaces(&namespaces);
  return PrometheusText(stats.stats(), namespaces);
}

absl::StatusOr<std::unique_ptr<MetricsServer>> Daemon::OpenMetrics(
    uint32_t addr, uint16_t port) {
  MetricsServer::Options o;
  o.addr = addr;
  o.port = port;
  o.clock = &Daemon::NowMs;
  auto server = MetricsServer::Create(o, epoll_fd_, kTagMetrics,
                                      [this] { return MetricsText(); });
  if (!server.ok()) {
    return absl::Status(
        server.status().code(),
        absl::StrCat("metrics_listen: ", server.status().message()));
  }
  return server;
}

void Daemon::UseMetrics(std::unique_ptr<MetricsServer> next) {
  if (next != nullptr && metrics_ != nullptr) next->AdoptCounters(*metrics_);
  metrics_ = std::move(next);
  if (metrics_ != nullptr) {
    Log("metrics: listening on http://%s/metrics", metrics_->address());
  }
}

absl::Status Daemon::StartMetrics(uint32_t addr, uint16_t port) {
  if (port == 0) {
    UseMetrics(nullptr);
    return absl::OkStatus();
  }
  auto server = OpenMetrics(addr, port);
  if (!server.ok()) return server.status();
  UseMetrics(std::move(*server));
  return absl::OkStatus();
}

absl::Status Daemon::AddForward(const control::Forward& r) {
  if (r.proto() != kProtoTcp && r.proto() != kProtoUdp) {
    return absl::InvalidArgumentError(
        absl::StrCat("proto ", r.proto(), " is not tcp (6) or udp (17)"));
  }
  if (r.external_port() == 0 || r.external_port() > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "external port ", r.external_port(), " is out of range 1..65535"));
  }
  if (r.inside_port() == 0 || r.inside_port() > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "inside port ", r.inside_port(), " is out of range 1..65535"));
  }
  ForwardSpec spec;
  spec.proto = static_cast<uint8_t>(r.proto());
  if (!r.external_address().empty()) {
    auto a = ParseIpv4(r.external_address());
    if (!a) {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", r.external_address(), "\" is not an IPv4 address"));
    }
    spec.external_addr = *a;
  }
  spec.external_port = static_cast<uint16_t>(r.external_port());
  auto ns = nat_->FindNamespace(r.ns());
  if (!ns.ok()) {
    return absl::NotFoundError(absl::StrCat("no namespace \"", r.ns(), "\""));
  }
  spec.ns = *ns;
  auto inside = ParseIpv4(r.inside_address());
  if (!inside) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", r.inside_address(), "\" is not an IPv4 address"));
  }
  spec.inside_addr = *inside;
  spec.inside_port = static_cast<uint16_t>(r.inside_port());
  spec.owner = ForwardOwner::kStatic;
  spec.description = r.description();
  auto id = nat_->AddForward(spec, NowMs());
  if (!id.ok()) return id.status();
  origins_[{spec.proto, spec.external_addr, spec.external_port}] =
      Origin::kRuntime;
  LogForward("added", spec.owner, EntryOf(spec, r.ns()), "runtime");
  return absl::OkStatus();
}

absl::Status Daemon::RemoveForward(const control::ForwardKey& key) {
  uint32_t addr = 0;
  if (!key.external_address().empty()) {
    auto a = ParseIpv4(key.external_address());
    if (!a) {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", key.external_address(), "\" is not an IPv4 address"));
    }
    addr = *a;
  }
  if (key.external_port() == 0 || key.external_port() > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "external port ", key.external_port(), " is out of range 1..65535"));
  }
  uint8_t proto = static_cast<uint8_t>(key.proto());
  uint16_t port = static_cast<uint16_t>(key.external_port());
  const std::optional<ForwardSpec> old = FindForward(*nat_, proto, addr, port);
  if (absl::Status s = nat_->RemoveForward(proto, addr, port); !s.ok()) {
    return s;
  }
  ForwardKey k{proto, addr, port};
  auto origin = origins_.find(k);
  const char* origin_name = origin == origins_.end()            ? "lease"
                            : origin->second == Origin::kConfig ? "config"
                                                                : "runtime";
  if (old) {
    LogForward("removed", old->owner, EntryOf(*old, NamespaceName(old->ns)),
               origin_name);
  }
  origins_.erase(k);
  config_forwards_.erase(k);  // until the next reload brings it back
  return absl::OkStatus();
}

}  // namespace unat::tun
