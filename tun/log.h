// Logging for unatd's control path (start-up, reloads, errors). Never called
// per packet: the packet path only counts.
#pragma once

#include <string>

#include "absl/strings/str_format.h"

namespace unat::tun {

void LogLine(const std::string& line);

template <typename... Args>
void Log(const absl::FormatSpec<Args...>& format, const Args&... args) {
  LogLine(absl::StrFormat(format, args...));
}

}  // namespace unat::tun
