#include "tun/privileges.h"

#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace unat::tun {
namespace {

std::string Quote(absl::string_view s) { return absl::StrCat("\"", s, "\""); }

absl::Status Errno(absl::string_view what) {
  return absl::PermissionDeniedError(
      absl::StrCat(std::string(what), ": ", strerror(errno)));
}

// Empties the effective, permitted and inheritable sets (capset(2) through
// the system call: no libcap).
absl::Status ClearCapabilities() {
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;
  __user_cap_data_struct data[2]{};
  if (syscall(SYS_capset, &header, data) != 0) {
    return Errno("capset (clearing all capabilities)");
  }
  return absl::OkStatus();
}

// Drops every capability from the bounding set. Needs CAP_SETPCAP; without
// it returns false and leaves the set as it is.
absl::StatusOr<bool> ClearBoundingSet() {
  for (int cap = 0; cap < 64; ++cap) {
    int in = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
    if (in < 0) break;  // EINVAL: past the last capability the kernel knows
    if (in == 0) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
      if (errno == EPERM) return false;
      return Errno(
          absl::StrCat("dropping capability ", cap, " from the bounding set"));
    }
  }
  return true;
}

absl::Status ClearAmbientAndSetNoNewPrivs() {
  // EINVAL: a kernel without ambient capabilities has none to clear.
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 &&
      errno != EINVAL) {
    return Errno("clearing the ambient capabilities");
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return Errno("PR_SET_NO_NEW_PRIVS");
  }
  return absl::OkStatus();
}

}  // namespace

std::string UserName(uid_t uid) {
  struct passwd pw;
  struct passwd* found = nullptr;
  char buf[4096];
  if (getpwuid_r(uid, &pw, buf, sizeof(buf), &found) == 0 && found != nullptr) {
    return pw.pw_name;
  }
  return absl::StrCat(uid);
}

std::string DescribeUid(uid_t uid) {
  std::string name = UserName(uid);
  if (name == absl::StrCat(uid)) return absl::StrCat("uid ", uid);
  return absl::StrCat("uid ", uid, " (", name, ")");
}

absl::StatusOr<RunAs> ResolveRunAs(const std::string& user,
                                   const std::string& group) {
  RunAs who;
  if (user.empty()) {
    if (!group.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "group: ", Quote(group),
          " needs user (the user unatd drops to when started as root)"));
    }
    return who;
  }
  struct passwd pw;
  struct passwd* found = nullptr;
  char buf[4096];
  if (getpwnam_r(user.c_str(), &pw, buf, sizeof(buf), &found) != 0 ||
      found == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("user: ", Quote(user), " is not a user"));
  }
  if (pw.pw_uid == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("user: ", Quote(user),
                     " is uid 0; name an unprivileged user to drop to"));
  }
  who.user = user;
  who.uid = pw.pw_uid;
  who.gid = pw.pw_gid;
  if (!group.empty()) {
    struct group gr;
    struct group* gfound = nullptr;
    char gbuf[16384];
    if (getgrnam_r(group.c_str(), &gr, gbuf, sizeof(gbuf), &gfound) != 0 ||
        gfound == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("group: ", Quote(group), " is not a group"));
    }
    who.gid = gr.gr_gid;
    who.group = group;
    if (who.gid == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "group: ", Quote(group), " is gid 0; name an unprivileged group"));
    }
  } else {
    struct group gr;
    struct group* gfound = nullptr;
    char gbuf[16384];
    if (getgrgid_r(who.gid, &gr, gbuf, sizeof(gbuf), &gfound) == 0 &&
        gfound != nullptr) {
      who.group = gr.gr_name;
    } else {
      who.group = absl::StrCat(who.gid);
    }
    if (who.gid == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "user: ", Quote(user), " has primary group 0 (root); set group"));
    }
  }
  return who;
}

absl::Status DropPrivileges(const RunAs& who) {
  if (who.user.empty() || who.uid == 0 || who.gid == 0) {
    return absl::InvalidArgumentError("no unprivileged user to drop to");
  }
  // The bounding set first: emptying it needs CAP_SETPCAP, which goes with
  // the uid change below.
  auto bounding = ClearBoundingSet();
  if (!bounding.ok()) return bounding.status();
  if (!*bounding) {
    return absl::PermissionDeniedError(
        "cannot empty the capability bounding set (no CAP_SETPCAP)");
  }
  if (initgroups(who.user.c_str(), who.gid) != 0) {
    return Errno(absl::StrCat("initgroups(", who.user, ")"));
  }
  if (setresgid(who.gid, who.gid, who.gid) != 0) {
    return Errno(absl::StrCat("setresgid(", who.gid, ")"));
  }
  // All three uids non-zero: the kernel empties the permitted and effective
  // sets here (no SECBIT_KEEP_CAPS).
  if (setresuid(who.uid, who.uid, who.uid) != 0) {
    return Errno(absl::StrCat("setresuid(", who.uid, ")"));
  }
  if (absl::Status s = ClearCapabilities(); !s.ok()) return s;
  if (absl::Status s = ClearAmbientAndSetNoNewPrivs(); !s.ok()) return s;

  // Check, do not trust.
  uid_t r, e, s;
  gid_t rg, eg, sg;
  if (getresuid(&r, &e, &s) != 0 || getresgid(&rg, &eg, &sg) != 0 ||
      r != who.uid || e != who.uid || s != who.uid || rg != who.gid ||
      eg != who.gid || sg != who.gid) {
    return absl::InternalError("the uid/gid change did not take");
  }
  if (setuid(0) == 0 || seteuid(0) == 0) {
    return absl::InternalError("uid 0 could be regained after the drop");
  }
  auto caps = ReadCapabilitySets();
  if (!caps.ok()) return caps.status();
  if (caps->effective != 0 || caps->permitted != 0 || caps->inheritable != 0 ||
      caps->bounding != 0 || caps->ambient != 0) {
    return absl::InternalError("capabilities remain after the drop");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ShedCapabilities() {
  auto bounding = ClearBoundingSet();
  if (!bounding.ok()) return bounding.status();
  if (absl::Status s = ClearCapabilities(); !s.ok()) return s;
  if (absl::Status s = ClearAmbientAndSetNoNewPrivs(); !s.ok()) return s;
  auto caps = ReadCapabilitySets();
  if (!caps.ok()) return caps.status();
  if (caps->bounding != 0) {
    return std::string(
        "the capability bounding set is not empty (only a process with "
        "CAP_SETPCAP may empty it: start unatd with setpriv "
        "--bounding-set=-all); it cannot be used: no capabilities are held "
        "and no_new_privs is set");
  }
  return std::string();
}

absl::StatusOr<CapabilitySets> ReadCapabilitySets() {
  std::ifstream in("/proc/self/status");
  if (!in) {
    return absl::InternalError(
        absl::StrCat("/proc/self/status: ", strerror(errno)));
  }
  CapabilitySets caps;
  int seen = 0;
  std::string line;
  while (std::getline(in, line)) {
    uint64_t* field = nullptr;
    absl::string_view v(line);
    if (absl::ConsumePrefix(&v, "CapInh:")) {
      field = &caps.inheritable;
    } else if (absl::ConsumePrefix(&v, "CapPrm:")) {
      field = &caps.permitted;
    } else if (absl::ConsumePrefix(&v, "CapEff:")) {
      field = &caps.effective;
    } else if (absl::ConsumePrefix(&v, "CapBnd:")) {
      field = &caps.bounding;
    } else if (absl::ConsumePrefix(&v, "CapAmb:")) {
      field = &caps.ambient;
    }
    if (field == nullptr) continue;
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
      v.remove_prefix(1);
    }
    if (!absl::SimpleHexAtoi(v, field)) {
      return absl::InternalError(
          absl::StrCat("/proc/self/status: cannot read \"", line, "\""));
    }
    ++seen;
  }
  if (seen < 4) {
    return absl::InternalError("/proc/self/status: capability lines missing");
  }
  return caps;
}

}  // namespace unat::tun
