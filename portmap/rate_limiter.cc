#include "portmap/rate_limiter.h"

#include <algorithm>

namespace unat::portmap {

bool RateLimiter::Allow(NamespaceId ns, uint32_t client, TimeMs now) {
  const uint64_t cap = uint64_t{limit_.burst} * 1000;
  auto it = buckets_.find({ns, client});
  if (it == buckets_.end()) {
    if (limit_.max_clients == 0) return false;
    if (buckets_.size() >= limit_.max_clients) {
      auto oldest = std::min_element(buckets_.begin(), buckets_.end(),
                                     [](const auto& a, const auto& b) {
                                       return a.second.last < b.second.last;
                                     });
      buckets_.erase(oldest);
    }
    it = buckets_.emplace(std::make_pair(ns, client), Bucket{cap, now}).first;
  } else if (now > it->second.last) {
    const uint64_t elapsed = now - it->second.last;
    it->second.tokens_milli =
        std::min(cap, it->second.tokens_milli + elapsed * limit_.per_second);
    it->second.last = now;
  }
  if (it->second.tokens_milli < 1000) return false;
  it->second.tokens_milli -= 1000;
  return true;
}

}  // namespace unat::portmap
