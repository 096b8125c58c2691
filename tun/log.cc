#include "tun/log.h"

#include <unistd.h>

#include <cerrno>
#include <ctime>

#include "absl/strings/str_cat.h"

namespace unat::tun {
namespace {

LogOptions options;

// Control bytes (and DEL) as \xNN: no ANSI sequence, no second line.
void AppendEscaped(std::string* out, absl::string_view message) {
  for (char c : message) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      absl::StrAppendFormat(out, "\\x%02x", u);
    } else {
      out->push_back(c);
    }
  }
}

}  // namespace

void SetLogOptions(const LogOptions& o) { options = o; }
const LogOptions& GetLogOptions() { return options; }

bool LogEnabled(LogLevel level) {
  return static_cast<uint8_t>(level) <= static_cast<uint8_t>(options.level);
}

std::optional<LogLevel> ParseLogLevel(absl::string_view text) {
  for (LogLevel l :
       {LogLevel::kError, LogLevel::kWarn, LogLevel::kInfo, LogLevel::kDebug}) {
    if (text == LogLevelName(l)) return l;
  }
  return std::nullopt;
}

std::optional<LogFormat> ParseLogFormat(absl::string_view text) {
  for (LogFormat f : {LogFormat::kPlain, LogFormat::kSyslog}) {
    if (text == LogFormatName(f)) return f;
  }
  return std::nullopt;
}

absl::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kError:
      return "error";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kDebug:
      return "debug";
  }
  return "info";
}

absl::string_view LogFormatName(LogFormat format) {
  return format == LogFormat::kSyslog ? "syslog" : "plain";
}

std::string FormatLogLine(LogLevel level, absl::string_view message,
                          LogFormat format, const struct timeval& now) {
  std::string line;
  line.reserve(message.size() + 48);
  if (format == LogFormat::kSyslog) {
    absl::StrAppend(&line, "<", static_cast<int>(level), ">");
  } else {
    struct tm tm;
    localtime_r(&now.tv_sec, &tm);
    char stamp[32];
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    absl::StrAppendFormat(&line, "%s.%03d unatd: ", stamp,
                          static_cast<int>(now.tv_usec / 1000));
    switch (level) {
      case LogLevel::kError:
        line += "error: ";
        break;
      case LogLevel::kWarn:
        line += "warning: ";
        break;
      case LogLevel::kDebug:
        line += "debug: ";
        break;
      case LogLevel::kInfo:
        break;
    }
  }
  AppendEscaped(&line, message);
  line.push_back('\n');
  return line;
}

std::string ErrorLinePrefix() {
  return options.format == LogFormat::kSyslog ? "<3>" : "";
}

void LogLine(LogLevel level, absl::string_view message) {
  if (!LogEnabled(level)) return;
  struct timeval tv;
  gettimeofday(&tv, nullptr);
  const std::string line = FormatLogLine(level, message, options.format, tv);
  // One write per line: lines from unatd and its forked parent never mix.
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = write(STDERR_FILENO, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // nowhere to log to: the line is lost, not retried
    done += static_cast<size_t>(n);
  }
}

}  // namespace unat::tun
