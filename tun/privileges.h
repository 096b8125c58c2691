// Giving up privilege for good. unatd opens everything that needs privilege
// first (TUN devices, possibly in other network namespaces, the control
// socket, the state file), then becomes an ordinary user with no
// capabilities at all: none effective, permitted, inheritable or ambient,
// an empty bounding set, and PR_SET_NO_NEW_PRIVS, so nothing it executes or
// does later can gain any back. See docs/unprivileged.md.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace unat::tun {

// Who to become: a user, its uid and the group to run with.
struct RunAs {
  std::string user;  // empty: no switch
  uid_t uid = static_cast<uid_t>(-1);
  std::string group;  // the user's primary group unless configured
  gid_t gid = static_cast<gid_t>(-1);
};

// Looks the user (and the group; empty: the user's primary group) up.
// Errors are one line naming the field: `user: "x" is not a user`. `group`
// without `user` is an error; so is uid 0 or gid 0.
absl::StatusOr<RunAs> ResolveRunAs(const std::string& user,
                                   const std::string& group);

// As root: sets the groups (the user's supplementary groups, and `gid`),
// gid and uid (real, effective and saved), then clears every capability set
// including the bounding set and the ambient set, and sets no_new_privs.
// Checks afterwards that uid 0 cannot be regained. Any failure is an error:
// the caller must not go on.
absl::Status DropPrivileges(const RunAs& who);

// When started as an ordinary user: clears whatever capabilities the process
// has (e.g. from file capabilities), the ambient set, the bounding set where
// that is allowed, and sets no_new_privs. Returns a note when the bounding
// set stays non-empty (only a process with CAP_SETPCAP may empty it; start
// unatd with `setpriv --bounding-set=-all` for that), else an empty string.
absl::StatusOr<std::string> ShedCapabilities();

// The process's capability sets, as /proc/self/status shows them.
struct CapabilitySets {
  uint64_t effective = 0;
  uint64_t permitted = 0;
  uint64_t inheritable = 0;
  uint64_t bounding = 0;
  uint64_t ambient = 0;
};
absl::StatusOr<CapabilitySets> ReadCapabilitySets();

// "uid 1001 (alice)" / "uid 1001" when the uid has no name.
std::string DescribeUid(uid_t uid);
// The name of `uid`, or its number when it has none.
std::string UserName(uid_t uid);

}  // namespace unat::tun
