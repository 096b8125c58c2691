#include "tun/state_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace unat::tun {
namespace {

absl::Status Errno(const std::string& what) {
  return absl::UnavailableError(absl::StrCat(what, ": ", strerror(errno)));
}

std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  return table;
}

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

absl::Status WriteAll(int fd, const std::string& data,
                      const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Errno(absl::StrCat("writing ", path));
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

uint32_t StateCrc(const std::string& state) {
  return Crc32(absl::StrCat("UNAT", state));
}

uint32_t Crc32(const std::string& data) {
  static const std::array<uint32_t, 256> table = MakeCrcTable();
  uint32_t c = 0xffffffffu;
  for (char ch : data) {
    c = table[(c ^ static_cast<uint8_t>(ch)) & 0xff] ^ (c >> 8);
  }
  return c ^ 0xffffffffu;
}

absl::Status SaveState(const std::string& path, const state::State& state) {
  state::StateFile file;
  file.set_magic(kStateMagic);
  file.set_version(kStateVersion);
  state.SerializeToString(file.mutable_state());
  file.set_crc32(StateCrc(file.state()));
  std::string bytes;
  file.SerializeToString(&bytes);

  const std::string dir = DirName(path);
  mkdir(dir.c_str(), 0755);  // one level; an error shows at open() below
  const std::string tmp = absl::StrCat(path, ".tmp.", getpid());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Errno(absl::StrCat("creating ", tmp));
  absl::Status status = WriteAll(fd, bytes, tmp);
  if (status.ok() && fsync(fd) != 0)
    status = Errno(absl::StrCat("fsync ", tmp));
  if (close(fd) != 0 && status.ok())
    status = Errno(absl::StrCat("close ", tmp));
  if (status.ok() && rename(tmp.c_str(), path.c_str()) != 0) {
    status = Errno(absl::StrCat("renaming ", tmp, " to ", path));
  }
  if (!status.ok()) {
    unlink(tmp.c_str());
    return status;
  }
  int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<state::State>> LoadState(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<state::State>();
    return Errno(path);
  }
  std::string bytes;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      absl::Status s = Errno(path);
      close(fd);
      return s;
    }
    if (n == 0) break;
    bytes.append(buf, static_cast<size_t>(n));
    if (bytes.size() > (64u << 20)) {
      close(fd);
      return absl::DataLossError(
          absl::StrCat(path, ": larger than 64 MiB, not a state file"));
    }
  }
  close(fd);
  state::StateFile file;
  if (!file.ParseFromString(bytes) || file.magic() != kStateMagic) {
    return absl::DataLossError(
        absl::StrCat(path, ": not a unat state file (bad magic)"));
  }
  if (file.version() != kStateVersion) {
    return absl::DataLossError(
        absl::StrCat(path, ": state file version ", file.version(),
                     ", this build reads ", kStateVersion));
  }
  if (StateCrc(file.state()) != file.crc32()) {
    return absl::DataLossError(
        absl::StrCat(path, ": state file is corrupt (checksum mismatch)"));
  }
  state::State state;
  if (!state.ParseFromString(file.state())) {
    return absl::DataLossError(
        absl::StrCat(path, ": state file is corrupt (cannot parse)"));
  }
  return std::optional<state::State>(std::move(state));
}

}  // namespace unat::tun
