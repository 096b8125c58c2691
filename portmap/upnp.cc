#include "portmap/upnp.h"

#include <tinyxml2.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/wire.h"
#include "portmap/datagram.h"

namespace unat::portmap {

namespace upnp_error {
const char* Name(int code) {
  switch (code) {
    case kInvalidAction:
      return "Invalid Action";
    case kInvalidArgs:
      return "Invalid Args";
    case kActionFailed:
      return "Action Failed";
    case kNotAuthorized:
      return "Action not authorized";
    case kArrayIndexInvalid:
      return "SpecifiedArrayIndexInvalid";
    case kNoSuchEntry:
      return "NoSuchEntryInArray";
    case kWildCardNotPermittedInSrcIp:
      return "WildCardNotPermittedInSrcIP";
    case kWildCardNotPermittedInExtPort:
      return "WildCardNotPermittedInExtPort";
    case kConflictInMappingEntry:
      return "ConflictInMappingEntry";
    case kSamePortValuesRequired:
      return "SamePortValuesRequired";
    case kOnlyPermanentLeasesSupported:
      return "OnlyPermanentLeasesSupported";
    case kRemoteHostOnlySupportsWildcard:
      return "RemoteHostOnlySupportsWildcard";
    case kExternalPortOnlySupportsWildcard:
      return "ExternalPortOnlySupportsWildcard";
    case kNoPortMapsAvailable:
      return "NoPortMapsAvailable";
    case kConflictWithOtherMechanisms:
      return "ConflictWithOtherMechanisms";
    case kPortMappingNotFound:
      return "PortMappingNotFound";
    case kWildCardNotPermittedInIntPort:
      return "WildCardNotPermittedInIntPort";
    case kInvalidConnServiceSelection:
      return "InvalidConnServiceSelection";
    case kInconsistentParameters:
      return "InconsistentParameters";
  }
  return "Error";
}
}  // namespace upnp_error

namespace {

constexpr char kSoapEnvNs[] = "http://schemas.xmlsoap.org/soap/envelope/";
constexpr char kSoapEncoding[] = "http://schemas.xmlsoap.org/soap/encoding/";
constexpr char kDevicePrefix[] = "urn:schemas-upnp-org:device:";
constexpr char kServicePrefix[] = "urn:schemas-upnp-org:service:";
constexpr char kWanIp[] = "WANIPConnection";
constexpr char kWanCommon[] = "WANCommonInterfaceConfig";
constexpr char kL3f[] = "Layer3Forwarding";
constexpr uint32_t kIgd2MaxLease = 604800;  // WANIPConnection:2 2.3.16
// Event URLs: WANIPConnection:2 (with SystemUpdateID), :1, and
// WANCommonInterfaceConfig:1.
constexpr char kEventIpConn[] = "/evt/IPConn";
constexpr char kEventIpConn1[] = "/evt/IPConn1";
constexpr char kEventCommon[] = "/evt/CmnIfCfg";
constexpr char kEventL3f[] = "/evt/L3F";

std::string ProtoName(uint8_t proto) {
  return proto == kProtoTcp ? "TCP" : "UDP";
}

std::optional<uint8_t> ParseProto(const std::string& s) {
  if (s == "TCP") return kProtoTcp;
  if (s == "UDP") return kProtoUdp;
  return std::nullopt;
}

// A decimal in [lo, hi], nothing else.
std::optional<uint32_t> ParseNum(const std::string& s, uint32_t lo,
                                 uint32_t hi) {
  if (s.empty() || s.size() > 10) return std::nullopt;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  uint64_t v = 0;
  if (!absl::SimpleAtoi(s, &v) || v < lo || v > hi) return std::nullopt;
  return static_cast<uint32_t>(v);
}

std::optional<bool> ParseBool(const std::string& s) {
  if (s == "1" || s == "true" || s == "yes") return true;
  if (s == "0" || s == "false" || s == "no") return false;
  return std::nullopt;
}

// NewRemoteHost: "" is the wildcard (*out = nullopt); otherwise a unicast
// IPv4 address. false: not acceptable (402).
bool ParseRemoteHost(const std::string& s, std::optional<uint32_t>* out) {
  out->reset();
  if (s.empty()) return true;
  auto a = ParseIpv4(s);
  if (!a || *a == 0 || *a == 0xffffffffu || (*a >> 28) == 0xe) return false;
  *out = *a;
  return true;
}

// A UPnP lease's remote host is its single /32 any-port filter.
std::optional<uint32_t> RemoteHostOf(const Lease& l) {
  if (l.filters.size() == 1 && l.filters[0].prefix_len == 32 &&
      l.filters[0].port == 0) {
    return l.filters[0].addr;
  }
  return std::nullopt;
}

std::string RemoteHostText(const Lease& l) {
  auto r = RemoteHostOf(l);
  return r ? Ipv4ToString(*r) : std::string();
}

std::string Uuid(uint64_t a, uint64_t b) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%08x-%04x-%04x-%04x-%012llx",
                static_cast<uint32_t>(a >> 32),
                static_cast<uint32_t>((a >> 16) & 0xffff),
                static_cast<uint32_t>((a & 0x0fff) | 0x4000),
                static_cast<uint32_t>(((b >> 48) & 0x3fff) | 0x8000),
                static_cast<unsigned long long>(b & 0xffffffffffffull));
  return buf;
}

void Leaf(tinyxml2::XMLPrinter& p, const char* name, const std::string& text) {
  p.OpenElement(name, true);
  p.PushText(text.c_str());
  p.CloseElement(true);
}

std::string SoapEnvelope(
    const std::function<void(tinyxml2::XMLPrinter&)>& body) {
  tinyxml2::XMLPrinter p(nullptr, true);
  p.PushDeclaration("xml version=\"1.0\"");
  p.OpenElement("s:Envelope", true);
  p.PushAttribute("xmlns:s", kSoapEnvNs);
  p.PushAttribute("s:encodingStyle", kSoapEncoding);
  p.OpenElement("s:Body", true);
  body(p);
  p.CloseElement(true);
  p.CloseElement(true);
  return std::string(p.CStr(), p.CStrSize() > 0 ? p.CStrSize() - 1 : 0);
}

std::string FaultBody(int code) {
  return SoapEnvelope([&](tinyxml2::XMLPrinter& p) {
    p.OpenElement("s:Fault", true);
    Leaf(p, "faultcode", "s:Client");
    Leaf(p, "faultstring", "UPnPError");
    p.OpenElement("detail", true);
    p.OpenElement("UPnPError", true);
    p.PushAttribute("xmlns", "urn:schemas-upnp-org:control-1-0");
    Leaf(p, "errorCode", std::to_string(code));
    Leaf(p, "errorDescription", upnp_error::Name(code));
    p.CloseElement(true);
    p.CloseElement(true);
    p.CloseElement(true);
  });
}

// SCPD tables.
struct ArgDef {
  const char* name;
  bool out;
  const char* var;
};
struct ActionDef {
  const char* name;
  int min_version;
  std::vector<ArgDef> args;
};
struct VarDef {
  const char* name;
  const char* type;
  std::vector<const char*> allowed;
  int min_version;
};

// The state variables sent in GENA events (the IGD service templates'
// evented ones).
bool Evented(std::string_view name) {
  return name == "PossibleConnectionTypes" || name == "ConnectionStatus" ||
         name == "ExternalIPAddress" || name == "PortMappingNumberOfEntries" ||
         name == "SystemUpdateID" || name == "PhysicalLinkStatus" ||
         name == "DefaultConnectionService";
}

const std::vector<ActionDef>& WanIpActions() {
  static const std::vector<ActionDef> kActions = {
      {"SetConnectionType",
       1,
       {{"NewConnectionType", false, "ConnectionType"}}},
      {"GetConnectionTypeInfo",
       1,
       {{"NewConnectionType", true, "ConnectionType"},
        {"NewPossibleConnectionTypes", true, "PossibleConnectionTypes"}}},
      {"RequestConnection", 1, {}},
      {"ForceTermination", 1, {}},
      {"GetStatusInfo",
       1,
       {{"NewConnectionStatus", true, "ConnectionStatus"},
        {"NewLastConnectionError", true, "LastConnectionError"},
        {"NewUptime", true, "Uptime"}}},
      {"GetNATRSIPStatus",
       1,
       {{"NewRSIPAvailable", true, "RSIPAvailable"},
        {"NewNATEnabled", true, "NATEnabled"}}},
      {"GetGenericPortMappingEntry",
       1,
       {{"NewPortMappingIndex", false, "PortMappingNumberOfEntries"},
        {"NewRemoteHost", true, "RemoteHost"},
        {"NewExternalPort", true, "ExternalPort"},
        {"NewProtocol", true, "PortMappingProtocol"},
        {"NewInternalPort", true, "InternalPort"},
        {"NewInternalClient", true, "InternalClient"},
        {"NewEnabled", true, "PortMappingEnabled"},
        {"NewPortMappingDescription", true, "PortMappingDescription"},
        {"NewLeaseDuration", true, "PortMappingLeaseDuration"}}},
      {"GetSpecificPortMappingEntry",
       1,
       {{"NewRemoteHost", false, "RemoteHost"},
        {"NewExternalPort", false, "ExternalPort"},
        {"NewProtocol", false, "PortMappingProtocol"},
        {"NewInternalPort", true, "InternalPort"},
        {"NewInternalClient", true, "InternalClient"},
        {"NewEnabled", true, "PortMappingEnabled"},
        {"NewPortMappingDescription", true, "PortMappingDescription"},
        {"NewLeaseDuration", true, "PortMappingLeaseDuration"}}},
      {"AddPortMapping",
       1,
       {{"NewRemoteHost", false, "RemoteHost"},
        {"NewExternalPort", false, "ExternalPort"},
        {"NewProtocol", false, "PortMappingProtocol"},
        {"NewInternalPort", false, "InternalPort"},
        {"NewInternalClient", false, "InternalClient"},
        {"NewEnabled", false, "PortMappingEnabled"},
        {"NewPortMappingDescription", false, "PortMappingDescription"},
        {"NewLeaseDuration", false, "PortMappingLeaseDuration"}}},
      {"AddAnyPortMapping",
       2,
       {{"NewRemoteHost", false, "RemoteHost"},
        {"NewExternalPort", false, "ExternalPort"},
        {"NewProtocol", false, "PortMappingProtocol"},
        {"NewInternalPort", false, "InternalPort"},
        {"NewInternalClient", false, "InternalClient"},
        {"NewEnabled", false, "PortMappingEnabled"},
        {"NewPortMappingDescription", false, "PortMappingDescription"},
        {"NewLeaseDuration", false, "PortMappingLeaseDuration"},
        {"NewReservedPort", true, "ExternalPort"}}},
      {"DeletePortMapping",
       1,
       {{"NewRemoteHost", false, "RemoteHost"},
        {"NewExternalPort", false, "ExternalPort"},
        {"NewProtocol", false, "PortMappingProtocol"}}},
      {"DeletePortMappingRange",
       2,
       {{"NewStartPort", false, "ExternalPort"},
        {"NewEndPort", false, "ExternalPort"},
        {"NewProtocol", false, "PortMappingProtocol"},
        {"NewManage", false, "A_ARG_TYPE_Manage"}}},
      {"GetExternalIPAddress",
       1,
       {{"NewExternalIPAddress", true, "ExternalIPAddress"}}},
      {"GetListOfPortMappings",
       2,
       {{"NewStartPort", false, "ExternalPort"},
        {"NewEndPort", false, "ExternalPort"},
        {"NewProtocol", false, "PortMappingProtocol"},
        {"NewManage", false, "A_ARG_TYPE_Manage"},
        {"NewNumberOfPorts", false, "PortMappingNumberOfEntries"},
        {"NewPortListing", true, "A_ARG_TYPE_PortListing"}}},
  };
  return kActions;
}

const std::vector<VarDef>& WanIpVars() {
  static const std::vector<VarDef> kVars = {
      {"ConnectionType", "string", {}, 1},
      {"PossibleConnectionTypes",
       "string",
       {"Unconfigured", "IP_Routed", "IP_Bridged"},
       1},
      {"ConnectionStatus",
       "string",
       {"Unconfigured", "Connecting", "Connected", "PendingDisconnect",
        "Disconnecting", "Disconnected"},
       1},
      {"Uptime", "ui4", {}, 1},
      {"LastConnectionError", "string", {"ERROR_NONE"}, 1},
      {"RSIPAvailable", "boolean", {}, 1},
      {"NATEnabled", "boolean", {}, 1},
      {"ExternalIPAddress", "string", {}, 1},
      {"PortMappingNumberOfEntries", "ui2", {}, 1},
      {"PortMappingEnabled", "boolean", {}, 1},
      {"PortMappingLeaseDuration", "ui4", {}, 1},
      {"RemoteHost", "string", {}, 1},
      {"ExternalPort", "ui2", {}, 1},
      {"InternalPort", "ui2", {}, 1},
      {"PortMappingProtocol", "string", {"TCP", "UDP"}, 1},
      {"InternalClient", "string", {}, 1},
      {"PortMappingDescription", "string", {}, 1},
      {"SystemUpdateID", "ui4", {}, 2},
      {"A_ARG_TYPE_Manage", "boolean", {}, 2},
      {"A_ARG_TYPE_PortListing", "string", {}, 2},
  };
  return kVars;
}

const std::vector<ActionDef>& WanCommonActions() {
  static const std::vector<ActionDef> kActions = {
      {"GetCommonLinkProperties",
       1,
       {{"NewWANAccessType", true, "WANAccessType"},
        {"NewLayer1UpstreamMaxBitRate", true, "Layer1UpstreamMaxBitRate"},
        {"NewLayer1DownstreamMaxBitRate", true, "Layer1DownstreamMaxBitRate"},
        {"NewPhysicalLinkStatus", true, "PhysicalLinkStatus"}}},
      {"GetTotalBytesSent", 1, {{"NewTotalBytesSent", true, "TotalBytesSent"}}},
      {"GetTotalBytesReceived",
       1,
       {{"NewTotalBytesReceived", true, "TotalBytesReceived"}}},
      {"GetTotalPacketsSent",
       1,
       {{"NewTotalPacketsSent", true, "TotalPacketsSent"}}},
      {"GetTotalPacketsReceived",
       1,
       {{"NewTotalPacketsReceived", true, "TotalPacketsReceived"}}},
  };
  return kActions;
}

// Layer3Forwarding:1, on the root device (IGD:1 requires it; some control
// points find the WAN connection service through it).
const std::vector<ActionDef>& L3fActions() {
  static const std::vector<ActionDef> kActions = {
      {"SetDefaultConnectionService",
       1,
       {{"NewDefaultConnectionService", false, "DefaultConnectionService"}}},
      {"GetDefaultConnectionService",
       1,
       {{"NewDefaultConnectionService", true, "DefaultConnectionService"}}},
  };
  return kActions;
}

const std::vector<VarDef>& L3fVars() {
  static const std::vector<VarDef> kVars = {
      {"DefaultConnectionService", "string", {}, 1},
  };
  return kVars;
}

const std::vector<VarDef>& WanCommonVars() {
  static const std::vector<VarDef> kVars = {
      {"WANAccessType", "string", {"DSL", "POTS", "Cable", "Ethernet"}, 1},
      {"Layer1UpstreamMaxBitRate", "ui4", {}, 1},
      {"Layer1DownstreamMaxBitRate", "ui4", {}, 1},
      {"PhysicalLinkStatus", "string", {"Up", "Down"}, 1},
      {"TotalBytesSent", "ui4", {}, 1},
      {"TotalBytesReceived", "ui4", {}, 1},
      {"TotalPacketsSent", "ui4", {}, 1},
      {"TotalPacketsReceived", "ui4", {}, 1},
  };
  return kVars;
}

std::string Scpd(const std::vector<ActionDef>& actions,
                 const std::vector<VarDef>& vars, int version) {
  tinyxml2::XMLPrinter p(nullptr, true);
  p.PushDeclaration("xml version=\"1.0\"");
  p.OpenElement("scpd", true);
  p.PushAttribute("xmlns", "urn:schemas-upnp-org:service-1-0");
  p.OpenElement("specVersion", true);
  Leaf(p, "major", "1");
  Leaf(p, "minor", version >= 2 ? "1" : "0");
  p.CloseElement(true);
  p.OpenElement("actionList", true);
  for (const ActionDef& a : actions) {
    if (a.min_version > version) continue;
    p.OpenElement("action", true);
    Leaf(p, "name", a.name);
    if (!a.args.empty()) {
      p.OpenElement("argumentList", true);
      for (const ArgDef& g : a.args) {
        p.OpenElement("argument", true);
        Leaf(p, "name", g.name);
        Leaf(p, "direction", g.out ? "out" : "in");
        Leaf(p, "relatedStateVariable", g.var);
        p.CloseElement(true);
      }
      p.CloseElement(true);
    }
    p.CloseElement(true);
  }
  p.CloseElement(true);
  p.OpenElement("serviceStateTable", true);
  for (const VarDef& v : vars) {
    if (v.min_version > version) continue;
    p.OpenElement("stateVariable", true);
    p.PushAttribute("sendEvents", Evented(v.name) ? "yes" : "no");
    Leaf(p, "name", v.name);
    Leaf(p, "dataType", v.type);
    if (!v.allowed.empty()) {
      p.OpenElement("allowedValueList", true);
      for (const char* a : v.allowed) Leaf(p, "allowedValue", a);
      p.CloseElement(true);
    }
    p.CloseElement(true);
  }
  p.CloseElement(true);
  p.CloseElement(true);
  return std::string(p.CStr(), p.CStrSize() > 0 ? p.CStrSize() - 1 : 0);
}

// "urn:schemas-upnp-org:device:InternetGatewayDevice:2" -> (prefix+type, 2).
std::optional<std::pair<std::string, int>> SplitVersion(std::string_view s) {
  const size_t colon = s.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  int v = 0;
  if (!absl::SimpleAtoi(std::string(s.substr(colon + 1)), &v) || v < 1 ||
      v > 99) {
    return std::nullopt;
  }
  return std::make_pair(std::string(s.substr(0, colon)), v);
}

}  // namespace

std::optional<SoapCall> ParseSoap(std::string_view soap_action,
                                  std::string_view body) {
  // SOAPAction: "urn:schemas-upnp-org:service:WANIPConnection:2#Action"
  std::string_view sa = soap_action;
  if (sa.size() >= 2 && sa.front() == '"' && sa.back() == '"') {
    sa = sa.substr(1, sa.size() - 2);
  }
  const size_t hash = sa.find('#');
  if (hash == std::string_view::npos) return std::nullopt;
  std::string_view type = sa.substr(0, hash);
  if (!type.starts_with(kServicePrefix)) return std::nullopt;
  auto tv = SplitVersion(type.substr(sizeof(kServicePrefix) - 1));
  if (!tv) return std::nullopt;
  SoapCall call;
  call.service = tv->first;
  call.version = tv->second;
  call.action = std::string(sa.substr(hash + 1));
  // No DTDs: no entity expansion of any kind beyond XML's own five.
  const std::string lower = absl::AsciiStrToLower(std::string(body));
  if (lower.find("<!doctype") != std::string::npos ||
      lower.find("<!entity") != std::string::npos) {
    return std::nullopt;
  }
  tinyxml2::XMLDocument doc(true, tinyxml2::COLLAPSE_WHITESPACE);
  if (doc.Parse(body.data(), body.size()) != tinyxml2::XML_SUCCESS) {
    return std::nullopt;
  }
  auto local = [](const char* name) {
    std::string_view n(name);
    const size_t c = n.find(':');
    return c == std::string_view::npos ? n : n.substr(c + 1);
  };
  const tinyxml2::XMLElement* env = doc.RootElement();
  if (env == nullptr || local(env->Name()) != "Envelope") return std::nullopt;
  const tinyxml2::XMLElement* b = nullptr;
  for (auto* e = env->FirstChildElement(); e; e = e->NextSiblingElement()) {
    if (local(e->Name()) == "Body") b = e;
  }
  if (b == nullptr) return std::nullopt;
  const tinyxml2::XMLElement* act = b->FirstChildElement();
  if (act == nullptr || local(act->Name()) != call.action) return std::nullopt;
  size_t n = 0;
  for (auto* e = act->FirstChildElement(); e; e = e->NextSiblingElement()) {
    if (++n > 32) return std::nullopt;
    const char* text = e->GetText();
    call.args[std::string(local(e->Name()))] = text ? text : "";
  }
  return call;
}

UpnpServer::UpnpServer(TranslationTable* table, MappingRegistry* registry,
                       UpnpConfig config, TimeMs now)
    : table_(table),
      registry_(registry),
      config_(config),
      tcp_(
          config.tcp,
          [this](const TcpConnInfo& info, std::string& rx, bool peer_fin,
                 bool timed_out, TimeMs t) {
            return OnHttpBytes(info, rx, peer_fin, timed_out, t);
          },
          config.seed),
      ssdp_limiter_(config.ssdp_rate),
      started_(now),
      gena_(config.gena, config.seed != 0 ? config.seed + 2 : 0),
      rng_(config.seed != 0 ? config.seed + 1 : std::random_device{}()) {
  tcp_.Listen(config_.http_port);
  tcp_.SetClosedHandler(
      [this](const TcpConnInfo& info) { OnEventConnClosed(info); });
  std::mt19937_64 rng(config_.seed != 0 ? config_.seed
                                        : std::random_device{}());
  const uint64_t a = rng(), b = rng();
  if (!config_.uuid.empty()) {
    uuid_[0] = config_.uuid;
  } else {
    uuid_[0] = Uuid(a, b);
  }
  // Embedded devices: the root's uuid with the last digit changed.
  for (int i = 1; i < 3; ++i) {
    uuid_[i] = uuid_[0];
    char& last = uuid_[i].back();
    const char hex[] = "0123456789abcdef";
    const char* pos = std::find(hex, hex + 16, absl::ascii_tolower(last));
    last = hex[((pos - hex) + i) % 16];
  }
}

absl::Status UpnpServer::Register() {
  if (config_.igd_version != 1 && config_.igd_version != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("IGD version ", config_.igd_version, " is not 1 or 2"));
  }
  if (config_.event_port_min == 0 ||
      config_.event_port_min > config_.event_port_max ||
      (config_.http_port >= config_.event_port_min &&
       config_.http_port <= config_.event_port_max)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "event ports ", config_.event_port_min, "-", config_.event_port_max,
        " must be a range that does not hold the control port ",
        config_.http_port));
  }
  if (absl::Status s =
          table_->RegisterLocalHelper(kProtoTcp, config_.http_port, this);
      !s.ok()) {
    return s;
  }
  for (uint32_t p = config_.event_port_min; p <= config_.event_port_max; ++p) {
    if (absl::Status s = table_->RegisterLocalHelper(
            kProtoTcp, static_cast<uint16_t>(p), this);
        !s.ok()) {
      return s;
    }
  }
  return table_->RegisterLocalHelper(kProtoUdp, kSsdpPort, this);
}

void UpnpServer::RunEvents(TimeMs now, PacketSink* sink) {
  if (gena_.size() == 0) return;
  if (now >= next_event_check_) {
    next_event_check_ = now + config_.event_interval_ms;
    for (const Tenant& n : table_->Tenants()) {
      for (const char* path :
           {kEventIpConn, kEventIpConn1, kEventCommon, kEventL3f}) {
        if (gena_.Watched(n.id, path)) {
          gena_.Update(n.id, path, EventValues(n.id, path, now));
        }
      }
    }
  }
  const uint32_t span =
      uint32_t{config_.event_port_max} - config_.event_port_min + 1;
  const size_t room = deliveries_.size() < config_.max_event_connections
                          ? config_.max_event_connections - deliveries_.size()
                          : 0;
  if (room == 0) return;
  for (GenaPublisher::Delivery& d : gena_.Due(now, room)) {
    bool started = false;
    // The next event port with no delivery to the same callback (the peer
    // may still hold the last connection's 4-tuple in TIME-WAIT).
    for (uint32_t i = 0; i < span && !started; ++i) {
      const uint16_t port = static_cast<uint16_t>(config_.event_port_min +
                                                  next_event_port_++ % span);
      const auto key = std::make_tuple(d.ns, d.addr, d.port, port);
      if (deliveries_.count(key)) continue;
      started = tcp_.Connect({d.ns, d.gateway, port, d.addr, d.port, true},
                             d.request, now, sink);
      if (started) deliveries_[key] = {d.sid, false};
    }
    if (!started) {
      stats_.event_connect_failed++;
      gena_.Delivered(d.sid, false);
    }
  }
}

void UpnpServer::OnEventConnClosed(const TcpConnInfo& info) {
  auto it = deliveries_.find(std::make_tuple(info.ns, info.peer_addr,
                                             info.peer_port, info.local_port));
  if (it == deliveries_.end()) return;
  gena_.Delivered(it->second.sid, it->second.ok);
  deliveries_.erase(it);
}

uint32_t UpnpServer::PrimaryExternal() const {
  const auto& ext = table_->external_addresses();
  return ext.empty() ? 0 : ext.front();
}

void UpnpServer::OnPacket(const LocalContext& ctx, const Ipv4View& ip,
                          const L4View& l4) {
  if (ip.protocol() == kProtoTcp) {
    tcp_.OnSegment(ctx, ip, l4);
    return;
  }
  if (ip.protocol() != kProtoUdp) return;
  const std::span<const uint8_t> p = ip.payload();
  if (p.size() < l4_field::kUdpHeader) return;
  std::string_view payload(
      reinterpret_cast<const char*>(p.data()) + l4_field::kUdpHeader,
      p.size() - l4_field::kUdpHeader);
  // A multicast search is answered after a random part of MX (so that
  // many devices do not answer at once); a unicast one at once.
  const bool multicast = ip.dst() == kSsdpGroup;
  uint32_t mx = 0;
  auto answers = HandleSsdp(ctx.ns, ip.src(), ctx.gateway, payload, ctx.now,
                            multicast ? &mx : nullptr);
  for (std::string& a : answers) {
    if (!multicast) {
      EmitSsdp(ctx.ns, ctx.gateway, ip.src(), l4.src_port(), a, 64, ctx.sink);
      stats_.ssdp_answers++;
      continue;
    }
    if (pending_.size() >= config_.ssdp_max_pending) {
      stats_.ssdp_queue_full++;
      continue;
    }
    const TimeMs due = ctx.now + rng_() % (uint64_t{mx} * 1000);
    pending_.emplace(due, PendingAnswer{ctx.ns, ctx.gateway, ip.src(),
                                        l4.src_port(), std::move(a)});
  }
}

void UpnpServer::EmitSsdp(NamespaceId ns, uint32_t gateway, uint32_t dst,
                          uint16_t dst_port, const std::string& payload,
                          uint8_t ttl, PacketSink* sink) {
  if (sink == nullptr) return;
  auto dgram = BuildUdpDatagram(
      gateway, kSsdpPort, dst, dst_port,
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(payload.data()),
                               payload.size()),
      ttl);
  sink->Emit(Side::kInside, ns, dgram);
}

void UpnpServer::Start(TimeMs now) {
  notify_scheduled_ = config_.notify_interval_s > 0;
  notify_repeats_left_ = std::max<uint32_t>(config_.notify_repeats, 1);
  next_notify_ = now;
}

void UpnpServer::Tick(TimeMs now, PacketSink* sink) {
  tcp_.Tick(now, sink);
  RunEvents(now, sink);
  std::vector<Tenant> tenants;
  if (!pending_.empty() && pending_.begin()->first <= now) {
    tenants = table_->Tenants();
  }
  while (!pending_.empty() && pending_.begin()->first <= now) {
    const PendingAnswer& a = pending_.begin()->second;
    // A tenant removed meanwhile has no gateway to answer from.
    if (std::any_of(tenants.begin(), tenants.end(), [&](const auto& t) {
          return t.id == a.ns && t.gateway == a.gateway;
        })) {
      EmitSsdp(a.ns, a.gateway, a.client, a.port, a.payload, 64, sink);
      stats_.ssdp_answers++;
    }
    pending_.erase(pending_.begin());
  }
  if (notify_scheduled_ && now >= next_notify_) {
    SendNotifies(SsdpKind::kAlive, sink);
    if (notify_repeats_left_ > 1) {
      --notify_repeats_left_;
      next_notify_ = now + 500;
    } else {
      next_notify_ = now + uint64_t{config_.notify_interval_s} * 1000;
    }
  }
}

void UpnpServer::Stop(PacketSink* sink) {
  pending_.clear();
  notify_scheduled_ = false;
  SendNotifies(SsdpKind::kByebye, sink);
}

GenaValues UpnpServer::EventValues(NamespaceId ns, const std::string& path,
                                   TimeMs now) {
  (void)now;
  if (path == kEventCommon) return {{"PhysicalLinkStatus", "Up"}};
  if (path == kEventL3f) {
    return {{"DefaultConnectionService", DefaultConnectionService()}};
  }
  const uint32_t ext = PrimaryExternal();
  const std::vector<Lease> leases = LeasesOf(ns);
  GenaValues v = {
      {"PossibleConnectionTypes", "IP_Routed"},
      {"ConnectionStatus", ext ? "Connected" : "Disconnected"},
      {"ExternalIPAddress", ext ? Ipv4ToString(ext) : ""},
      {"PortMappingNumberOfEntries", std::to_string(leases.size())}};
  if (path == kEventIpConn) {
    // A digest of the table (FNV-1a over each entry's fields).
    uint64_t h = 1469598103934665603ull;
    auto mix = [&](uint64_t x) {
      for (int i = 0; i < 8; ++i) {
        h ^= (x >> (8 * i)) & 0xff;
        h *= 1099511628211ull;
      }
    };
    for (const Lease& l : leases) {
      mix(l.id);
      mix((uint64_t{l.proto} << 48) | (uint64_t{l.external_port} << 32) |
          l.inside_addr);
      mix((uint64_t{l.inside_port} << 32) | (l.enabled ? 1 : 0));
      mix(l.filters.empty() ? 0 : l.filters[0].addr);
    }
    UpdateId& u = update_ids_[ns];
    if (u.digest != h) {
      if (u.digest != 0) u.id = u.id == 0xffffffffu ? 1 : u.id + 1;
      u.digest = h;
    }
    v["SystemUpdateID"] = std::to_string(u.id);
  }
  return v;
}

std::string UpnpServer::Location(int version, uint32_t gateway) const {
  return absl::StrCat("http://", Ipv4ToString(gateway), ":", config_.http_port,
                      version == 1 ? "/rootDesc1.xml" : "/rootDesc.xml");
}

std::string UpnpServer::SsdpMessage(SsdpKind kind, int version,
                                    const std::string& type,
                                    uint32_t gateway) const {
  // USN: the uuid of the device that has `type`.
  std::string usn_uuid = uuid_[0];
  if (absl::StrContains(type, ":WANDevice:") ||
      absl::StrContains(type, kWanCommon)) {
    usn_uuid = uuid_[1];
  } else if (absl::StrContains(type, ":WANConnectionDevice:") ||
             absl::StrContains(type, kWanIp)) {
    usn_uuid = uuid_[2];
  }
  const std::string usn = absl::StartsWith(type, "uuid:")
                              ? type
                              : absl::StrCat("uuid:", usn_uuid, "::", type);
  const bool notify = kind != SsdpKind::kResponse;
  std::string m = notify ? "NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n"
                         : "HTTP/1.1 200 OK\r\n";
  if (kind != SsdpKind::kByebye) {
    absl::StrAppend(&m, "CACHE-CONTROL: max-age=", config_.ssdp_max_age_s,
                    "\r\n");
    if (!notify) absl::StrAppend(&m, "EXT:\r\n");
    absl::StrAppend(&m, "LOCATION: ", Location(version, gateway), "\r\n",
                    "SERVER: Linux UPnP/1.1 unat/1.0\r\n");
  }
  if (notify) {
    absl::StrAppend(&m, "NT: ", type, "\r\nNTS: ",
                    kind == SsdpKind::kAlive ? "ssdp:alive" : "ssdp:byebye",
                    "\r\n");
  } else {
    absl::StrAppend(&m, "ST: ", type, "\r\n");
  }
  absl::StrAppend(&m, "USN: ", usn, "\r\nBOOTID.UPNP.ORG: ", config_.boot_id,
                  "\r\nCONFIGID.UPNP.ORG: 1\r\n\r\n");
  return m;
}

std::vector<std::string> UpnpServer::HandleSsdp(NamespaceId ns, uint32_t client,
                                                uint32_t gateway,
                                                std::string_view payload,
                                                TimeMs now, uint32_t* mx_s) {
  std::vector<std::string> out;
  if (payload.starts_with("NOTIFY ") || payload.starts_with("HTTP/")) {
    stats_.ssdp_ignored++;
    return out;
  }
  if (!payload.starts_with("M-SEARCH * HTTP/1.1\r\n") ||
      payload.size() > 2048) {
    stats_.ssdp_malformed++;
    return out;
  }
  std::string st, man, mx;
  size_t pos = payload.find("\r\n") + 2;
  while (pos < payload.size()) {
    size_t end = payload.find("\r\n", pos);
    if (end == std::string_view::npos) end = payload.size();
    std::string_view line = payload.substr(pos, end - pos);
    pos = end + 2;
    if (line.empty()) break;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string name =
        absl::AsciiStrToLower(std::string(line.substr(0, colon)));
    std::string value(
        absl::StripAsciiWhitespace(std::string(line.substr(colon + 1))));
    if (name == "st") st = value;
    if (name == "man") man = value;
    if (name == "mx") mx = value;
  }
  if (man != "\"ssdp:discover\"" || st.empty() || st.size() > 256) {
    stats_.ssdp_malformed++;
    return out;
  }
  if (mx_s != nullptr) {
    // Multicast: MX is required, an integer >= 1; above 5 counts as 5.
    uint32_t v = 0;
    const bool digits = !mx.empty() && mx.size() <= 9 &&
                        std::all_of(mx.begin(), mx.end(), absl::ascii_isdigit);
    if (!digits || !absl::SimpleAtoi(mx, &v) || v < 1) {
      stats_.ssdp_malformed++;
      return out;
    }
    *mx_s = std::min<uint32_t>(v, 5);
  }
  stats_.ssdp_searches++;
  if (!ssdp_limiter_.Allow(ns, client, now)) {
    stats_.ssdp_rate_limited++;
    return out;
  }
  const int iv = config_.igd_version;
  if (st == "ssdp:all") {
    for (const std::string& t : AdvertisedTypes()) {
      out.push_back(SsdpMessage(SsdpKind::kResponse, iv, t, gateway));
    }
    return out;
  }
  if (st == "upnp:rootdevice") {
    out.push_back(SsdpMessage(SsdpKind::kResponse, iv, st, gateway));
    return out;
  }
  for (int i = 0; i < 3; ++i) {
    if (st == absl::StrCat("uuid:", uuid_[i])) {
      out.push_back(SsdpMessage(SsdpKind::kResponse, iv, st, gateway));
      return out;
    }
  }
  if (auto tv = SplitVersion(st)) {
    for (const auto& [t, v] : VersionedTypes()) {
      // A search for an older version is answered with that version in ST
      // and the advertised description, which is backward compatible (UDA
      // 1.1 1.3.2; miniupnpc searches for IGD:1 only).
      if (tv->first == t && tv->second <= v) {
        out.push_back(SsdpMessage(SsdpKind::kResponse, iv, st, gateway));
      }
    }
  }
  return out;
}

std::vector<std::pair<std::string, int>> UpnpServer::VersionedTypes() const {
  const int iv = config_.igd_version;
  return {{absl::StrCat(kDevicePrefix, "InternetGatewayDevice"), iv},
          {absl::StrCat(kDevicePrefix, "WANDevice"), iv},
          {absl::StrCat(kDevicePrefix, "WANConnectionDevice"), iv},
          {absl::StrCat(kServicePrefix, kWanIp), iv},
          {absl::StrCat(kServicePrefix, kWanCommon), 1},
          {absl::StrCat(kServicePrefix, kL3f), 1}};
}

std::vector<std::string> UpnpServer::AdvertisedTypes() const {
  std::vector<std::string> types = {"upnp:rootdevice"};
  for (int i = 0; i < 3; ++i) types.push_back(absl::StrCat("uuid:", uuid_[i]));
  for (const auto& [t, v] : VersionedTypes()) {
    types.push_back(absl::StrCat(t, ":", v));
  }
  return types;
}

void UpnpServer::SendNotifies(SsdpKind kind, PacketSink* sink) {
  if (sink == nullptr) return;
  const std::vector<std::string> types = AdvertisedTypes();
  for (const Tenant& n : table_->Tenants()) {
    for (const std::string& t : types) {
      EmitSsdp(n.id, n.gateway, kSsdpGroup, kSsdpPort,
               SsdpMessage(kind, config_.igd_version, t, n.gateway), 2, sink);
      (kind == SsdpKind::kAlive ? stats_.ssdp_notifies : stats_.ssdp_byebyes)++;
    }
  }
}

std::string UpnpServer::Description(int version, uint32_t gateway) const {
  const std::string v = version == 1 ? "1" : "2";
  tinyxml2::XMLPrinter p(nullptr, true);
  p.PushDeclaration("xml version=\"1.0\"");
  p.OpenElement("root", true);
  p.PushAttribute("xmlns", "urn:schemas-upnp-org:device-1-0");
  if (version >= 2) p.PushAttribute("configId", "1");
  p.OpenElement("specVersion", true);
  Leaf(p, "major", "1");
  Leaf(p, "minor", version >= 2 ? "1" : "0");
  p.CloseElement(true);
  Leaf(p, "URLBase",
       absl::StrCat("http://", Ipv4ToString(gateway), ":", config_.http_port,
                    "/"));
  auto device = [&](const std::string& type, int idx, const std::string& name) {
    p.OpenElement("device", true);
    Leaf(p, "deviceType", absl::StrCat(kDevicePrefix, type, ":", v));
    Leaf(p, "friendlyName", name);
    Leaf(p, "manufacturer", "unat");
    Leaf(p, "manufacturerURL", "https://example.invalid/unat");
    Leaf(p, "modelDescription", "unat userspace NAT");
    Leaf(p, "modelName", "unat");
    Leaf(p, "modelNumber", "1");
    Leaf(p, "UDN", absl::StrCat("uuid:", uuid_[idx]));
  };
  auto service = [&](const std::string& type, int sv, const char* id,
                     const char* scpd, const char* ctl, const char* evt) {
    p.OpenElement("service", true);
    Leaf(p, "serviceType", absl::StrCat(kServicePrefix, type, ":", sv));
    Leaf(p, "serviceId", absl::StrCat("urn:upnp-org:serviceId:", id));
    Leaf(p, "SCPDURL", scpd);
    Leaf(p, "controlURL", ctl);
    Leaf(p, "eventSubURL", evt);
    p.CloseElement(true);
  };
  device("InternetGatewayDevice", 0, config_.friendly_name);
  p.OpenElement("serviceList", true);
  service(kL3f, 1, "L3Forwarding1", "/L3F.xml", "/ctl/L3F", kEventL3f);
  p.CloseElement(true);
  p.OpenElement("deviceList", true);
  device("WANDevice", 1, "WANDevice");
  p.OpenElement("serviceList", true);
  service(kWanCommon, 1, "WANCommonIFC1", "/WANCfg.xml", "/ctl/CmnIfCfg",
          kEventCommon);
  p.CloseElement(true);
  p.OpenElement("deviceList", true);
  device("WANConnectionDevice", 2, "WANConnectionDevice");
  p.OpenElement("serviceList", true);
  service(kWanIp, version, "WANIPConn1",
          version == 1 ? "/WANIPCn1.xml" : "/WANIPCn.xml", "/ctl/IPConn",
          version == 1 ? kEventIpConn1 : kEventIpConn);
  p.CloseElement(true);  // serviceList
  p.CloseElement(true);  // device WANConnectionDevice
  p.CloseElement(true);  // deviceList
  p.CloseElement(true);  // device WANDevice
  p.CloseElement(true);  // deviceList
  Leaf(p, "presentationURL", "/");
  p.CloseElement(true);  // device IGD
  p.CloseElement(true);  // root
  return std::string(p.CStr(), p.CStrSize() > 0 ? p.CStrSize() - 1 : 0);
}

std::string UpnpServer::WanIpScpd(int version) const {
  return Scpd(WanIpActions(), WanIpVars(), version);
}

std::string UpnpServer::WanCommonScpd() const {
  return Scpd(WanCommonActions(), WanCommonVars(), 1);
}

std::string UpnpServer::L3fScpd() const {
  return Scpd(L3fActions(), L3fVars(), 1);
}

std::string UpnpServer::DefaultConnectionService() const {
  // "uuid:<WANConnectionDevice>:WANConnectionDevice:1,<serviceId>" as the
  // Layer3Forwarding template spells it.
  return absl::StrCat("uuid:", uuid_[2], ":WANConnectionDevice:1,",
                      "urn:upnp-org:serviceId:WANIPConn1");
}

TcpAppAction UpnpServer::OnHttpBytes(const TcpConnInfo& info, std::string& rx,
                                     bool peer_fin, bool timed_out,
                                     TimeMs now) {
  TcpAppAction a;
  if (info.active) {
    // The answer to an event NOTIFY: its status line is all that matters.
    auto it = deliveries_.find(std::make_tuple(
        info.ns, info.peer_addr, info.peer_port, info.local_port));
    const size_t eol = rx.find("\r\n");
    if (eol != std::string::npos || peer_fin || timed_out || rx.size() > 1024) {
      int status = 0;
      if (eol != std::string::npos && absl::StartsWith(rx, "HTTP/1.") &&
          eol >= 12) {
        (void)absl::SimpleAtoi(rx.substr(9, 3), &status);
      }
      if (it != deliveries_.end())
        it->second.ok = status >= 200 && status < 300;
      a.close = true;
    }
    rx.clear();
    return a;
  }
  HttpParseResult r = ParseHttpRequest(rx, config_.http);
  if (r.state == HttpParseResult::kIncomplete) {
    if (timed_out) {
      stats_.timeouts++;
      stats_.http_errors++;
      a.send = HttpResponse(408, "", "");
      a.close = true;
    } else if (peer_fin) {
      a.close = true;  // the request will never be whole
    }
    return a;
  }
  stats_.http_requests++;
  a.close = true;
  if (r.state == HttpParseResult::kError) {
    stats_.http_errors++;
    a.send = HttpResponse(r.status, "", "");
    return a;
  }
  a.send = HandleHttp(info.ns, info.peer_addr, info.local_addr, r.request, now);
  return a;
}

std::string UpnpServer::HandleHttp(NamespaceId ns, uint32_t client,
                                   uint32_t gateway, const HttpRequest& q,
                                   TimeMs now) {
  constexpr char kXml[] = "text/xml; charset=\"utf-8\"";
  std::string path = q.target;
  if (const size_t qm = path.find('?'); qm != std::string::npos) {
    path.resize(qm);
  }
  if (path == "/ctl/IPConn" || path == "/ctl/CmnIfCfg" || path == "/ctl/L3F") {
    if (q.method != "POST") {
      stats_.http_errors++;
      return HttpResponse(405, "", "", "Allow: POST\r\n");
    }
    return HandleSoap(ns, client, q, now);
  }
  std::string body;
  if (path == "/rootDesc.xml") {
    body = Description(2, gateway);
  } else if (path == "/rootDesc1.xml") {
    body = Description(1, gateway);
  } else if (path == "/WANIPCn.xml") {
    body = WanIpScpd(2);
  } else if (path == "/WANIPCn1.xml") {
    body = WanIpScpd(1);
  } else if (path == "/WANCfg.xml") {
    body = WanCommonScpd();
  } else if (path == "/L3F.xml") {
    body = L3fScpd();
  } else if (path == kEventIpConn || path == kEventIpConn1 ||
             path == kEventCommon || path == kEventL3f) {
    if (q.method != "SUBSCRIBE" && q.method != "UNSUBSCRIBE") {
      stats_.http_errors++;
      return HttpResponse(405, "", "", "Allow: SUBSCRIBE, UNSUBSCRIBE\r\n");
    }
    return gena_.Handle(ns, client, gateway, path, q,
                        EventValues(ns, path, now), now);
  } else {
    stats_.http_errors++;
    return HttpResponse(404, "", "");
  }
  if (q.method != "GET" && q.method != "HEAD") {
    stats_.http_errors++;
    return HttpResponse(405, "", "", "Allow: GET, HEAD\r\n");
  }
  stats_.descriptions++;
  if (q.method == "HEAD") {
    std::string r = HttpResponse(200, kXml, body);
    r.resize(r.size() - body.size());
    return r;
  }
  return HttpResponse(200, kXml, body);
}

std::string UpnpServer::HandleSoap(NamespaceId ns, uint32_t client,
                                   const HttpRequest& q, TimeMs now) {
  constexpr char kXml[] = "text/xml; charset=\"utf-8\"";
  stats_.soap_requests++;
  auto fault = [&](int code) {
    stats_.soap_faults++;
    stats_.faults[code]++;
    return HttpResponse(500, kXml, FaultBody(code));
  };
  const std::string* sa = q.Header("soapaction");
  if (sa == nullptr) return fault(upnp_error::kInvalidAction);
  auto call = ParseSoap(*sa, q.body);
  if (!call) {
    stats_.http_errors++;
    return HttpResponse(400, "", "");
  }
  // The service the URL controls, and its highest version.
  std::string path = q.target.substr(0, q.target.find('?'));
  const char* want = kWanCommon;
  int max_version = 1;
  if (path == "/ctl/IPConn") {
    want = kWanIp;
    max_version = 2;
  } else if (path == "/ctl/L3F") {
    want = kL3f;
  }
  if (call->service != want || call->version > max_version) {
    return fault(upnp_error::kInvalidAction);
  }
  // A host outside the tenant's prefixes may read the descriptions, but no
  // action is run for it (not even a query of the tenant's mappings).
  if (!table_->IsInsideAddress(ns, client)) {
    return fault(upnp_error::kNotAuthorized);
  }
  auto result = RunAction(ns, client, *call, now);
  if (std::holds_alternative<int>(result)) {
    return fault(std::get<int>(result));
  }
  const Args& args = std::get<Args>(result);
  const std::string type =
      absl::StrCat(kServicePrefix, call->service, ":", call->version);
  std::string body = SoapEnvelope([&](tinyxml2::XMLPrinter& p) {
    const std::string el = absl::StrCat("u:", call->action, "Response");
    p.OpenElement(el.c_str(), true);
    p.PushAttribute("xmlns:u", type.c_str());
    for (const auto& [k, v] : args) {
      if (k == "NewPortListing") {
        // An XML document as a value: in CDATA, as miniupnpd sends it and
        // miniupnpc expects it (its own text is escaped, so no "]]>").
        p.OpenElement(k.c_str(), true);
        p.PushText(v.c_str(), true);
        p.CloseElement(true);
      } else {
        Leaf(p, k.c_str(), v);
      }
    }
    p.CloseElement(true);
  });
  return HttpResponse(200, kXml, body);
}

std::vector<Lease> UpnpServer::LeasesOf(NamespaceId ns) {
  std::vector<Lease> out;
  for (Lease& l : registry_->Leases()) {
    if (l.ns == ns) out.push_back(std::move(l));
  }
  std::sort(out.begin(), out.end(), [](const Lease& a, const Lease& b) {
    return std::tie(a.proto, a.external_port) <
           std::tie(b.proto, b.external_port);
  });
  return out;
}

std::variant<UpnpServer::Args, int> UpnpServer::RunAction(NamespaceId ns,
                                                          uint32_t client,
                                                          const SoapCall& call,
                                                          TimeMs now) {
  const std::vector<ActionDef>& defs = call.service == kWanIp ? WanIpActions()
                                       : call.service == kL3f
                                           ? L3fActions()
                                           : WanCommonActions();
  const ActionDef* def = nullptr;
  for (const ActionDef& d : defs) {
    if (call.action == d.name && d.min_version <= call.version) def = &d;
  }
  if (def == nullptr) return upnp_error::kInvalidAction;
  for (const ArgDef& g : def->args) {
    if (!g.out && !call.args.count(g.name)) return upnp_error::kInvalidArgs;
  }
  const TrafficTotals st =
      call.service == kWanCommon ? table_->Traffic() : TrafficTotals{};
  const std::string& a = call.action;
  auto u32 = [](uint64_t v) {
    return std::to_string(static_cast<uint32_t>(v));  // ui4 wraps
  };
  if (a == "GetDefaultConnectionService") {
    return Args{{"NewDefaultConnectionService", DefaultConnectionService()}};
  }
  if (a == "SetDefaultConnectionService") {
    // There is one connection service: naming it is a no-op, anything else
    // is not a connection service of this IGD (Layer3Forwarding:1 2.4).
    return call.args.at("NewDefaultConnectionService") ==
                   DefaultConnectionService()
               ? std::variant<Args, int>(Args{})
               : std::variant<Args, int>(
                     upnp_error::kInvalidConnServiceSelection);
  }
  if (a == "GetCommonLinkProperties") {
    return Args{{"NewWANAccessType", "Ethernet"},
                {"NewLayer1UpstreamMaxBitRate", "1000000000"},
                {"NewLayer1DownstreamMaxBitRate", "1000000000"},
                {"NewPhysicalLinkStatus", "Up"}};
  }
  // Sent = towards the outside (arrived inside), received = from outside.
  if (a == "GetTotalBytesSent") {
    return Args{{"NewTotalBytesSent", u32(st.bytes[0])}};
  }
  if (a == "GetTotalBytesReceived") {
    return Args{{"NewTotalBytesReceived", u32(st.bytes[1])}};
  }
  if (a == "GetTotalPacketsSent") {
    return Args{{"NewTotalPacketsSent", u32(st.packets[0])}};
  }
  if (a == "GetTotalPacketsReceived") {
    return Args{{"NewTotalPacketsReceived", u32(st.packets[1])}};
  }
  if (a == "GetConnectionTypeInfo") {
    return Args{{"NewConnectionType", "IP_Routed"},
                {"NewPossibleConnectionTypes", "IP_Routed"}};
  }
  if (a == "SetConnectionType" || a == "RequestConnection" ||
      a == "ForceTermination") {
    return upnp_error::kNotAuthorized;
  }
  if (a == "GetStatusInfo") {
    const bool up = PrimaryExternal() != 0;
    return Args{{"NewConnectionStatus", up ? "Connected" : "Disconnected"},
                {"NewLastConnectionError", "ERROR_NONE"},
                {"NewUptime", std::to_string((now - started_) / 1000)}};
  }
  if (a == "GetNATRSIPStatus") {
    return Args{{"NewRSIPAvailable", "0"}, {"NewNATEnabled", "1"}};
  }
  if (a == "GetExternalIPAddress") {
    const uint32_t ext = PrimaryExternal();
    return Args{{"NewExternalIPAddress", ext ? Ipv4ToString(ext) : ""}};
  }
  if (a == "AddPortMapping") return AddMapping(ns, client, call, false, now);
  if (a == "AddAnyPortMapping") return AddMapping(ns, client, call, true, now);
  if (a == "DeletePortMapping") return DeleteMapping(ns, client, call);
  if (a == "DeletePortMappingRange") return DeleteRange(ns, client, call);
  if (a == "GetListOfPortMappings") return ListMappings(ns, client, call, now);
  auto entry = [&](const Lease& l, bool with_key) {
    Args out;
    if (with_key) {
      out.push_back({"NewRemoteHost", RemoteHostText(l)});
      out.push_back({"NewExternalPort", std::to_string(l.external_port)});
      out.push_back({"NewProtocol", ProtoName(l.proto)});
    }
    out.push_back({"NewInternalPort", std::to_string(l.inside_port)});
    out.push_back({"NewInternalClient", Ipv4ToString(l.inside_addr)});
    out.push_back({"NewEnabled", l.enabled ? "1" : "0"});
    out.push_back({"NewPortMappingDescription", l.description});
    out.push_back(
        {"NewLeaseDuration",
         std::to_string(l.expires > now ? (l.expires - now + 999) / 1000 : 0)});
    return out;
  };
  if (a == "GetGenericPortMappingEntry") {
    auto idx = ParseNum(call.args.at("NewPortMappingIndex"), 0, 65535);
    if (!idx) return upnp_error::kInvalidArgs;
    std::vector<Lease> leases = LeasesOf(ns);
    if (*idx >= leases.size()) return upnp_error::kArrayIndexInvalid;
    return entry(leases[*idx], true);
  }
  if (a == "GetSpecificPortMappingEntry") {
    auto l = FindEntry(ns, call);
    if (std::holds_alternative<int>(l)) return std::get<int>(l);
    return entry(std::get<Lease>(l), false);
  }
  return upnp_error::kInvalidAction;
}

std::variant<UpnpServer::Args, int> UpnpServer::AddMapping(NamespaceId ns,
                                                           uint32_t client,
                                                           const SoapCall& call,
                                                           bool any,
                                                           TimeMs now) {
  const auto& g = call.args;
  auto proto = ParseProto(g.at("NewProtocol"));
  auto ext_port = ParseNum(g.at("NewExternalPort"), 0, 65535);
  auto in_port = ParseNum(g.at("NewInternalPort"), 0, 65535);
  auto in_addr = ParseIpv4(g.at("NewInternalClient"));
  auto enabled = ParseBool(g.at("NewEnabled"));
  auto lease = ParseNum(g.at("NewLeaseDuration"), 0, 0xffffffffu);
  const std::string& desc = g.at("NewPortMappingDescription");
  std::optional<uint32_t> remote;
  const bool remote_ok = ParseRemoteHost(g.at("NewRemoteHost"), &remote);
  if (!proto || !ext_port || !in_port || !in_addr || !enabled || !lease ||
      !remote_ok || *in_addr == 0 || desc.size() > 256) {
    return upnp_error::kInvalidArgs;
  }
  if (*in_port == 0) {
    // IGD:2 has its own code for a wildcard internal port.
    return call.version >= 2 ? upnp_error::kWildCardNotPermittedInIntPort
                             : upnp_error::kInvalidArgs;
  }
  if (*ext_port == 0 && !any) {
    return upnp_error::kWildCardNotPermittedInExtPort;
  }
  // Only for itself unless the policy allows third parties.
  if (*in_addr != client && !registry_->policy().allow_third_party) {
    return upnp_error::kNotAuthorized;
  }
  // Lease 0: IGD:1 "as long as possible", IGD:2 the maximum 604800 s; both
  // within the policy's lifetimes (unat never grants an endless lease).
  uint32_t life = *lease;
  if (call.version >= 2) {
    if (life == 0 || life > kIgd2MaxLease) life = kIgd2MaxLease;
  } else if (life == 0) {
    life = registry_->policy().max_lifetime_s;
  }
  const LeaseKey key{ns, *proto, *in_addr, static_cast<uint16_t>(*in_port)};
  // A mapping is named by (RemoteHost, ExternalPort, Protocol); the engine
  // has one forward per external port, so a port held by anyone else
  // (another client, tenant or protocol, a static forward, a dynamic
  // mapping) is a conflict, and the caller's own mapping on it is updated
  // (same inside endpoint) or re-pointed.
  uint16_t want = static_cast<uint16_t>(*ext_port);
  if (want != 0) {
    if (auto held = registry_->FindByExternal(*proto, want)) {
      const bool mine = held->ns == ns && held->client == client &&
                        held->owner == ForwardOwner::kUpnp;
      const bool same = LeaseKey{held->ns, held->proto, held->inside_addr,
                                 held->inside_port} == key;
      if (mine && !same) {
        if (any) {
          want = 0;
        } else {
          (void)registry_->Remove(held->id);
        }
      } else if (!mine) {
        if (!any) return upnp_error::kConflictInMappingEntry;
        want = 0;
      }
    } else if (table_->ExternalPortInUse(*proto, PrimaryExternal(), want)) {
      // Held by something that is no client's lease: a static forward or
      // the NAT's own mapping of an outbound flow. IGD:2 calls that a
      // conflict with other mechanisms (729); IGD:1 knows only 718.
      if (!any) {
        return call.version >= 2 ? upnp_error::kConflictWithOtherMechanisms
                                 : upnp_error::kConflictInMappingEntry;
      }
      want = 0;
    }
  }
  if (any && want == 0) {
    // AddAnyPortMapping again for an endpoint the caller already mapped:
    // the same port, refreshed, rather than one more.
    if (auto mine = registry_->Find(key, ForwardOwner::kUpnp);
        mine && mine->owner == ForwardOwner::kUpnp && mine->client == client) {
      want = mine->external_port;
    }
  }
  MapRequest r;
  r.owner = ForwardOwner::kUpnp;
  r.ns = ns;
  r.client = client;
  r.proto = *proto;
  r.inside_addr = *in_addr;
  r.inside_port = static_cast<uint16_t>(*in_port);
  r.suggested_port = want;
  r.require_suggested = !any;
  r.lifetime_s = life;
  r.description = desc;
  r.enabled = *enabled;
  r.filters.emplace();
  if (remote) r.filters->push_back({*remote, 32, 0});
  r.by_external = true;
  MapResult m = registry_->Map(r, now);
  switch (m.status) {
    case MapStatus::kOk:
      break;
    case MapStatus::kCannotProvideExternal:
    case MapStatus::kNotAuthorized:
    case MapStatus::kNonceMismatch:
      return upnp_error::kConflictInMappingEntry;
    case MapStatus::kUserQuota:
    case MapStatus::kNamespaceQuota:
    case MapStatus::kNoResources:
      return upnp_error::kNoPortMapsAvailable;
    case MapStatus::kInvalid:
    case MapStatus::kTooManyFilters:
      return upnp_error::kInvalidArgs;
    case MapStatus::kNetworkFailure:
      return upnp_error::kActionFailed;
  }
  if (any) {
    return Args{{"NewReservedPort", std::to_string(m.lease.external_port)}};
  }
  return Args{};
}

std::variant<Lease, int> UpnpServer::FindEntry(NamespaceId ns,
                                               const SoapCall& call) {
  auto proto = ParseProto(call.args.at("NewProtocol"));
  auto port = ParseNum(call.args.at("NewExternalPort"), 0, 65535);
  std::optional<uint32_t> remote;
  if (!ParseRemoteHost(call.args.at("NewRemoteHost"), &remote) || !proto ||
      !port) {
    return upnp_error::kInvalidArgs;
  }
  if (*port == 0) return upnp_error::kWildCardNotPermittedInExtPort;
  auto l = registry_->FindByExternal(*proto, static_cast<uint16_t>(*port));
  // Another tenant's mapping does not exist for this one; a mapping for
  // one remote host is not the wildcard mapping, nor another host's.
  if (!l || l->ns != ns || RemoteHostOf(*l) != remote) {
    return upnp_error::kNoSuchEntry;
  }
  return *l;
}

std::variant<UpnpServer::Args, int> UpnpServer::DeleteMapping(
    NamespaceId ns, uint32_t client, const SoapCall& call) {
  auto found = FindEntry(ns, call);
  if (std::holds_alternative<int>(found)) return std::get<int>(found);
  const Lease& l = std::get<Lease>(found);
  if (l.client != client || l.owner != ForwardOwner::kUpnp) {
    return upnp_error::kNotAuthorized;
  }
  (void)registry_->Remove(l.id);
  return Args{};
}

std::variant<UpnpServer::Args, int> UpnpServer::DeleteRange(
    NamespaceId ns, uint32_t client, const SoapCall& call) {
  auto proto = ParseProto(call.args.at("NewProtocol"));
  auto lo = ParseNum(call.args.at("NewStartPort"), 0, 65535);
  auto hi = ParseNum(call.args.at("NewEndPort"), 0, 65535);
  auto manage = ParseBool(call.args.at("NewManage"));
  if (!proto || !lo || !hi || !manage) return upnp_error::kInvalidArgs;
  if (*lo > *hi) return upnp_error::kInconsistentParameters;
  size_t found = 0, removed = 0;
  for (const Lease& l : LeasesOf(ns)) {
    if (l.proto != *proto || l.external_port < *lo || l.external_port > *hi) {
      continue;
    }
    ++found;
    // Only the caller's own UPnP mappings, whatever NewManage says.
    if (l.client != client || l.owner != ForwardOwner::kUpnp) continue;
    if (registry_->Remove(l.id).ok()) ++removed;
  }
  if (found == 0) return upnp_error::kPortMappingNotFound;
  if (removed == 0) return upnp_error::kNotAuthorized;
  return Args{};
}

std::variant<UpnpServer::Args, int> UpnpServer::ListMappings(
    NamespaceId ns, uint32_t client, const SoapCall& call, TimeMs now) {
  auto proto = ParseProto(call.args.at("NewProtocol"));
  auto lo = ParseNum(call.args.at("NewStartPort"), 0, 65535);
  auto hi = ParseNum(call.args.at("NewEndPort"), 0, 65535);
  auto manage = ParseBool(call.args.at("NewManage"));
  auto count = ParseNum(call.args.at("NewNumberOfPorts"), 0, 65535);
  if (!proto || !lo || !hi || !manage || !count) {
    return upnp_error::kInvalidArgs;
  }
  if (*lo > *hi) return upnp_error::kInconsistentParameters;
  const uint32_t limit = *count == 0 ? 1000 : std::min<uint32_t>(*count, 1000);
  tinyxml2::XMLPrinter p(nullptr, true);
  p.PushDeclaration("xml version=\"1.0\" encoding=\"UTF-8\"");
  p.OpenElement("p:PortMappingList", true);
  p.PushAttribute("xmlns:p", "urn:schemas-upnp-org:gw:WANIPConnection");
  p.PushAttribute("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance");
  p.PushAttribute("xsi:schemaLocation",
                  "urn:schemas-upnp-org:gw:WANIPConnection "
                  "http://www.upnp.org/schemas/gw/WANIPConnection-v2.xsd");
  uint32_t n = 0;
  for (const Lease& l : LeasesOf(ns)) {
    if (n >= limit) break;
    if (l.proto != *proto || l.external_port < *lo || l.external_port > *hi) {
      continue;
    }
    // NewManage 0: the caller's own mappings only.
    if (!*manage && l.client != client) continue;
    ++n;
    p.OpenElement("p:PortMappingEntry", true);
    Leaf(p, "p:NewRemoteHost", RemoteHostText(l));
    Leaf(p, "p:NewExternalPort", std::to_string(l.external_port));
    Leaf(p, "p:NewProtocol", ProtoName(l.proto));
    Leaf(p, "p:NewInternalPort", std::to_string(l.inside_port));
    Leaf(p, "p:NewInternalClient", Ipv4ToString(l.inside_addr));
    Leaf(p, "p:NewEnabled", l.enabled ? "1" : "0");
    Leaf(p, "p:NewDescription", l.description);
    Leaf(p, "p:NewLeaseTime",
         std::to_string(l.expires > now ? (l.expires - now + 999) / 1000 : 0));
    p.CloseElement(true);
  }
  p.CloseElement(true);
  if (n == 0) return upnp_error::kPortMappingNotFound;
  return Args{{"NewPortListing",
               std::string(p.CStr(), p.CStrSize() > 0 ? p.CStrSize() - 1 : 0)}};
}

}  // namespace unat::portmap
