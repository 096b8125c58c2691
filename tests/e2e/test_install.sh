#!/usr/bin/env bash
# `cmake --install` of the build under test into a temporary prefix, and
# what it installs, used the way a user would:
#   - unatd (sbin), unatctl (bin), the engine library and its headers
#     (include/unat/), the example configs;
#   - an embedding program, written here and compiled against the prefix
#     only, once with find_package(unat) and unat::engine and once with
#     `pkg-config --cflags --libs unat`: both translate a UDP packet out
#     through a unat::Nat and its reply back in;
#   - the man pages render with man -l, without groff warnings, and name
#     every option and command the programs' --help lists;
#   - the systemd unit starts the installed unatd and passes
#     systemd-analyze verify;
#   - the engine configures, builds and installs alone (UNAT_ENGINE_ONLY)
#     with Abseil only: no protobuf, tinyxml2, libtins or libsystemd in its
#     CMake cache, and nothing but the engine in its prefix.
# No lab: nothing here needs the network namespaces.
source "$(dirname "$0")/lib.sh"
need cmake pkg-config man groff systemd-analyze

build="$(dirname "$BIN")"
root="$(cd "$E2E_DIR/../.." && pwd)"
cache_value() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
cxx="$(cache_value CMAKE_CXX_COMPILER)"
[ -x "$cxx" ] || fail "no compiler in $build/CMakeCache.txt"
P="$TMP/prefix"

# 1. Install.
cmake --install "$build" --prefix "$P" >"$TMP/install.log" || fail "cmake --install: $(tail -n 5 "$TMP/install.log")"
for f in sbin/unatd bin/unatctl lib/libunat_engine.a include/unat/nat.h \
  lib/cmake/unat/unatConfig.cmake lib/cmake/unat/unatConfigVersion.cmake \
  lib/cmake/unat/unatTargets.cmake lib/pkgconfig/unat.pc \
  share/man/man8/unatd.8 share/man/man8/unatctl.8 lib/systemd/system/unatd.service; do
  [ -e "$P/$f" ] || fail "not installed: $f"
done
[ "$("$P/sbin/unatd" --version)" = "unatd 0.1.0" ] || fail "installed unatd --version: $("$P/sbin/unatd" --version)"
[ "$("$P/bin/unatctl" --version)" = "unatctl 0.1.0" ] || fail "installed unatctl --version"
ok "installed: $(cd "$P" && find . -type f | wc -l) files; unatd and unatctl say 0.1.0"

# Every header an installed header includes by name is installed too.
for h in "$P"/include/unat/*.h; do
  for inc in $(sed -n 's/^#include "\(.*\)"$/\1/p' "$h"); do
    case "$inc" in absl/*) continue ;; esac
    [ -e "$P/include/unat/$inc" ] || fail "$(basename "$h") includes \"$inc\", not installed"
  done
done
ok "headers: $(cd "$P/include/unat" && echo *.h) (their includes all installed)"

n=0
for ex in "$P"/share/doc/unat/examples/*.textproto; do
  "$P/sbin/unatd" --config "$ex" --check-config >/dev/null || fail "installed example $ex: check-config failed"
  n=$((n + 1))
done
[ "$n" -eq "$(ls "$root"/docs/examples/*.textproto | wc -l)" ] || fail "$n examples installed"
ok "$n example configs installed; each passes the installed unatd --check-config"

# 2. An embedding program against the prefix.
src="$TMP/embed"
mkdir -p "$src"
cat >"$src/main.cc" <<'CC'
// Embeds the installed engine: one UDP packet from an inside host out to a
// server, and the server's reply back in.
#include <unat/checksum.h>
#include <unat/nat.h>
#include <unat/wire.h>

#include <cstdio>
#include <cstring>
#include <memory>

namespace {

// IPv4 + UDP, payload "ping", checksums filled in. Returns the length.
uint32_t MakeUdp(uint8_t* b, uint32_t src, uint16_t sport, uint32_t dst,
                 uint16_t dport) {
  const uint32_t len = 20 + 8 + 4;
  std::memset(b, 0, len);
  b[0] = 0x45;
  unat::StoreBe16(b + 2, len);
  b[8] = 64;
  b[9] = unat::kProtoUdp;
  unat::StoreBe32(b + 12, src);
  unat::StoreBe32(b + 16, dst);
  unat::StoreBe16(b + 10, unat::InternetChecksum({b, 20}));
  uint8_t* u = b + 20;
  unat::StoreBe16(u, sport);
  unat::StoreBe16(u + 2, dport);
  unat::StoreBe16(u + 4, len - 20);
  std::memcpy(u + 8, "ping", 4);
  unat::StoreBe16(
      u + 6, unat::TransportChecksum(src, dst, unat::kProtoUdp, {u, len - 20}));
  return len;
}

// Both checksums of a UDP packet hold after the engine rewrote it.
bool ChecksumsHold(const unat::Packet& p) {
  if (!unat::Ipv4View::Parse({p.data, p.len}, nullptr)) return false;
  return unat::TransportChecksum(unat::LoadBe32(p.data + 12),
                                 unat::LoadBe32(p.data + 16), unat::kProtoUdp,
                                 {p.data + 20, p.len - 20}) == 0;
}

std::string Endpoint(const uint8_t* addr, const uint8_t* port) {
  return unat::Ipv4ToString(unat::LoadBe32(addr)) + ":" +
         std::to_string(unat::LoadBe16(port));
}

int Fail(const char* what, const unat::Verdict& v) {
  std::fprintf(stderr, "%s: action %d, reason %s\n", what, v.action,
               unat::DropReasonName(v.reason));
  return 1;
}

}  // namespace

int main() {
  unat::NatConfig config;
  config.external_addresses = {*unat::ParseIpv4("203.0.113.1")};
  auto nat_or = unat::Nat::Create(config);
  if (!nat_or.ok()) {
    std::fprintf(stderr, "Nat::Create: %s\n",
                 std::string(nat_or.status().message()).c_str());
    return 1;
  }
  std::unique_ptr<unat::Nat> nat = std::move(*nat_or);
  auto lan = nat->AddNamespace({"lan", *unat::ParseIpv4("10.0.0.1"), 24});
  if (!lan.ok()) return 1;
  const uint32_t host = *unat::ParseIpv4("10.0.0.2");
  const uint32_t server = *unat::ParseIpv4("198.51.100.7");

  uint8_t buf[2048];
  unat::Packet out{buf, MakeUdp(buf, host, 5000, server, 53), sizeof(buf)};
  unat::Verdict v = nat->ProcessInside(*lan, out, 1000);
  if (v.action != unat::Verdict::kForward || v.out_side != unat::Side::kOutside)
    return Fail("outbound", v);
  if (!ChecksumsHold(out)) return Fail("outbound checksums", v);
  std::printf("out: 10.0.0.2:5000 -> %s to %s\n",
              Endpoint(buf + 12, buf + 20).c_str(),
              Endpoint(buf + 16, buf + 22).c_str());
  const uint32_t ext = unat::LoadBe32(buf + 12);
  const uint16_t ext_port = unat::LoadBe16(buf + 20);

  unat::Packet in{buf, MakeUdp(buf, server, 53, ext, ext_port), sizeof(buf)};
  v = nat->ProcessOutside(in, 1100);
  if (v.action != unat::Verdict::kForward ||
      v.out_side != unat::Side::kInside || v.out_ns != *lan)
    return Fail("inbound", v);
  if (!ChecksumsHold(in)) return Fail("inbound checksums", v);
  std::printf("in: %s -> %s in namespace lan\n",
              Endpoint(buf + 12, buf + 20).c_str(),
              Endpoint(buf + 16, buf + 22).c_str());
  return 0;
}
CC
# check_output WHAT FILE: what the program printed is the translation.
check_output() {
  grep -Eqx 'out: 10\.0\.0\.2:5000 -> 203\.0\.113\.1:[0-9]+ to 198\.51\.100\.7:53' "$2" &&
    grep -Eqx 'in: 198\.51\.100\.7:53 -> 10\.0\.0\.2:5000 in namespace lan' "$2" ||
    fail "$1 printed: $(cat "$2")"
  ok "$1: $(tr '\n' ';' <"$2")"
}

cat >"$src/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.22)
project(embed LANGUAGES CXX)
find_package(unat 0.1 REQUIRED)
add_executable(embed main.cc)
target_link_libraries(embed PRIVATE unat::engine)
CMAKE
cmake -S "$src" -B "$TMP/embed-build" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_PREFIX_PATH="$P" >"$TMP/embed-cmake.log" 2>&1 || fail "find_package(unat): $(tail -n 20 "$TMP/embed-cmake.log")"
# The package's own directory, not another unat found elsewhere.
grep -qx "unat_DIR:PATH=$P/lib/cmake/unat" "$TMP/embed-build/CMakeCache.txt" || fail "unat_DIR is not the prefix's"
cmake --build "$TMP/embed-build" >"$TMP/embed-build.log" 2>&1 || fail "building against unat::engine: $(tail -n 20 "$TMP/embed-build.log")"
"$TMP/embed-build/embed" >"$TMP/embed-cmake.out" || fail "the find_package build failed: $(cat "$TMP/embed-cmake.out")"
check_output "find_package(unat) + unat::engine" "$TMP/embed-cmake.out"

# A version the package is not: refused by its version file.
sed 's/find_package(unat 0.1 REQUIRED)/find_package(unat 1.0 REQUIRED)/' "$src/CMakeLists.txt" >"$TMP/v.txt"
mkdir -p "$TMP/embed-v" && cp "$src/main.cc" "$TMP/embed-v/" && mv "$TMP/v.txt" "$TMP/embed-v/CMakeLists.txt"
if cmake -S "$TMP/embed-v" -B "$TMP/embed-v-build" -DCMAKE_PREFIX_PATH="$P" >"$TMP/embed-v.log" 2>&1; then
  fail "find_package(unat 1.0) accepted version 0.1.0"
fi
grep -q 'version: 0.1.0' "$TMP/embed-v.log" || fail "find_package(unat 1.0): $(tail -n 5 "$TMP/embed-v.log")"
ok "find_package(unat 1.0) refused (the package is 0.1.0)"

export PKG_CONFIG_PATH="$P/lib/pkgconfig"
[ "$(pkg-config --modversion unat)" = 0.1.0 ] || fail "pkg-config --modversion unat"
pc_flags="$(pkg-config --cflags --libs unat)" || fail "pkg-config --cflags --libs unat"
# shellcheck disable=SC2086
"$cxx" -o "$TMP/embed-pc" "$src/main.cc" $pc_flags 2>"$TMP/embed-pc.log" || fail "$cxx main.cc \$(pkg-config --cflags --libs unat): $(tail -n 20 "$TMP/embed-pc.log")"
"$TMP/embed-pc" >"$TMP/embed-pc.out" || fail "the pkg-config build failed: $(cat "$TMP/embed-pc.out")"
check_output "\$(pkg-config --cflags --libs unat)" "$TMP/embed-pc.out"
unset PKG_CONFIG_PATH

# 3. Man pages.
for page in unatd unatctl; do
  f="$P/share/man/man8/$page.8"
  warn="$(groff -man -ww -z -Tutf8 "$f" 2>&1)"
  [ -z "$warn" ] || fail "groff warnings in $page.8: $warn"
  MANWIDTH=80 man -P cat -l "$f" >"$TMP/$page.txt" 2>"$TMP/$page.err" || fail "man -l $page.8"
  [ ! -s "$TMP/$page.err" ] || fail "man -l $page.8 said: $(cat "$TMP/$page.err")"
  # Lines too long to break or hyphenate, for looking up words.
  MANWIDTH=1000 man -P cat -l "$f" >"$TMP/$page.long" 2>/dev/null
done
for h in NAME SYNOPSIS DESCRIPTION OPTIONS CONFIGURATION SIGNALS "EXIT STATUS" ENVIRONMENT FILES EXAMPLES "SEE ALSO"; do
  grep -qx "$h" "$TMP/unatd.txt" || fail "unatd(8) has no section $h"
done
for h in NAME SYNOPSIS OPTIONS COMMANDS "EXIT STATUS" FILES EXAMPLES; do
  grep -qx "$h" "$TMP/unatctl.txt" || fail "unatctl(8) has no section $h"
done
grep -q 'SIGHUP' "$TMP/unatd.txt" && grep -q 'SIGTERM, SIGINT' "$TMP/unatd.txt" || fail "unatd(8) does not describe the signals"
# Every option unatd --help lists, and every option and command of
# unatctl --help, is in its page.
for opt in $("$P/sbin/unatd" --help | grep -oE -- '--[a-z][a-z-]*' | sort -u); do
  grep -qF -- "$opt" "$TMP/unatd.long" || fail "unatd(8) does not describe $opt"
done
"$P/bin/unatctl" --help >"$TMP/unatctl.help"
while read -r word; do
  grep -qF -- "$word" "$TMP/unatctl.long" || fail "unatctl(8) does not describe \"$word\""
done < <(grep -oE -- '--[a-z][a-z-]*' "$TMP/unatctl.help" | sort -u
  sed -nE 's/^  ([a-z]+( add| del)?).*/\1/p' "$TMP/unatctl.help")
ok "man -l: unatd(8) and unatctl(8) render without warnings, with their sections and every option of --help"

# 4. The systemd unit.
unit="$P/lib/systemd/system/unatd.service"
grep -qx "ExecStart=$P/sbin/unatd --config /etc/unat/unatd.conf --foreground --user unat --log-format syslog" "$unit" ||
  fail "ExecStart: $(grep ExecStart= "$unit")"
grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$unit" || fail "ExecReload: $(grep ExecReload= "$unit")"
grep -qx 'Type=notify' "$unit" || fail "not Type=notify"
# verify checks the binaries and that man:unatd(8) and man:unatctl(8) exist.
MANPATH="$P/share/man:" systemd-analyze verify "$unit" >"$TMP/verify.log" 2>&1 ||
  fail "systemd-analyze verify: $(cat "$TMP/verify.log")"
grep -v '^$' "$TMP/verify.log" | grep -q . && fail "systemd-analyze verify said: $(cat "$TMP/verify.log")"
ok "unatd.service: ExecStart $P/sbin/unatd, ExecReload SIGHUP, Type=notify; systemd-analyze verify is silent"

# 5. The engine alone, with Abseil only.
eo="$TMP/engine-only"
cmake -S "$root" -B "$eo" -G Ninja -DUNAT_ENGINE_ONLY=ON -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O0 \
  -DCMAKE_DISABLE_FIND_PACKAGE_Protobuf=ON -DCMAKE_DISABLE_FIND_PACKAGE_tinyxml2=ON \
  -DCMAKE_DISABLE_FIND_PACKAGE_PkgConfig=ON >"$TMP/eo-cmake.log" 2>&1 || fail "engine-only configure: $(tail -n 20 "$TMP/eo-cmake.log")"
# (CMAKE_DISABLE_FIND_PACKAGE_* are the flags above, which cmake reports as
# unused: nothing asked for those packages.)
found="$(grep -E '^[A-Za-z_]' "$eo/CMakeCache.txt" | cut -d: -f1 | grep -v '^CMAKE_DISABLE_FIND_PACKAGE_' |
  grep -iE 'protobuf|tinyxml|tins|systemd|pkg_config|gtest|benchmark' || true)"
[ -z "$found" ] || fail "the engine-only cache has: $found"
grep -q '^absl_DIR:PATH=' "$eo/CMakeCache.txt" || fail "the engine-only build did not find Abseil"
cmake --build "$eo" -j"$(nproc)" >"$TMP/eo-build.log" 2>&1 || fail "engine-only build: $(tail -n 20 "$TMP/eo-build.log")"
cmake --install "$eo" --prefix "$TMP/eo-prefix" >/dev/null || fail "engine-only install"
extra="$(cd "$TMP/eo-prefix" && find . -type f | grep -vE '^\./(include/unat/[a-z_]+\.h|lib/libunat_engine\.a|lib/cmake/unat/unat[A-Za-z-]*\.cmake|lib/pkgconfig/unat\.pc)$' || true)"
[ -z "$extra" ] || fail "the engine-only install has more than the engine: $extra"
[ -e "$TMP/eo-prefix/lib/libunat_engine.a" ] || fail "the engine-only install has no library"
export PKG_CONFIG_PATH="$TMP/eo-prefix/lib/pkgconfig"
# shellcheck disable=SC2046
"$cxx" -o "$TMP/embed-eo" "$src/main.cc" $(pkg-config --cflags --libs unat) 2>"$TMP/embed-eo.log" ||
  fail "building against the engine-only install: $(tail -n 20 "$TMP/embed-eo.log")"
"$TMP/embed-eo" >"$TMP/embed-eo.out" || fail "the engine-only build failed: $(cat "$TMP/embed-eo.out")"
check_output "UNAT_ENGINE_ONLY (Abseil only in its cache; installs the engine and nothing else)" "$TMP/embed-eo.out"
