#include "portmap/gena.h"

#include <tinyxml2.h>

#include <algorithm>
#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/nat.h"

namespace unat::portmap {
namespace {

// "http://1.2.3.4[:port][/path]" naming `client`.
std::optional<GenaCallbackUrl> ParseUrl(std::string_view url, uint32_t client) {
  constexpr std::string_view kScheme = "http://";
  if (url.size() > 512 || url.size() < kScheme.size() ||
      !absl::EqualsIgnoreCase(std::string(url.substr(0, kScheme.size())),
                              std::string(kScheme))) {
    return std::nullopt;
  }
  url.remove_prefix(kScheme.size());
  const size_t slash = url.find('/');
  std::string_view hostport = url.substr(0, slash);
  GenaCallbackUrl out;
  out.path =
      slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  for (char c : out.path) {
    // A request target: printable, no spaces.
    if (c <= 0x20 || c >= 0x7f) return std::nullopt;
  }
  const size_t colon = hostport.find(':');
  if (colon != std::string_view::npos) {
    uint32_t port = 0;
    const std::string_view p = hostport.substr(colon + 1);
    if (p.empty() || p.size() > 5 ||
        !std::all_of(p.begin(), p.end(), absl::ascii_isdigit) ||
        !absl::SimpleAtoi(std::string(p), &port) || port == 0 || port > 65535) {
      return std::nullopt;
    }
    out.port = static_cast<uint16_t>(port);
    hostport = hostport.substr(0, colon);
  }
  auto addr = ParseIpv4(hostport);
  if (!addr || *addr != client) return std::nullopt;
  out.addr = *addr;
  return out;
}

}  // namespace

std::vector<GenaCallbackUrl> ParseGenaCallbacks(const std::string& header,
                                                uint32_t client, size_t max) {
  std::vector<GenaCallbackUrl> out;
  size_t pos = 0;
  while (out.size() < max) {
    const size_t open = header.find('<', pos);
    if (open == std::string::npos) break;
    const size_t close = header.find('>', open + 1);
    if (close == std::string::npos) break;
    if (auto u = ParseUrl(
            std::string_view(header).substr(open + 1, close - open - 1),
            client)) {
      out.push_back(std::move(*u));
    }
    pos = close + 1;
  }
  return out;
}

std::string GenaPropertySet(const GenaValues& values) {
  tinyxml2::XMLPrinter p(nullptr, true);
  p.PushDeclaration("xml version=\"1.0\"");
  p.OpenElement("e:propertyset", true);
  p.PushAttribute("xmlns:e", "urn:schemas-upnp-org:event-1-0");
  for (const auto& [name, value] : values) {
    p.OpenElement("e:property", true);
    p.OpenElement(name.c_str(), true);
    p.PushText(value.c_str());
    p.CloseElement(true);
    p.CloseElement(true);
  }
  p.CloseElement(true);
  return std::string(p.CStr(), p.CStrSize() > 0 ? p.CStrSize() - 1 : 0);
}

GenaPublisher::GenaPublisher(GenaConfig config, uint64_t seed)
    : config_(config), rng_(seed != 0 ? seed : std::random_device{}()) {}

std::string GenaPublisher::NewSid() {
  const uint64_t a = rng_(), b = rng_();
  char buf[48];
  std::snprintf(buf, sizeof(buf), "uuid:%08x-%04x-4%03x-%04x-%012llx",
                static_cast<uint32_t>(a >> 32),
                static_cast<uint32_t>((a >> 16) & 0xffff),
                static_cast<uint32_t>(a & 0x0fff),
                static_cast<uint32_t>(((b >> 48) & 0x3fff) | 0x8000),
                static_cast<unsigned long long>(b & 0xffffffffffffull));
  return buf;
}

uint32_t GenaPublisher::Timeout(const HttpRequest& q) const {
  uint32_t t = config_.default_timeout_s;
  if (const std::string* h = q.Header("timeout")) {
    const std::string v = absl::AsciiStrToLower(*h);
    uint32_t n = 0;
    if (absl::StartsWith(v, "second-") && absl::SimpleAtoi(v.substr(7), &n) &&
        n > 0) {
      t = n;
    }
  }
  return std::clamp(t, config_.min_timeout_s,
                    std::max(config_.min_timeout_s, config_.max_timeout_s));
}

size_t GenaPublisher::CountClient(NamespaceId ns, uint32_t client) const {
  size_t n = 0;
  for (const auto& [sid, s] : subs_) {
    if (s.ns == ns && s.client == client) ++n;
  }
  return n;
}

std::string GenaPublisher::Granted(const std::string& sid, uint32_t timeout_s) {
  return HttpResponse(
      200, "", "",
      absl::StrCat("SID: ", sid, "\r\nTIMEOUT: Second-", timeout_s,
                   "\r\nSERVER: Linux UPnP/1.1 unat/1.0\r\n"));
}

std::string GenaPublisher::Refuse(int status) {
  stats_.refused++;
  return HttpResponse(status, "", "");
}

std::string GenaPublisher::Handle(NamespaceId ns, uint32_t client,
                                  uint32_t gateway, const std::string& path,
                                  const HttpRequest& q,
                                  const GenaValues& values, TimeMs now) {
  const std::string* sid = q.Header("sid");
  const std::string* nt = q.Header("nt");
  const std::string* callback = q.Header("callback");
  // UDA 1.1 4.1.2/4.1.4: SID together with NT or CALLBACK is 400.
  if (sid != nullptr && (nt != nullptr || callback != nullptr)) {
    return Refuse(400);
  }
  // The caller's own live subscription on this URL named by SID, if any.
  auto own = subs_.end();
  if (sid != nullptr) {
    own = subs_.find(*sid);
    if (own != subs_.end() &&
        (own->second.ns != ns || own->second.client != client ||
         own->second.path != path || own->second.expires <= now)) {
      own = subs_.end();
    }
  }
  if (q.method == "UNSUBSCRIBE") {
    if (own == subs_.end()) return Refuse(412);
    subs_.erase(own);
    stats_.unsubscribed++;
    return HttpResponse(200, "", "");
  }
  if (sid != nullptr) {  // renewal
    if (own == subs_.end()) return Refuse(412);
    const uint32_t t = Timeout(q);
    own->second.expires = now + uint64_t{t} * 1000;
    stats_.renewed++;
    return Granted(*sid, t);
  }
  return Subscribe(ns, client, gateway, path, q, values, now);
}

std::string GenaPublisher::Subscribe(NamespaceId ns, uint32_t client,
                                     uint32_t gateway, const std::string& path,
                                     const HttpRequest& q,
                                     const GenaValues& values, TimeMs now) {
  const std::string* nt = q.Header("nt");
  const std::string* callback = q.Header("callback");
  if (nt == nullptr || *nt != "upnp:event" || callback == nullptr) {
    return Refuse(412);
  }
  std::vector<GenaCallbackUrl> urls =
      ParseGenaCallbacks(*callback, client, config_.max_callbacks);
  if (urls.empty()) return Refuse(412);
  // Expired ones make room first.
  for (auto it = subs_.begin(); it != subs_.end();) {
    if (it->second.expires <= now && !it->second.in_flight) {
      stats_.expired++;
      it = subs_.erase(it);
    } else {
      ++it;
    }
  }
  if (subs_.size() >= config_.max_subscriptions ||
      CountClient(ns, client) >= config_.max_per_client) {
    return Refuse(503);
  }
  const uint32_t t = Timeout(q);
  std::string sid = NewSid();
  Subscription s;
  s.ns = ns;
  s.client = client;
  s.gateway = gateway;
  s.path = path;
  s.callbacks = std::move(urls);
  s.expires = now + uint64_t{t} * 1000;
  s.pending = values;  // the initial event: every evented variable
  subs_.emplace(sid, std::move(s));
  stats_.subscribed++;
  return Granted(sid, t);
}

void GenaPublisher::Update(NamespaceId ns, const std::string& path,
                           const GenaValues& values) {
  for (auto& [sid, s] : subs_) {
    if (s.ns != ns || s.path != path) continue;
    for (const auto& [name, value] : values) {
      auto sent = s.sent.find(name);
      auto pend = s.pending.find(name);
      const bool same_as_sent = sent != s.sent.end() && sent->second == value;
      if (pend != s.pending.end()) {
        pend->second = value;
      } else if (!same_as_sent) {
        s.pending[name] = value;
      }
    }
  }
}

bool GenaPublisher::Watched(NamespaceId ns, const std::string& path) const {
  return std::any_of(subs_.begin(), subs_.end(), [&](const auto& e) {
    return e.second.ns == ns && e.second.path == path;
  });
}

GenaPublisher::Delivery GenaPublisher::Build(const std::string& sid,
                                             const Subscription& s) const {
  const GenaCallbackUrl& cb = s.callbacks[s.callback_index];
  Delivery d;
  d.sid = sid;
  d.ns = s.ns;
  d.gateway = s.gateway;
  d.addr = cb.addr;
  d.port = cb.port;
  d.request = absl::StrCat(
      "NOTIFY ", cb.path, " HTTP/1.1\r\nHOST: ", Ipv4ToString(cb.addr), ":",
      cb.port,
      "\r\nCONTENT-TYPE: text/xml; charset=\"utf-8\"\r\nNT: upnp:event\r\n"
      "NTS: upnp:propchange\r\nSID: ",
      sid, "\r\nSEQ: ", s.message_seq,
      "\r\nCONTENT-LENGTH: ", s.message_body.size(),
      "\r\nCONNECTION: close\r\n\r\n", s.message_body);
  return d;
}

std::vector<GenaPublisher::Delivery> GenaPublisher::Due(TimeMs now,
                                                        size_t max) {
  std::vector<Delivery> out;
  // Retries (the same message to the next callback URL) first.
  size_t r = 0;
  for (; r < retry_.size() && out.size() < max; ++r) {
    auto it = subs_.find(retry_[r]);
    if (it != subs_.end() && it->second.in_flight) {
      out.push_back(Build(retry_[r], it->second));
    }
  }
  retry_.erase(retry_.begin(), retry_.begin() + static_cast<long>(r));
  // Then new messages, starting where the last call stopped so that a cap
  // does not favour the same subscriptions every time.
  std::vector<std::string> expired;
  auto it = subs_.lower_bound(resume_);
  for (size_t visited = 0; visited < subs_.size(); ++visited, ++it) {
    if (it == subs_.end()) it = subs_.begin();
    Subscription& s = it->second;
    if (s.expires <= now && !s.in_flight) {
      expired.push_back(it->first);
      continue;
    }
    if (s.in_flight || s.pending.empty()) continue;
    if (out.size() >= max) {
      resume_ = it->first;
      break;
    }
    for (const auto& [name, value] : s.pending) s.sent[name] = value;
    s.message_body = GenaPropertySet(s.pending);
    s.pending.clear();
    s.message_seq = s.next_seq;
    // SEQ wraps to 1, never back to 0 (UDA 1.1 4.3.2).
    s.next_seq = s.next_seq == 0xffffffffu ? 1 : s.next_seq + 1;
    s.callback_index = 0;
    s.in_flight = true;
    out.push_back(Build(it->first, s));
  }
  for (const std::string& sid : expired) {
    stats_.expired++;
    subs_.erase(sid);
  }
  return out;
}

void GenaPublisher::Delivered(const std::string& sid, bool ok) {
  auto it = subs_.find(sid);
  if (it == subs_.end() || !it->second.in_flight) return;
  Subscription& s = it->second;
  if (ok) {
    stats_.events_sent++;
    s.in_flight = false;
    return;
  }
  if (s.callback_index + 1 < s.callbacks.size()) {
    // The next URL gets the same message; Due() hands it out again.
    s.callback_index++;
    retry_.push_back(sid);
    return;
  }
  stats_.events_failed++;
  s.in_flight = false;
}

}  // namespace unat::portmap
