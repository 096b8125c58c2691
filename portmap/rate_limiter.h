// Per-client token buckets with bounded state: a client that floods the
// server is refused (and counted) while others are still served. When the
// table is full, the client heard from least recently is forgotten, so a
// spoofing flood of many sources cannot lock real clients out for long.
#pragma once

#include <cstdint>
#include <map>
#include <utility>

#include "engine/types.h"

namespace unat::portmap {

struct RateLimit {
  uint32_t per_second = 10;  // sustained requests per client
  uint32_t burst = 20;       // bucket size
  uint32_t max_clients = 1024;
};

class RateLimiter {
 public:
  explicit RateLimiter(RateLimit limit) : limit_(limit) {}
  // Takes one token for (ns, client); false when the bucket is empty.
  bool Allow(NamespaceId ns, uint32_t client, TimeMs now);
  size_t size() const { return buckets_.size(); }
  const RateLimit& limit() const { return limit_; }
  // A new limit (a reload): buckets keep their tokens, refilled and capped
  // by the new one from now on.
  void set_limit(RateLimit limit) { limit_ = limit; }

 private:
  struct Bucket {
    uint64_t tokens_milli = 0;  // tokens * 1000
    TimeMs last = 0;
  };
  RateLimit limit_;
  std::map<std::pair<NamespaceId, uint32_t>, Bucket> buckets_;
};

}  // namespace unat::portmap
