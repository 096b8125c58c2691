// GENA eventing for the UPnP IGD (UDA 1.1 section 4): SUBSCRIBE, renewal
// and UNSUBSCRIBE on a service's event URL, and the event messages (NOTIFY
// upnp:propchange with an e:propertyset) to the subscriber's callback.
//
// Transport-free: Handle() answers one HTTP request; Update() takes a
// service's current evented values and queues what changed; Due() hands out
// the NOTIFY requests to deliver (at most one in flight per subscription),
// and Delivered() takes the outcome. UpnpServer carries them over its TCP
// endpoint.
//
// Callbacks must name the subscriber itself (http://ITS-ADDRESS[:PORT]/...):
// unat never makes connections to a third host on a control point's word.
// Bounded: subscriptions in total and per client, callback URLs per
// subscription; timeouts clamped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "engine/types.h"
#include "portmap/http.h"

namespace unat::portmap {

struct GenaConfig {
  uint32_t max_subscriptions = 64;
  uint32_t max_per_client = 4;
  uint32_t max_callbacks = 4;  // URLs kept per subscription
  // Granted TIMEOUT: the request (or the default for none or "infinite"),
  // clamped to [min, max].
  uint32_t default_timeout_s = 1800;
  uint32_t min_timeout_s = 60;
  uint32_t max_timeout_s = 1800;
};

struct GenaStats {
  uint64_t subscribed = 0;
  uint64_t renewed = 0;
  uint64_t unsubscribed = 0;
  uint64_t expired = 0;
  uint64_t refused = 0;  // 400, 412, 503 answers
  uint64_t events_sent = 0;
  uint64_t events_failed = 0;  // every callback URL failed
};

// Values of a service's evented state variables: name -> value.
using GenaValues = std::map<std::string, std::string>;

// "<http://10.77.0.2:49000/evt><http://...>": the URLs that name `client`
// itself (http, IPv4 literal host, optional port, path), at most `max`.
// Exposed for tests.
struct GenaCallbackUrl {
  uint32_t addr = 0;
  uint16_t port = 80;
  std::string path;
};
std::vector<GenaCallbackUrl> ParseGenaCallbacks(const std::string& header,
                                                uint32_t client, size_t max);

class GenaPublisher {
 public:
  explicit GenaPublisher(GenaConfig config, uint64_t seed = 0);

  // SUBSCRIBE or UNSUBSCRIBE to the event URL `path` from `client` in `ns`
  // (at `gateway`); `values` are the service's current values, sent in the
  // initial event of a new subscription. Returns the whole HTTP response.
  std::string Handle(NamespaceId ns, uint32_t client, uint32_t gateway,
                     const std::string& path, const HttpRequest& request,
                     const GenaValues& values, TimeMs now);

  // The current values of `path` in `ns`: every subscriber gets an event
  // with the variables that differ from what it was last sent.
  void Update(NamespaceId ns, const std::string& path,
              const GenaValues& values);

  struct Delivery {
    std::string sid;
    NamespaceId ns = kInvalidNamespace;
    uint32_t gateway = 0;
    uint32_t addr = 0;  // callback address (the subscriber) and port
    uint16_t port = 0;
    std::string request;  // the whole NOTIFY request
  };
  // Expires subscriptions and returns the events to deliver now, at most
  // `max` (the others wait for a later call; nothing is lost).
  std::vector<Delivery> Due(TimeMs now, size_t max = SIZE_MAX);
  // The outcome of a delivery: `ok` = a 2xx answer. A failure tries the
  // subscription's next callback URL with the same message; when every
  // URL failed the event is dropped (the subscription stays).
  void Delivered(const std::string& sid, bool ok);

  // Whether anyone subscribed to `path` in `ns`.
  bool Watched(NamespaceId ns, const std::string& path) const;
  size_t size() const { return subs_.size(); }
  const GenaStats& stats() const { return stats_; }

 private:
  struct Subscription {
    NamespaceId ns = kInvalidNamespace;
    uint32_t client = 0;
    uint32_t gateway = 0;
    std::string path;
    std::vector<GenaCallbackUrl> callbacks;
    TimeMs expires = 0;
    uint32_t next_seq = 0;
    GenaValues sent;     // last values delivered (or being delivered)
    GenaValues pending;  // changed values not yet in a message
    // In flight: the message and the callback it went to.
    bool in_flight = false;
    std::string message_body;
    uint32_t message_seq = 0;
    size_t callback_index = 0;
  };

  std::string Subscribe(NamespaceId ns, uint32_t client, uint32_t gateway,
                        const std::string& path, const HttpRequest& q,
                        const GenaValues& values, TimeMs now);
  std::string Refuse(int status);
  // 200 with SID and TIMEOUT.
  std::string Granted(const std::string& sid, uint32_t timeout_s);
  uint32_t Timeout(const HttpRequest& q) const;
  std::string NewSid();
  Delivery Build(const std::string& sid, const Subscription& s) const;
  size_t CountClient(NamespaceId ns, uint32_t client) const;

  GenaConfig config_;
  std::mt19937_64 rng_;
  std::map<std::string, Subscription> subs_;  // by SID
  std::vector<std::string> retry_;  // in flight, to the next callback URL
  std::string resume_;              // where Due() goes on
  GenaStats stats_;
};

// The e:propertyset body for `values` (tinyxml2, escaped).
std::string GenaPropertySet(const GenaValues& values);

}  // namespace unat::portmap
