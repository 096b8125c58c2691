// Running a piece of set-up code inside another network namespace.
#pragma once

#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"

namespace unat::tun {

// "unat-lan" -> "/var/run/netns/unat-lan"; a value containing '/' is taken as
// a path as it is.
std::string NetnsPath(const std::string& netns);

// Enters `netns` (empty: stays where it is), runs `fn`, and comes back to the
// namespace the calling thread was in. File descriptors `fn` opens stay bound
// to the namespace they were opened in. Only for single-threaded set-up code.
absl::Status RunInNetns(const std::string& netns,
                        absl::FunctionRef<absl::Status()> fn);

}  // namespace unat::tun
