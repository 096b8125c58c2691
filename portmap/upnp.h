// UPnP IGD (v1 and v2) on every inside gateway address, as engine
// LocalHelpers: SSDP on UDP 1900 (M-SEARCH to 239.255.255.250 or unicast,
// NOTIFY ssdp:alive announcements), and the description, SCPDs and SOAP
// control on a TCP port (default 5000) terminated by unat itself
// (TcpEndpoint, no kernel socket). Mappings go into the MappingRegistry
// shared with NAT-PMP and PCP (owner kUpnp), so the three protocols never
// hand out the same external port.
//
// The IGD version a control point uses is the one in its SOAPAction
// (WANIPConnection:1 or :2); it decides lease 0 semantics (see
// docs/upnp.md). /rootDesc.xml describes an IGD:2 (SSDP answers every
// search, :1 types too, with it); /rootDesc1.xml an IGD:1 for control points
// that only speak version 1.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "engine/helper.h"
#include "portmap/gena.h"
#include "portmap/http.h"
#include "portmap/rate_limiter.h"
#include "portmap/registry.h"
#include "portmap/table.h"
#include "portmap/tcp_endpoint.h"

namespace unat::portmap {

inline constexpr uint16_t kSsdpPort = 1900;
inline constexpr uint32_t kSsdpGroup = 0xeffffffa;  // 239.255.255.250
inline constexpr uint16_t kUpnpDefaultHttpPort = 5000;

// UPnP error codes (UDA 1.1 3.2.2, WANIPConnection:2 2.5).
namespace upnp_error {
inline constexpr int kInvalidAction = 401;
inline constexpr int kInvalidArgs = 402;
inline constexpr int kActionFailed = 501;
inline constexpr int kNotAuthorized = 606;
inline constexpr int kArrayIndexInvalid = 713;
inline constexpr int kNoSuchEntry = 714;
inline constexpr int kWildCardNotPermittedInSrcIp = 715;
inline constexpr int kWildCardNotPermittedInExtPort = 716;
inline constexpr int kConflictInMappingEntry = 718;
inline constexpr int kSamePortValuesRequired = 724;
inline constexpr int kOnlyPermanentLeasesSupported = 725;
inline constexpr int kRemoteHostOnlySupportsWildcard = 726;
inline constexpr int kExternalPortOnlySupportsWildcard = 727;
inline constexpr int kNoPortMapsAvailable = 728;
inline constexpr int kConflictWithOtherMechanisms = 729;
inline constexpr int kPortMappingNotFound = 730;
inline constexpr int kWildCardNotPermittedInIntPort = 732;
inline constexpr int kInvalidConnServiceSelection = 723;
inline constexpr int kInconsistentParameters = 733;
const char* Name(int code);
}  // namespace upnp_error

struct UpnpConfig {
  uint16_t http_port = kUpnpDefaultHttpPort;
  // The IGD version SSDP advertises (LOCATION, NT/ST types): 2, or 1 for
  // control points that only understand IGD:1. Both descriptions are
  // served whichever it is.
  int igd_version = 2;
  // uuid of the root device (without "uuid:"); empty: made from `seed`.
  std::string uuid;
  std::string friendly_name = "unat IGD";
  uint32_t ssdp_max_age_s = 1800;
  // NOTIFY ssdp:alive into every inside network; 0: never.
  uint32_t notify_interval_s = 900;
  // The first announcement is sent this many times, 500 ms apart (UDP may
  // lose one; UDA 1.1 1.2.2).
  uint32_t notify_repeats = 3;
  // BOOTID.UPNP.ORG: must grow with every start (unatd: wall-clock
  // seconds at start).
  uint32_t boot_id = 1;
  // Answers to multicast M-SEARCH wait a random 0..MX s (MX capped at 5,
  // UDA 1.1 1.3.3); at most this many wait at once (beyond: dropped,
  // counted ssdp_queue_full).
  uint32_t ssdp_max_pending = 512;
  // GENA eventing: subscriptions, and the gateway TCP ports events are sent
  // from (owned by the TCP endpoint: a SYN to one of them gets a RST).
  GenaConfig gena;
  uint16_t event_port_min = 49152;
  uint16_t event_port_max = 49183;
  // Evented values are compared (and changes sent) at most this often.
  uint32_t event_interval_ms = 1000;
  // Event connections open at once (the rest wait): keeps most of the TCP
  // endpoint's places for control requests even when callbacks stall.
  uint32_t max_event_connections = 16;
  TcpEndpointConfig tcp;
  HttpLimits http;
  RateLimit ssdp_rate;  // M-SEARCH per client
  uint64_t seed = 0;
};

struct UpnpStats {
  uint64_t http_requests = 0;
  uint64_t http_errors = 0;  // answered 4xx/5xx outside SOAP faults
  uint64_t descriptions = 0;
  uint64_t soap_requests = 0;
  uint64_t soap_faults = 0;
  uint64_t ssdp_searches = 0;
  uint64_t ssdp_answers = 0;   // datagrams
  uint64_t ssdp_notifies = 0;  // datagrams
  uint64_t ssdp_ignored = 0;   // NOTIFY from others, responses
  uint64_t ssdp_malformed = 0;
  uint64_t ssdp_rate_limited = 0;
  uint64_t ssdp_queue_full = 0;       // delayed answers dropped: queue full
  uint64_t ssdp_byebyes = 0;          // datagrams
  uint64_t timeouts = 0;              // 408 sent
  uint64_t event_connect_failed = 0;  // no event port free for a delivery
  std::map<int, uint64_t> faults;     // by UPnP error code
};

// A parsed SOAP action.
struct SoapCall {
  std::string service;  // "WANIPConnection", "WANCommonInterfaceConfig"
  int version = 1;
  std::string action;
  std::map<std::string, std::string> args;
};

class UpnpServer : public LocalHelper {
 public:
  // `registry` is shared with NAT-PMP/PCP and must outlive the server.
  UpnpServer(TranslationTable* table, MappingRegistry* registry,
             UpnpConfig config, TimeMs now);

  std::string_view name() const override { return "upnp"; }
  // TCP http_port, the event ports and UDP 1900 on every gateway address.
  absl::Status Register();
  // Takes it off every port Register() gave it (UPnP turned off).
  void Unregister() { table_->UnregisterLocalHelper(this); }
  void OnPacket(const LocalContext& ctx, const Ipv4View& ip,
                const L4View& l4) override;
  // Lease expiry is the registry's (PortMapServer::Tick advances it); this
  // runs the TCP timers, the delayed SSDP answers and the NOTIFY
  // announcements.
  void Tick(TimeMs now, PacketSink* sink);
  // Schedules the first NOTIFY (now).
  void Start(TimeMs now);
  // Shutdown: NOTIFY ssdp:byebye for every advertised type into every
  // tenant; pending answers are dropped.
  void Stop(PacketSink* sink);

  // One whole HTTP request from `client` in `ns` to `gateway`: the
  // response bytes.
  std::string HandleHttp(NamespaceId ns, uint32_t client, uint32_t gateway,
                         const HttpRequest& request, TimeMs now);
  // One SSDP datagram's payload: the answers' payloads (empty: none).
  // With `mx_s` (a multicast search) MX must be an integer >= 1 (else the
  // search is discarded as malformed) and *mx_s gets it, capped at 5.
  std::vector<std::string> HandleSsdp(NamespaceId ns, uint32_t client,
                                      uint32_t gateway,
                                      std::string_view payload, TimeMs now,
                                      uint32_t* mx_s = nullptr);
  size_t pending_ssdp_answers() const { return pending_.size(); }

  // Documents (for tests): the root description for IGD version 1 or 2 at
  // `gateway`, and the SCPDs.
  std::string Description(int version, uint32_t gateway) const;
  std::string WanIpScpd(int version) const;
  std::string WanCommonScpd() const;
  std::string L3fScpd() const;
  // Layer3Forwarding's DefaultConnectionService: the WANIPConnection.
  std::string DefaultConnectionService() const;

  const UpnpStats& stats() const { return stats_; }
  const TcpEndpoint& tcp() const { return tcp_; }
  const GenaPublisher& gena() const { return gena_; }
  const UpnpConfig& config() const { return config_; }
  const std::string& uuid() const { return uuid_[0]; }

 private:
  struct Fault {
    int code;
  };
  using Args = std::vector<std::pair<std::string, std::string>>;

  TcpAppAction OnHttpBytes(const TcpConnInfo& info, std::string& rx,
                           bool peer_fin, bool timed_out, TimeMs now);
  std::string HandleSoap(NamespaceId ns, uint32_t client,
                         const HttpRequest& request, TimeMs now);
  // Runs one action: its output arguments, or a fault code.
  std::variant<Args, int> RunAction(NamespaceId ns, uint32_t client,
                                    const SoapCall& call, TimeMs now);
  std::variant<Args, int> AddMapping(NamespaceId ns, uint32_t client,
                                     const SoapCall& call, bool any,
                                     TimeMs now);
  std::variant<Args, int> DeleteMapping(NamespaceId ns, uint32_t client,
                                        const SoapCall& call);
  // The mapping named by NewRemoteHost/NewExternalPort/NewProtocol in `ns`,
  // or a fault code (402, 716, 714).
  std::variant<Lease, int> FindEntry(NamespaceId ns, const SoapCall& call);
  std::variant<Args, int> DeleteRange(NamespaceId ns, uint32_t client,
                                      const SoapCall& call);
  std::variant<Args, int> ListMappings(NamespaceId ns, uint32_t client,
                                       const SoapCall& call, TimeMs now);
  // Leases of `ns`, ordered by (protocol, external port).
  std::vector<Lease> LeasesOf(NamespaceId ns);
  uint32_t PrimaryExternal() const;
  std::string Location(int version, uint32_t gateway) const;
  enum class SsdpKind { kResponse, kAlive, kByebye };
  std::string SsdpMessage(SsdpKind kind, int version, const std::string& type,
                          uint32_t gateway) const;
  // The device and service types without their version, each with the
  // highest version offered (that of the advertised IGD).
  std::vector<std::pair<std::string, int>> VersionedTypes() const;
  // Every type and uuid advertised (NOTIFY NT values, ssdp:all answers).
  std::vector<std::string> AdvertisedTypes() const;
  void SendNotifies(SsdpKind kind, PacketSink* sink);
  // The current evented values of the service behind event URL `path` in
  // `ns`.
  GenaValues EventValues(NamespaceId ns, const std::string& path, TimeMs now);
  // Feeds changed values to the publisher and starts due deliveries.
  void RunEvents(TimeMs now, PacketSink* sink);
  // An event connection ended: its delivery's outcome to the publisher.
  void OnEventConnClosed(const TcpConnInfo& info);
  void EmitSsdp(NamespaceId ns, uint32_t gateway, uint32_t dst,
                uint16_t dst_port, const std::string& payload, uint8_t ttl,
                PacketSink* sink);

  struct PendingAnswer {
    NamespaceId ns;
    uint32_t gateway;
    uint32_t client;
    uint16_t port;
    std::string payload;
  };

  TranslationTable* table_;
  MappingRegistry* registry_;
  UpnpConfig config_;
  TcpEndpoint tcp_;
  RateLimiter ssdp_limiter_;
  // Root device, WANDevice, WANConnectionDevice.
  std::array<std::string, 3> uuid_;
  TimeMs started_ = 0;
  TimeMs next_notify_ = 0;
  bool notify_scheduled_ = false;
  uint32_t notify_repeats_left_ = 0;
  std::multimap<TimeMs, PendingAnswer> pending_;  // by due time
  GenaPublisher gena_;
  TimeMs next_event_check_ = 0;
  // WANIPConnection:2 SystemUpdateID per tenant: bumped when the tenant's
  // mapping table changes (a digest of it is kept).
  struct UpdateId {
    uint64_t digest = 0;
    uint32_t id = 1;
  };
  std::map<NamespaceId, UpdateId> update_ids_;
  // Event deliveries in flight, by connection (ns, peer, peer port, local
  // port): the subscription and whether a 2xx came back.
  struct InFlight {
    std::string sid;
    bool ok = false;
  };
  std::map<std::tuple<NamespaceId, uint32_t, uint16_t, uint16_t>, InFlight>
      deliveries_;
  uint16_t next_event_port_ = 0;
  std::mt19937_64 rng_;
  UpnpStats stats_;
};

// Parses a SOAP request (SOAPAction header value and body). DOCTYPE and
// entity declarations are refused. nullopt: not a well-formed action.
std::optional<SoapCall> ParseSoap(std::string_view soap_action,
                                  std::string_view body);

}  // namespace unat::portmap
