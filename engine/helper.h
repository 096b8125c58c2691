// Interfaces between the engine and its helpers.
//
// PacketHelper: an ALG (FTP, TFTP, ...). Attached to a flow when the flow is
// created (matched by protocol and server port); sees every packet of that
// flow after its headers were translated; may register expectations through
// the context. Never touches the tables directly.
//
// LocalHelper: answers packets addressed to the NAT itself on an inside
// gateway address (NAT-PMP, PCP, UPnP/SSDP). Replies go out through the
// context's Emit().
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "types.h"

namespace unat {

class Ipv4View;
class L4View;
class PacketHelper;

using FlowId = uint32_t;
inline constexpr FlowId kInvalidFlow = 0xffffffff;

// Read-only facts about a flow, as a helper or a dump sees them.
struct FlowInfo {
  FlowId id = kInvalidFlow;
  NamespaceId ns = kInvalidNamespace;
  uint8_t proto = 0;
  uint8_t tcp_state = 0;  // TcpState, for TCP flows
  uint32_t inside_addr = 0;
  uint16_t inside_port = 0;  // ICMP: query identifier
  uint32_t external_addr = 0;
  uint16_t external_port = 0;
  uint32_t remote_addr = 0;
  uint16_t remote_port = 0;
  bool inbound_origin = false;  // created by an inbound packet
  TimeMs expires = 0;
  uint64_t packets[2] = {0, 0};  // indexed by arrival Side
  uint64_t bytes[2] = {0, 0};
  std::string_view helper;  // empty: no helper
  uint32_t expectations = 0;
  // A hold (HelperContext::HoldFlow, PCP PEER) keeps the flow until then
  // even when idle; 0: none.
  TimeMs held_until = 0;
};

// A related flow a helper expects (FTP data, TFTP reply, DCC, ...). Matched
// on inbound packets before filtering drops them; consumed by the first
// match; dies with its master flow or at `expires`.
struct ExpectationSpec {
  uint8_t proto = kProtoTcp;
  // The remote that will connect. remote_addr is required; remote_port 0
  // means "any port of that address" (e.g. TFTP's new server port).
  uint32_t remote_addr = 0;
  uint16_t remote_port = 0;
  // The inside endpoint the related flow goes to. The engine maps it (or
  // reuses its mapping) and the external endpoint is returned by Expect().
  uint32_t inside_addr = 0;
  uint16_t inside_port = 0;
  uint32_t timeout_s = 300;
  // Only for protocols that do not say who will connect (IRC DCC: the peer
  // is another user): remote_addr 0 then matches any remote, once. The
  // timeout is capped at kMaxAnyRemoteTimeoutS.
  bool allow_any_remote = false;
  static constexpr uint32_t kMaxAnyRemoteTimeoutS = 120;
  // The helper the related flow gets when it is made (null: none), e.g.
  // H.245 under H.323 or RTCP beside RTP. It must be registered with the
  // engine (RegisterPacketHelper) on some port or none.
  PacketHelper* helper = nullptr;
};

// What the engine allows a helper's expectations, per helper (netfilter's
// nf_conntrack_expect_policy).
struct ExpectationPolicy {
  // Expectations one master flow may have waiting; past it the oldest is
  // evicted. 0: no limit of the helper's (the engine's total still holds).
  uint32_t max_per_master = 4;
  // The longest lifetime an expectation may ask for.
  uint32_t max_timeout_s = 3600;
  // Whether an expectation may admit any remote (allow_any_remote); its
  // lifetime is then capped at ExpectationSpec::kMaxAnyRemoteTimeoutS.
  bool allow_any_remote = true;
  // Related flows (HelperContext::ReserveRelated) one master flow may hold,
  // reserved or open. 0: none (a helper opts in).
  uint32_t max_related_per_master = 0;
  // The longest a helper may hold its flow open past its idle timeout
  // (HelperContext::HoldFlow). 0: no holds (a helper opts in).
  uint32_t max_hold_s = 0;
};

struct ExternalEndpoint {
  uint32_t addr = 0;
  uint16_t port = 0;
};

// What a PacketHelper may ask of the engine while it handles a packet.
class HelperContext {
 public:
  virtual ~HelperContext() = default;
  virtual TimeMs now() const = 0;
  // Registers an expectation tied to the current flow.
  virtual absl::StatusOr<ExternalEndpoint> Expect(
      const ExpectationSpec& spec) = 0;
  // Two expectations (RTP and RTCP, RFC 3550): the spec's inside port on an
  // even external port, and the next inside port on the next external port
  // (with the next remote port, when one is named). Returns the even one.
  // Fails when the inside ports are mapped otherwise already or the pool
  // has no two adjacent free ports; the helper may fall back to two
  // Expect()s and name the second port (SDP's a=rtcp:, RFC 3605).
  virtual absl::StatusOr<ExternalEndpoint> ExpectPair(
      const ExpectationSpec& spec) = 0;
  // Withdraws the current flow's waiting expectations on external port
  // `external_port` of `proto` (SIP: a call's media once the dialog ends or
  // a re-INVITE moves it); flows they already made are left alone. Returns
  // how many went.
  virtual uint32_t Unexpect(uint8_t proto, uint16_t external_port) = 0;
  // Keeps the current flow, and so its mapping and the path in from its
  // remote, open for `seconds` from now however idle it is (SIP: a
  // registration's lifetime, so the registrar's INVITE reaches the phone);
  // capped at ExpectationPolicy::max_hold_s. 0 releases the hold. A TCP
  // flow still ends with its connection.
  virtual absl::Status HoldFlow(uint32_t seconds) = 0;
  // The current packet's L4 payload (after the TCP/UDP header). Valid until
  // the next ReplacePayload().
  virtual std::span<uint8_t> Payload() = 0;
  // Replaces payload bytes [offset, offset + length) with `bytes`. The
  // engine moves the rest of the packet, fixes the IP total length, the UDP
  // length and the L4 checksum, and for TCP records the sequence delta so
  // that every later segment of the flow, both ways, has SEQ, ACK and SACK
  // blocks shifted (retransmissions of earlier data keep the old offset).
  // Fails (and changes nothing) when the L4 checksum was already wrong, the
  // range is outside the payload, or the packet would outgrow its buffer or
  // 65535 bytes. After a replace, the ip/l4 views the helper got have stale
  // sizes: read Payload() again.
  virtual absl::Status ReplacePayload(size_t offset, size_t length,
                                      std::string_view bytes) = 0;
  // The most bytes the current packet's payload may grow to (its buffer
  // and 65535 bytes bound it). A TCP segment made longer than its sender's
  // segments (and than 536 bytes) by more than 64 bytes goes out cut into
  // segments of that size, the last one carrying its FIN and PSH, so a
  // helper may grow one beyond the path's MTU (SIP: a message whose parts
  // it held).
  virtual size_t PayloadCapacity() const = 0;
  // Scratch state the helper keeps with the flow (e.g. an incomplete line);
  // freed with the flow. Keep it bounded.
  virtual std::string& FlowState() = 0;

  // The next connection (new flow of `proto`) the current flow's inside
  // host opens to remote_addr:remote_port within `timeout_s` gets `helper`
  // (H.245 to the address the outside named in H.225.0): the outbound
  // counterpart of an expectation's `helper`, for a destination on no
  // helper's port. Capped at ExpectationPolicy::max_timeout_s; one waits a
  // destination (a second replaces it). `helper` must be registered with
  // the engine.
  virtual absl::Status ExpectOutbound(uint8_t proto, uint32_t remote_addr,
                                      uint16_t remote_port, uint32_t timeout_s,
                                      PacketHelper* helper) = 0;

  // Related flows the helper opens itself rather than expects (PPTP: a
  // call's GRE flow, whose two keys the control connection names): between
  // the current flow's inside host and its remote, held by the current flow
  // (at most ExpectationPolicy::max_related_per_master), all closed when it
  // ends.
  //
  // Reserves the external key the outside sees for the inside host's key
  // `inside_port` of protocol `proto` (PPTP: the Call ID it rewrites in a
  // call request, before the reply names the remote's): the same one while
  // it is held.
  virtual absl::StatusOr<ExternalEndpoint> ReserveRelated(
      uint8_t proto, uint16_t inside_port) = 0;
  // Opens (reserving first if need be) the flow between the inside host's
  // key and the remote's `remote_port`, or returns the open one; one with
  // another remote key is replaced. It is not ended by idle timeouts: it
  // lives until CloseRelated or the end of the current flow. Fails when
  // either side's key is another flow's.
  virtual absl::StatusOr<FlowId> OpenRelated(uint8_t proto,
                                             uint16_t inside_port,
                                             uint16_t remote_port) = 0;
  // Closes the flow, if open, and frees the reservation. False: none held.
  virtual bool CloseRelated(uint8_t proto, uint16_t inside_port) = 0;
};

class PacketHelper {
 public:
  virtual ~PacketHelper() = default;
  virtual std::string_view name() const = 0;
  // `from` is the side the packet arrived on. The packet's headers are
  // already translated. Return false to drop it (counted as kHelperDrop).
  virtual bool OnPacket(HelperContext& ctx, const FlowInfo& flow, Side from,
                        Ipv4View& ip, L4View& l4) = 0;
  // What this helper's expectations may do (see ExpectationPolicy).
  virtual ExpectationPolicy expectation_policy() const { return {}; }
};

// Sends packets the engine or a local helper makes (ICMP errors, replies).
class PacketSink {
 public:
  virtual ~PacketSink() = default;
  virtual void Emit(Side side, NamespaceId ns,
                    std::span<const uint8_t> packet) = 0;
};

struct LocalContext {
  TimeMs now;
  NamespaceId ns;
  uint32_t gateway;  // the namespace's gateway address (the destination)
  PacketSink* sink;  // may be null: then nothing can be answered
  // False when the source is not one of the tenant's addresses (neither
  // its link prefix nor a routed prefix): a helper answers it with its
  // protocol's refusal (NAT-PMP 2, PCP NOT_AUTHORIZED, UPnP 606) and
  // grants nothing.
  bool source_inside = true;
};

class LocalHelper {
 public:
  virtual ~LocalHelper() = default;
  virtual std::string_view name() const = 0;
  // A packet for (protocol, port) on the gateway address of an inside
  // namespace. The helper owns the answer, if any.
  virtual void OnPacket(const LocalContext& ctx, const Ipv4View& ip,
                        const L4View& l4) = 0;
};

}  // namespace unat
