// Logging for unatd's control path (start-up, reloads, leases, forwards,
// errors). Never called per packet: the packet path only counts.
//
// Four levels, syslog's priorities: Log() is info (most lines), LogError(),
// LogWarn() and LogDebug() the others. The level below which lines are
// dropped and the line format are set once at start-up (SetLogOptions); a
// line below the level is not even formatted. Lines go to stderr, one
// write each, without colours; control bytes in a message (a newline, ESC)
// are written as \xNN so that a line is always one line. Formats
// (docs/configuration.md, "Log"):
//   plain:  2026-12-03T15:07:30.123 unatd: warning: MESSAGE
//           (no level word for info)
//   syslog: <4>MESSAGE   (sd-daemon(3) prefix; journald adds time and name)
#pragma once

#include <sys/time.h>

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace unat::tun {

// The values are syslog's (and sd-daemon(3)'s SD_ERR ... SD_DEBUG).
enum class LogLevel : uint8_t { kError = 3, kWarn = 4, kInfo = 6, kDebug = 7 };
enum class LogFormat : uint8_t { kPlain, kSyslog };

struct LogOptions {
  LogLevel level = LogLevel::kInfo;  // lines above it (less severe) dropped
  LogFormat format = LogFormat::kPlain;
};

void SetLogOptions(const LogOptions& options);
const LogOptions& GetLogOptions();
bool LogEnabled(LogLevel level);

// "error", "warn", "info", "debug" / "plain", "syslog" (exactly these).
std::optional<LogLevel> ParseLogLevel(absl::string_view text);
std::optional<LogFormat> ParseLogFormat(absl::string_view text);
absl::string_view LogLevelName(LogLevel level);
absl::string_view LogFormatName(LogFormat format);

// The line as LogLine writes it, with its newline.
std::string FormatLogLine(LogLevel level, absl::string_view message,
                          LogFormat format, const struct timeval& now);
// The prefix of a line that does not come through Log (unatd's one fatal
// start-up line, "unatd: config: ..."): "<3>" in the syslog format, else "".
std::string ErrorLinePrefix();

// Writes one line if `level` passes the filter.
void LogLine(LogLevel level, absl::string_view message);

template <typename... Args>
void LogAt(LogLevel level, const absl::FormatSpec<Args...>& format,
           const Args&... args) {
  if (!LogEnabled(level)) return;
  LogLine(level, absl::StrFormat(format, args...));
}

// Info: what happened (start, stop, leases, forwards, reloads).
template <typename... Args>
void Log(const absl::FormatSpec<Args...>& format, const Args&... args) {
  LogAt(LogLevel::kInfo, format, args...);
}
// Something failed and unatd cannot do what it was asked (a device no
// longer read, a state file not saved).
template <typename... Args>
void LogError(const absl::FormatSpec<Args...>& format, const Args&... args) {
  LogAt(LogLevel::kError, format, args...);
}
// Something is off but unatd goes on as configured (an entry skipped, a
// setting it could not apply).
template <typename... Args>
void LogWarn(const absl::FormatSpec<Args...>& format, const Args&... args) {
  LogAt(LogLevel::kWarn, format, args...);
}
// Detail for finding out why (state saves and their cost).
template <typename... Args>
void LogDebug(const absl::FormatSpec<Args...>& format, const Args&... args) {
  LogAt(LogLevel::kDebug, format, args...);
}

}  // namespace unat::tun
