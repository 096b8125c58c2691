// The UDP 5351 dispatcher on every inside gateway address: NAT-PMP (RFC
// 6886, version 0) and PCP (RFC 6887, version 2) on one MappingRegistry.
//
// Register() registers it on its TranslationTable (portmap/table.h) for UDP
// 5351. Call Tick() periodically (e.g. with Nat::Advance()): it
// expires leases, notices a changed external address, and sends the
// scheduled announcements to 224.0.0.1:5350 in every inside namespace.
//
// Every input is hostile: requests are rate limited per client, bounded,
// answered with the protocol's own result code, or dropped with a counted
// reason (PortMapDrop).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string_view>
#include <tuple>
#include <vector>

#include "engine/helper.h"
#include "portmap/rate_limiter.h"
#include "portmap/registry.h"
#include "portmap/table.h"

namespace unat::portmap {

inline constexpr uint16_t kServerPort = 5351;
inline constexpr uint16_t kClientPort = 5350;
inline constexpr uint32_t kAllHostsGroup = 0xe0000001;  // 224.0.0.1

// NAT-PMP result codes (RFC 6886 3.5).
namespace natpmp {
inline constexpr uint8_t kVersion = 0;
inline constexpr uint16_t kSuccess = 0;
inline constexpr uint16_t kUnsupportedVersion = 1;
inline constexpr uint16_t kNotAuthorized = 2;
inline constexpr uint16_t kNetworkFailure = 3;
inline constexpr uint16_t kOutOfResources = 4;
inline constexpr uint16_t kUnsupportedOpcode = 5;
}  // namespace natpmp

// PCP constants (RFC 6887 7, 19).
namespace pcp {
inline constexpr uint8_t kVersion = 2;
inline constexpr size_t kHeaderSize = 24;
inline constexpr size_t kMaxSize = 1100;
inline constexpr size_t kMapSize = 36;
inline constexpr size_t kPeerSize = 56;
inline constexpr uint8_t kOpAnnounce = 0;
inline constexpr uint8_t kOpMap = 1;
inline constexpr uint8_t kOpPeer = 2;
inline constexpr uint8_t kOptThirdParty = 1;
inline constexpr uint8_t kOptPreferFailure = 2;
inline constexpr uint8_t kOptFilter = 3;
enum Result : uint8_t {
  kSuccess = 0,
  kUnsuppVersion = 1,
  kNotAuthorized = 2,
  kMalformedRequest = 3,
  kUnsuppOpcode = 4,
  kUnsuppOption = 5,
  kMalformedOption = 6,
  kNetworkFailure = 7,
  kNoResources = 8,
  kUnsuppProtocol = 9,
  kUserExQuota = 10,
  kCannotProvideExternal = 11,
  kAddressMismatch = 12,
  kExcessiveRemotePeers = 13,
  kNumResults
};
const char* ResultName(uint8_t result);
// Section 7.4 / 19.4: short lifetime errors may clear up soon (resources,
// quota, network); long lifetime errors will not (the request is wrong).
bool IsShortLifetimeError(uint8_t result);
}  // namespace pcp

// Requests the server drops without an answer, each counted.
enum class PortMapDrop : uint8_t {
  kTruncated = 0,  // too short to tell what it is (RFC 6887 8.3, 6886 3)
  kResponse,       // R bit / opcode >= 128: a response, not a request
  kRateLimited,    // the client's bucket is empty
  kNoSink,         // nowhere to send the answer
  kNotUdp,         // not a UDP datagram (cannot happen when registered)
  kCount
};
const char* PortMapDropName(PortMapDrop reason);
inline constexpr int kNumPortMapDrops = static_cast<int>(PortMapDrop::kCount);

struct PortMapConfig {
  bool natpmp = true;
  bool pcp = true;
  RateLimit rate;
  // PCP error lifetimes (RFC 6887 7.4).
  uint32_t short_error_lifetime_s = 30;
  uint32_t long_error_lifetime_s = 1800;
  // RFC 6886 3.2.1: 10 announcements, the first at once, then the interval
  // doubles from 250 ms.
  uint32_t announce_count = 10;
  uint32_t announce_first_interval_ms = 250;
};

struct PortMapStats {
  uint64_t natpmp_requests = 0;
  uint64_t pcp_requests = 0;
  uint64_t answers = 0;
  uint64_t announcements = 0;  // datagrams sent to 224.0.0.1
  uint64_t epoch_resets = 0;
  std::array<uint64_t, kNumPortMapDrops> drops{};
  std::array<uint64_t, 6> natpmp_results{};  // by result code
  std::array<uint64_t, pcp::kNumResults> pcp_results{};
};

// A PCP PEER lease: the nonce that created it and how long it is pinned.
struct PeerLease {
  NamespaceId ns = kInvalidNamespace;
  uint32_t client = 0;
  uint8_t proto = 0;
  uint32_t inside_addr = 0;
  uint16_t inside_port = 0;
  uint32_t remote_addr = 0;
  uint16_t remote_port = 0;
  Nonce nonce{};
  TimeMs expires = 0;
};

class PortMapServer : public LocalHelper {
 public:
  // `registry` is shared (UPnP uses it too) and must outlive the server.
  // The epoch starts at `now` (state lost); see SetEpoch() to keep one.
  PortMapServer(TranslationTable* table, MappingRegistry* registry,
                PortMapConfig config, TimeMs now);

  std::string_view name() const override { return "natpmp-pcp"; }
  // Registers with the engine for UDP 5351 on every gateway address.
  absl::Status Register();
  // Takes it off its port again (both protocols turned off).
  void Unregister() { table_->UnregisterLocalHelper(this); }
  // A reload: which protocols it answers (the other gets its "unsupported"
  // answer), and its rate limits.
  void SetProtocols(bool natpmp, bool pcp) {
    config_.natpmp = natpmp;
    config_.pcp = pcp;
  }
  void SetRate(const RateLimit& rate) {
    config_.rate = rate;
    limiter_.set_limit(rate);
  }
  // A tenant removed: its PEER leases go (their flows went with it).
  void ForgetNamespace(NamespaceId ns) {
    std::erase_if(peers_,
                  [ns](const auto& p) { return std::get<0>(p.first) == ns; });
  }
  void OnPacket(const LocalContext& ctx, const Ipv4View& ip,
                const L4View& l4) override;

  // The answer to one request payload from client:port in `ns` (nullopt:
  // dropped, counted). OnPacket() is this plus framing.
  std::optional<std::vector<uint8_t>> Handle(NamespaceId ns, uint32_t client,
                                             std::span<const uint8_t> payload,
                                             TimeMs now);

  // Periodic work: lease and PEER expiry, external address change
  // detection, due announcements (through `sink`, may be null).
  void Tick(TimeMs now, PacketSink* sink);

  // Schedules the start-up announcements: NAT-PMP always (RFC 6886 3.2.1);
  // PCP's unsolicited ANNOUNCE only when state was lost (RFC 6887 14.1.3).
  void Start(TimeMs now, bool state_restored);

  // Epoch (seconds since state was lost or the external address changed).
  uint32_t EpochSeconds(TimeMs now) const;
  // Restores an epoch kept across a restart: it reads `seconds` at `now`.
  void SetEpoch(uint32_t seconds, TimeMs now);
  // State lost or external address changed: epoch 0, announce again.
  void ResetEpoch(TimeMs now);

  const PortMapStats& stats() const { return stats_; }
  const std::map<
      std::tuple<NamespaceId, uint8_t, uint32_t, uint16_t, uint32_t, uint16_t>,
      PeerLease>&
  peers() const {
    return peers_;
  }
  MappingRegistry& registry() { return *registry_; }
  const PortMapConfig& config() const { return config_; }

 private:
  using PeerKey =
      std::tuple<NamespaceId, uint8_t, uint32_t, uint16_t, uint32_t, uint16_t>;

  std::vector<uint8_t> HandleNatPmp(NamespaceId ns, uint32_t client,
                                    std::span<const uint8_t> p, TimeMs now);
  std::vector<uint8_t> NatPmpUnsupportedVersion(uint8_t opcode, TimeMs now);
  std::vector<uint8_t> HandlePcp(NamespaceId ns, uint32_t client,
                                 std::span<const uint8_t> p, TimeMs now);
  std::vector<uint8_t> PcpError(std::span<const uint8_t> p, uint8_t result,
                                TimeMs now);
  void CountPcp(uint8_t result) {
    if (result < stats_.pcp_results.size()) stats_.pcp_results[result]++;
  }
  uint32_t PrimaryExternal() const;
  void SendAnnouncements(TimeMs now, PacketSink* sink);

  TranslationTable* table_;
  MappingRegistry* registry_;
  PortMapConfig config_;
  RateLimiter limiter_;
  // Epoch: epoch_base_s_ seconds at epoch_ref_ms_.
  uint32_t epoch_base_s_ = 0;
  TimeMs epoch_ref_ms_ = 0;
  uint32_t last_external_ = 0;
  // Announcements still to send, and when the next is due.
  uint32_t announce_left_ = 0;
  uint32_t announce_sent_ = 0;
  bool announce_pcp_ = false;
  TimeMs announce_next_ = 0;
  std::map<PeerKey, PeerLease> peers_;
  PortMapStats stats_;
};

}  // namespace unat::portmap
