// Forwards (see engine/forwards.h).
#include "engine/forwards.h"

#include "absl/strings/str_cat.h"
#include "engine/slots.h"

namespace unat {
namespace internal {

absl::Status ValidateRemoteFilters(const std::vector<RemoteFilter>& filters) {
  if (filters.size() > ForwardSpec::kMaxRemoteFilters) {
    return absl::InvalidArgumentError(
        absl::StrCat("forward allowed_remotes: ", filters.size(),
                     " entries, at most ", ForwardSpec::kMaxRemoteFilters));
  }
  for (const RemoteFilter& r : filters) {
    if (r.prefix_len > 32) {
      return absl::InvalidArgumentError(absl::StrCat(
          "forward allowed_remotes: prefix_len ", r.prefix_len, " > 32"));
    }
  }
  return absl::OkStatus();
}

int ForwardTable::Find(uint8_t proto, uint32_t ext_addr, uint16_t port) const {
  for (size_t i = 0; i < items_.size(); ++i) {
    const Entry& f = items_[i];
    if (f.live && f.spec.proto == proto && f.spec.external_port == port &&
        f.spec.external_addr == ext_addr) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

uint32_t ForwardTable::Add(const ForwardSpec& spec) {
  const uint32_t id = TakeSlot(items_, free_);
  items_[id].live = true;
  items_[id].spec = spec;
  if (spec.expires != 0) expiry_.emplace(spec.expires, id);
  live_++;
  return id;
}

void ForwardTable::Remove(uint32_t id) {
  if (!Live(id)) return;
  items_[id].live = false;
  free_.push_back(id);
  live_--;
}

void ForwardTable::Renew(uint32_t id, TimeMs expires) {
  items_[id].spec.expires = expires;
  if (expires != 0) expiry_.emplace(expires, id);
}

bool ForwardTable::RemoteAllowed(const ForwardSpec& spec, uint32_t src,
                                 uint16_t sport) {
  if (spec.allowed_remotes.empty()) return true;
  for (const RemoteFilter& r : spec.allowed_remotes) {
    const uint32_t mask = PrefixMask(r.prefix_len);
    if ((src & mask) == (r.addr & mask) && (r.port == 0 || r.port == sport)) {
      return true;
    }
  }
  return false;
}

}  // namespace internal
}  // namespace unat
