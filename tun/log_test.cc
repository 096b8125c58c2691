// unatd's log: levels, the filter, the plain and syslog line formats, and
// log_level / log_format from the config and the flags.
#include "tun/log.h"

#include <sys/time.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tun/config.h"
#include "tun/flags.h"

namespace unat::tun {
namespace {

constexpr char kGood[] = R"(
inside { name: "lan" device: "unat0" netns: "unat-lan" address: "10.77.0.1/24" }
outside { device: "unatw0" netns: "unat-wan" external_address: "203.0.113.1" }
control { socket: "/run/unat/test.sock" }
)";

// Restores the process-wide options after each test.
class LogTest : public testing::Test {
 protected:
  void TearDown() override { SetLogOptions(LogOptions{}); }

  // What the Log* calls in `body` write to stderr.
  template <typename Body>
  static std::string Captured(const LogOptions& options, Body body) {
    SetLogOptions(options);
    testing::internal::CaptureStderr();
    body();
    return testing::internal::GetCapturedStderr();
  }
};

struct timeval At(time_t sec, long usec) {
  struct timeval tv;
  tv.tv_sec = sec;
  tv.tv_usec = usec;
  return tv;
}

TEST_F(LogTest, SyslogFormatIsThePriorityPrefixAndTheMessage) {
  const struct timeval now = At(1764774450, 123456);
  EXPECT_EQ(FormatLogLine(LogLevel::kError, "state: saving failed",
                          LogFormat::kSyslog, now),
            "<3>state: saving failed\n");
  EXPECT_EQ(FormatLogLine(LogLevel::kWarn, "w", LogFormat::kSyslog, now),
            "<4>w\n");
  EXPECT_EQ(FormatLogLine(LogLevel::kInfo, "running", LogFormat::kSyslog, now),
            "<6>running\n");
  EXPECT_EQ(FormatLogLine(LogLevel::kDebug, "d", LogFormat::kSyslog, now),
            "<7>d\n");
}

TEST_F(LogTest, PlainFormatHasTimeNameAndLevelWord) {
  const struct timeval now = At(1764774450, 123456);
  struct tm tm;
  localtime_r(&now.tv_sec, &tm);
  char stamp[32];
  strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
  const std::string head = std::string(stamp) + ".123 unatd: ";
  EXPECT_EQ(FormatLogLine(LogLevel::kInfo, "running", LogFormat::kPlain, now),
            head + "running\n");
  EXPECT_EQ(FormatLogLine(LogLevel::kError, "x", LogFormat::kPlain, now),
            head + "error: x\n");
  EXPECT_EQ(FormatLogLine(LogLevel::kWarn, "x", LogFormat::kPlain, now),
            head + "warning: x\n");
  EXPECT_EQ(FormatLogLine(LogLevel::kDebug, "x", LogFormat::kPlain, now),
            head + "debug: x\n");
}

TEST_F(LogTest, ControlBytesNeverReachTheLine) {
  // A description with a colour sequence and a forged second line.
  const std::string message = "desc \x1b[31mred\x1b[0m\n<3>forged\r\x7f";
  for (LogFormat format : {LogFormat::kPlain, LogFormat::kSyslog}) {
    const std::string line =
        FormatLogLine(LogLevel::kInfo, message, format, At(0, 0));
    EXPECT_EQ(line.find('\x1b'), std::string::npos) << line;
    EXPECT_EQ(line.find('\r'), std::string::npos) << line;
    EXPECT_EQ(line.find('\x7f'), std::string::npos) << line;
    EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
    EXPECT_TRUE(absl::StrContains(
        line, "desc \\x1b[31mred\\x1b[0m\\x0a<3>forged\\x0d\\x7f\n"))
        << line;
  }
}

TEST_F(LogTest, LevelFilterDropsLessSevereLines) {
  auto all = [] {
    LogError("e %d", 1);
    LogWarn("w %s", "2");
    Log("i %d", 3);
    LogDebug("d %d", 4);
  };
  const LogFormat s = LogFormat::kSyslog;
  EXPECT_EQ(Captured({LogLevel::kError, s}, all), "<3>e 1\n");
  EXPECT_EQ(Captured({LogLevel::kWarn, s}, all), "<3>e 1\n<4>w 2\n");
  EXPECT_EQ(Captured({LogLevel::kInfo, s}, all), "<3>e 1\n<4>w 2\n<6>i 3\n");
  EXPECT_EQ(Captured({LogLevel::kDebug, s}, all),
            "<3>e 1\n<4>w 2\n<6>i 3\n<7>d 4\n");
  // The default: info, plain.
  SetLogOptions(LogOptions{});
  EXPECT_TRUE(LogEnabled(LogLevel::kInfo));
  EXPECT_FALSE(LogEnabled(LogLevel::kDebug));
  EXPECT_EQ(GetLogOptions().format, LogFormat::kPlain);
}

TEST_F(LogTest, ErrorLinePrefixFollowsTheFormat) {
  SetLogOptions({LogLevel::kInfo, LogFormat::kPlain});
  EXPECT_EQ(ErrorLinePrefix(), "");
  SetLogOptions({LogLevel::kError, LogFormat::kSyslog});
  EXPECT_EQ(ErrorLinePrefix(), "<3>");
}

TEST_F(LogTest, NamesParseBothWays) {
  for (LogLevel l :
       {LogLevel::kError, LogLevel::kWarn, LogLevel::kInfo, LogLevel::kDebug}) {
    EXPECT_EQ(ParseLogLevel(LogLevelName(l)), l);
  }
  EXPECT_EQ(ParseLogLevel("warning"), std::nullopt);
  EXPECT_EQ(ParseLogLevel("INFO"), std::nullopt);
  EXPECT_EQ(ParseLogLevel(""), std::nullopt);
  EXPECT_EQ(ParseLogFormat("plain"), LogFormat::kPlain);
  EXPECT_EQ(ParseLogFormat("syslog"), LogFormat::kSyslog);
  EXPECT_EQ(ParseLogFormat("json"), std::nullopt);
}

// The config fields and the flags over them.
std::string Built(const std::string& extra, std::vector<const char*> args,
                  LogOptions* out) {
  args.insert(args.begin(), "unatd");
  auto f = ParseFlags(static_cast<int>(args.size()),
                      const_cast<char**>(args.data()));
  if (!f.ok()) return std::string(f.status().message());
  auto parsed = ParseConfigText(std::string(kGood) + extra, "t");
  if (!parsed.ok()) return std::string(parsed.status().message());
  ApplyFlags(*f, &*parsed);
  auto c = BuildDaemonConfig(*parsed);
  if (!c.ok()) return ConfigErrorLine(*f, c.status());
  *out = c->log;
  return "ok";
}

TEST_F(LogTest, ConfigFieldsAndFlags) {
  LogOptions o;
  ASSERT_EQ(Built("", {}, &o), "ok");
  EXPECT_EQ(o.level, LogLevel::kInfo);
  EXPECT_EQ(o.format, LogFormat::kPlain);
  ASSERT_EQ(Built("log_level: \"debug\" log_format: \"syslog\"", {}, &o), "ok");
  EXPECT_EQ(o.level, LogLevel::kDebug);
  EXPECT_EQ(o.format, LogFormat::kSyslog);
  // The flag wins.
  ASSERT_EQ(Built("log_level: \"debug\" log_format: \"syslog\"",
                  {"--log-level", "error", "--log-format=plain"}, &o),
            "ok");
  EXPECT_EQ(o.level, LogLevel::kError);
  EXPECT_EQ(o.format, LogFormat::kPlain);
  // Bad values name the field (or the flag) and the value.
  EXPECT_EQ(Built("log_level: \"loud\"", {}, &o),
            "config: log_level: \"loud\" is not error, warn, info or debug");
  EXPECT_EQ(Built("log_format: \"json\"", {}, &o),
            "config: log_format: \"json\" is not plain or syslog");
  EXPECT_EQ(Built("", {"--log-level", "warning"}, &o),
            "--log-level: \"warning\" is not error, warn, info or debug");
  EXPECT_EQ(Built("", {"--log-format", "ansi"}, &o),
            "--log-format: \"ansi\" is not plain or syslog");
  // A bad config value under a good flag: the flag's value is used.
  ASSERT_EQ(Built("log_level: \"loud\"", {"--log-level", "warn"}, &o), "ok");
  EXPECT_EQ(o.level, LogLevel::kWarn);
}

TEST_F(LogTest, HelpListsTheFlags) {
  const std::string help = FlagsHelp();
  EXPECT_TRUE(absl::StrContains(help, "--log-level LEVEL")) << help;
  EXPECT_TRUE(absl::StrContains(help, "--log-format FORMAT")) << help;
}

}  // namespace
}  // namespace unat::tun
