// unatd: userspace IPv4 NAT on TUN devices.
//
// Exit codes: 0 clean stop, 1 run-time failure (devices, sockets, state
// file), 2 bad flags or config.
#include <fcntl.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "tun/config.h"
#include "tun/daemon.h"
#include "tun/flags.h"
#include "tun/log.h"
#include "tun/privileges.h"

namespace {

using unat::tun::DaemonConfig;
using unat::tun::Flags;

int Fail(int code, const std::string& line) {
  fprintf(stderr, "%sunatd: %s\n", unat::tun::ErrorLinePrefix().c_str(),
          line.c_str());
  return code;
}

absl::StatusOr<DaemonConfig> LoadAll(const Flags& flags) {
  auto parsed = unat::tun::LoadConfigFile(flags.config);
  if (!parsed.ok()) return parsed.status();
  unat::tun::ApplyFlags(flags, &*parsed);
  return unat::tun::BuildDaemonConfig(*parsed);
}

bool WritePidFile(const std::string& path, pid_t pid) {
  std::string tmp = absl::StrCat(path, ".tmp");
  FILE* f = fopen(tmp.c_str(), "w");
  if (f == nullptr) return false;
  fprintf(f, "%d\n", static_cast<int>(pid));
  bool ok = fclose(f) == 0;
  return ok && rename(tmp.c_str(), path.c_str()) == 0;
}

// Everything privileged is open now. Started as root with a user set:
// become that user with no capabilities left, and check that the state can
// still be saved. Started as root without one: stay (and say so). Started as
// an ordinary user: shed whatever capabilities the process has.
absl::Status SettlePrivileges(unat::tun::Daemon& daemon,
                              const DaemonConfig& config,
                              const std::string& state_dir,
                              bool state_dir_existed) {
  const unat::tun::RunAs& who = config.run_as;
  if (geteuid() == 0 && who.user.empty()) {
    unat::tun::Log(
        "privileges: running as root (set user to drop privileges after "
        "start-up; see docs/unprivileged.md)");
    return absl::OkStatus();
  }
  if (geteuid() == 0) {
    if (!state_dir_existed && !state_dir.empty() &&
        chown(state_dir.c_str(), who.uid, who.gid) != 0) {
      return absl::PermissionDeniedError(absl::StrCat(
          "chown ", state_dir, " to user ", who.user, ": ", strerror(errno)));
    }
    // The socket is the daemon's: its user owns it (the group stays the
    // configured control.group).
    if (chown(config.ctl_socket.c_str(), who.uid, static_cast<gid_t>(-1)) !=
        0) {
      return absl::PermissionDeniedError(
          absl::StrCat("chown ", config.ctl_socket, " to user ", who.user, ": ",
                       strerror(errno)));
    }
    if (absl::Status s = unat::tun::DropPrivileges(who); !s.ok()) {
      return absl::PermissionDeniedError(absl::StrCat(
          "dropping privileges to user ", who.user, ": ", s.message()));
    }
    if (absl::Status s = daemon.SaveStateChecked(); !s.ok()) {
      return absl::PermissionDeniedError(absl::StrCat(
          "as user ", who.user, " the state file cannot be saved: ",
          s.message(), " (make ", state_dir, " writable by ", who.user, ")"));
    }
    unat::tun::Log(
        "privileges: dropped to user %s (uid %d), group %s (gid %d); no "
        "capabilities, empty bounding set, no_new_privs",
        who.user, static_cast<int>(who.uid), who.group,
        static_cast<int>(who.gid));
    return absl::OkStatus();
  }
  auto note = unat::tun::ShedCapabilities();
  if (!note.ok()) {
    return absl::PermissionDeniedError(
        absl::StrCat("shedding capabilities: ", note.status().message()));
  }
  unat::tun::Log("privileges: running as %s; no capabilities, no_new_privs",
                 unat::tun::DescribeUid(geteuid()));
  if (!note->empty()) unat::tun::Log("privileges: %s", *note);
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  auto flags = unat::tun::ParseFlags(argc, argv);
  if (!flags.ok()) {
    return Fail(2, absl::StrCat("flags: ", flags.status().message()));
  }
  if (flags->help) {
    fputs(unat::tun::FlagsHelp().c_str(), stdout);
    return 0;
  }
  if (flags->version) {
    puts("unatd " UNAT_VERSION);
    return 0;
  }
  if (flags->log_format) {
    // Until the config is read: a bad config's line has the right prefix.
    unat::tun::SetLogOptions({unat::tun::LogLevel::kInfo,
                              *unat::tun::ParseLogFormat(*flags->log_format)});
  }
  auto config = LoadAll(*flags);
  if (!config.ok()) {
    return Fail(2, unat::tun::ConfigErrorLine(*flags, config.status()));
  }
  // Level and format are set once; a reload does not change them.
  unat::tun::SetLogOptions(config->log);
  if (flags->check_config) {
    // What the engine would say, too (no devices are opened).
    auto nat = unat::Nat::Create(config->nat);
    if (!nat.ok()) {
      return Fail(2, absl::StrCat("config: engine: ", nat.status().message()));
    }
    for (const unat::tun::InsideSpec& in : config->inside) {
      auto ns = (*nat)->AddNamespace({in.name, in.gateway, in.prefix_len});
      if (!ns.ok()) {
        return Fail(2, absl::StrCat("config: engine: inside ", in.name, ": ",
                                    ns.status().message()));
      }
    }
    printf("config ok: %zu inside network(s), %zu forward(s), control %s\n",
           config->inside.size(), config->forwards.size(),
           config->ctl_socket.c_str());
    return 0;
  }
  const unat::tun::RunAs& run_as = config->run_as;
  if (!run_as.user.empty() && geteuid() != 0 && geteuid() != run_as.uid) {
    return Fail(
        1,
        absl::StrCat("user: unatd runs as ", unat::tun::DescribeUid(geteuid()),
                     ", not root, and cannot become \"", run_as.user, "\""));
  }
  if (!flags->log_file.empty()) {
    int fd = open(flags->log_file.c_str(),
                  O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) {
      return Fail(1, absl::StrCat("--log-file ", flags->log_file, ": ",
                                  strerror(errno)));
    }
    dup2(fd, STDERR_FILENO);
    close(fd);
  }

  // Without --foreground: fork now, before anything that is bound to the
  // process (the signalfd is), and let the parent wait until the child is
  // fully set up, so that its exit code says whether start-up worked.
  int ready_fd = -1;
  if (!flags->foreground) {
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
      return Fail(1, absl::StrCat("pipe: ", strerror(errno)));
    }
    pid_t pid = fork();
    if (pid < 0) return Fail(1, absl::StrCat("fork: ", strerror(errno)));
    if (pid > 0) {
      close(pipe_fds[1]);
      std::string report;
      char buf[512];
      ssize_t n;
      while ((n = read(pipe_fds[0], buf, sizeof(buf))) != 0) {
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) break;
        report.append(buf, static_cast<size_t>(n));
      }
      if (report.empty()) return Fail(1, "the daemon died during start-up");
      int code = static_cast<unsigned char>(report[0]);
      if (code != 0) fprintf(stderr, "%s", report.c_str() + 1);
      _exit(code);
    }
    close(pipe_fds[0]);
    ready_fd = pipe_fds[1];
    setsid();
  }
  auto fail_start = [&](int code, const std::string& line) {
    if (ready_fd < 0) return Fail(code, line);
    std::string report(1, static_cast<char>(code));
    absl::StrAppend(&report, unat::tun::ErrorLinePrefix(), "unatd: ", line,
                    "\n");
    (void)!write(ready_fd, report.data(), report.size());
    return code;
  };

  // A state directory unatd makes itself (as root) goes to the user it
  // drops to, who must save the state from then on.
  std::string state_dir;
  bool state_dir_existed = true;
  if (!config->state_file.empty()) {
    state_dir = config->state_file.substr(0, config->state_file.rfind('/'));
    struct stat st;
    state_dir_existed = state_dir.empty() || stat(state_dir.c_str(), &st) == 0;
  }

  unat::tun::Daemon::Options options;
  options.config = *config;
  options.ignore_bad_state = flags->ignore_bad_state;
  Flags reload_flags = *flags;
  options.reload = [reload_flags]() { return LoadAll(reload_flags); };
  auto daemon = unat::tun::Daemon::Create(std::move(options));
  if (!daemon.ok()) {
    int code =
        daemon.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
    return fail_start(code, std::string(daemon.status().message()));
  }
  if (!flags->pid_file.empty() && !WritePidFile(flags->pid_file, getpid())) {
    return fail_start(1,
                      absl::StrCat("cannot write pid file ", flags->pid_file));
  }
  if (absl::Status s =
          SettlePrivileges(**daemon, *config, state_dir, state_dir_existed);
      !s.ok()) {
    return fail_start(1, std::string(s.message()));
  }
  if (ready_fd >= 0) {
    if (chdir("/") != 0) { /* nothing depends on the working directory */
    }
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
      dup2(null, STDIN_FILENO);
      dup2(null, STDOUT_FILENO);
      if (flags->log_file.empty()) dup2(null, STDERR_FILENO);
      close(null);
    }
    char ok = 0;
    (void)!write(ready_fd, &ok, 1);
    close(ready_fd);
  }

  // Devices open, privileges settled: tell systemd (Type=notify; nothing
  // without $NOTIFY_SOCKET). The daemon says RELOADING=1/READY=1 around a
  // SIGHUP reload and STOPPING=1 at SIGTERM/SIGINT.
  sd_notify(0, "READY=1");
  absl::Status status = (*daemon)->Run();
  daemon->reset();
  if (!flags->pid_file.empty()) unlink(flags->pid_file.c_str());
  if (!status.ok()) return Fail(1, std::string(status.message()));
  return 0;
}
